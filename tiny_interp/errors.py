"""User-facing errors: each says what was wrong, where, and what to do about it."""

from collections.abc import Iterator
from contextlib import contextmanager


class TinyInterpError(Exception):
    """An error the user can act on; the CLI prints its message without a traceback."""


class DataError(TinyInterpError):
    """Input data could not be read as stories."""


class CheckpointError(TinyInterpError):
    """A model directory is missing, incomplete or corrupt."""


class ConfigError(TinyInterpError):
    """A configuration value (preset name, shape, option) is invalid."""


class OutputError(TinyInterpError):
    """An output directory or file may not be written (it holds someone else's files, or a bad name)."""


class LockedError(TinyInterpError):
    """Another process is writing the same output."""


class ResumeError(TinyInterpError):
    """A run cannot be resumed (no complete training state) or would silently restart."""


class TrainingDiverged(TinyInterpError):
    """The loss became NaN or infinite; nothing of the diverged run was published."""


@contextmanager
def utf8_input(path: object) -> Iterator[None]:
    """Around code that reads the text file ``path`` the user named: bytes that are not UTF-8 end in one line
    naming the file, not a traceback."""
    try:
        yield
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not valid UTF-8 text (byte {e.start}); re-save it as UTF-8") from None
