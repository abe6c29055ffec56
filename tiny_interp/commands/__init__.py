"""CLI subcommands, one module each (see tiny_interp.cli)."""
