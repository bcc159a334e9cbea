"""Tests for the U-Net: shapes, gradient flow, zero initialisation, argument validation."""

from __future__ import annotations

import pytest
import torch

from diffrepro.models import UNet, count_parameters

CONFIGS = [
    dict(
        image_size=16,
        in_channels=1,
        out_channels=1,
        base_channels=16,
        channel_mult=(1, 2),
        num_res_blocks=1,
        attention_resolutions=(8,),
        num_heads=2,
    ),
    dict(
        image_size=28,
        in_channels=1,
        out_channels=1,
        base_channels=16,
        channel_mult=(1, 2, 2),
        num_res_blocks=1,
        attention_resolutions=(14,),
        num_heads=4,
    ),
    dict(
        image_size=32,
        in_channels=3,
        out_channels=3,
        base_channels=8,
        channel_mult=(1, 2, 2, 2),
        num_res_blocks=2,
        attention_resolutions=(16,),
        num_heads=2,
        dropout=0.1,
    ),
]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_output_shape_and_zero_init(cfg):
    torch.manual_seed(0)
    net = UNet(**cfg)
    x = torch.randn(2, cfg["in_channels"], cfg["image_size"], cfg["image_size"])
    out = net(x, torch.tensor([0, 999]))
    assert out.shape == x.shape
    assert torch.count_nonzero(out) == 0  # zero-initialised output conv
    # float timesteps and channels_last input are accepted
    out2 = net(x.contiguous(memory_format=torch.channels_last), torch.tensor([3.5, 10.0]))
    assert out2.shape == x.shape


def test_learned_variance_output_channels():
    net = UNet(
        image_size=8,
        in_channels=3,
        out_channels=6,
        base_channels=8,
        channel_mult=(1, 2),
        num_res_blocks=1,
        attention_resolutions=(),
        num_heads=1,
    )
    assert net(torch.randn(1, 3, 8, 8), torch.tensor([5])).shape == (1, 6, 8, 8)


@pytest.mark.parametrize("cfg", CONFIGS[:2])
def test_gradients_reach_every_parameter(cfg):
    torch.manual_seed(1)
    net = UNet(**cfg)
    x = torch.randn(2, cfg["in_channels"], cfg["image_size"], cfg["image_size"])
    t = torch.tensor([1, 500])
    net(x, t).pow(2).mean().backward()
    assert all(p.grad is not None for p in net.parameters())
    # with the zero-init layers randomised, every parameter gets a non-zero gradient
    net.zero_grad(set_to_none=True)
    with torch.no_grad():
        for p in net.parameters():
            if torch.count_nonzero(p) == 0:
                p.normal_(0, 0.05)
    net(x, t).pow(2).mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.count_nonzero(p.grad) > 0, name


def test_attention_used_where_requested():
    net = UNet(**CONFIGS[0])
    names = [type(m).__name__ for m in net.modules()]
    # encoder (1 at 8px) + middle (1) + decoder (2 at 8px)
    assert names.count("AttentionBlock") == 4


def test_count_parameters():
    net = UNet(**CONFIGS[0])
    assert count_parameters(net) == sum(p.numel() for p in net.parameters())
    net.time_embed.requires_grad_(False)
    assert count_parameters(net, trainable_only=True) < count_parameters(net)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(image_size=30, channel_mult=(1, 2, 2)), "image_size"),
        (dict(image_size=32, attention_resolutions=(12,)), "attention_resolutions"),
        (dict(image_size=32, attention_resolutions=(4,)), "attention_resolutions"),
        (dict(image_size=32, base_channels=16, num_heads=3), "num_heads"),
        (dict(image_size=32, channel_mult=()), "channel_mult"),
        (dict(image_size=32, dropout=1.5), "dropout"),
        (dict(image_size=32, num_res_blocks=0), "num_res_blocks"),
    ],
)
def test_invalid_arguments(kwargs, name):
    base = dict(in_channels=1, out_channels=1, base_channels=16, attention_resolutions=())
    base.update(kwargs)
    with pytest.raises(ValueError, match=name):
        UNet(**base)
