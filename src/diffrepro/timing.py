"""Wall-clock measurements, kept apart from the artifacts they describe.

A step that measures its own speed (training seconds per step, samples per second) writes the measurements to a
timing file of its own under ``results/timing/`` and nowhere else: its weights, samples, features and metrics
hold no timing, so two runs on the same inputs write the same bytes and DVC reruns nothing downstream of a
rerun step whose content did not change.  Only the steps that report a timing (the tables, the claims, the
post-hoc DAED analysis) read timing files, and those alone rerun when a timing moves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from .atomic import read_json, write_json

__all__ = ["TIMING_ROOT", "read_timing", "rows_with_timing", "train_timing", "with_timing", "write_timing"]

#: the folder of every timing file (a preset's lies under its own folder, presets/NAME/)
TIMING_ROOT = "results/timing"
#: the key that marks a timing file (a reader refuses any other JSON passed as one)
KIND_KEY = "timing_of"


def write_timing(path: str | os.PathLike[str] | None, of: str, record: Mapping[str, Any]) -> None:
    """Write the timings ``record`` of ``of`` (for example ``"sample ddgm_a"``) to ``path``, atomically, and log
    them (``path`` None, a command run by hand without ``--timing``: logged only)."""
    from .runlog import get_logger

    get_logger().info("timings of %s: %s", of, json.dumps(dict(record), sort_keys=True))
    if path is not None:
        write_json(path, {KIND_KEY: of, **record})


def read_timing(path: str | os.PathLike[str], of: str | None = None) -> dict[str, Any]:
    """The timings in ``path`` (without the marker); ``of``, when given, must be what the file says it times."""
    try:
        record = read_json(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no timing file (run the step that measures it)") from None
    if not isinstance(record, dict) or KIND_KEY not in record:
        raise ValueError(f"{path}: not a timing file (no {KIND_KEY!r} key)")
    if of is not None and record[KIND_KEY] != of:
        raise ValueError(f"{path}: holds the timings of {record[KIND_KEY]!r}, expected {of!r}")
    return {k: v for k, v in record.items() if k != KIND_KEY}


def with_timing(record: Mapping[str, Any], timing: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` with the fields of ``timing`` added (a report's view of an artifact and its measured speed);
    a field both hold is refused: an artifact holds no timing."""
    both = sorted(set(record) & set(timing))
    if both:
        raise ValueError(f"fields {both} are both in a record and in its timings")
    return {**record, **timing}


def train_timing(result: Any) -> dict[str, Any]:
    """The timings of a training run (:class:`diffrepro.training.engine.LoopResult`): this run's seconds, those of
    every run that made the weights (a resumed run adds up) and their mean per step, and the step it resumed from
    (0: none; a history fact like the seconds, not a result: a resumed run ends bit-identical to an unbroken one)."""
    per_step = result.seconds_total / result.steps if result.steps else None
    return {
        "train_seconds_this_run": round(result.seconds, 3),
        "train_seconds_total": round(result.seconds_total, 3),
        "seconds_per_step": None if per_step is None else round(per_step, 6),
        "resumed_from_step": int(result.resumed_from),
    }


def rows_with_timing(record: Mapping[str, Any], timing: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``record`` whose ``rows`` (one per sample set, told apart by ``key``: ``nfe``, ``t_mid``) get the timings
    of their set: each field ``<name>_<key><value>`` of ``timing`` as ``<name>`` (``samples_per_second_nfe2``
    becomes row NFE 2's ``samples_per_second``)."""
    rows = []
    for row in record["rows"]:
        suffix = f"_{key.replace('_', '')}{row[key]}"
        own = {name[: -len(suffix)]: v for name, v in timing.items() if name.endswith(suffix)}
        if not own:
            raise ValueError(f"no timings of the set {key} = {row[key]} (fields ending in {suffix!r})")
        rows.append(with_timing(row, own))
    return {**record, "rows": rows}
