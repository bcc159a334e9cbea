"""safetensors artifacts written canonically and read with their integrity checked.

**Canonical bytes.** safetensors keeps a file's metadata in a hash map whose order changes from process to process,
so two runs that compute identical tensors wrote files with different bytes (and different DVC hashes). :func:`encode`
writes the header as canonical JSON (sorted keys, no spaces, padded with spaces to 8 bytes as the format allows):
the same tensors and metadata give the same bytes in every process.

**Content hash.** Every file carries ``content_sha256`` in its metadata: the SHA-256 of its tensor section (the
canonical JSON of the tensors' names, dtypes, shapes and offsets, then the data bytes), which depends on the tensors
only. Fingerprints of runs use it (:func:`content_sha256`) rather than the file's bytes, so a rewritten file with the
same tensors keeps its fingerprint.

**Reading.** :func:`read` checks the file before any tensor is used: a readable header, a tensor section whose hash
is the recorded one (a flipped byte anywhere in the data is found), and the provenance the caller expects (for
example the model a samples file was drawn from). Every failure is a :class:`ArtifactError` naming the file, the
key, the expected and the found value; I/O errors name the path.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CONTENT_KEY",
    "ArtifactError",
    "content_sha256",
    "encode",
    "read",
    "read_metadata",
    "recorded_content_sha256",
    "verify",
    "write",
]

#: the metadata key of the tensor section's SHA-256
CONTENT_KEY = "content_sha256"
#: safetensors refuses headers above 100 MB; a larger length field means a damaged file
_MAX_HEADER = 100 * 1024 * 1024


class ArtifactError(ValueError):
    """An artifact that is unreadable, damaged, or not the one the reader expects (the message names the file)."""


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _layout(tensors: Mapping[str, torch.Tensor]) -> tuple[dict[str, Any], list[torch.Tensor]]:
    """The tensors' header entries as safetensors lays them out, and their data in that order (contiguous CPU
    tensors), without serialising the data: the order is safetensors' own (by dtype, then name), taken from its
    serialiser on one-element tensors of the same names and dtypes; the offsets follow without gaps, as its
    serialiser writes them (``tests/test_tensorfile.py`` checks the bytes against it)."""
    from safetensors.torch import save

    for name, value in tensors.items():
        if not isinstance(name, str) or not torch.is_tensor(value):
            raise TypeError(f"tensor file entries must map names to tensors, got {name!r}: {type(value).__name__}")
    probe = save({k: torch.zeros(1, dtype=v.dtype) for k, v in tensors.items()})
    (n,) = struct.unpack("<Q", probe[:8])
    kinds = json.loads(probe[8 : 8 + n])
    kinds.pop("__metadata__", None)
    entries: dict[str, Any] = {}
    data: list[torch.Tensor] = []
    offset = 0
    for name in sorted(kinds, key=lambda k: kinds[k]["data_offsets"][0]):
        value = tensors[name].detach().contiguous().cpu()
        size = value.numel() * value.element_size()
        entries[name] = {
            "dtype": kinds[name]["dtype"],
            "shape": list(value.shape),
            "data_offsets": [offset, offset + size],
        }
        data.append(value)
        offset += size
    return entries, data


def _buffers(data: list[torch.Tensor]) -> list[memoryview]:
    """The raw bytes of each tensor (no copy)."""
    return [memoryview(t.reshape(-1).view(torch.uint8).numpy()) if t.numel() else memoryview(b"") for t in data]


def _section_sha256(entries: Mapping[str, Any], *chunks: bytes | memoryview) -> str:
    digest = hashlib.sha256(_canonical(dict(entries)))
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def content_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """The content hash a file of these tensors records (names, dtypes, shapes and bytes; not the metadata)."""
    entries, data = _layout(tensors)
    return _section_sha256(entries, *_buffers(data))


def _header(entries: Mapping[str, Any], data: list[memoryview], metadata: Mapping[str, str] | None) -> bytes:
    """The length field and the canonical header (metadata with the content hash) of a file of these tensors."""
    meta = dict(metadata or {})
    for key, value in meta.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map strings to strings, got {key!r}: {type(value).__name__}")
    meta[CONTENT_KEY] = _section_sha256(entries, *data)
    header = _canonical({"__metadata__": meta, **entries})
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header


def encode(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> bytes:
    """The canonical safetensors bytes of ``tensors`` with ``metadata`` (string values) and its content hash."""
    entries, data = _layout(tensors)
    buffers = _buffers(data)
    return b"".join([_header(entries, buffers, metadata), *buffers])


def write(
    target: str | os.PathLike[str], tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
) -> Path:
    """Write the canonical file (:func:`encode`'s bytes) atomically (:func:`~diffrepro.atomic.atomic_path`),
    streaming each tensor's bytes from its memory (no copy of the data: a 15.7 GB ImageNet-64 set is written
    with no more memory than it holds); returns ``target``."""
    from .atomic import atomic_path

    entries, data = _layout(tensors)
    buffers = _buffers(data)
    header = _header(entries, buffers, metadata)
    with atomic_path(target, suffix=".safetensors") as tmp:  # an I/O error names target
        with open(tmp, "wb") as fh:
            fh.write(header)
            for buffer in buffers:
                fh.write(buffer)
    return Path(target)


def save_safetensors(
    tensors: Mapping[str, torch.Tensor], target: str | os.PathLike[str], metadata: Mapping[str, str] | None = None
) -> None:
    """:func:`write` with the argument order of ``safetensors.torch.save_file`` (tensors first)."""
    write(target, tensors, metadata)


def _parse(path: Path, blob: bytes, size: int | None = None) -> tuple[dict[str, str], dict[str, Any], int]:
    """Metadata, tensor entries and data offset of the file at ``path``, from its first bytes ``blob`` (the whole
    file unless its ``size`` is given)."""
    if len(blob) < 8:
        raise ArtifactError(f"{path}: not a safetensors file ({len(blob)} bytes; truncated?)")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > _MAX_HEADER or 8 + n > len(blob):
        raise ArtifactError(
            f"{path}: damaged safetensors header (length field {n}, file {len(blob)} bytes; truncated?)"
        )
    try:
        header = json.loads(blob[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: damaged safetensors header ({exc})") from None
    if not isinstance(header, dict):
        raise ArtifactError(f"{path}: damaged safetensors header (not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path}: damaged safetensors metadata (not a JSON object)")
    _check_size(path, header, (len(blob) if size is None else size) - 8 - n)
    return meta, header, 8 + n


def _check_size(path: Path, entries: Mapping[str, Any], data_bytes: int) -> None:
    """The tensor section holds exactly the bytes the header describes (a truncated copy is named as such)."""
    try:
        end = max((int(e["data_offsets"][1]) for e in entries.values()), default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        raise ArtifactError(f"{path}: damaged safetensors header (bad data_offsets)") from None
    if data_bytes < end:
        raise ArtifactError(
            f"{path}: truncated: its header describes {end} bytes of tensor data, the file holds {data_bytes}"
        )
    if data_bytes > end:
        raise ArtifactError(f"{path}: {data_bytes - end} bytes after the tensor data: damaged or not one file")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file (run the step that writes it)") from None
    except OSError as exc:
        raise OSError(exc.errno, f"cannot read {path}: {exc.strerror}") from exc


def _recorded(path: Path, meta: Mapping[str, str]) -> str:
    """The content hash ``meta`` records, or an error naming the file that lacks one."""
    recorded = meta.get(CONTENT_KEY)
    if recorded is None:
        raise ArtifactError(
            f"{path}: no {CONTENT_KEY!r} in its metadata: not written by this version of diffrepro; rerun its step"
        )
    return recorded


def _check_hash(path: Path, recorded: str, found: str) -> None:
    if found != recorded:
        raise ArtifactError(
            f"{path}: content hash mismatch: recorded content_sha256 {recorded}, found {found}: the file is damaged "
            "or was altered; delete it and rerun its step (or `dvc pull` it again)"
        )


def _check_expected(path: Path, meta: Mapping[str, str], expect: Mapping[str, str] | None) -> None:
    for key, wanted in (expect or {}).items():
        found = meta.get(key)
        if found != wanted:
            raise ArtifactError(f"{path}: metadata {key!r} is {found!r}, expected {wanted!r}")


def read_metadata(path: str | os.PathLike[str], expect: Mapping[str, str] | None = None) -> dict[str, str]:
    """The metadata of the file at ``path`` (header only: the tensor section is not checked; use :func:`read`
    for anything whose tensors are used), checked against ``expect``."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) == 8:
                (n,) = struct.unpack("<Q", head)
                head += fh.read(min(n, _MAX_HEADER + 1))
            size = os.fstat(fh.fileno()).st_size
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file (run the step that writes it)") from None
    except OSError as exc:
        raise OSError(exc.errno, f"cannot read {path}: {exc.strerror}") from exc
    meta, _, _ = _parse(path, head, size)
    _check_expected(path, meta, expect)
    return dict(meta)


def read(
    path: str | os.PathLike[str], expect: Mapping[str, str] | None = None, *, mmap: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of the file at ``path``, after checking its tensor section against the recorded
    ``content_sha256`` and its metadata against ``expect`` (key -> value it must hold).

    ``mmap``: the tensors are views of a private (copy-on-write) memory map of the file instead of copies in
    memory: the page cache holds the data, the process no more than it touches (a processed ImageNet-64, 15.7 GB,
    on a 24 GB machine). Writing to such a tensor changes neither the file nor another reader's view."""
    path = Path(path)
    if mmap:
        return _read_mapped(path, expect)
    from safetensors import SafetensorError
    from safetensors.torch import load

    blob = _read_bytes(path)
    meta, entries, start = _parse(path, blob)
    recorded = _recorded(path, meta)
    found = _section_sha256(entries, memoryview(blob)[start:])
    _check_hash(path, recorded, found)
    _check_expected(path, meta, expect)
    try:
        tensors = load(blob)
    except SafetensorError as exc:
        raise ArtifactError(f"{path}: unreadable safetensors file ({exc})") from None
    return tensors, dict(meta)


#: safetensors' dtype names -> torch dtypes (those a mapped file may hold)
_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def _read_mapped(path: Path, expect: Mapping[str, str] | None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    import numpy as np

    meta = verify(path, expect)  # header, size, content hash and provenance, streaming
    try:
        mapped = np.memmap(path, dtype=np.uint8, mode="c")
    except OSError as exc:
        raise OSError(exc.errno, f"cannot read {path}: {exc.strerror}") from exc
    (n,) = struct.unpack("<Q", mapped[:8].tobytes())
    _, entries, start = _parse(path, mapped[: 8 + n].tobytes(), int(mapped.shape[0]))
    tensors = {}
    for name, entry in entries.items():
        try:
            dtype, (a, b), shape = _DTYPES[entry["dtype"]], entry["data_offsets"], entry["shape"]
            tensors[name] = torch.from_numpy(mapped[start + a : start + b]).view(dtype).reshape(shape)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ArtifactError(f"{path}: tensor {name!r} is unreadable ({entry}: {exc})") from None
    return tensors, dict(meta)


def recorded_content_sha256(path: str | os.PathLike[str]) -> str:
    """The content hash the file at ``path`` records (its header only; :func:`read` checks it against the
    tensors): what fingerprints and provenance records use for a file, unchanged by a rewrite of equal tensors."""
    return _recorded(path, read_metadata(path))


def verify(path: str | os.PathLike[str], expect: Mapping[str, str] | None = None) -> dict[str, str]:
    """Check the file at ``path`` as :func:`read` does, streaming (for files read lazily afterwards, such as a
    large memory-mapped store's snapshot); returns its metadata."""
    path = Path(path)
    meta = read_metadata(path, expect)
    recorded = _recorded(path, meta)
    try:
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
            header.pop("__metadata__", None)
            digest = hashlib.sha256(_canonical(header))
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                digest.update(chunk)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot read {path}: {exc.strerror}") from exc
    _check_hash(path, recorded, digest.hexdigest())
    return meta
