"""Keyword options of a named choice (a beta schedule, a timestep sampler, ...) checked against what the
choice accepts, with one wording for every choice: the error names the unknown or missing options and the
choice."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def check_options(what: str, options: Mapping[str, Any], accepted: Iterable[str], required: Iterable[str]) -> None:
    """Raise ValueError when ``options`` holds a key not in ``accepted`` or lacks one of ``required``;
    ``what`` names the choice in the message (``"beta schedule 'linear_range'"``)."""
    accepted = list(accepted)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = ", ".join(accepted) if accepted else "none"
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for {what}; accepted options: {allowed}")
    missing = [k for k in required if k not in options]
    if missing:
        raise ValueError(f"{what} requires option(s) {', '.join(map(repr, missing))}")
