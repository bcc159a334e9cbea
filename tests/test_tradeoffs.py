"""Coursework Fig 4.2 and 4.3 (:mod:`diffrepro.analysis.tradeoffs`, step ``coursework-figures``).

* The least-squares line and its r^2 against numpy's polyfit and corrcoef; no line from one point or a constant x.
* The paper's panels: the line through the four standard-block rows of coursework Table 4.3, typed here from the
  text, against polyfit; the MBConv rows are left out of it.
* The step on a written Table 4.3 whose standard rows lie on a known line (and an MBConv row off it): the fits CSV
  gives that line exactly; Fig 4.3 reads Table 4.4's runs' loss CSVs up to step 50 000; same inputs, same bytes;
  a missing loss CSV is named.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from diffrepro.analysis.tradeoffs import (
    LOSS_STEPS,
    architecture_points,
    linear_fit,
    loss_curve,
    paper_architecture_points,
    standard_fits,
)
from diffrepro.csvio import read_csv, write_csv


def test_the_line_and_r2_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 12)
    y = 3.0 - 0.7 * x + rng.normal(0, 0.5, 12)
    fit = linear_fit(list(x), list(y))
    slope, intercept = np.polyfit(x, y, 1)
    assert fit["slope"] == pytest.approx(slope, rel=1e-10)
    assert fit["intercept"] == pytest.approx(intercept, rel=1e-10)
    assert fit["r2"] == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, rel=1e-10)
    assert fit["n"] == 12
    from scipy.stats import linregress

    assert fit["slope_se"] == pytest.approx(linregress(x, y).stderr, rel=1e-9)
    exact = linear_fit([1.0, 2.0, 4.0], [3.0, 5.0, 9.0])
    assert (exact["slope"], exact["intercept"], exact["r2"], exact["slope_se"]) == pytest.approx((2.0, 1.0, 1.0, 0.0))
    assert linear_fit([1.0, 2.0], [3.0, 1.0])["slope_se"] is None  # two points: the line passes through both
    assert linear_fit([1.0], [2.0]) is None  # one point: no line
    assert linear_fit([2.0, 2.0], [1.0, 3.0]) is None  # constant x: no line
    with pytest.raises(ValueError, match="3 x values but 2 y values"):
        linear_fit([1.0, 2.0, 3.0], [1.0, 2.0])


def test_the_papers_lines_go_through_its_standard_block_rows_only():
    # coursework Table 4.3, standard blocks: (parameters M, samples/s, train h, FID) of Default, DeepRes1,
    # ShallowRes2, ShallowRes1; MBConv64 and MBConv96 are left out of the lines
    standard = np.array(
        [[34.21, 1.00, 20.66, 4.93], [23.27, 1.50, 18.50, 5.90], [24.76, 1.15, 19.15, 4.56], [17.02, 1.74, 16.88, 6.39]]
    )
    points = paper_architecture_points()
    assert [p["model"] for p in points if p["block"] == "MBConv"] == ["MBConv64", "MBConv96"]
    fits = standard_fits(points)
    for column, cost in enumerate(("Params (M)", "Samples/s", "Train s/step")):
        slope, intercept = np.polyfit(standard[:, column], standard[:, 3], 1)
        assert fits[cost]["n"] == 4
        assert fits[cost]["slope"] == pytest.approx(slope, rel=1e-9)
        assert fits[cost]["intercept"] == pytest.approx(intercept, rel=1e-9)
    # the coursework's reading: faster sampling goes with a worse (higher) FID
    assert fits["Samples/s"]["slope"] > 0


TABLE_4_3 = [
    "Model",
    "Block",
    "Params (M)",
    "Samples/s",
    "Train s/step",
    "FID [Inception]",
    "FID [Inception]_lo",
    "FID [Inception]_hi",
    "FID [classifier]",
]


def _table(path, rows):
    write_csv(path, TABLE_4_3, rows)


def test_points_take_the_inception_fid_and_its_interval(tmp_path):
    _table(
        tmp_path / "t.csv",
        [["a", "Standard", 1.0, 2.0, 0.1, 10.0, 9.0, 11.0, 0.5], ["b", "MBConv", 2.0, 1.0, 0.2, "n/a", "", "", 0.7]],
    )
    points, column = architecture_points(read_csv(tmp_path / "t.csv"))
    assert column == "FID [Inception]"
    assert [(p["model"], p["fid"], p["fid_lo"], p["fid_hi"]) for p in points] == [("a", 10.0, 9.0, 11.0)]
    with pytest.raises(ValueError, match=r"t2.csv: no column 'Samples/s'"):
        write_csv(tmp_path / "t2.csv", ["Model", "Params (M)", "FID"], [["a", 1.0, 2.0]])
        architecture_points(read_csv(tmp_path / "t2.csv"), where=str(tmp_path / "t2.csv"))


def test_loss_curves_stop_at_the_figures_last_step():
    rows = [{"step": str(s), "loss": str(1.0 / s)} for s in (100, 50_000, 50_100)] + [{"step": "200", "loss": "nan"}]
    assert loss_curve(rows) == [(100, 0.01), (LOSS_STEPS, 1.0 / LOSS_STEPS)]


def _run(tmp_path, out):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "diffrepro",
            "coursework-figures",
            "--architectures",
            str(tmp_path / "t43.csv"),
            "--objectives",
            str(tmp_path / "t44.csv"),
            "--train-dir",
            str(tmp_path / "train"),
            "--out-fits",
            str(out / "fits.csv"),
            "--out-tradeoffs-png",
            str(out / "f42.png"),
            "--out-losses-png",
            str(out / "f43.png"),
        ],
        capture_output=True,
        text=True,
    )


def test_the_step_fits_the_standard_rows_and_draws_both_figures(tmp_path):
    # standard rows on FID = 2 * params + 1 = -4 * samples/s + 30 = 100 * s/step; the MBConv row far off all lines
    rows = [
        [f"m{i}", "Standard", p, (29 - 2 * p) / 4, (2 * p + 1) / 100, 2 * p + 1, 2 * p, 2 * p + 2, 1.0]
        for i, p in enumerate((1.0, 2.0, 5.0))
    ]
    _table(tmp_path / "t43.csv", rows + [["mb", "MBConv", 1.5, 9.0, 0.5, 100.0, 90.0, 110.0, 1.0]])
    write_csv(tmp_path / "t44.csv", ["Model", "Paper setup"], [["m0", "DDPM"], ["m1", "IWDiff"]])
    for model in ("m0", "m1"):
        (tmp_path / "train" / model).mkdir(parents=True)
        write_csv(tmp_path / "train" / model / "loss.csv", ["step", "loss"], [[s, 1 / s] for s in (10, 20, 60_000)])
    first, second = tmp_path / "out1", tmp_path / "out2"
    for out in (first, second):
        done = _run(tmp_path, out)
        assert done.returncode == 0, done.stderr
    fits = {(r["source"], r["cost"]): r for r in read_csv(first / "fits.csv")}
    for cost, slope, intercept in (("Params (M)", 2, 1), ("Samples/s", -4, 30), ("Train s/step", 100, 0)):
        r = fits[("ours", cost)]
        assert float(r["slope"]) == pytest.approx(slope) and float(r["intercept"]) == pytest.approx(intercept, abs=1e-9)
        assert float(r["r2"]) == pytest.approx(1.0) and r["n"] == "3"
    assert fits[("paper", "Train h")]["n"] == "4"
    for name in ("fits.csv", "f42.png", "f42.svg", "f43.png", "f43.svg"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "f42.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "first 50,000 steps" in (first / "f43.svg").read_text()
    # a run of Table 4.4 without its loss CSV: named
    write_csv(tmp_path / "t44.csv", ["Model", "Paper setup"], [["m0", "DDPM"], ["gone", "IWDiff"]])
    done = _run(tmp_path, tmp_path / "out3")
    assert done.returncode != 0
    assert f"{tmp_path / 'train' / 'gone' / 'loss.csv'}: training loss CSV not found" in done.stderr
    assert math.isfinite(float(fits[("paper", "Samples/s")]["slope"]))
