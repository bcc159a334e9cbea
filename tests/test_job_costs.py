"""diffrepro job-costs: each job's wall time and peak memory from Snakemake's benchmark files, and the summary
per job kind."""

from __future__ import annotations

import pytest

from diffrepro.cli import main as cli_main
from diffrepro.perf.job_costs import kind_summary, read_job_costs

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path, *rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(f"{s}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n" for s, rss, cpu in rows))


def test_jobs_and_kinds_from_benchmark_files(tmp_path, capsys):
    b = tmp_path / "benchmarks"
    _bench(b / "train_ddgm" / "a.tsv", (10.0, 500.0, 18.0))
    _bench(b / "train_ddgm" / "b.tsv", (99.0, 1.0, 1.0), (30.0, 700.5, 55.0))  # a rerun: its last row counts
    _bench(b / "claims.tsv", (2.5, "NA", 2.0))
    _bench(b / "evaluate_dddm" / "sub" / "x.tsv", (4.0, 100.0, 7.0))  # a key with a slash
    jobs = read_job_costs(b)
    assert [(j.kind, j.key, j.seconds, j.max_rss_mb) for j in jobs] == [
        ("claims", "", 2.5, None),
        ("evaluate_dddm", "sub/x", 4.0, 100.0),
        ("train_ddgm", "a", 10.0, 500.0),
        ("train_ddgm", "b", 30.0, 700.5),
    ]
    summary = kind_summary(jobs)
    assert summary[0] == {"kind": "train_ddgm", "jobs": 2, "total_s": 40.0, "max_s": 30.0, "peak_rss_mb": 700.5}
    assert summary[-1]["kind"] == "claims" and summary[-1]["peak_rss_mb"] is None
    out = tmp_path / "costs.csv"
    assert cli_main(["job-costs", "--benchmarks", str(b), "--out-csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4 jobs, 46 s of job wall time" in text and "| train_ddgm | 2 | 40.0 | 30.0 | 700 |" in text
    assert out.read_text().splitlines()[1:3] == ["claims,,2.5,,2", "evaluate_dddm,sub/x,4,100,7"]


def test_bad_benchmark_files_are_named(tmp_path):
    b = tmp_path / "benchmarks"
    with pytest.raises(FileNotFoundError, match="no benchmarks folder"):
        read_job_costs(b)
    _bench(b / "sample" / "m.tsv", ("abc", 1.0, 1.0))
    with pytest.raises(ValueError, match=r"m\.tsv: s = 'abc' is not a number"):
        read_job_costs(b)
    (b / "sample" / "m.tsv").write_text("seconds\n1\n")
    with pytest.raises(ValueError, match=r"m\.tsv: no column 's'"):
        read_job_costs(b)
