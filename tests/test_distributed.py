"""Data-parallel training (torchrun / DDP, :mod:`diffrepro.training.distributed`) on the CPU with gloo.

Two spawned processes train every kind of model (DDGM with a uniform, a loss-aware and an IWDiff setup,
a joint DAED, a post-hoc DAE, the SNGAN, a DDDM) with the same global batch as one process; both
ranks must hold bit-identical results, and these must equal the single process's up to float rounding:
every logged loss, the loss-aware sampler's state, the DDDM store, and the trained networks (model and
EMA) as functions, i.e. their outputs on fixed inputs. The weights themselves are only compared
coarsely: a parameter whose gradient is zero up to rounding (a bias followed by a normalisation) is
moved by Adam's ``m / sqrt(v)`` by up to ``lr`` per step whatever the rounding noise is, which differs
between one process and two exactly as it differs between one process on 1 and on 2 threads. The
DDGM run is killed and resumed by both ranks from rank 0's checkpoint. Rank 1 runs under an audit hook
that records every file it creates, opens for writing, renames or removes in the runs' folders: it must
write nothing.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from diffrepro.cli import DISTRIBUTED_COMMANDS, inside_launcher, nproc_per_node, torchrun_argv
from diffrepro.cli import main as cli_main
from diffrepro.config import ConfigError, normalize_model
from diffrepro.factory import build_unet
from diffrepro.training.dae import train_dae
from diffrepro.training.dddm import train_dddm
from diffrepro.training.ddgm import train_ddgm
from diffrepro.training.distributed import Distributed, distributed_settings, init_from_env
from diffrepro.training.gan import train_gan

REPO = Path(__file__).resolve().parents[1]
WORLD = 2
SEED = 5
RTOL, ATOL = 1e-5, 1e-6  # the processes' reductions run in another order than one process's
WEIGHTS_RTOL = 1e-3  # |w_2 - w_1| / |w_1| over a whole state dict (see the module docstring)


def _tiny() -> dict:
    return yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())


def _images(n: int = 32) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def _ddgm_cfg(name: str, sampler=None, **train) -> dict:
    cfg = copy.deepcopy(_tiny()["models"][name])
    cfg["unet"]["dropout"] = 0.0  # dropout masks are per process: they cannot match one process's
    cfg["train"].update({"batch_size": 8, "log_every": 1, "checkpoint_every": 3, "steps": 6, **train})
    if sampler is not None:
        cfg["timestep_sampler"] = sampler
    return cfg


GAN_CFG = {
    "z_dim": 8,
    "channels": 8,
    "train": {
        "steps": 4,
        "batch_size": 8,
        "lr_g": 0.0002,
        "lr_d": 0.0002,
        "betas": [0.0, 0.9],
        "n_dis": 2,
        "ema_decay": 0.9,
        "checkpoint_every": 2,
        "log_every": 1,
    },
}
DDDM_CFG = {
    "timesteps": 40,
    "schedule": "linear",
    "unet": {
        "base_channels": 8,
        "channel_mult": [1, 2],
        "num_res_blocks": 1,
        "attention_resolutions": [],
        "num_heads": 2,
        "dropout": 0.0,
    },
    # 19 images in batches of 8: the last batch of an epoch (3) splits unevenly (2 + 1)
    "train": {
        "epochs": 2,
        "subset": 19,
        "batch_size": 8,
        "lr": 0.001,
        "grad_clip": 1.0,
        "ema_decay": 0.9,
        "checkpoint_every": 3,
        "log_every": 1,
        "store_dtype": "float32",
        "precision": "fp32",
    },
}
DDDM_RUN = {"metric": {"name": "pseudo_huber", "c": 0.03}}


# ------------------------------------------------------------------------------------ the scenarios
# Each trains in ``work`` (a fresh folder) as process ``dist`` and returns (tensors, records).
def _ddgm_result(res) -> tuple[dict, dict]:
    tensors = {
        **{f"model.{k}": v for k, v in res.model.state_dict().items()},
        **{f"ema.{k}": v for k, v in res.ema_state.items()},
    }
    return tensors, {
        "history": res.history,
        "bucket_history": res.bucket_history,
        "steps": res.steps,
        "resumed_from": res.resumed_from,
        "snapshots": sorted(res.snapshots),
    }


def sc_ddgm_uniform(dist: Distributed, work: Path):
    """simple objective, uniform sampler, an EMA snapshot. One process trains 4 steps ("killed" after step 4,
    last checkpoint at 3) and every process of the group resumes from that checkpoint: the distributed
    settings are no part of the fingerprint."""
    cfg = _ddgm_cfg("ddgm_a", snapshots=[0.5])
    kw = dict(seed=SEED, checkpoint_dir=work, data_id="t")
    if dist.is_main:
        train_ddgm(_images(), cfg, stop_at_step=4, distributed=Distributed.single("cpu"), **kw)
    dist.barrier()
    return _ddgm_result(train_ddgm(_images(), cfg, distributed=dist, **kw))


def sc_ddgm_loss_aware(dist: Distributed, work: Path):
    """hybrid objective, loss-second-moment sampler with 2 extra forward evaluations per step."""
    cfg = _ddgm_cfg("ddgm_hybrid", {"name": "loss_second_moment_plus2", "history": 1}, steps=8, checkpoint_every=4)
    return _ddgm_result(train_ddgm(_images(), cfg, seed=SEED, checkpoint_dir=work, data_id="t", distributed=dist))


def sc_ddgm_iwdiff(dist: Distributed, work: Path):
    """IWDiff (k=2): its extra noise is drawn for the global batch."""
    cfg = _ddgm_cfg("ddgm_iwdiff", steps=4, checkpoint_every=2)
    return _ddgm_result(train_ddgm(_images(), cfg, seed=SEED, checkpoint_dir=work, data_id="t", distributed=dist))


def sc_joint_daed(dist: Distributed, work: Path):
    """joint DAED: the DAE gets rows on some processes only (t == 0), or on none."""
    cfg = _ddgm_cfg("daed_combine", steps=6)
    return _ddgm_result(train_ddgm(_images(), cfg, seed=SEED, checkpoint_dir=work, data_id="t", distributed=dist))


def sc_posthoc_dae(dist: Distributed, work: Path):
    cfg = normalize_model(_ddgm_cfg("ddgm_a"))
    torch.manual_seed(0)
    ddgm_state = build_unet(cfg, image_size=8, channels=1).state_dict()
    train_cfg = {
        "steps": 4,
        "batch_size": 8,
        "lr": 1e-3,
        "weight_decay": 0.0,
        "ema_decay": 0.9,
        "checkpoint_every": 2,
        "log_every": 1,
        "grad_clip": 1.0,
    }
    res = train_dae(
        _images(),
        cfg,
        train_cfg,
        ddgm_state=ddgm_state,
        split_step=3,
        seed=SEED,
        checkpoint_dir=work,
        data_id="t",
        speed={"channels_last": True},
        distributed=dist,
    )  # DDP of a channels-last U-Net
    tensors = {
        **{f"model.{k}": v for k, v in res.model.state_dict().items()},
        **{f"ema.{k}": v for k, v in res.ema_state.items()},
    }
    return tensors, {"history": res.history, "steps": res.steps}


def sc_gan(dist: Distributed, work: Path):
    res = train_gan(_images(), GAN_CFG, seed=SEED, checkpoint_dir=work, data_id="t", distributed=dist)
    tensors = {
        **{f"g.{k}": v for k, v in res.generator.state_dict().items()},
        **{f"d.{k}": v for k, v in res.discriminator.state_dict().items()},
        **{f"ema.{k}": v for k, v in res.ema_state.items()},
    }
    return tensors, {"history": res.history, "steps": res.steps}


def sc_dddm(dist: Distributed, work: Path):
    res = train_dddm(_images(24), DDDM_CFG, DDDM_RUN, seed=SEED, checkpoint_dir=work, data_id="t", distributed=dist)
    tensors = {
        **{f"model.{k}": v for k, v in res.model.state_dict().items()},
        **{f"ema.{k}": v for k, v in res.ema_state.items()},
    }
    if res.store is not None:
        tensors["store"] = res.store.get(range(res.store.num_items))
    return tensors, {"history": res.history, "steps": res.steps, "has_store": res.store is not None}


SCENARIOS = {
    f.__name__[3:]: f
    for f in (sc_ddgm_uniform, sc_ddgm_loss_aware, sc_ddgm_iwdiff, sc_joint_daed, sc_posthoc_dae, sc_gan, sc_dddm)
}


# ------------------------------------------------------------------------------------ the two processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _audit_writes(watched: Path, record: list[str]) -> None:
    """Record every file-system write under ``watched`` that Python's audit events show."""
    prefix = str(watched)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    changes = {
        "os.mkdir",
        "os.rename",
        "os.remove",
        "os.rmdir",
        "shutil.rmtree",
        "os.truncate",
        "os.link",
        "os.symlink",
    }

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and bool(flags & write_flags)
            )
        elif event in changes:
            path, writing = args[0], True
        else:
            return
        if writing and not isinstance(path, int) and os.fsdecode(path).startswith(prefix):
            record.append(f"{event} {os.fsdecode(path)}")

    sys.addaudithook(hook)


def _worker(rank: int, port: int, root: str, names: list[str]) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD), RANK=str(rank), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    root_path = Path(root)
    writes: list[str] = []
    _audit_writes(root_path / "runs", writes)
    dist = init_from_env("cpu", "gloo")
    assert (dist.rank, dist.world_size, dist.is_main, dist.device) == (rank, WORLD, rank == 0, "cpu")
    # the collectives: rows of 5 global rows (3 + 2) in global order, a broadcast, a mean
    lo, hi = dist.local_range(5)
    assert torch.equal(dist.all_gather_ordered(torch.arange(5.0)[lo:hi].reshape(-1, 1), 5), torch.arange(5.0)[:, None])
    assert torch.equal(dist.broadcast(torch.full((2,), float(rank + 7))), torch.full((2,), 7.0))
    assert dist.mean_across(float(rank)) == 0.5 and torch.equal(
        dist.mean_across(torch.tensor([rank * 2.0])), torch.tensor([1.0])
    )
    timings = {}
    for name in names:
        t0 = time.perf_counter()
        tensors, records = SCENARIOS[name](dist, root_path / "runs" / name)
        timings[name] = time.perf_counter() - t0
        out = root_path / "results"
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / f"{name}.rank{rank}.safetensors"))
        (out / f"{name}.rank{rank}.json").write_text(json.dumps(records))
    dist.shutdown()
    (root_path / "results" / f"writes.rank{rank}.json").write_text(json.dumps({"writes": writes, "timings": timings}))


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> Path:
    """Runs every scenario in 2 processes (one process group); returns the folder with runs/ and results/."""
    import torch.multiprocessing as mp

    root = tmp_path_factory.mktemp("ddp")
    (root / "results").mkdir()
    mp.spawn(_worker, args=(_free_port(), str(root), list(SCENARIOS)), nprocs=WORLD, join=True)
    return root


def _single(name: str, tmp_path: Path) -> tuple[dict, dict]:
    """The scenario in this process, on one thread (tiny networks on busy cores: threads only contend)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return SCENARIOS[name](Distributed.single("cpu"), tmp_path / "single")
    finally:
        torch.set_num_threads(threads)


def _rank(root: Path, name: str, rank: int) -> tuple[dict, dict]:
    return (
        load_file(str(root / "results" / f"{name}.rank{rank}.safetensors")),
        json.loads((root / "results" / f"{name}.rank{rank}.json").read_text()),
    )


def _close_records(a, b, path="records"):
    """Nested dicts/lists equal, floats to RTOL."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close_records(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close_records(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert b == pytest.approx(a, rel=RTOL, abs=ATOL), path
    else:
        assert a == b, path


def _unet_probe(cfg: dict):
    """The outputs of a DDGM's (or joint DAED's, or DAE's) network with a given state on fixed inputs."""
    cfg = normalize_model(cfg)

    def probe(state: dict) -> torch.Tensor:
        net = build_unet(cfg, image_size=8, channels=1)
        net.load_state_dict(state)
        g = torch.Generator().manual_seed(1)
        x, t = torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, cfg["timesteps"], (8,), generator=g)
        t[:2] = 0  # a joint DAED's DAE too
        with torch.no_grad():
            return net.eval()(x, t)

    return probe


def _dddm_probe(state: dict) -> torch.Tensor:
    from diffrepro.diffusion.dddm import build_dddm_unet, dddm_forward

    net = build_dddm_unet(DDDM_CFG["unet"], image_size=8, channels=1)
    net.load_state_dict(state)
    g = torch.Generator().manual_seed(1)
    x_t, x_bar, t = torch.randn(8, 1, 8, 8, generator=g), torch.randn(8, 1, 8, 8, generator=g), torch.arange(8) * 5
    with torch.no_grad():
        return dddm_forward(net.eval(), x_t, t, x_bar)


def _gan_probe(kind: str):
    """The generator's outputs on fixed z in training mode (BatchNorm with the batch's statistics, as trained)
    or the discriminator's logits on fixed images."""
    from diffrepro.training.gan import build_discriminator, build_generator

    def probe(state: dict) -> torch.Tensor:
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            if kind == "g":
                net = build_generator(GAN_CFG, 8, 1)
                net.load_state_dict(state)
                return net.train()(torch.randn(16, GAN_CFG["z_dim"], generator=g))
            net = build_discriminator(GAN_CFG, 8, 1)
            net.load_state_dict(state)
            return net.eval()(torch.rand(16, 1, 8, 8, generator=g) * 2 - 1)

    return probe


PROBES = {
    "ddgm_uniform": {"model.": _unet_probe(_ddgm_cfg("ddgm_a")), "ema.": _unet_probe(_ddgm_cfg("ddgm_a"))},
    "ddgm_loss_aware": {p: _unet_probe(_ddgm_cfg("ddgm_hybrid")) for p in ("model.", "ema.")},
    "ddgm_iwdiff": {p: _unet_probe(_ddgm_cfg("ddgm_iwdiff")) for p in ("model.", "ema.")},
    "joint_daed": {p: _unet_probe(_ddgm_cfg("daed_combine")) for p in ("model.", "ema.")},
    "posthoc_dae": {p: _unet_probe(_ddgm_cfg("ddgm_a")) for p in ("model.", "ema.")},
    "gan": {"g.": _gan_probe("g"), "ema.": _gan_probe("g"), "d.": _gan_probe("d")},
    "dddm": {"model.": _dddm_probe, "ema.": _dddm_probe},
}


def _part(tensors: dict, prefix: str) -> dict:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _compare(root: Path, name: str, tmp_path: Path) -> tuple[dict, dict]:
    """Both ranks hold identical results, equal to one process's up to rounding; returns one process's."""
    t0, r0 = _rank(root, name, 0)
    t1, r1 = _rank(root, name, 1)
    single_t, single_r = _single(name, tmp_path)
    single_t = {k: v.contiguous() for k, v in single_t.items()}
    single_r = json.loads(json.dumps(single_r))
    shared = set(t0) & set(t1)
    assert shared == set(t1), "rank 1 returned tensors rank 0 lacks"
    for k in shared:  # every rank applies the same averaged gradients: bit-identical weights and EMA
        assert torch.equal(t0[k], t1[k]), k
    r1 = {k: v for k, v in r1.items() if k != "has_store"}
    assert r1 == {k: v for k, v in r0.items() if k != "has_store"}
    assert set(t0) == set(single_t)
    _close_records(single_r, r0)  # every logged loss
    for prefix, probe in PROBES[name].items():  # the trained networks as functions
        ours, theirs = probe(_part(t0, prefix)), probe(_part(single_t, prefix))
        torch.testing.assert_close(
            ours,
            theirs,
            rtol=RTOL,
            atol=ATOL * float(theirs.abs().max()),
            msg=lambda m, prefix=prefix: f"{name} {prefix} outputs: {m}",
        )
        floats = [k for k, v in _part(single_t, prefix).items() if v.is_floating_point()]
        a = torch.cat([_part(t0, prefix)[k].flatten() for k in floats])
        b = torch.cat([_part(single_t, prefix)[k].flatten() for k in floats])
        assert float((a - b).norm() / b.norm()) < WEIGHTS_RTOL, f"{name} {prefix} weights"
    if "store" in single_t:
        torch.testing.assert_close(t0["store"], single_t["store"], rtol=RTOL, atol=ATOL)
    return single_t, single_r


def _latest_checkpoint(work: Path) -> Path:
    return work / json.loads((work / "latest.json").read_text())["dir"]


def test_ddgm_uniform_resumed_by_both_ranks_equals_one_process(two_ranks, tmp_path):
    _, records = _compare(two_ranks, "ddgm_uniform", tmp_path)
    assert records["resumed_from"] == 3 and records["steps"] == 6 and records["snapshots"] == [3]
    assert [h["step"] for h in records["history"]] == [1, 2, 3, 4, 5, 6]
    snap = next((two_ranks / "runs" / "ddgm_uniform").glob("snapshots-*/ema_step_00000003.safetensors"))
    single_snap = next((tmp_path / "single").glob("snapshots-*/ema_step_00000003.safetensors"))
    for k, v in load_file(str(single_snap)).items():
        torch.testing.assert_close(load_file(str(snap))[k], v, rtol=RTOL, atol=ATOL)


def test_ddgm_loss_aware_sampler_state_equals_one_process(two_ranks, tmp_path):
    _compare(two_ranks, "ddgm_loss_aware", tmp_path)
    ours = load_file(str(_latest_checkpoint(two_ranks / "runs" / "ddgm_loss_aware") / "sampler.safetensors"))
    single = load_file(str(_latest_checkpoint(tmp_path / "single") / "sampler.safetensors"))
    assert torch.equal(ours["loss_counts"], single["loss_counts"])  # same timesteps, extra evaluations included
    assert int(single["loss_counts"].min()) >= 1  # warmed up: the later steps sampled by loss
    torch.testing.assert_close(ours["loss_history"], single["loss_history"], rtol=RTOL, atol=ATOL)


def test_ddgm_iwdiff_equals_one_process(two_ranks, tmp_path):
    _compare(two_ranks, "ddgm_iwdiff", tmp_path)


def test_joint_daed_equals_one_process(two_ranks, tmp_path):
    _compare(two_ranks, "joint_daed", tmp_path)


def test_posthoc_dae_equals_one_process(two_ranks, tmp_path):
    _compare(two_ranks, "posthoc_dae", tmp_path)


def test_gan_equals_one_process(two_ranks, tmp_path):
    _, records = _compare(two_ranks, "gan", tmp_path)
    assert len(records["history"]) == GAN_CFG["train"]["steps"]


def test_dddm_store_and_weights_equal_one_process(two_ranks, tmp_path):
    single_t, _ = _compare(two_ranks, "dddm", tmp_path)
    assert "store" in single_t  # compared above: rank 0's store after the last step
    assert json.loads((two_ranks / "results" / "dddm.rank0.json").read_text())["has_store"] is True
    assert json.loads((two_ranks / "results" / "dddm.rank1.json").read_text())["has_store"] is False


def test_only_rank_0_writes_files(two_ranks):
    rank0 = json.loads((two_ranks / "results" / "writes.rank0.json").read_text())
    rank1 = json.loads((two_ranks / "results" / "writes.rank1.json").read_text())
    assert rank1["writes"] == []
    written = " ".join(rank0["writes"])
    for name in SCENARIOS:  # every run's checkpoints (and the DDDM store, the DDGM snapshots) come from rank 0
        assert f"/runs/{name}/" in written, name
    assert "xbar-" in written and "snapshots-" in written


# ------------------------------------------------------------------------------------ without a process group
@pytest.mark.parametrize(
    "world, rank, n, expected",
    [
        (2, 0, 8, (0, 4)),
        (2, 1, 8, (4, 8)),
        (2, 0, 3, (0, 2)),
        (2, 1, 3, (2, 3)),
        (3, 2, 7, (5, 7)),
        (1, 0, 5, (0, 5)),
    ],
)
def test_rows_of_a_rank_are_contiguous_and_in_rank_order(world, rank, n, expected):
    dist = Distributed(rank=rank, world_size=world, local_rank=rank, device="cpu", is_main=rank == 0)
    assert dist.local_range(n) == expected
    assert sum(dist.split_sizes(n)) == n
    if n % world == 0:
        assert dist.local_slice(n) == slice(*expected)


def test_single_process_helpers_are_the_identity():
    dist = Distributed.single("cpu")
    x = torch.arange(6.0)
    assert not dist.active and dist.is_main and dist.seed_keys() == ()
    assert dist.all_gather_ordered(x) is x and dist.broadcast(x) is x and dist.mean_across(2.5) == 2.5
    module = torch.nn.Linear(2, 2)
    assert dist.wrap(module) is module
    assert torch.equal(dist.local_mean(x, 6), x.mean())
    dist.barrier()
    dist.shutdown()
    assert Distributed(rank=1, world_size=2, is_main=False).seed_keys() == ("rank", 1)


def test_without_torchrun_init_from_env_is_one_process(monkeypatch):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    assert init_from_env("cpu") == Distributed.single("cpu")
    assert not inside_launcher()
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert inside_launcher()
    with pytest.raises(ConfigError, match="backend"):
        init_from_env("cpu", "mpi")


def test_a_global_batch_not_divisible_by_the_processes_is_a_clear_error(tmp_path):
    three = Distributed(rank=0, world_size=3, local_rank=0, device="cpu", is_main=True)
    images = _images()
    with pytest.raises(ConfigError, match=r"train\.batch_size=8 is not divisible by the 3 training processes"):
        train_ddgm(
            images, _ddgm_cfg("ddgm_a"), seed=SEED, checkpoint_dir=tmp_path / "a", data_id="t", distributed=three
        )
    with pytest.raises(ConfigError, match=r"gans\.\*\.train\.batch_size=8 is not divisible"):
        train_gan(images, GAN_CFG, seed=SEED, checkpoint_dir=tmp_path / "b", data_id="t", distributed=three)
    with pytest.raises(ConfigError, match=r"dddm\.train\.batch_size=8 is not divisible"):
        train_dddm(images, DDDM_CFG, DDDM_RUN, seed=SEED, checkpoint_dir=tmp_path / "c", data_id="t", distributed=three)
    four = Distributed(rank=0, world_size=4, local_rank=0, device="cpu", is_main=True)
    with pytest.raises(ConfigError, match=r"the last batch of each epoch holds 3 of the 19 images"):
        train_dddm(images, DDDM_CFG, DDDM_RUN, seed=SEED, checkpoint_dir=tmp_path / "c", data_id="t", distributed=four)
    cfg = normalize_model(_ddgm_cfg("ddgm_a"))
    with pytest.raises(ConfigError, match=r"daed\.posthoc\.train\.batch_size=8 is not divisible"):
        train_dae(
            images,
            cfg,
            {"steps": 2, "batch_size": 8, "lr": 1e-3, "ema_decay": 0.9, "checkpoint_every": 1, "log_every": 1},
            ddgm_state=build_unet(cfg, image_size=8, channels=1).state_dict(),
            split_step=3,
            seed=SEED,
            checkpoint_dir=tmp_path / "d",
            data_id="t",
            distributed=three,
        )
    assert not any(tmp_path.iterdir())  # nothing was written


# ------------------------------------------------------------------------------------ the CLI's relaunch
def test_settings_default_to_one_process_and_are_checked():
    assert distributed_settings({}) == {"nproc_per_node": 1, "backend": "auto"}
    assert distributed_settings({"distributed": {"nproc_per_node": 4}}) == {"nproc_per_node": 4, "backend": "auto"}
    for bad in ({"nproc_per_node": 0}, {"nproc_per_node": True}, {"nproc_per_node": "2"}, {"backend": "mpi"}):
        with pytest.raises(ConfigError, match="distributed"):
            distributed_settings({"distributed": bad})


def test_torchrun_argv_reruns_the_same_command():
    argv = ["train-ddgm", "--model", "m", "--params", "p.yaml", "--device", "cuda"]
    assert torchrun_argv(4, argv) == [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "4",
        "-m",
        "diffrepro",
        "--",
        *argv,
    ]
    from torch.distributed.run import get_args_parser

    parsed = get_args_parser().parse_args(torchrun_argv(2, [*argv, "--log", "x.log", "--run", "r"])[3:])
    assert (parsed.nproc_per_node, parsed.module, parsed.training_script) == ("2", True, "diffrepro")
    assert parsed.training_script_args == [*argv, "--log", "x.log", "--run", "r"]  # untouched by torchrun
    assert set(DISTRIBUTED_COMMANDS) == {"train-ddgm", "train-replicate", "train-dae", "train-gan", "train-dddm"}


def _write_params(tmp_path: Path, nproc: int) -> Path:
    config = _tiny()
    config["distributed"] = {"nproc_per_node": nproc, "backend": "auto"}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_cli_relaunches_training_steps_under_torchrun_only_outside_it(tmp_path, monkeypatch):
    import diffrepro.cli as cli

    params = _write_params(tmp_path, 2)
    assert nproc_per_node(str(params)) == 2 and nproc_per_node(str(tmp_path / "missing.yaml")) == 1
    launched, ran = [], []
    monkeypatch.setattr(cli, "relaunch", lambda n, argv, device: launched.append((n, argv)) or 7)
    from diffrepro.steps import train_gan as step

    monkeypatch.setattr(step, "run", lambda args: ran.append(args.gan))
    for key in ("LOCAL_RANK", "TORCHELASTIC_RUN_ID", "RANK"):
        monkeypatch.delenv(key, raising=False)
    argv = [
        "train-gan",
        "--gan",
        "sngan",
        "--data",
        "d",
        "--checkpoint-dir",
        "c",
        "--weights",
        "w",
        "--loss-csv",
        "l",
        "--summary",
        "s",
        "--grid",
        "g",
        "--params",
        str(params),
    ]
    assert cli_main(argv) == 7  # torchrun's exit status
    assert launched == [(2, argv)] and ran == []
    monkeypatch.setenv("LOCAL_RANK", "0")  # inside torchrun: the step itself runs
    assert cli_main(argv) == 0
    assert launched == [(2, argv)] and ran == ["sngan"]


def test_train_ddgm_command_with_two_processes(tmp_path):
    """``diffrepro train-ddgm`` with ``distributed.nproc_per_node: 2`` runs under torchrun and writes every output."""
    from diffrepro.data import load_dataset, save_processed

    config = _tiny()
    config["distributed"] = {"nproc_per_node": 2, "backend": "gloo"}
    model = config["models"]["ddgm_a"]
    model["train"].update(steps=4, batch_size=8, checkpoint_every=2, log_every=2, snapshots=[0.5])
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(config))
    data = tmp_path / "digits.safetensors"
    save_processed(data, load_dataset("digits"), 8)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "diffrepro",
        "train-ddgm",
        "--model",
        "ddgm_a",
        "--data",
        str(data),
        "--checkpoint-dir",
        str(out / "ck"),
        "--weights",
        str(out / "w.safetensors"),
        "--snapshots",
        str(out / "snaps"),
        "--loss-csv",
        str(out / "loss.csv"),
        "--loss-by-t-csv",
        str(out / "loss_t.csv"),
        "--summary",
        str(out / "summary.json"),
        "--params",
        str(params),
        "--device",
        "cpu",
        "--threads",
        "1",
        "--log",
        str(out / "train.log"),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "TORCHELASTIC_RUN_ID", "RANK", "WORLD_SIZE")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["device"] == "cpu"
    assert sorted(p.name for p in (out / "snaps").iterdir()) == [
        "ema_step_00000002.safetensors",
        "ema_step_00000004.safetensors",
    ]
    assert (out / "loss.csv").read_text().splitlines()[0] == "step,loss"
    log = (out / "train.log").read_text()
    assert "torch.distributed.run" in log and "data-parallel over 2 processes" in log
