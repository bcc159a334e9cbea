"""Logging and progress for long-running steps.

Each step logs to the rule's log file (``--log``) and to stderr.  Progress is a tqdm bar on
stderr (step, loss, it/s, ETA); every ``log_every`` updates the bar's text is also written to
the log file, so a log read after the fact shows the same numbers.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tqdm import tqdm

LOGGER_NAME = "diffrepro"
PROGRESS_LOGGER_NAME = "diffrepro.progress"  # file only: the tqdm bar already shows it on stderr


def setup_logging(log_path: str | None, level: int = logging.INFO) -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    logger.addHandler(stream)
    progress = logging.getLogger(PROGRESS_LOGGER_NAME)
    progress.setLevel(level)
    for handler in list(progress.handlers):
        progress.removeHandler(handler)
        handler.close()
    progress.propagate = False
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_path, mode="a", encoding="utf-8")
        fh.setFormatter(fmt)
        logger.addHandler(fh)
        progress.addHandler(fh)
    else:
        progress.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


class Progress:
    """A tqdm bar whose state is mirrored into the log every ``log_every`` updates (``disable``: neither,
    for the processes of a data-parallel run other than rank 0)."""

    def __init__(
        self, total: int, desc: str, *, initial: int = 0, log_every: int = 50, unit: str = "step", disable: bool = False
    ):
        self.bar = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit=unit,
            dynamic_ncols=True,
            mininterval=1.0,
            file=sys.stderr,
            disable=disable,
        )
        self.disable = disable
        self.log_every = max(1, log_every)
        self._count = 0
        self.logger = logging.getLogger(PROGRESS_LOGGER_NAME)

    def update(self, n: int = 1, **postfix) -> None:
        if self.disable:
            return
        if postfix:
            self.bar.set_postfix(
                {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in postfix.items()}, refresh=False
            )
        self.bar.update(n)
        self._count += n
        if self._count % self.log_every == 0 or self.bar.n >= (self.bar.total or 0):
            self.logger.info("%s", self.describe())

    def describe(self) -> str:
        d = self.bar.format_dict
        return tqdm.format_meter(**d).strip()

    def close(self) -> None:
        self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
