"""md5 helpers used to verify downloaded or packaged files."""

from __future__ import annotations

import hashlib
import os

from .errors import ChecksumError

_CHUNK = 1 << 20


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify_md5(path: str | os.PathLike[str], actual: str, expected: str, what: str = "") -> str:
    """Raise :class:`ChecksumError` if ``actual != expected``; return ``actual``."""
    if actual.lower() != expected.lower():
        raise ChecksumError(str(path), expected, actual, what)
    return actual
