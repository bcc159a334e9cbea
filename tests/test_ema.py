"""Tests for the EMA of model weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from diffrepro.training.ema import EMA


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_closed_form_with_constant_params():
    m = _model()
    ema = EMA(m, decay=0.9)
    p0 = {k: v.clone().float() for k, v in m.state_dict().items()}
    with torch.no_grad():
        for p in m.parameters():
            p.add_(1.0)
        m[1].running_mean.fill_(2.0)
    p = {k: v.clone().float() for k, v in m.state_dict().items()}
    k = 7
    for _ in range(k):
        ema.update(m)
    sd = ema.state_dict()
    assert sd.keys() == m.state_dict().keys()
    for key, v in sd.items():
        if key.endswith("num_batches_tracked"):
            continue
        expected = p[key] + (p0[key] - p[key]) * 0.9**k
        assert v.dtype == torch.float32
        assert torch.allclose(v, expected, atol=1e-6), key


def test_copy_to_and_state_dict_roundtrip():
    m = _model()
    ema = EMA(m, decay=0.5)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)
    ema.update(m)
    other = _model()
    ema.copy_to(other)
    for key, v in other.state_dict().items():
        assert torch.allclose(v.float(), ema.shadow[key].float()), key
    ema2 = EMA(_model(), decay=0.5)
    ema2.load_state_dict(ema.state_dict())
    for key in ema.shadow:
        assert torch.equal(ema.shadow[key], ema2.shadow[key])


def test_invalid_decay():
    with pytest.raises(ValueError):
        EMA(_model(), decay=1.5)
