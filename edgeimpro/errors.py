"""The one exception family. Every error says what failed, with numbers, and what to do (`hint`)."""

from __future__ import annotations

import errno


class EdgeImproError(Exception):
    """Base of every error the CLI turns into a clear message and a non-zero exit code."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(EdgeImproError):
    """Bad arguments or options."""

    exit_code = 2


class DataError(EdgeImproError):
    """A dataset folder or an image that cannot be used."""

    exit_code = 3


class ModelError(EdgeImproError):
    """A model file that is corrupt, not int8, or uses something unsupported."""

    exit_code = 4


class UnsupportedOpError(ModelError):
    """An operator (or an operator parameter) the target cannot run."""


class BoardFitError(EdgeImproError):
    """The model does not fit the board's flash or RAM."""

    exit_code = 5


class DependencyError(EdgeImproError):
    """An optional dependency (TensorFlow, tflite_micro, LiteRT, a toolchain) is missing."""

    exit_code = 6


class FileAccessError(EdgeImproError):
    """A file or folder that cannot be read or written: permissions, a missing path, a full disk."""

    exit_code = 10


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
