"""Joint DAED (Deja et al. 2022, Sec. 4, Table 1): the two-network model, its objective, training,
sampling, likelihood and configuration."""

import copy
import json

import pytest
import torch

from diffrepro.artifacts.ddgm import build_model
from diffrepro.config import ConfigError, normalize_model, validate_config
from diffrepro.diffusion.daed import daed_sample, joint_first_term_mse, joint_training_loss
from diffrepro.diffusion.gaussian_diffusion import GaussianDiffusion
from diffrepro.diffusion.losses import calc_bpd_loop, training_loss
from diffrepro.diffusion.samplers import generate
from diffrepro.diffusion.schedules import get_beta_schedule
from diffrepro.factory import build_diffusion, build_unet
from diffrepro.models.joint_daed import JointDAED
from diffrepro.models.unet import UNet, count_parameters
from diffrepro.sampling import draw_samples
from diffrepro.seeding import generator
from diffrepro.tensorfile import save_safetensors
from diffrepro.training.ddgm import train_ddgm, training_fingerprint

T = 40


def _cfg(kind="daed", objective="vlb", variance="fixed_small", dropout=0.0):
    """A tiny joint-DAED model section (8x8 images, base_channels 8, T = 40, linear_combine)."""
    return normalize_model(
        {
            "data": "digits",
            "kind": kind,
            "objective": objective,
            "schedule": {"name": "linear_combine", "beta_1": 0.1},
            "timesteps": T,
            "resolution": None,
            "variance": variance,
            "timestep_sampler": {"name": "dae_weighted", "beta_1": 0.1},
            "unet": {
                "base_channels": 8,
                "channel_mult": [1, 2],
                "num_res_blocks": 1,
                "attention_resolutions": [4],
                "num_heads": 2,
                "dropout": dropout,
            },
            "train": {
                "steps": 12,
                "batch_size": 8,
                "lr": 1e-3,
                "weight_decay": 0.0,
                "warmup_steps": 2,
                "grad_clip": 1.0,
                "ema_decay": 0.9,
                "checkpoint_every": 4,
                "log_every": 2,
            },
            "sample": {"num_samples": 3, "batch_size": 3},
            "tables": {},
        }
    )


def _perturb(model, seed):
    """Non-trivial weights (a fresh U-Net's output head is zero-initialised, so it outputs 0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


def _net(variance="fixed_small", seed=0):
    torch.manual_seed(seed)
    return _perturb(build_unet(_cfg(variance=variance), image_size=8, channels=1), seed + 100)


def _diffusion():
    return GaussianDiffusion(get_beta_schedule("linear_combine", T, beta_1=0.1))


def _x0(b=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 1, 8, 8), generator=g).float() / 127.5 - 1.0


# ----------------------------------------------------------------------------- the network
@pytest.mark.parametrize("variance", ["fixed_small", "learned_range"])
def test_routing_dae_gets_exactly_the_t0_rows_and_outputs_keep_the_batch_order(variance):
    net = _net(variance).eval()
    assert isinstance(net, JointDAED) and isinstance(net.generator, UNet) and isinstance(net.dae, UNet)
    seen = {"generator": [], "dae": []}
    for name in seen:
        getattr(net, name).register_forward_hook(
            lambda _m, args, _out, name=name: seen[name].append((args[0].clone(), args[1].clone()))
        )
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 1, 8, 8, generator=g)
    t = torch.tensor([3, 0, 7, 0, 0, 39])
    with torch.no_grad():
        out = net(x, t)
    dae_rows, gen_rows = torch.tensor([1, 3, 4]), torch.tensor([0, 2, 5])
    assert len(seen["dae"]) == 1 and len(seen["generator"]) == 1
    assert torch.equal(seen["dae"][0][0], x[dae_rows])
    assert torch.equal(seen["dae"][0][1], torch.zeros(3, dtype=torch.long))
    assert torch.equal(seen["generator"][0][0], x[gen_rows]) and torch.equal(seen["generator"][0][1], t[gen_rows])
    assert out.shape == (6, 2 if variance == "learned_range" else 1, 8, 8)
    with torch.no_grad():
        ref_dae, ref_gen = net.dae(x[dae_rows], t[dae_rows]), net.generator(x[gen_rows], t[gen_rows])
    torch.testing.assert_close(out[dae_rows], ref_dae, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(out[gen_rows], ref_gen, rtol=1e-6, atol=1e-6)
    # the two networks really differ, so a swapped routing would show
    with torch.no_grad():
        assert not torch.allclose(net.generator(x[dae_rows], t[dae_rows]), ref_dae, atol=1e-4)

    # a network whose subset is empty is not called
    for t_all, called, idle in (
        (torch.full((6,), 5), "generator", "dae"),
        (torch.zeros(6, dtype=torch.long), "dae", "generator"),
    ):
        for name in seen:
            seen[name].clear()
        with torch.no_grad():
            got = net(x, t_all)
        assert len(seen[called]) == 1 and len(seen[idle]) == 0
        with torch.no_grad():
            torch.testing.assert_close(got, getattr(net, called)(x, t_all), rtol=0, atol=0)


def test_gradients_reach_only_the_network_that_saw_the_rows():
    net = _net().train()
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    net(x, torch.tensor([0, 0, 0, 0])).square().mean().backward()
    assert all(p.grad is None for p in net.generator.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.dae.parameters())
    net.zero_grad(set_to_none=True)
    net(x, torch.tensor([0, 5, 9, 0])).square().mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.generator.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.dae.parameters())


def test_parameter_count_is_twice_one_unet_and_the_networks_are_initialised_independently():
    torch.manual_seed(0)
    single = build_unet(_cfg(kind="ddgm"), image_size=8, channels=1)
    torch.manual_seed(0)
    joint = build_unet(_cfg(kind="daed"), image_size=8, channels=1)
    assert type(single) is UNet and isinstance(joint, JointDAED)
    assert count_parameters(joint) == 2 * count_parameters(single) == 2 * count_parameters(joint.dae)
    keys = joint.state_dict().keys()
    assert {k.split(".", 1)[0] for k in keys} == {"generator", "dae"}
    assert {k.split(".", 1)[1] for k in keys if k.startswith("generator.")} == set(single.state_dict())
    # same global RNG as a DDGM: the generator gets the DDGM's initial weights, the DAE its own
    assert all(torch.equal(v, joint.generator.state_dict()[k]) for k, v in single.state_dict().items())
    differ = [
        k
        for k, v in joint.generator.state_dict().items()
        if v.is_floating_point() and v.abs().sum() > 0 and not torch.equal(v, joint.dae.state_dict()[k])
    ]
    assert len(differ) > 10


def test_loading_ddgm_weights_into_a_joint_daed_fails_clearly(tmp_path):
    torch.manual_seed(0)
    ddgm_state = build_unet(_cfg(kind="ddgm"), image_size=8, channels=1).state_dict()
    joint = build_unet(_cfg(kind="daed"), image_size=8, channels=1)
    with pytest.raises(ValueError, match=r"not those of a joint DAED.*kind: ddgm"):
        joint.load_state_dict(ddgm_state)
    # ... also through the sampling step's loader (weights file of a DDGM, params that say daed)
    ddgm_cfg, daed_cfg = _cfg(kind="ddgm"), _cfg(kind="daed")
    path = tmp_path / "ddgm.safetensors"
    save_safetensors(ddgm_state, path, {"config": json.dumps(ddgm_cfg), "image_size": "8", "channels": "1"})
    # (caught by the weights' metadata, or else by JointDAED.load_state_dict; either names the kind)
    with pytest.raises(ValueError, match=r"kind.*ddgm|ddgm.*daed"):
        build_model(str(path), daed_cfg, "cpu")
    # the joint DAED's own weights load (strictly)
    joint.load_state_dict(copy.deepcopy(joint.state_dict()))


# ----------------------------------------------------------------------------- the objective
def _loss_inputs(b=8):
    x0 = _x0(b)
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(x0.shape, generator=g)
    t = torch.tensor([0, 5, 0, 39, 1, 0, 17, 2][:b])
    return x0, t, noise


@pytest.mark.parametrize("variance", ["fixed_small", "learned_range"])
def test_joint_vlb_loss_is_T_times_the_first_term_mse_at_t0_and_the_vlb_loss_elsewhere(variance):
    diffusion, net = _diffusion(), _net(variance).eval()
    x0, t, noise = _loss_inputs()
    with torch.no_grad():
        loss, parts = joint_training_loss(diffusion, net, x0, t, noise, "vlb", variance)
        ref_vlb, ref_parts = training_loss(diffusion, net, x0, t, noise, "vlb", variance)
        x_t = diffusion.q_sample(x0, t, noise)
        mse0 = joint_first_term_mse(diffusion, net(x_t, t), x0, x_t, t, variance)
    z = t == 0
    assert loss.shape == (8,)
    torch.testing.assert_close(loss[z], T * mse0[z], rtol=1e-6, atol=0)
    torch.testing.assert_close(loss[~z], ref_vlb[~z], rtol=1e-6, atol=0)
    torch.testing.assert_close(parts["dae_mse"], mse0, rtol=1e-6, atol=0)
    torch.testing.assert_close(parts["vb"], ref_parts["vb"], rtol=1e-6, atol=0)
    torch.testing.assert_close(parts["mse"], ref_parts["mse"], rtol=1e-6, atol=0)
    # the t == 0 term really is replaced (the decoder NLL in bits/dim is something else)
    assert not torch.allclose(loss[z], ref_vlb[z], rtol=1e-3)
    # at t == 0 the predicted mean is the DAE's unclamped reconstruction x0_hat
    ab0 = float(diffusion.alphas_cumprod[0])
    with torch.no_grad():
        eps = net.dae(x_t[z], t[z])[:, :1]
    x0_hat = (x_t[z] - (1 - ab0) ** 0.5 * eps) / ab0**0.5
    torch.testing.assert_close(mse0[z], (x0_hat - x0[z]).square().flatten(1).mean(1), rtol=1e-5, atol=1e-7)


def test_joint_vlb_loss_trains_the_dae_only_through_the_t0_rows():
    diffusion, net = _diffusion(), _net().train()
    x0, t, noise = _loss_inputs()
    loss, _ = joint_training_loss(diffusion, net, x0, t, noise, "vlb", "fixed_small")
    loss[t == 0].sum().backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in net.generator.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.dae.parameters())


@pytest.mark.parametrize("variance", ["fixed_small", "learned_range"])
def test_joint_simple_loss_is_the_simple_training_loss(variance):
    diffusion, net = _diffusion(), _net(variance).eval()
    x0, t, noise = _loss_inputs()
    with torch.no_grad():
        loss, parts = joint_training_loss(diffusion, net, x0, t, noise, "simple", variance)
        ref, ref_parts = training_loss(diffusion, net, x0, t, noise, "simple", variance)
        x_t = diffusion.q_sample(x0, t, noise)
        eps_dae = net.dae(x_t[t == 0], t[t == 0])[:, :1]
    assert torch.equal(loss, ref) and parts.keys() == ref_parts.keys() == {"mse"}
    # at t == 0 it is the DAE's eps error
    torch.testing.assert_close(loss[t == 0], (eps_dae - noise[t == 0]).square().flatten(1).mean(1))


@pytest.mark.parametrize("objective", ["hybrid", "iwdiff", "nope"])
def test_joint_loss_rejects_other_objectives(objective):
    x0, t, noise = _loss_inputs()
    with pytest.raises(ValueError, match="joint DAED"):
        joint_training_loss(_diffusion(), _net(), x0, t, noise, objective, "learned_range")


# ----------------------------------------------------------------------------- sampling and likelihood
@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large", "learned_range"])
def test_ancestral_sampling_of_the_joint_daed_is_daed_sample_with_split_0(variance):
    diffusion, net = _diffusion(), _net(variance).eval()
    shape = (2, 1, 8, 8)
    a = diffusion.sample(net, shape, variance=variance, generator=torch.Generator().manual_seed(4))
    b = generate(
        diffusion,
        net,
        shape,
        method="ancestral",
        variance=variance,
        steps=None,
        eta=0.0,
        generator=torch.Generator().manual_seed(4),
        device="cpu",
    )
    ref = daed_sample(
        diffusion,
        net.generator,
        net.dae,
        shape,
        split_step=0,
        variance=variance,
        generator=torch.Generator().manual_seed(4),
    )
    torch.testing.assert_close(a, ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(b, ref, rtol=0, atol=1e-6)
    # ... and not what the generator alone (or with the DAE's output ignored) would give
    alone = diffusion.sample(net.generator, shape, variance=variance, generator=torch.Generator().manual_seed(4))
    assert not torch.allclose(alone, ref, atol=1e-3)


def test_sample_step_and_nll_run_a_joint_daed_unchanged(tmp_path):
    """steps/sample.py's build_model + draw_samples, and calc_bpd_loop (the nll step), on a joint DAED."""
    mcfg = _cfg()
    net = _net()
    path = tmp_path / "ema.safetensors"
    save_safetensors(net.state_dict(), path, {"config": json.dumps(mcfg), "image_size": "8", "channels": "1"})
    model, image_size, channels, _ = build_model(str(path), mcfg, "cpu")
    assert isinstance(model, JointDAED) and not model.training
    samples, _ = draw_samples(model, mcfg, image_size, channels, seed=0, stream="daed", device="cpu", desc="t")
    assert samples.shape == (3, 1, 8, 8) and samples.dtype == torch.uint8
    diffusion = build_diffusion(mcfg)
    gen = generator(0, "sample", "daed")
    ref = daed_sample(
        diffusion,
        net.generator.eval(),
        net.dae.eval(),
        (3, 1, 8, 8),
        split_step=0,
        variance="fixed_small",
        generator=gen,
    )
    ref_u8 = ((ref.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    assert (samples.int() - ref_u8.int()).abs().max() <= 1  # float round-off at a quantisation edge at most

    # the bound: the generator's terms for t > 0, the DAE's decoder NLL at t = 0
    x0 = _x0(2)
    joint = calc_bpd_loop(diffusion, model, x0, "fixed_small", generator=torch.Generator().manual_seed(5))
    gen_only = calc_bpd_loop(diffusion, model.generator, x0, "fixed_small", generator=torch.Generator().manual_seed(5))
    dae_only = calc_bpd_loop(diffusion, model.dae, x0, "fixed_small", generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(joint["vb"][:, 1:], gen_only["vb"][:, 1:], rtol=1e-6, atol=0)
    torch.testing.assert_close(joint["vb"][:, 0], dae_only["vb"][:, 0], rtol=1e-6, atol=0)
    assert not torch.allclose(gen_only["vb"][:, 0], dae_only["vb"][:, 0], rtol=1e-3)


# ----------------------------------------------------------------------------- training
@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (64, 1, 8, 8), generator=g, dtype=torch.uint8)


def _train(images, cfg, ckpt_dir, **kw):
    return train_ddgm(images, cfg, seed=3, checkpoint_dir=ckpt_dir, data_id="test", **kw)


def _assert_same(sd1, sd2):
    assert sd1.keys() == sd2.keys()
    for k in sd1:
        assert torch.equal(sd1[k], sd2[k]), k


@pytest.mark.parametrize("objective,variance", [("vlb", "fixed_small"), ("simple", "learned_range")])
def test_joint_daed_trains_and_resumes_bit_identically(images, tmp_path, objective, variance):
    cfg = _cfg(objective=objective, variance=variance, dropout=0.1)
    cfg["train"]["snapshots"] = [0.25, 0.75]
    full = _train(images, cfg, tmp_path / "a")
    assert isinstance(full.model, JointDAED)
    assert full.parameters == count_parameters(full.model) == 2 * count_parameters(full.model.generator)
    assert {k.split(".", 1)[0] for k in full.ema_state} == {"generator", "dae"}
    # both networks were trained (the DAE by the t == 0 rows the dae_weighted sampler drew)
    fresh = build_unet(cfg, image_size=8, channels=1)  # a fresh network's output head is zero
    for name in ("generator", "dae"):
        head = f"{name}.out.2.weight"
        assert fresh.state_dict()[head].abs().sum() == 0 and full.model.state_dict()[head].abs().sum() > 0, name

    partial = _train(images, cfg, tmp_path / "b", stop_at_step=6)  # killed after step 6
    assert partial.steps == 6
    assert json.loads((tmp_path / "b" / "latest.json").read_text())["step"] == 4
    resumed = _train(images, cfg, tmp_path / "b")
    assert resumed.resumed_from == 4 and resumed.steps == 12
    _assert_same(full.model.state_dict(), resumed.model.state_dict())
    _assert_same(full.ema_state, resumed.ema_state)
    assert full.history == resumed.history and [h["step"] for h in full.history] == [2, 4, 6, 8, 10, 12]
    assert full.bucket_history == resumed.bucket_history
    from safetensors.torch import load_file

    assert sorted(full.snapshots) == sorted(resumed.snapshots) == [3, 9]
    for step in (3, 9):
        _assert_same(load_file(str(full.snapshots[step])), load_file(str(resumed.snapshots[step])))


def test_daed_and_ddgm_have_different_fingerprints_and_do_not_share_checkpoints(images, tmp_path):
    daed, ddgm = _cfg(kind="daed"), _cfg(kind="ddgm")
    assert training_fingerprint(daed, seed=3, data_id="x") != training_fingerprint(ddgm, seed=3, data_id="x")
    # a DDGM's fingerprint does not depend on whether its section spells out the default kind
    implicit = {k: v for k, v in ddgm.items() if k != "kind"}
    assert training_fingerprint(implicit, seed=3, data_id="x") == training_fingerprint(ddgm, seed=3, data_id="x")
    ddgm["train"].update(steps=4)
    daed["train"].update(steps=4)
    assert _train(images, ddgm, tmp_path / "a").steps == 4
    res = _train(images, daed, tmp_path / "a")
    assert res.resumed_from == 0 and isinstance(res.model, JointDAED)


# ----------------------------------------------------------------------------- configuration
def _with_daed_model(tiny_config, objective, variance):
    cfg = copy.deepcopy(tiny_config)
    # the preset's linear_combine model (the paper's joint-DAED setting) with the asked objective
    model = copy.deepcopy(next(m for m in cfg["models"].values() if "linear_combine" in str(m["schedule"])))
    model.update(kind="daed", objective=objective, variance=variance)
    cfg["models"]["daed_joint"] = model
    return cfg


def test_config_rejects_a_joint_daed_with_the_hybrid_objective(tiny_config):
    validate_config(_with_daed_model(tiny_config, "vlb", "learned_range"), source="tiny")  # accepted
    validate_config(_with_daed_model(tiny_config, "simple", "fixed_small"), source="tiny")  # accepted
    with pytest.raises(ConfigError, match=r"models\.daed_joint\.objective.*joint DAED.*hybrid"):
        validate_config(_with_daed_model(tiny_config, "hybrid", "learned_range"), source="tiny")
