"""The one CSV writer (:mod:`diffrepro.csvio`) and the hashing helpers (:mod:`diffrepro.hashing`).

The CSV files of the DAG are tracked outputs: the writer must give the bytes the steps wrote by hand before it
(``\\n`` line ends, no quotes around plain values). The digests are part of checkpoint fingerprints and
reference-feature files: they are pinned to the values the pipeline has always computed.
"""

from __future__ import annotations

import hashlib

import torch

from diffrepro.csvio import csv_text, write_csv
from diffrepro.hashing import file_sha256, json_sha256, tensors_sha256


def test_csv_text_is_plain_unless_a_value_needs_quotes():
    rows = [[1, "0.500000", None], {"b": "x,y", "a": 'say "hi"'}, ["", "", 2.5]]
    assert csv_text(["a", "b", "c"], rows) == 'a,b,c\n1,0.500000,\n"say ""hi""","x,y",\n,,2.5\n'
    assert csv_text(["step", "loss"], []) == "step,loss\n"


def test_write_csv_writes_the_text_atomically(tmp_path):
    path = tmp_path / "sub" / "t.csv"
    write_csv(path, ["t", "v"], [[1, f"{0.25:.8g}"], [2, None]])
    assert path.read_bytes() == b"t,v\n1,0.25\n2,\n"
    assert [p.name for p in path.parent.iterdir()] == ["t.csv"]  # no temporary file left behind


def test_file_sha256_is_the_digest_of_the_bytes(tmp_path):
    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 5000  # larger than one read chunk
    path.write_bytes(data)
    assert file_sha256(path) == file_sha256(str(path)) == hashlib.sha256(data).hexdigest()


def test_digests_keep_their_values():
    state = {
        "b.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "a": torch.tensor([1, -2], dtype=torch.int64),
    }
    assert tensors_sha256(state) == "81f667698e538c62b18f2852e3a2441b301bbb8b409145cb3837be4a2d110caa"
    assert tensors_sha256({k: state[k] for k in reversed(list(state))}) == tensors_sha256(state)  # name order
    assert tensors_sha256({**state, "a": state["a"].to(torch.int32)}) != tensors_sha256(state)  # dtype counts
    obj = {"z": [1, 2.5, None], "a": {"k": "v"}}
    assert json_sha256(obj) == "d59ae52456df73412762d367e04e126cdea6a55b23179f9ff516dd866db56c7e"
    assert json_sha256({"a": {"k": "v"}, "z": [1, 2.5, None]}) == json_sha256(obj)
