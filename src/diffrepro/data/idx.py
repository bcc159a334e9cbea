"""A small, strict reader/writer for the IDX format used by (Fashion-)MNIST.

Layout (big-endian): two zero bytes, one dtype code, one byte ``ndim``, then
``ndim`` uint32 dimensions, then exactly ``prod(dims) * itemsize`` data bytes.
Anything else (bad magic, unknown dtype, truncated or trailing bytes) raises
:class:`IdxFormatError` naming the file.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

#: IDX dtype code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}


class IdxFormatError(ValueError):
    """A file is not a well-formed IDX file."""


def read_idx_bytes(path: str | os.PathLike[str]) -> bytes:
    """Return the raw IDX bytes of ``path``, decompressing it when it ends in ``.gz``."""
    path = Path(path)
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (OSError, EOFError, zlib.error) as e:
            raise IdxFormatError(f"{path}: not a valid gzip file ({e}); delete it and re-obtain it") from e
    return path.read_bytes()


def parse_idx(data: bytes, path: str | os.PathLike[str] = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into a native-endian numpy array (a copy, writable)."""
    if len(data) < 4:
        raise IdxFormatError(f"{path}: {len(data)} bytes is too short for an IDX header (need at least 4)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise IdxFormatError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()} (the first two bytes must be zero); "
            "is it gzip-compressed without a .gz suffix, or not an IDX file?"
        )
    if code not in IDX_DTYPES:
        raise IdxFormatError(
            f"{path}: unknown IDX dtype code 0x{code:02x} (known: {sorted(hex(c) for c in IDX_DTYPES)})"
        )
    if ndim == 0:
        raise IdxFormatError(f"{path}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IdxFormatError(f"{path}: truncated IDX header ({len(data)} bytes, need {header_len} for {ndim} dims)")
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = IDX_DTYPES[code]
    expected = header_len + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "has trailing bytes"
        raise IdxFormatError(
            f"{path}: IDX file {kind}: header says dims {tuple(dims)} of {dtype.name} "
            f"({expected} bytes in all) but the file has {len(data)} bytes"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (``.gz`` or uncompressed)."""
    return parse_idx(read_idx_bytes(path), path)


def encode_idx(array: np.ndarray) -> bytes:
    """Serialise ``array`` as IDX bytes."""
    array = np.asarray(array)
    dt = array.dtype.newbyteorder("=")
    if dt not in _CODES:
        raise TypeError(f"dtype {array.dtype} has no IDX code (supported: u1, i1, i2, i4, f4, f8)")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX needs 1..255 dimensions, got {array.ndim}")
    header = bytes([0, 0, _CODES[dt], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=dt.newbyteorder(">")).tobytes()


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``."""
    path = Path(path)
    data = encode_idx(array)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path
