"""Canonical safetensors artifacts (diffrepro.tensorfile): same tensors and metadata give the same bytes in every
process, the content hash depends on the tensors only, and reading finds damage and wrong provenance."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from diffrepro.tensorfile import CONTENT_KEY, ArtifactError, content_sha256, encode, read, read_metadata, write

TENSORS = {"w": torch.arange(12, dtype=torch.float32).reshape(3, 4), "b": torch.tensor([1, 2, 3], dtype=torch.int64)}
META = {"z": "1", "model": "ddgm", "a": "2", "m": "3", "k": "4", "config": '{"x": 1}'}

_WRITE = """
import sys, torch
from diffrepro.tensorfile import write
tensors = {"w": torch.arange(12, dtype=torch.float32).reshape(3, 4), "b": torch.tensor([1, 2, 3], dtype=torch.int64)}
write(sys.argv[1], tensors, {"z": "1", "model": "ddgm", "a": "2", "m": "3", "k": "4", "config": '{"x": 1}'})
"""


def test_the_same_tensors_and_metadata_give_the_same_bytes_in_separate_processes(tmp_path):
    # safetensors' own writer orders metadata differently in each process (a hash map with a random seed)
    digests = set()
    for i in range(3):
        path = tmp_path / f"f{i}.safetensors"
        subprocess.run([sys.executable, "-c", _WRITE, str(path)], check=True)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1
    assert hashlib.sha256(encode(TENSORS, META)).hexdigest() in digests


def test_files_are_standard_safetensors(tmp_path):
    path = write(tmp_path / "a.safetensors", TENSORS, META)
    loaded = load_file(str(path))
    assert set(loaded) == set(TENSORS) and all(torch.equal(loaded[k], TENSORS[k]) for k in TENSORS)
    tensors, meta = read(path)
    assert all(torch.equal(tensors[k], TENSORS[k]) for k in TENSORS)
    assert {k: meta[k] for k in META} == META
    assert len(path.read_bytes()) % 8 == 0  # header padded as the format requires for aligned data


def test_the_content_hash_depends_on_the_tensors_only():
    h = content_sha256(TENSORS)
    assert h == read_hash(encode(TENSORS, META)) == read_hash(encode(TENSORS, {"other": "x"}))
    assert h == content_sha256(dict(reversed(list(TENSORS.items()))))  # not on the insertion order
    changed = {
        **TENSORS,
        "w": TENSORS["w"].clone().index_put_((torch.tensor([0]), torch.tensor([0])), torch.tensor(0.5)),
    }
    assert content_sha256(changed) != h
    assert content_sha256({**TENSORS, "w": TENSORS["w"].double()}) != h  # dtype counts
    assert content_sha256({**TENSORS, "w": TENSORS["w"].reshape(4, 3)}) != h  # shape counts


def read_hash(blob: bytes) -> str:
    import json
    import struct

    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n])["__metadata__"][CONTENT_KEY]


def test_a_flipped_byte_in_the_data_is_found(tmp_path):
    path = write(tmp_path / "a.safetensors", TENSORS, META)
    blob = bytearray(path.read_bytes())
    blob[-5] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(
        ArtifactError, match=r"a\.safetensors: content hash mismatch: recorded content_sha256 \w+, found \w+"
    ):
        read(path)
    assert read_metadata(path)["model"] == "ddgm"  # the header alone still reads


def test_truncated_and_missing_files_name_the_path(tmp_path):
    path = write(tmp_path / "a.safetensors", TENSORS, META)
    blob = path.read_bytes()
    path.write_bytes(blob[:-7])
    with pytest.raises(ArtifactError, match="a.safetensors"):
        read(path)
    path.write_bytes(blob[:20])
    with pytest.raises(ArtifactError, match=r"a\.safetensors: damaged safetensors header"):
        read(path)
    with pytest.raises(ArtifactError, match=r"a\.safetensors: damaged safetensors header"):
        read_metadata(path)
    with pytest.raises(FileNotFoundError, match=r"nope\.safetensors: no such file"):
        read(tmp_path / "nope.safetensors")


def test_unexpected_provenance_names_key_expected_and_found(tmp_path):
    path = write(tmp_path / "s.safetensors", TENSORS, {"model": "ddgm_vlb"})
    with pytest.raises(ArtifactError, match=r"s\.safetensors: metadata 'model' is 'ddgm_vlb', expected 'ddgm_simple'"):
        read(path, expect={"model": "ddgm_simple"})
    assert read(path, expect={"model": "ddgm_vlb"})[1]["model"] == "ddgm_vlb"


def test_a_file_without_content_hash_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "old.safetensors"
    save_file(TENSORS, str(path), metadata={"model": "x"})
    with pytest.raises(ArtifactError, match=r"old\.safetensors: no 'content_sha256'"):
        read(path)


def test_bad_entries_are_refused():
    with pytest.raises(TypeError, match="metadata must map strings to strings"):
        encode(TENSORS, {"n": 3})
    with pytest.raises(TypeError, match="tensor file entries"):
        encode({"x": [1, 2]})


def test_a_killed_write_leaves_nothing_after_the_next_and_io_errors_name_the_target(tmp_path, monkeypatch):
    target = tmp_path / "w.safetensors"
    stale = tmp_path / ".w.safetensors.abc123.safetensors.tmp"  # as a killed write leaves it
    stale.write_bytes(b"partial")
    write(target, TENSORS, META)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]

    import errno
    from pathlib import Path

    def full_disk(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match=rf"cannot write {tmp_path}/w\.safetensors: No space left on device"):
        write(target, TENSORS, {"model": "other"})
    monkeypatch.undo()
    assert read(target)[1]["model"] == "ddgm"  # the previous file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]
