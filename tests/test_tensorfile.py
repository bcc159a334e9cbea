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

    import builtins
    import errno

    real_open = builtins.open

    class FullDisk:  # the temporary file opens, its first write finds the disk full
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    def full_disk(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        return FullDisk(fh) if "w" in mode and str(file).endswith(".tmp") else fh

    monkeypatch.setattr(builtins, "open", full_disk)
    with pytest.raises(OSError, match=rf"cannot write {tmp_path}/w\.safetensors: No space left on device"):
        write(target, TENSORS, {"model": "other"})
    monkeypatch.undo()
    assert read(target)[1]["model"] == "ddgm"  # the previous file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


MIXED = {  # every dtype a file may hold, in shapes that include empty and 0-dim tensors
    "f64": torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)),
    "f32": torch.randn(5, generator=torch.Generator().manual_seed(1)),
    "f16": torch.randn(2, 3, generator=torch.Generator().manual_seed(2)).half(),
    "bf16": torch.randn(7, generator=torch.Generator().manual_seed(3)).bfloat16(),
    "i64": torch.arange(-4, 5),
    "i32": torch.arange(6, dtype=torch.int32).reshape(2, 3),
    "i16": torch.tensor([-3, 300], dtype=torch.int16),
    "i8": torch.tensor([-1, 1, 2], dtype=torch.int8),
    "u8": torch.arange(250, 256, dtype=torch.uint8).reshape(1, 2, 3),
    "b": torch.tensor([True, False, True]),
    "a_empty": torch.zeros(0, 4),
    "scalar": torch.tensor(2.5, dtype=torch.float64),
    "z_u8": torch.tensor(7, dtype=torch.uint8),
}


def test_the_streamed_layout_is_safetensors_own(tmp_path):
    """The header entries and data bytes written without serialising the data are exactly those of safetensors'
    own serialiser (an independent computation), for every dtype, empty and 0-dim tensors included; the file
    write() streams is encode()'s bytes."""
    import json
    import struct

    from safetensors.torch import save

    blob = save(MIXED)
    (n,) = struct.unpack("<Q", blob[:8])
    theirs = json.loads(blob[8 : 8 + n])
    ours_blob = encode(MIXED, META)
    (m,) = struct.unpack("<Q", ours_blob[:8])
    ours = json.loads(ours_blob[8 : 8 + m])
    ours.pop("__metadata__")
    assert ours == theirs and ours_blob[8 + m :] == blob[8 + n :]
    path = write(tmp_path / "m.safetensors", MIXED, META)
    assert path.read_bytes() == ours_blob
    loaded = load_file(str(path))
    assert all(torch.equal(loaded[k], v) for k, v in MIXED.items())


def test_a_mapped_read_gives_the_same_tensors_and_is_checked_the_same(tmp_path):
    path = write(tmp_path / "m.safetensors", MIXED, META)
    mapped, meta = read(path, {"model": "ddgm"}, mmap=True)
    copied, meta2 = read(path, mmap=False)
    assert meta == meta2 and set(mapped) == set(MIXED)
    for k, v in MIXED.items():
        assert mapped[k].dtype == v.dtype and mapped[k].shape == v.shape and torch.equal(mapped[k], v), k
    mapped["u8"][0, 0, 0] = 0  # copy-on-write: the file and a second reader keep the data
    assert read(path, mmap=True)[0]["u8"][0, 0, 0] == 250 and read(path)[0]["u8"][0, 0, 0] == 250
    with pytest.raises(ArtifactError, match="metadata 'model' is 'ddgm', expected 'gan'"):
        read(path, {"model": "gan"}, mmap=True)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    (tmp_path / "bad.safetensors").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"bad\.safetensors: content hash mismatch"):
        read(tmp_path / "bad.safetensors", mmap=True)
    (tmp_path / "short.safetensors").write_bytes(bytes(data[:-3]))
    with pytest.raises(ArtifactError, match=r"short\.safetensors: truncated"):
        read(tmp_path / "short.safetensors", mmap=True)
    with pytest.raises(FileNotFoundError, match=r"none\.safetensors: no such file"):
        read(tmp_path / "none.safetensors", mmap=True)


_MEMORY = """
import sys, torch
from diffrepro.tensorfile import read, write

def status_mb(key):  # RssAnon: what the process itself holds now (not the page cache); VmHWM: its peak resident
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024

def anon_mb():
    return status_mb("RssAnon")

big = {"images": torch.full((256, 1024, 1024), 7, dtype=torch.uint8), "labels": torch.arange(256)}
base = status_mb("VmHWM")
write(sys.argv[1], big, {"what": "test"})
after_write = status_mb("VmHWM") - base
del big
base = anon_mb()
tensors, _ = read(sys.argv[1], mmap=True)
assert int(tensors["images"][255, 1023, 1023]) == 7 and int(tensors["labels"][-1]) == 255
print(after_write, anon_mb() - base)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads RssAnon from /proc/self/status")
def test_a_large_file_is_written_and_mapped_without_a_copy_of_its_data(tmp_path):
    """Writing a 256 MB tensor allocates no copy of its bytes (the peak resident memory does not grow: serialising
    to bytes first would add at least 512 MB), and a mapped read holds them in the page cache (the process'
    anonymous memory grows by far less than the data; a copying read adds 256 MB)."""
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY, str(tmp_path / "big.safetensors")], check=True, capture_output=True, text=True
    )
    grew_write, grew_read = map(float, out.stdout.split())
    assert grew_write < 32 and grew_read < 32, (grew_write, grew_read)
