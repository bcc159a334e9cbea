"""Tests of the cluster execution profiles (workflow/profiles/slurm, workflow/profiles/local-gpus) and of
the per-job GPU pinning behind local-gpus (diffrepro.gpu_slots).

Offline, without SLURM: the profiles are parsed the way Snakemake parses them, their rule names are
checked against the workflow, both plan the tiny preset's DAG (`snakemake -n --profile ...`), and the
SLURM executor plugin builds real sbatch commands against stand-in SLURM tools (`sbatch` records its
arguments and refuses; `sinfo`/`sacctmgr`/`sshare` answer as a cluster would)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from diffrepro.dag import STEPS, Step
from workflow_tools import BIN, REPO, make_workspace, tool

PROFILES = REPO / "workflow" / "profiles"
SLURM = PROFILES / "slurm" / "config.yaml"
LOCAL_GPUS = PROFILES / "local-gpus" / "config.yaml"
SMOKE_CPU = PROFILES / "smoke-cpu" / "config.yaml"


def load_profile(path: Path) -> dict:
    """The profile as Snakemake reads it (YTE-processed YAML: anchors and merge keys resolved)."""
    import yte

    with open(path) as fh:
        return yte.process_yaml(fh, require_use_yte=True)


def workflow_rules() -> dict[str, Step]:
    """rule name -> its step: the Snakemake rules are the declared steps (diffrepro.dag), plus ``all``."""
    return {s.name: s for s in STEPS}


def gpu_rules() -> set[str]:
    """The rules whose step asks for a GPU or runs networks on a torch device (and so may use a GPU)."""
    return {name for name, s in workflow_rules().items() if s.gpu or s.device}


# ----------------------------------------------------------------------------- static checks
@pytest.mark.parametrize("path", [SLURM, LOCAL_GPUS], ids=["slurm", "local-gpus"])
def test_profile_parses_and_names_existing_rules(path):
    from snakemake.profiles import ProfileConfigFileParser

    prof = load_profile(path)
    assert isinstance(prof, dict)
    with open(path) as fh:  # Snakemake's own reader turns it into command-line arguments
        args = ProfileConfigFileParser().parse(fh)
    assert "set-resources" in args and all(re.fullmatch(r"\w+:\w+=\S+", a) for a in args["set-resources"])
    rules = workflow_rules()
    named = set(prof.get("set-resources", {})) | set(prof.get("set-threads", {}))
    assert named, path
    assert not named - set(rules), f"{path} names rules the workflow lacks: {sorted(named - set(rules))}"
    for rule, res in prof["set-resources"].items():
        assert isinstance(res, dict) and res, rule
        for key, value in res.items():
            assert isinstance(value, (int, str)) and not isinstance(value, bool), (rule, key, value)


def test_smoke_cpu_profile_runs_every_network_job_alone_on_two_cores():
    from snakemake.profiles import ProfileConfigFileParser

    prof = load_profile(SMOKE_CPU)
    with open(SMOKE_CPU) as fh:
        args = ProfileConfigFileParser().parse(fh)
    assert all(re.fullmatch(r"\w+=2", a) for a in args["set-threads"]), args["set-threads"]
    threads = prof["set-threads"]
    assert prof["cores"] == 2 and set(threads.values()) == {2}
    assert set(threads) == gpu_rules() | {"train_classifier"}, "every network job, and only those, takes both cores"


def test_slurm_profile_sizes_every_gpu_rule():
    prof = load_profile(SLURM)
    assert prof["executor"] == "slurm"
    for key in ("jobs", "latency-wait", "retries", "rerun-incomplete", "cores"):
        assert key in prof, key
    assert prof["rerun-incomplete"] is True
    res = prof["set-resources"]
    assert gpu_rules(), "no GPU rule found in the workflow"
    for rule in gpu_rules():
        assert rule in res, f"GPU rule {rule} has no set-resources in {SLURM}"
        assert res[rule].get("gpu") == 1, rule
        assert res[rule]["runtime"] >= 60 and res[rule]["mem_mb"] >= 8000, rule
        assert prof["set-threads"].get(rule, 0) >= 4, rule
    for rule in ("table", "snr", "prepare_data", "train_classifier"):  # CPU only
        if rule in res:
            assert "gpu" not in res[rule] and "gres" not in res[rule], rule
    assert res["train_ddgm"]["runtime"] >= 24 * 60


def test_local_gpus_profile_counts_every_device_job():
    prof = load_profile(LOCAL_GPUS)
    assert isinstance(prof["resources"]["gpu"], int) and prof["resources"]["gpu"] >= 1
    rules = workflow_rules()
    for rule in gpu_rules():  # every job that may use the GPU holds one, so pinning never waits
        assert rules[rule].gpu or prof["set-resources"].get(rule, {}).get("gpu") == 1, rule
    for rule in ("table", "snr", "prepare_data"):
        assert "gpu" not in prof["set-resources"].get(rule, {}), rule


# ----------------------------------------------------------------------------- dry runs
def clean_env(extra_path: Path | None = None) -> dict:
    """The environment with PATH limited to the venv and the system folders (no SLURM tools unless
    ``extra_path`` holds stand-ins)."""
    e = dict(os.environ)
    parts = [str(extra_path)] if extra_path else []
    e["PATH"] = os.pathsep.join([*parts, str(BIN), "/usr/local/bin", "/usr/bin", "/bin"])
    for k in ("SNAKEMAKE_PROFILE", "DIFFREPRO_GPUS", "CUDA_VISIBLE_DEVICES", "SBATCH_ACCOUNT", "SBATCH_PARTITION"):
        e.pop(k, None)
    return e


def jobs_of(out: str) -> list[dict]:
    """rule, threads and resources of each job of a dry-run printout."""
    jobs, cur = [], None
    for line in out.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line)
        if m:
            cur = {"rule": m.group(1), "threads": 1, "resources": {}}
            jobs.append(cur)
        elif cur is not None and (m := re.match(r"^    threads: (\d+)$", line)):
            cur["threads"] = int(m.group(1))
        elif cur is not None and line.startswith("    resources: "):
            for item in line[len("    resources: ") :].split(", "):
                k, _, v = item.partition("=")
                cur["resources"][k] = v
    return jobs


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("profiles") / "ws")


def test_slurm_dry_run_plans_the_dag_offline(workspace):
    env = clean_env()  # on a machine without SLURM no sbatch is on this PATH; -n never calls one anyway
    proc = subprocess.run(
        [tool("snakemake"), "-n", "--profile", str(SLURM)],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Using profile" in proc.stderr + proc.stdout
    jobs = jobs_of(proc.stdout)
    by_rule = {}
    for j in jobs:
        by_rule.setdefault(j["rule"], j)
    assert {"train_ddgm", "evaluate", "table", "prepare_data"} <= set(by_rule)
    prof = load_profile(SLURM)
    for rule, job in by_rule.items():
        want = prof["set-resources"].get(rule)
        if want is None:
            continue
        for key, value in want.items():
            assert job["resources"].get(key) == str(value), (rule, key, job["resources"])
        if rule in prof["set-threads"]:
            assert job["threads"] == prof["set-threads"][rule], (rule, job["threads"])
    assert "gpu" not in by_rule["table"]["resources"] and "gpu" not in by_rule["prepare_data"]["resources"]


def test_local_gpus_dry_run(workspace):
    proc = subprocess.run(
        [tool("snakemake"), "-n", "--profile", str(LOCAL_GPUS)],
        cwd=workspace,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    by_rule = {}
    for j in jobs_of(proc.stdout):
        by_rule.setdefault(j["rule"], j)
    for rule in ("evaluate", "reference_features", "train_ddgm", "sample"):
        assert by_rule[rule]["resources"].get("gpu") == "1", (rule, by_rule[rule]["resources"])
    assert "gpu" not in by_rule["table"]["resources"]


# ----------------------------------------------------------------------------- real sbatch commands
FAKE_TOOLS = {
    # records its arguments, then refuses (nothing is submitted)
    "sbatch": 'printf "%s\\n" "$*" >> "$FAKE_SLURM_LOG"\necho "sbatch: error: stand-in SLURM" >&2\nexit 1',
    "sinfo": 'printf "PARTITION\\nbatch*\\ngpu\\n"',  # the default partition is marked with *
    "sacctmgr": 'echo " myacct"',
    "sshare": 'echo " myacct"',
    "sacct": 'echo "sacct: stand-in" >&2\nexit 1',
    "squeue": 'echo "squeue: stand-in" >&2\nexit 1',
    "scontrol": 'echo "scontrol: stand-in" >&2\nexit 1',
}


@pytest.fixture
def fake_slurm(tmp_path) -> tuple[Path, Path]:
    folder = tmp_path / "fake-slurm-bin"
    folder.mkdir()
    for name, body in FAKE_TOOLS.items():
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return folder, tmp_path / "sbatch-calls.txt"


def submit(workspace: Path, fake_slurm, *args: str) -> list[str]:
    """Run Snakemake with the slurm profile against the stand-in tools; the sbatch calls it made."""
    folder, calls = fake_slurm
    calls.unlink(missing_ok=True)
    env = clean_env(folder)
    env["FAKE_SLURM_LOG"] = str(calls)
    proc = subprocess.run(
        [
            tool("snakemake"),
            "--profile",
            str(SLURM),
            "--retries",
            "0",
            "--slurm-init-seconds-before-status-checks",
            "1",
            *args,
        ],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0  # every submission was refused
    assert calls.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return calls.read_text().splitlines()


def test_slurm_plugin_builds_gpu_and_cpu_sbatch_commands(workspace, fake_slurm):
    prof = load_profile(SLURM)
    plan = subprocess.run(
        [tool("snakemake"), "-n", "--cores", "1"],
        cwd=workspace,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    blocks = re.findall(r"^rule (\w+):\n((?:    .*\n)+)", plan, re.M)
    data = sorted(
        {
            o.strip()
            for r, b in blocks
            if r == "prepare_data"
            for o in re.search(r"    output: (.*)", b).group(1).split(",")
        }
    )
    model_out = next(re.search(r"    output: ([^,\n]+)", b).group(1) for r, b in blocks if r == "train_ddgm")

    # a CPU job (prepare_data): no GPU, its own time, memory and CPUs, the cluster's default partition
    (cpu_call,) = submit(workspace, fake_slurm, data[0])
    want = prof["set-resources"]["prepare_data"]
    assert f"-t {want['runtime']} " in cpu_call and f"--mem {want['mem_mb']} " in cpu_call
    assert f"--cpus-per-task={prof['set-threads']['prepare_data']}" in cpu_call
    assert " -p batch " in cpu_call and "--gpus" not in cpu_call and "--wrap=" in cpu_call

    # a GPU job (train_ddgm) once its data exist, with account and partition set on the command line
    for path in data:
        (workspace / path).parent.mkdir(parents=True, exist_ok=True)
        (workspace / path).touch()
    calls = submit(
        workspace, fake_slurm, "--default-resources", "slurm_account=myacct", "slurm_partition=gpu", "--", model_out
    )
    assert len(calls) == 1, calls
    gpu_call = calls[0]
    want = prof["set-resources"]["train_ddgm"]
    assert "--gpus=1" in gpu_call and f"-t {want['runtime']} " in gpu_call and f"--mem {want['mem_mb']} " in gpu_call
    assert f"--cpus-per-task={prof['set-threads']['train_ddgm']}" in gpu_call
    assert " -A myacct " in gpu_call and " -p gpu " in gpu_call
    assert "--executor slurm-jobstep" in gpu_call and "train_ddgm" in gpu_call


# ----------------------------------------------------------------------------- GPU pinning
PIN = textwrap.dedent("""
    import sys
    from diffrepro.gpu_slots import pin_gpus
    try:
        got = pin_gpus(int(sys.argv[1]), poll_seconds=0.05, timeout=float(sys.argv[2]))
    except TimeoutError:
        print("timeout", flush=True)
        sys.exit(0)
    import os
    print(os.environ.get("CUDA_VISIBLE_DEVICES"), got, flush=True)
    sys.stdin.read()  # hold the GPU until told to exit
""")


def pin_env(tmp_path: Path, gpus: str = "0,1") -> dict:
    e = clean_env()
    e.update(DIFFREPRO_GPUS=gpus, DIFFREPRO_GPU_LOCK_DIR=str(tmp_path / "locks"))
    return e


def start_pin(env: dict, count: int = 1, timeout: float = 5.0) -> tuple[subprocess.Popen, str]:
    p = subprocess.Popen(
        [sys.executable, "-c", PIN, str(count), str(timeout)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return p, p.stdout.readline().strip()


def test_gpu_pinning_gives_each_job_its_own_gpu(tmp_path):
    env = pin_env(tmp_path)
    a, out_a = start_pin(env)
    b, out_b = start_pin(env)
    try:
        assert out_a == "0 ['0']" and out_b == "1 ['1']"
        c, out_c = start_pin(env, timeout=0.3)  # both taken: a third job waits (here: gives up)
        assert out_c == "timeout"
        c.wait(10)
        a.stdin.close()
        a.wait(10)  # the first job ends: its GPU is free again
        d, out_d = start_pin(env)
        assert out_d == "0 ['0']"
        d.stdin.close()
        d.wait(10)
        a.kill()
        e, out_e = start_pin(
            env, count=2, timeout=0.3
        )  # two GPUs for one job (a torchrun launcher): not while b holds 1
        assert out_e == "timeout"
        e.wait(10)
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.wait(10)
    f, out_f = start_pin(env, count=2)
    assert out_f == "0,1 ['0', '1']"
    f.stdin.close()
    f.wait(10)


@pytest.mark.parametrize(
    "extra",
    [{"DIFFREPRO_GPUS": ""}, {"CUDA_VISIBLE_DEVICES": "3"}, {"LOCAL_RANK": "1"}],
    ids=["off", "already-pinned", "torchrun-child"],
)
def test_gpu_pinning_is_a_no_op(tmp_path, extra):
    env = {**pin_env(tmp_path), **extra}
    p, out = start_pin(env)
    p.stdin.close()
    p.wait(10)
    assert out == f"{extra.get('CUDA_VISIBLE_DEVICES')} None"
    assert not (tmp_path / "locks").exists() or not any((tmp_path / "locks").iterdir())


def test_the_command_pins_a_device_step_before_it_runs(tmp_path):
    """``diffrepro <step>`` claims a GPU of $DIFFREPRO_GPUS for a step that runs on the device (``auto`` or
    ``cuda``) before the step's module is imported; a CPU or a numbered device, or a step without a device, claims
    none. The step then resolves ``auto`` against the machine (the pinned GPU is its ``cuda``)."""
    code = (
        "import os, sys\nimport diffrepro.cli as cli\n"
        "def step(name):\n"
        "    from diffrepro.devices import resolve_device\n"
        "    return type('M', (), {'run': staticmethod(lambda args: print(\n"
        "        name, os.environ.get('CUDA_VISIBLE_DEVICES'), resolve_device(getattr(args, 'device', 'cpu'))))})\n"
        "cli.load_step = step\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )

    def run(*argv):
        proc = subprocess.run(
            [sys.executable, "-c", code, *argv],
            env=pin_env(tmp_path, "2,5"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()

    sample = ["sample", "--model", "m", "--weights", "w", "--out", "o", "--grid", "g", "--params", "missing.yaml"]
    name, pinned, device = run(*sample)
    assert (name, pinned) == ("sample", "2") and device in ("cuda", "cpu")
    assert (tmp_path / "locks" / "gpu2.lock").is_file()
    assert run(*sample, "--device", "cpu") == ["sample", "None", "cpu"]
    table = [
        "table",
        "--name",
        "deja_table1",
        "--metrics-dir",
        "a",
        "--nll-dir",
        "b",
        "--snapshots-dir",
        "c",
        "--train-dir",
        "d",
        "--sample-timing-dir",
        "g",
        "--train-timing-dir",
        "h",
        "--out-md",
        "e",
        "--out-csv",
        "f",
    ]
    assert run(*table) == ["table", "None", "cpu"]


def test_gpu_ids_are_validated(monkeypatch):
    from diffrepro.gpu_slots import gpu_ids

    assert gpu_ids(" 0, 2,3 ") == ["0", "2", "3"] and gpu_ids("") == []
    for bad in ("0,0", "a,1", "cuda:0"):
        with pytest.raises(ValueError, match="DIFFREPRO_GPUS"):
            gpu_ids(bad)
