"""User-facing errors: each says what was wrong, where, and what to do about it."""


class TinyInterpError(Exception):
    """An error the user can act on; the CLI prints its message without a traceback."""


class DataError(TinyInterpError):
    """Input data could not be read as stories."""


class CheckpointError(TinyInterpError):
    """A model directory is missing, incomplete or corrupt."""


class ConfigError(TinyInterpError):
    """A configuration value (preset name, shape, option) is invalid."""
