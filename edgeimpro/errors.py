"""The one exception family. Every error says what failed, with numbers, and what to do (`hint`)."""

from __future__ import annotations


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
