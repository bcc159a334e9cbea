"""Speed switches (same results as the plain path), `diffrepro bench` (valid, documented JSON), FLOP counting
(against closed forms) and the GPU-hours arithmetic (against a hand computation)."""

from __future__ import annotations

import copy
import json
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from diffrepro.cli import main as cli_main
from diffrepro.models.layers import AttentionBlock, math_attention, set_attention
from diffrepro.models.unet import UNet
from diffrepro.perf.bench import BENCH_SCHEMA, VARIANTS, run_bench, validate_bench, workload_flops
from diffrepro.perf.flops import H100_SXM, PEAK_TFLOPS, count_flops, peak_for
from diffrepro.perf.gpu_hours import build_rows, dag_jobs, render
from diffrepro.perf.workloads import all_workloads, data_geometry
from diffrepro.training.checkpoint import optimizer_from_tensors, optimizer_to_tensors
from diffrepro.training.ddgm import train_ddgm, training_fingerprint
from diffrepro.training.speed import SpeedError, make_adam, prepare_model, speed_network, speed_settings

CL = torch.channels_last


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (64, 1, 8, 8), generator=g, dtype=torch.uint8)


def small_unet(**kw) -> UNet:
    args = dict(
        image_size=8,
        in_channels=1,
        out_channels=2,
        base_channels=8,
        channel_mult=(1, 2),
        num_res_blocks=1,
        attention_resolutions=(4,),
        num_heads=2,
        num_groups=8,
    )
    args.update(kw)
    return UNet(**args)


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Non-zero weights everywhere (the zero-initialised output convolutions would hide differences)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return module


# ----------------------------------------------------------------------------- switches


def test_speed_settings_defaults_and_errors():
    assert speed_settings(None) == {"channels_last": False, "fused_adamw": False, "compile": False, "attention": "sdpa"}
    assert speed_settings({"seed": 0, "models": {}})["attention"] == "sdpa"  # a whole params file without a section
    assert speed_settings({"speed": {"attention": "math"}, "models": {}})["attention"] == "math"
    for bad, match in (
        ({"chanels_last": True}, "unknown speed switch"),
        ({"attention": "flash"}, "attention"),
        ({"compile": "yes"}, "true or false"),
    ):
        with pytest.raises(SpeedError, match=match):
            speed_settings(bad)


def test_math_attention_equals_sdpa():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(3, 4, 20, 8, generator=g) for _ in range(3))
    torch.testing.assert_close(math_attention(q, k, v), F.scaled_dot_product_attention(q, k, v), atol=1e-6, rtol=1e-5)
    block = randomize(AttentionBlock(16, 4, 8))
    x = torch.randn(2, 16, 4, 4, generator=g)
    sdpa = block(x)
    block.attention = "math"
    torch.testing.assert_close(block(x), sdpa, atol=1e-6, rtol=1e-5)


def test_sdpa_runs_a_fused_kernel_for_nchw_inputs():
    """The transposed view of an NCHW tensor has no unit stride in its last dimension, which made SDPA fall
    back to its unfused math kernel; the attention block hands it contiguous q, k, v."""
    from torch.profiler import profile

    block = randomize(AttentionBlock(16, 2, 8))
    x = torch.randn(2, 16, 8, 8)
    for inp in (x, x.contiguous(memory_format=CL)):
        with torch.no_grad(), profile() as prof:
            block(inp)
        names = {e.key for e in prof.key_averages()}
        assert "aten::_scaled_dot_product_attention_math" not in names, names


def test_unet_outputs_equal_for_every_inference_switch():
    net = randomize(small_unet())
    g = torch.Generator().manual_seed(2)
    x, t = torch.randn(5, 1, 8, 8, generator=g), torch.randint(0, 40, (5,), generator=g)
    with torch.no_grad():
        ref = net(x, t)
        for speed in ({"attention": "math"}, {"channels_last": True}, {"channels_last": True, "attention": "math"}):
            other = copy.deepcopy(net)
            out = speed_network(other, speed)(x, t)
            torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
            if speed.get("channels_last"):
                assert other.input_blocks[0].layers[0].weight.is_contiguous(memory_format=CL)
    assert set_attention(net, "sdpa") is net
    with pytest.raises(ValueError, match="attention must be one of"):
        set_attention(net, "flash")


def test_compile_switch_keeps_state_dict_keys_and_leaves_the_gan_eager(tiny_config):
    from diffrepro.training.gan import build_discriminator

    net = small_unet()
    keys = list(net.state_dict())
    prepare_model(net, {"compile": True})
    assert list(net.state_dict()) == keys  # compiled in place: no _orig_mod. prefix, checkpoints unchanged
    assert net._compiled_call_impl is not None
    d = prepare_model(build_discriminator(tiny_config["gans"]["sngan"], 8, 1), {"compile": True})
    assert d._compiled_call_impl is None


@pytest.mark.skipif(
    os.environ.get("DIFFREPRO_TEST_COMPILE") != "1",
    reason="torch.compile of even the tiny U-Net takes about 80 s of Inductor compilation (forward "
    "and backward) on a 2-core CPU; set DIFFREPRO_TEST_COMPILE=1 to run it",
)
def test_compiled_unet_matches_eager_forward_and_gradients():
    net = randomize(small_unet())
    compiled = copy.deepcopy(net)
    prepare_model(compiled, {"compile": True})
    g = torch.Generator().manual_seed(3)
    x, t = torch.randn(4, 1, 8, 8, generator=g), torch.randint(0, 40, (4,), generator=g)
    net(x, t).square().mean().backward()
    compiled(x, t).square().mean().backward()
    for (name, a), b in zip(net.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(b.grad, a.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_make_adam_fused_and_plain_take_the_same_steps():
    ref = randomize(small_unet())
    fused = copy.deepcopy(ref)
    opt_a = make_adam(ref.parameters(), None, lr=1e-2, weight_decay=0.01)
    opt_b = make_adam(fused.parameters(), {"fused_adamw": True}, lr=1e-2, weight_decay=0.01)
    assert opt_b.param_groups[0]["fused"] and not opt_a.param_groups[0]["fused"]
    assert isinstance(make_adam(ref.parameters(), {"fused_adamw": True}, decoupled=False, lr=1e-3), torch.optim.Adam)
    g = torch.Generator().manual_seed(4)
    for _ in range(3):  # the same gradients for both (Adam's normalisation magnifies gradient rounding otherwise)
        x, t = torch.randn(4, 1, 8, 8, generator=g), torch.randint(0, 40, (4,), generator=g)
        opt_a.zero_grad()
        ref(x, t).square().mean().backward()
        for a, b in zip(ref.parameters(), fused.parameters()):
            b.grad = a.grad.clone()
        opt_a.step()
        opt_b.step()
    for a, b in zip(ref.parameters(), fused.parameters()):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-5)


def test_resumed_fused_optimizer_gets_the_channels_last_layout_of_its_parameters():
    """The fused CPU AdamW gives wrong updates when a state tensor's strides differ from its parameter's
    (a checkpoint's contiguous state loaded for channels-last weights); optimizer_from_tensors re-lays it out,
    and a checkpoint keeps neither its fused flag nor the lack of it."""
    g = torch.Generator().manual_seed(5)
    w0, g0, g1 = (torch.randn(8, 4, 3, 3, generator=g) for _ in range(3))
    ref = nn.Parameter(w0.clone())
    opt_ref = torch.optim.AdamW([ref], lr=0.1)  # the plain run that wrote the checkpoint
    ref.grad = g0.clone()
    opt_ref.step()
    tensors, meta = optimizer_to_tensors(opt_ref)
    tensors, meta = {k: v.clone() for k, v in tensors.items()}, copy.deepcopy(meta)  # as read back from disk
    w1 = ref.detach().clone()
    ref.grad = g1.clone()
    opt_ref.step()

    p = nn.Parameter(w1.contiguous(memory_format=CL))  # resumed with channels_last + fused_adamw
    resumed = torch.optim.AdamW([p], lr=0.1, fused=True)
    optimizer_from_tensors(resumed, tensors, meta)
    assert resumed.param_groups[0]["fused"] is True
    assert resumed.state[p]["exp_avg"].stride() == p.stride()
    p.grad = g1.contiguous(memory_format=CL)  # autograd gives a gradient the parameter's layout
    resumed.step()
    torch.testing.assert_close(p.detach().contiguous(), ref.detach(), atol=1e-6, rtol=1e-5)


SWITCHES = [
    {"channels_last": True},
    {"fused_adamw": True},
    {"attention": "math"},
    {"channels_last": True, "fused_adamw": True, "attention": "math"},
]


def assert_state_close(a: dict, b: dict) -> None:
    """Weights equal up to rounding: Adam turns a rounding-level difference of a near-zero gradient into a
    difference of a fraction of a step (lr) in that one weight, so the whole state is compared in norm,
    and every weight to well under one step (measured on the tiny preset: 1.4e-6 and 1.9e-5)."""
    assert a.keys() == b.keys()
    diff = sum(float((a[k].contiguous() - b[k]).square().sum()) for k in b) ** 0.5
    norm = sum(float(b[k].square().sum()) for k in b) ** 0.5
    assert diff / norm < 2e-5
    assert max(float((a[k] - b[k]).abs().max()) for k in b) < 1e-4


def _train(images, cfg, path, speed, **kw):
    return train_ddgm(images, cfg, seed=5, checkpoint_dir=path, data_id="test", speed=speed, **kw)


@pytest.mark.parametrize("speed", SWITCHES, ids=lambda s: "+".join(s))
def test_ddgm_training_loss_is_the_same_with_each_switch(images, tiny_config, tmp_path, speed):
    cfg = copy.deepcopy(tiny_config["models"]["ddgm_vlb"])  # learned variance, attention, loss-aware sampler
    cfg["train"].update(steps=6, checkpoint_every=2, log_every=1, batch_size=8)
    plain = _train(images, cfg, tmp_path / "plain", None)
    fast = _train(images, cfg, tmp_path / "fast", speed)
    assert [h["step"] for h in fast.history] == [h["step"] for h in plain.history]
    torch.testing.assert_close(
        torch.tensor([h["loss"] for h in fast.history]),
        torch.tensor([h["loss"] for h in plain.history]),
        atol=1e-5,
        rtol=1e-4,
    )
    assert_state_close(fast.ema_state, plain.ema_state)


def test_speed_switches_do_not_change_the_fingerprint_and_toggling_one_resumes(images, tiny_config, tmp_path):
    cfg = copy.deepcopy(tiny_config["models"]["daed_combine"])  # a joint DAED: two U-Nets
    cfg["train"].update(steps=6, checkpoint_every=2, log_every=1, batch_size=8)
    assert "speed" not in json.dumps(training_fingerprint(cfg, seed=5, data_id="x"))
    full = _train(images, cfg, tmp_path / "full", None)
    _train(images, cfg, tmp_path / "b", None, stop_at_step=4)
    fast = {"channels_last": True, "fused_adamw": True, "attention": "math"}
    resumed = _train(images, cfg, tmp_path / "b", fast)
    assert resumed.resumed_from == 4
    torch.testing.assert_close(
        torch.tensor([h["loss"] for h in resumed.history]),
        torch.tensor([h["loss"] for h in full.history]),
        atol=1e-5,
        rtol=1e-4,
    )
    assert_state_close(resumed.ema_state, full.ema_state)


def test_dae_gan_and_dddm_loops_take_the_switches(images, tiny_config, tmp_path):
    from diffrepro.factory import build_unet
    from diffrepro.training.dae import train_dae
    from diffrepro.training.dddm import train_dddm
    from diffrepro.training.gan import train_gan

    fast = {"channels_last": True, "fused_adamw": True}
    mcfg = tiny_config["models"]["ddgm_a"]
    torch.manual_seed(0)
    state = build_unet(copy.deepcopy(mcfg), image_size=8, channels=1).state_dict()
    post = {"steps": 4, "batch_size": 8, "lr": 1e-3, "weight_decay": 0.0, "grad_clip": None, "ema_decay": 0.9}
    post.update(checkpoint_every=2, log_every=1)
    dae = [
        train_dae(
            images,
            mcfg,
            post,
            ddgm_state=state,
            split_step=2,
            seed=1,
            checkpoint_dir=tmp_path / f"dae{i}",
            data_id="t",
            speed=s,
        )
        for i, s in enumerate((None, fast))
    ]
    gcfg = copy.deepcopy(tiny_config["gans"]["sngan"])
    gcfg["train"].update(steps=3, checkpoint_every=3, log_every=1)
    gan = [
        train_gan(images, gcfg, seed=1, checkpoint_dir=tmp_path / f"gan{i}", data_id="t", speed=s)
        for i, s in enumerate((None, fast))
    ]
    dcfg = copy.deepcopy(tiny_config["dddm"])
    dcfg["train"].update(epochs=2, subset=16, batch_size=8, checkpoint_every=2, log_every=1)
    run_cfg = dcfg["runs"][dcfg["main"]]
    dddm = [
        train_dddm(images, dcfg, run_cfg, seed=1, checkpoint_dir=tmp_path / f"dddm{i}", data_id="t", speed=s)
        for i, s in enumerate((None, fast))
    ]
    for (plain, other), key in ((dae, "loss"), (gan, "d_loss"), (gan, "g_loss"), (dddm, "loss")):
        torch.testing.assert_close(
            torch.tensor([h[key] for h in other.history]),
            torch.tensor([h[key] for h in plain.history]),
            atol=1e-5,
            rtol=1e-4,
        )


# ----------------------------------------------------------------------------- FLOPs


def test_flop_counts_match_the_closed_form_of_a_conv_linear_net():
    B, C_in, C, H, W, K, N = 3, 2, 5, 6, 7, 3, 4
    net = nn.Sequential(nn.Conv2d(C_in, C, K, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(C * H * W, N))
    x = torch.randn(B, C_in, H, W)  # needs no gradient: the first layer's backward is its weight gradient only
    conv = 2 * B * C * H * W * C_in * K * K  # 2 FLOPs per multiply-add, biases not counted
    linear = 2 * B * (C * H * W) * N
    assert count_flops(lambda: net(x)) == conv + linear
    # backward: the linear layer's input and weight gradients (2 x its forward), the conv's weight gradient
    assert count_flops(lambda: net(x).sum().backward()) == (conv + linear) + (2 * linear + conv)


def test_cpu_sdpa_is_not_counted_so_attention_is_counted_on_the_math_path():
    B, heads, L, d = 2, 3, 10, 4
    q = torch.randn(B, heads, L, d)
    assert count_flops(lambda: math_attention(q, q, q)) == 2 * (2 * B * heads * L * L * d)  # QK^T and (.)V
    if torch.device("cpu").type == "cpu":  # PyTorch has no formula for the CPU flash kernel
        assert count_flops(lambda: F.scaled_dot_product_attention(q, q, q)) in (0, 4 * B * heads * L * L * d)


def test_workload_flops_scale_with_the_network(tiny_config):
    works = all_workloads(tiny_config)
    a, wide = works["ddgm_a"], copy.deepcopy(tiny_config)
    wide["models"]["ddgm_a"]["unet"]["base_channels"] = 16
    fa, fw = workload_flops(a), workload_flops(all_workloads(wide)["ddgm_a"])
    assert 2.5 < fa["train_step_per_image"] / fa["forward_per_image"] < 3.5  # forward + 2x backward, roughly
    assert 3 < fw["forward_per_image"] / fa["forward_per_image"] < 4.5  # convolutions grow as channels^2
    # a joint DAED's two U-Nets are the same network as a DDGM's: the same FLOPs per image
    daed = workload_flops(works["daed_combine"])
    assert daed["forward_per_image"] == pytest.approx(fa["forward_per_image"], rel=1e-9)


def test_workload_training_steps_are_the_engines_steps(tiny_config, monkeypatch):
    from diffrepro.training.engine import TrainLoop

    steps: list[tuple[str, int, bool]] = []
    real = TrainLoop.train_step

    def spy(self, step):
        steps.append((type(self.task).__name__, step, all(m.training for m in self.task.modules.values())))
        return real(self, step)

    monkeypatch.setattr(TrainLoop, "train_step", spy)
    works = all_workloads(tiny_config)
    for key in ("ddgm_a", "daed/posthoc/digits", "gans/sngan", "dddm/dddm_l1"):
        runner = works[key].build(
            device="cpu", speed=None, train_precision="fp32", sample_precision="fp32", train_batch=4, sample_batch=4
        )
        runner.train_step()
        runner.sample_call()  # leaves the networks in evaluation mode; the next training step restores it
        runner.train_step()
    # the DDDM's first timed step is in its second epoch (w = 1/2: both metric terms), one batch per epoch
    assert steps == [
        ("DDGMTask", 0, True),
        ("DDGMTask", 1, True),
        ("DAETask", 0, True),
        ("DAETask", 1, True),
        ("GanTask", 0, True),
        ("GanTask", 1, True),
        ("DDDMTask", 1, True),
        ("DDDMTask", 2, True),
    ]


def test_peak_table_lookup():
    assert peak_for("NVIDIA H100 80GB HBM3")[0] == H100_SXM
    assert peak_for("NVIDIA H100 PCIe")[1]["bf16"] == 756.0
    assert peak_for("NVIDIA H200")[0] == "NVIDIA H200 SXM"
    assert peak_for("NVIDIA A100-SXM4-80GB")[1] == PEAK_TFLOPS["NVIDIA A100"]
    assert peak_for("NVIDIA GeForce RTX 4090") is None and peak_for(None) is None


# ----------------------------------------------------------------------------- bench


def test_bench_on_cpu_writes_valid_documented_json(tiny_config, tmp_path, repo):
    out = tmp_path / "bench" / "cpu.json"
    code = cli_main(
        [
            "bench",
            "--params",
            str(repo / "configs" / "tiny.yaml"),
            "--models",
            "ddgm_a,gans/sngan,dddm",
            "--device",
            "cpu",
            "--batch",
            "4",
            "--sample-batch",
            "4",
            "--warmup",
            "1",
            "--iters",
            "1",
            "--repeats",
            "2",
            "--variants",
            "channels_last,fused_adamw,math_attention,bf16",
            "--note",
            "test",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    validate_bench(doc)
    assert doc["device"]["type"] == "cpu" and doc["device"]["peak_tflops"] is None
    assert doc["device"]["threads"] == torch.get_num_threads() and doc["device"]["torch"] == torch.__version__
    assert set(doc["workloads"]) == {"ddgm_a", "gans/sngan", "dddm/dddm_phuber"}
    assert "plain" in doc["variants"]  # always run: the baseline of the speedups
    w = doc["workloads"]["ddgm_a"]
    assert w["train_batch"] == 4 and w["configured_train_batch"] == 16 and w["nfe"] == [40]
    assert w["flops"]["forward_per_image"] > 0 and w["flops"]["train_step_per_image"] > w["flops"]["forward_per_image"]
    plain = w["results"]["plain"]
    assert plain["train"]["speedup"] == 1.0 and plain["sample"]["speedup"] == 1.0
    assert plain["train"]["images_per_s"] == pytest.approx(4 / plain["train"]["seconds_per_step"])
    assert len(plain["train"]["seconds_per_step_rounds"]) == 2 and doc["timing"]["repeats"] == 2
    assert plain["sample"]["images_per_s"]["40"] == pytest.approx(plain["sample"]["evals_per_s"] / 40)
    assert plain["train"]["tflops_per_s"] == pytest.approx(
        w["flops"]["train_step_per_image"] * plain["train"]["images_per_s"] / 1e12
    )
    assert plain["train"]["fraction_of_peak"] is None
    assert w["results"]["fused_adamw"]["sample"] is None and w["results"]["fused_adamw"]["speed"]["fused_adamw"]
    gan = doc["workloads"]["gans/sngan"]["results"]
    assert "skipped" in gan["bf16"] and "skipped" in gan["math_attention"] and "train" in gan["channels_last"]
    assert doc["workloads"]["dddm/dddm_phuber"]["nfe"] == [1, 2, 3]
    # the schema documents every field it requires
    ws = BENCH_SCHEMA["properties"]["workloads"]["additionalProperties"]
    assert set(ws["required"]) == set(ws["properties"])
    assert set(VARIANTS) >= {"plain", "channels_last", "bf16", "fused_adamw", "compile", "math_attention", "all"}


def test_bench_rejects_unknown_workloads_and_variants(tiny_config):
    with pytest.raises(ValueError, match="unknown benchmark workload 'nope'"):
        run_bench(tiny_config, params_path=__file__, models=["nope"])
    with pytest.raises(ValueError, match="unknown variant"):
        run_bench(tiny_config, params_path=__file__, models=["ddgm_a"], variants=["turbo"])


# ----------------------------------------------------------------------------- GPU-hours


def synthetic_bench(
    config, device_type: str, rates: dict[str, tuple[float, float]], flops: dict[str, tuple[float, float]]
):
    """A bench document holding every workload of ``config`` with the given (train images/s, evals/s) and
    (forward, train-step) FLOPs per image."""
    works = all_workloads(config)
    doc = {
        "device": {"type": device_type, "name": "NVIDIA H100 80GB HBM3" if device_type == "cuda" else "CPU"},
        "workloads": {},
    }
    for key, w in works.items():
        tr, ev = rates[key]
        fwd, step = flops[key]
        doc["workloads"][key] = {
            "cost_key": w.cost_key,
            "train_batch": w.train_batch,
            "sample_batch": w.sample_batch,
            "flops": {"forward_per_image": fwd, "train_step_per_image": step, "method": "synthetic"},
            "results": {
                "plain": {"train": {"images_per_s": tr / 2}, "sample": {"evals_per_s": ev / 2}},
                "all": {"train": {"images_per_s": tr}, "sample": {"evals_per_s": ev}},
            },
        }
    return doc


def test_dag_jobs_count_the_work_of_the_tiny_preset(tiny_config):
    jobs = {j.name: j for j in dag_jobs(tiny_config)}
    assert jobs["train-ddgm ddgm_a"].count == 20 * 16
    assert (
        jobs["train-dae ddgm_a@0.1"].count == 4 * 16
        and jobs["train-dae ddgm_a@linear"].workload == "daed/posthoc/digits"
    )
    assert jobs["train-gan sngan"].count == 6 * 16
    digits = data_geometry(tiny_config, tiny_config["dddm"])
    assert digits["train"] == 1438 and jobs["train-dddm dddm_l1"].count == 3 * 32  # subset 32
    assert jobs["sample ddgm_vlb"].count == 48 * 10  # DDIM, 10 steps
    assert jobs["sample ddgm_a"].count == 48 * 40
    assert jobs["evaluate-snapshots ddgm_a"].count == 1 * 48 * 40  # the snapshot at step 10; step 20 is the final
    assert jobs["nll ddgm_t100"].count == 16 * 100
    assert jobs["sample-posthoc ddgm_a (generator chain)"].count == 48 * 40
    assert jobs["sample-posthoc digits (DAE passes)"].count == 2 * 48
    assert jobs["sample-surrogate sngan (GAN samples)"].count == 24
    assert jobs["sample-surrogate sngan (base ddgm_a from t_mid)"].count == 24 * (0 + 10 + 20 + 30)
    assert jobs["sample-surrogate ddgm_half (low-resolution steps to t_mid)"].count == 24 * (40 + 30 + 20 + 10)
    # the smoke run's cuts: the NLL bound of a 5-step respaced process; both surrogate chains on the 4 steps
    # [0, 13, 26, 39] plus t_mid - 1 and t_mid (t_mid 0, 10, 20, 30: below t_mid 0, 2, 3, 4 steps; from it 4, 4, 3, 2)
    cut = copy.deepcopy(tiny_config)
    cut["evaluation"]["nll_steps"], cut["surrogate"]["steps"] = 5, 4
    cut["models"]["daed_b"] = copy.deepcopy(cut["models"]["daed_combine"])
    cut["daed"]["composed"] = {"mixed": {"data": "digits", "generator": "daed_combine", "dae": "daed_b", "tables": {}}}
    cut_jobs = {j.name: j for j in dag_jobs(cut)}
    # a composed DAED samples as its generator's model: that model's samples x NFE, on its network
    assert cut_jobs["sample-composed mixed"].count == cut_jobs["sample daed_combine"].count
    assert cut_jobs["sample-composed mixed"].workload == "daed_combine"
    assert cut_jobs["nll ddgm_t100"].count == 16 * 5
    assert cut_jobs["sample-surrogate sngan (base ddgm_a from t_mid)"].count == 24 * (0 + 2 + 3 + 4)
    assert cut_jobs["sample-surrogate ddgm_half (low-resolution steps to t_mid)"].count == 24 * (4 + 4 + 3 + 2)
    assert jobs["sample-dddm dddm_phuber"].count == 24 * (1 + 2 + 3)
    # the papers' compute beside the models that reproduce their rows (digits: no Deja et al. statement)
    assert jobs["train-ddgm ddgm_a"].paper == "Table 4.3: 20.66 h on 1 V100"
    assert jobs["train-ddgm ddgm_vlb"].paper == "Table 4.4: 1.6 x DDPM = 33.1 h on 1 V100"
    assert jobs["train-ddgm ddgm_b"].paper is None
    fm = copy.deepcopy(tiny_config)
    for ds in fm["datasets"].values() if "datasets" in fm else [fm["data"]]:  # either layout
        ds["dataset"] = "fashion_mnist"
    assert dag_jobs(fm)[0].paper.endswith("~35 h on 1 GPU (GTX 1080 Ti), 100k steps")


def test_data_geometry_reads_both_layouts(tiny_config):
    old = copy.deepcopy(tiny_config)
    old.pop("datasets", None)
    old["data"] = {"dataset": "cifar10", "root": None, "download": False, "resolution": None}
    for section in ("models", "gans"):
        for cfg in old[section].values():
            cfg.pop("data", None)
    for run in old["dddm"]["runs"].values():
        run.pop("data", None)
    assert data_geometry(old, old["models"]["ddgm_a"]) == {
        "dataset": "cifar10",
        "channels": 3,
        "size": 32,
        "train": 50_000,
        "classes": 10,
    }
    new = copy.deepcopy(old)
    new.pop("data")
    new["datasets"] = {
        "fm": {"dataset": "fashion_mnist", "root": None, "download": False, "resolution": 16},
        "c10": {"dataset": "cifar10", "root": None, "download": False, "resolution": None},
    }
    new["models"]["ddgm_a"]["data"] = "fm"
    assert data_geometry(new, new["models"]["ddgm_a"])["size"] == 16
    with pytest.raises(ValueError, match="names no data set"):
        data_geometry(new, new["models"]["ddgm_b"])


def test_gpu_hours_from_a_gpu_bench_use_the_measured_throughput(tiny_config):
    works = all_workloads(tiny_config)
    rates = {k: (100.0 + i, 1000.0 + 10 * i) for i, k in enumerate(works)}
    flops = {k: (1e9, 3e9) for k in works}
    doc = synthetic_bench(tiny_config, "cuda", rates, flops)

    def no_counting(w):
        raise AssertionError("FLOPs must come from the benchmark")

    rows = {r["Job"]: r for r in build_rows(tiny_config, [doc], count_flops=no_counting)}
    r = rows["train-ddgm ddgm_a"]
    assert r["Measured"] and r["H100 hours"] == pytest.approx(20 * 16 / rates["ddgm_a"][0] / 3600)
    assert r["PFLOP"] == pytest.approx(20 * 16 * 3e9 / 1e15)
    r = rows["sample-dddm dddm_l1"]
    assert r["H100 hours"] == pytest.approx(24 * 6 / rates["dddm/dddm_l1"][1] / 3600)
    plain = {r["Job"]: r for r in build_rows(tiny_config, [doc], variant="plain", count_flops=no_counting)}
    assert plain["train-ddgm ddgm_a"]["H100 hours"] == pytest.approx(2 * rows["train-ddgm ddgm_a"]["H100 hours"])
    jobs = [v for v in rows.values() if v["Kind"] != "total"]
    assert rows["Total"]["H100 hours"] == pytest.approx(sum(v["H100 hours"] for v in jobs))
    assert rows["Total training"]["H100 hours"] + rows["Total sampling/evaluation"]["H100 hours"] == pytest.approx(
        rows["Total"]["H100 hours"]
    )


def test_gpu_hours_from_a_cpu_bench_are_flop_estimates_at_the_given_mfu(tiny_config, tmp_path):
    works = all_workloads(tiny_config)
    flops = {k: (2e9 + i * 1e7, 6e9 + i * 1e7) for i, k in enumerate(works)}
    doc = synthetic_bench(tiny_config, "cpu", {k: (5.0, 50.0) for k in works}, flops)
    mfu = 0.25
    rows = {r["Job"]: r for r in build_rows(tiny_config, [doc], mfu=mfu, count_flops=lambda w: 1 / 0)}
    sustained = mfu * 989.4e12
    r = rows["train-gan sngan"]
    assert not r["Measured"] and "estimate from FLOPs (FLOPs of the cpu benchmark, MFU 0.25)" == r["Source"]
    assert r["H100 hours"] == pytest.approx(6 * 16 * flops["gans/sngan"][1] / sustained / 3600)
    r = rows["nll ddgm_t100"]
    assert r["H100 hours"] == pytest.approx(16 * 100 * flops["ddgm_t100"][0] / sustained / 3600)
    md, table = render(list(rows.values()), params="configs/tiny.yaml", benches=["cpu.json"], mfu=mfu, variant="all")
    assert "are estimates, not measurements" in md and "0.25" in md and "35 hours" in md
    assert table.splitlines()[0].startswith("Job,Kind,Workload")
    # without a benchmark the FLOPs are counted here
    counted = build_rows(
        tiny_config, [], mfu=mfu, count_flops=lambda w: {"forward_per_image": 1e9, "train_step_per_image": 3e9}
    )
    assert all("FLOPs counted here" in r["Source"] for r in counted if r["Kind"] != "total")


def test_gpu_hours_cli_writes_md_and_csv(tmp_path, repo):
    out = tmp_path / "tables" / "gpu_hours"
    params = str(repo / "configs" / "tiny.yaml")
    assert cli_main(["gpu-hours", "--params", params, "--mfu", "0.4", "--out", str(out)]) == 0
    md = (tmp_path / "tables" / "gpu_hours.md").read_text()
    assert md.startswith("# GPU-hours") and "| **Total** |" in md
    assert (tmp_path / "tables" / "gpu_hours.csv").read_text().count("\n") > 20


def test_the_workloads_know_every_data_set_a_preset_may_name():
    """The GPU-hours estimate sizes each model's epochs by its data set: every data set of the schema is known,
    with the training-set size the loaders return (data.registry.SPLIT_SIZES)."""
    from diffrepro.data.registry import SPLIT_SIZES
    from diffrepro.perf.workloads import DATASET_INFO
    from diffrepro.schema import schema_node

    names = set(schema_node("datasets.*")["properties"]["dataset"]["enum"])
    assert names <= set(DATASET_INFO)
    assert {n: DATASET_INFO[n]["train"] for n in names} == {n: SPLIT_SIZES[n]["train"] for n in names}
