"""The one exception family. Every error says what failed, with numbers, and what to do (`hint`)."""

from __future__ import annotations

import errno
from enum import IntEnum


class ExitCode(IntEnum):
    """The one table of exit statuses (README, "Untrusted models, bad input and errors"): one meaning each.

    Each error status belongs to one exception class below or in the layer that raises it (its subclasses
    share it); OK, CHECK_FAILED and INTERRUPTED are outcomes, returned by the CLI, not errors.
    """

    OK = 0
    OTHER = 1               # EdgeImproError
    USAGE = 2               # UsageError
    DATA = 3                # DataError
    MODEL = 4               # ModelError
    BOARD_FIT = 5           # BoardFitError
    DEPENDENCY = 6          # DependencyError
    LINK = 7                # link.LinkError: the serial/socket link or the device on it failed
    MODEL_MISMATCH = 8      # link.ModelMismatchError
    CHECK_FAILED = 9        # `compare` ran and its --fail-on check failed
    FILE_ACCESS = 10        # FileAccessError
    EMULATOR = 11           # link.emulator.EmulatorError: QEMU did not start or the firmware in it never answered
    FLASH = 12              # boards.flash.FlashError: the probe, the target or the programming step failed
    INTERRUPTED = 130       # Ctrl-C or SIGTERM


# What each status means, as the README's exit-status table and `edgeimpro --help` say it (a test keeps them equal).
EXIT_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success (`compare`: the --fail-on check passed)",
    ExitCode.OTHER: "any other error",
    ExitCode.USAGE: "bad arguments or options",
    ExitCode.DATA: "a dataset, image or labels file that cannot be used",
    ExitCode.MODEL: "a model that is corrupt or uses something unsupported",
    ExitCode.BOARD_FIT: "the model does not fit the board's flash or RAM",
    ExitCode.DEPENDENCY: "a missing optional dependency or tool",
    ExitCode.LINK: "the link to the device failed, or the device reported an error (`compare`: continue with --resume)",
    ExitCode.MODEL_MISMATCH: "the device runs another model",
    ExitCode.CHECK_FAILED: "`compare` ran and its --fail-on check failed",
    ExitCode.FILE_ACCESS: "a file or folder that cannot be read or written (permissions, disk full)",
    ExitCode.EMULATOR: "QEMU did not start, or the firmware in it never answered",
    ExitCode.FLASH: "flashing a real board failed (probe, target or programming step)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C, SIGTERM)",
}


class EdgeImproError(Exception):
    """Base of every error the CLI turns into a clear message and a non-zero exit code."""

    exit_code: ExitCode = ExitCode.OTHER

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(EdgeImproError):
    """Bad arguments or options."""

    exit_code = ExitCode.USAGE


class DataError(EdgeImproError):
    """A dataset folder or an image that cannot be used."""

    exit_code = ExitCode.DATA


class ModelError(EdgeImproError):
    """A model file that is corrupt, not int8, or uses something unsupported."""

    exit_code = ExitCode.MODEL


class UnsupportedOpError(ModelError):
    """An operator (or an operator parameter) the target cannot run."""


class BoardFitError(EdgeImproError):
    """The model does not fit the board's flash or RAM."""

    exit_code = ExitCode.BOARD_FIT


class DependencyError(EdgeImproError):
    """An optional dependency (TensorFlow, tflite_micro, LiteRT, a toolchain) is missing."""

    exit_code = ExitCode.DEPENDENCY


class FileAccessError(EdgeImproError):
    """A file or folder that cannot be read or written: permissions, a missing path, a full disk."""

    exit_code = ExitCode.FILE_ACCESS


_OS_HINTS = {
    errno.EACCES: "check the permissions of the path, or choose another location (-o)",
    errno.EPERM: "check the permissions of the path, or choose another location (-o)",
    errno.EROFS: "the file system is read-only: choose another location (-o)",
    errno.ENOSPC: "the disk is full: free some space or choose another location (-o)",
    errno.EDQUOT: "the disk quota is exhausted: free some space or choose another location (-o)",
    errno.ENOENT: "check the path; a folder on the way may be missing",
    errno.EEXIST: "a file of that name is in the way (perhaps a file where a folder should be): choose another path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EISDIR: "the path is a folder where a file is expected: give a file name",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.EMFILE: "too many files are open: raise the limit (ulimit -n) or retry",
}


def from_os_error(e: OSError) -> FileAccessError:
    """The one-line error for an OSError that reached the top: what failed on which path, and what to do."""
    what = e.strerror or type(e).__name__
    paths = [str(p) for p in (e.filename, e.filename2) if p is not None]
    where = f": {' -> '.join(paths)}" if paths else ""
    return FileAccessError(f"{what}{where}", hint=_OS_HINTS.get(e.errno or 0))
