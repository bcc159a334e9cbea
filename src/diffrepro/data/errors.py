"""Exceptions raised by the data layer."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import DiffreproError


class DatasetNotFoundError(DiffreproError, FileNotFoundError):
    """No source of a data set could be used.

    ``attempts`` lists ``(source, reason)`` pairs in the order they were tried.
    """

    def __init__(self, message: str, attempts: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.attempts = list(attempts)

    def __str__(self) -> str:  # FileNotFoundError would otherwise format errno/filename
        return str(self.args[0])


class ChecksumError(DiffreproError, ValueError):
    """A file's md5 differs from the published one."""

    def __init__(self, path: str, expected: str, actual: str, what: str = "") -> None:
        self.path = str(path)
        self.expected = expected
        self.actual = actual
        subject = f"{what} " if what else ""
        super().__init__(
            f"md5 mismatch for {subject}{self.path}: expected {expected}, got {actual}. "
            "The file is corrupted, truncated or not the published version: delete it and "
            "re-obtain it (re-download, or reinstall the package that provides it)."
        )


def format_attempts(attempts: Sequence[tuple[str, str]]) -> str:
    """Render ``(source, reason)`` pairs as an indented, numbered list."""
    return "\n".join(f"  {i}. {src}: {why}" for i, (src, why) in enumerate(attempts, 1))


class DatasetFormatError(DiffreproError, ValueError):
    """Files were found but their structure is not the expected one (counts, shapes, labels)."""
