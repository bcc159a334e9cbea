"""Named architectures, the MBConv block and parameter counts against the published ones."""

from __future__ import annotations

import pytest
import torch

from diffrepro.models import (
    ARCHITECTURE_INFO,
    ARCHITECTURES,
    PAPER_COMPOSITE_MODELS,
    PAPER_PARAMETER_COUNTS,
    MBConvBlock,
    SqueezeExcitation,
    UNet,
    architecture,
    build_architecture,
    count_parameters,
    parameter_count,
    parameter_count_table,
    scaled_architecture,
)
from diffrepro.models.layers import ResBlock

NAMES = sorted(ARCHITECTURES)
COURSEWORK = [
    "coursework_default",
    "coursework_deepres1",
    "coursework_shallowres2",
    "coursework_shallowres1",
    "coursework_mbconv64",
    "coursework_mbconv96",
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny convolutions run faster on one thread, and the test machine is shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _randomise_zero_params(net: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in net.parameters():
            if torch.count_nonzero(p) == 0:
                p.normal_(0, 0.05)


def test_registry_is_consistent():
    assert set(ARCHITECTURES) == set(ARCHITECTURE_INFO)
    assert set(PAPER_PARAMETER_COUNTS) <= set(ARCHITECTURES) | set(PAPER_COMPOSITE_MODELS)
    for name in COURSEWORK:
        assert ARCHITECTURE_INFO[name].image_size == 32 and ARCHITECTURE_INFO[name].dataset == "CIFAR-10"
    assert ARCHITECTURE_INFO["deja_fashion_mnist"].image_size == 28
    assert ARCHITECTURE_INFO["deja_celeba64"].image_size == 64
    assert architecture("coursework_mbconv64")["block"] == "mbconv"
    assert architecture("coursework_default")["block"] == "resnet"


@pytest.mark.parametrize("name", NAMES)
def test_full_size_builds(name):
    """Every named architecture builds at its data set's image size (meta device: no memory)."""
    info = ARCHITECTURE_INFO[name]
    with torch.device("meta"):
        net = build_architecture(name)
    assert net.image_size == info.image_size and net.in_channels == info.in_channels
    assert net.block == ARCHITECTURES[name]["block"]
    assert count_parameters(net) == parameter_count(name)


@pytest.mark.parametrize("name", NAMES)
def test_reduced_width_forward_backward(name):
    """Same multipliers / blocks / block type at base 8 channels: shapes and gradient flow."""
    torch.manual_seed(0)
    info = ARCHITECTURE_INFO[name]
    net = build_architecture(name, base_channels=8)
    x = torch.randn(2, info.in_channels, info.image_size, info.image_size)
    t = torch.tensor([3, 700])
    with torch.no_grad():
        out = net(x, t)
    assert out.shape == x.shape
    assert torch.count_nonzero(out) == 0  # zero-initialised output head
    # with the zero-initialised layers randomised, every parameter gets a non-zero gradient
    _randomise_zero_params(net)
    net(x, t).pow(2).mean().backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, pname


def test_squeeze_excitation_gating():
    torch.manual_seed(0)
    se = SqueezeExcitation(12, 3)
    x = torch.randn(2, 12, 5, 7)
    pooled = x.mean(dim=(2, 3))  # [B, C]
    w1, b1 = se.reduce.weight[:, :, 0, 0], se.reduce.bias
    w2, b2 = se.expand.weight[:, :, 0, 0], se.expand.bias
    gate = torch.sigmoid(torch.nn.functional.silu(pooled @ w1.T + b1) @ w2.T + b2)
    torch.testing.assert_close(se(x), x * gate[:, :, None, None])
    assert ((gate > 0) & (gate < 1)).all()


def test_mbconv_structure():
    block = MBConvBlock(16, 32, emb_ch=20, dropout=0.0, num_groups=32)
    assert block.hidden_channels == 64  # expansion 4 x input channels
    assert block.expand.out_channels == 64
    assert block.depthwise.groups == 64 and block.depthwise.kernel_size == (3, 3)
    assert block.se.reduce.out_channels == 4  # int(0.25 * 16): relative to the input channels
    assert block.emb.out_features == 2 * 64  # scale and shift of the expanded width
    assert block.project.out_channels == 32
    assert MBConvBlock(3, 3, 8, 0.0, 32).se.reduce.out_channels == 1  # max(1, int(0.75))
    additive = MBConvBlock(16, 16, emb_ch=20, dropout=0.0, num_groups=32, time_conditioning="additive")
    assert additive.emb.out_features == 64


@pytest.mark.parametrize("time_conditioning", ["scale_shift", "additive"])
def test_fresh_mbconv_is_identity_or_skip(time_conditioning):
    torch.manual_seed(0)
    x, emb = torch.randn(2, 16, 6, 6), torch.randn(2, 20)
    same = MBConvBlock(16, 16, 20, 0.0, 32, time_conditioning=time_conditioning)
    torch.testing.assert_close(same(x, emb), x)
    change = MBConvBlock(16, 24, 20, 0.0, 32, time_conditioning=time_conditioning)
    assert isinstance(change.skip, torch.nn.Conv2d)
    torch.testing.assert_close(change(x, emb), change.skip(x))


@pytest.mark.parametrize("time_conditioning", ["scale_shift", "additive"])
@pytest.mark.parametrize("block_type", [ResBlock, MBConvBlock])
def test_blocks_depend_on_time_embedding(block_type, time_conditioning):
    torch.manual_seed(0)
    block = block_type(8, 8, 16, 0.0, 4, time_conditioning=time_conditioning)
    _randomise_zero_params(block)
    x = torch.randn(1, 8, 4, 4)
    assert not torch.allclose(block(x, torch.randn(1, 16)), block(x, torch.randn(1, 16)))


def test_mbconv_unet_replaces_every_residual_block():
    cfg = dict(
        image_size=16,
        in_channels=1,
        out_channels=1,
        base_channels=8,
        channel_mult=(1, 2),
        num_res_blocks=2,
        attention_resolutions=(8,),
        num_heads=2,
    )
    res = [type(m) for m in UNet(**cfg).modules()]
    mb = [type(m) for m in UNet(**cfg, block="mbconv", expansion=2, se_ratio=0.5).modules()]
    assert mb.count(ResBlock) == 0
    assert mb.count(MBConvBlock) == res.count(ResBlock) == 2 * 2 + 2 + 2 * 3  # encoder, middle, decoder
    net = UNet(**cfg, block="mbconv", expansion=2, se_ratio=0.5)
    first = next(m for m in net.modules() if isinstance(m, MBConvBlock))
    assert first.hidden_channels == 16 and first.se.reduce.out_channels == 4


def test_additive_time_conditioning_is_smaller():
    cfg = dict(
        image_size=16,
        in_channels=1,
        out_channels=1,
        base_channels=8,
        channel_mult=(1, 2),
        num_res_blocks=1,
        attention_resolutions=(),
        num_heads=1,
    )
    assert count_parameters(UNet(**cfg, time_conditioning="additive")) < count_parameters(UNet(**cfg))


def test_scaled_architecture_reproduces_deja_table7():
    assert scaled_architecture("deja_fashion_mnist", channel_scale=1.5) == architecture("deja_fashion_mnist_ch1.5x")
    assert scaled_architecture("deja_fashion_mnist", block_scale=2) == architecture("deja_fashion_mnist_blocks2x")
    assert scaled_architecture("coursework_default") == architecture("coursework_default")
    half = scaled_architecture("deja_cifar10", channel_scale=0.5, block_scale=0.5)
    assert half["base_channels"] == 64 and half["num_res_blocks"] == 2  # 1.5 rounds half up
    with pytest.raises(ValueError, match="channel_scale"):
        scaled_architecture("deja_cifar10", channel_scale=0)


def test_architecture_returns_a_copy_with_overrides():
    a = architecture("coursework_default", dropout=0.0)
    assert a["dropout"] == 0.0 and ARCHITECTURES["coursework_default"]["dropout"] == 0.1
    with pytest.raises(ValueError, match="colour"):
        architecture("coursework_default", colour="red")


def test_parameter_counts_vs_papers():
    """Our counts against the published ones (printed with -s).

    * Deja et al. Table 7 and DDPM publish counts rounded to 0.1M: ours agree to that rounding
      (the Fashion-MNIST match relies on the attention-at-28x28 quirk of their code).
    * Coursework Table 4.3: our counts are consistently 4.1-4.6 % above the published ones for
      both block types (the report gives no code for its blocks, see architectures.py), so we
      assert a 5 % tolerance and, as the stronger structural check, the same size ordering.
    """
    rows = {r["name"]: r for r in parameter_count_table()}
    for r in rows.values():
        paper = "-" if r["paper_m"] is None else f"{r['paper_m']:.2f}"
        diff = "" if r["rel_diff"] is None else f"{100 * r['rel_diff']:+.2f}%"
        print(f"{r['name']:30s} ours {r['ours_m']:8.3f}M  paper {paper:>6}  {diff}")
    for name in [
        "ddpm_cifar10",
        "deja_fashion_mnist",
        "deja_fashion_mnist_ch1.5x",
        "deja_fashion_mnist_blocks2x",
        "deja_fashion_mnist_daed",
    ]:
        assert abs(rows[name]["ours_m"] - rows[name]["paper_m"]) <= 0.05 + 1e-9, name
    for name in COURSEWORK:
        assert abs(rows[name]["rel_diff"]) < 0.05, name
    by_ours = sorted(COURSEWORK, key=lambda n: rows[n]["ours_m"])
    by_paper = sorted(COURSEWORK, key=lambda n: PAPER_PARAMETER_COUNTS[n])
    assert by_ours == by_paper
    assert rows["coursework_mbconv64"]["ours_m"] < rows["coursework_shallowres1"]["ours_m"]
    assert rows["coursework_default"]["ours_m"] == rows["ddpm_cifar10"]["ours_m"]


@pytest.mark.parametrize("bad", ["transformer", "ResNet"])
def test_unknown_block_is_rejected(bad):
    with pytest.raises(ValueError, match=f"'{bad}'") as err:
        UNet(image_size=8, in_channels=1, out_channels=1, base_channels=8, block=bad)
    assert "'resnet'" in str(err.value) and "'mbconv'" in str(err.value)


def test_unknown_time_conditioning_is_rejected():
    with pytest.raises(ValueError, match="time_conditioning.*'film'"):
        UNet(image_size=8, in_channels=1, out_channels=1, base_channels=8, time_conditioning="film")


@pytest.mark.parametrize("kwargs, match", [(dict(expansion=0), "expansion"), (dict(se_ratio=0.0), "se_ratio")])
def test_invalid_mbconv_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UNet(image_size=8, in_channels=1, out_channels=1, base_channels=8, block="mbconv", **kwargs)


@pytest.mark.parametrize("fn", [architecture, scaled_architecture, build_architecture, parameter_count])
def test_unknown_architecture_name(fn):
    with pytest.raises(ValueError, match="'coursework_huge'.*coursework_default"):
        fn("coursework_huge")
