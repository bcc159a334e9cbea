"""SNGAN (Miyato et al. 2018): ResNet generator and spectrally normalised ResNet discriminator.

Generator: z -> linear -> ``base x base x ch`` map -> ``k`` upsampling residual blocks (BatchNorm,
ReLU, nearest x2, 3x3 convs, 1x1 shortcut) -> BN-ReLU-conv3x3-tanh. ``base`` and ``k`` come from the
image size: halve while the result stays even and >= 4 (8 -> 4, k=1; 16 -> 4, k=2; 28 -> 7, k=2;
32 -> 4, k=3). Discriminator: an optimised first block, downsampling residual blocks, a last block
without downsampling, ReLU, global sum pooling and a linear layer; every convolution and linear
layer is spectrally normalised (``torch.nn.utils.parametrizations.spectral_norm``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["SNGANGenerator", "SNGANDiscriminator", "upsampling_plan"]


def upsampling_plan(image_size: int) -> tuple[int, int]:
    """``(base, k)``: the generator's first map size and its number of x2 upsampling blocks."""
    size, k = int(image_size), 0
    while size % 2 == 0 and size // 2 >= 4:
        size, k = size // 2, k + 1
    if k == 0 or size > 8:
        raise ValueError(
            f"image size {image_size} does not suit the SNGAN generator: it must halve at least once "
            "to a base of 4..8 (e.g. 8, 16, 28, 32, 64)"
        )
    return size, k


class _GenBlock(nn.Module):
    """Upsampling residual block: BN-ReLU-up2-conv3-BN-ReLU-conv3, plus up2 then a learned 1x1 shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2.0, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class SNGANGenerator(nn.Module):
    """z [B, z_dim] -> images in [-1, 1] [B, out_channels, image_size, image_size]; ``channels`` is the width."""

    def __init__(self, z_dim: int, channels: int, image_size: int, out_channels: int) -> None:
        super().__init__()
        self.z_dim, self.channels, self.image_size, self.out_channels = z_dim, channels, image_size, out_channels
        self.base, k = upsampling_plan(image_size)
        self.linear = nn.Linear(z_dim, self.base * self.base * channels)
        self.blocks = nn.Sequential(*[_GenBlock(channels, channels) for _ in range(k)])
        self.bn = nn.BatchNorm2d(channels)
        self.out = nn.Conv2d(channels, out_channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.linear(z).view(z.shape[0], self.channels, self.base, self.base)
        return torch.tanh(self.out(F.relu(self.bn(self.blocks(h)))))


class _DisBlock(nn.Module):
    """Residual block of the discriminator (``first``: the optimised block, no ReLU before its first conv)."""

    def __init__(self, cin: int, cout: int, downsample: bool, first: bool = False) -> None:
        super().__init__()
        self.first, self.downsample = first, downsample
        self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 3, padding=1))
        self.shortcut = spectral_norm(nn.Conv2d(cin, cout, 1)) if (cin != cout or downsample) else None

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first:  # optimised block: pool, then the 1x1 shortcut
            s = self.shortcut(F.avg_pool2d(x, 2) if self.downsample else x)
        elif self.shortcut is not None:
            s = self.shortcut(x)
            if self.downsample:
                s = F.avg_pool2d(s, 2)
        return h + s


class SNGANDiscriminator(nn.Module):
    """images [B, in_channels, image_size, image_size] -> one unbounded logit per image [B]."""

    def __init__(self, channels: int, image_size: int, in_channels: int) -> None:
        super().__init__()
        _, k = upsampling_plan(image_size)
        blocks = [_DisBlock(in_channels, channels, downsample=True, first=True)]
        blocks += [_DisBlock(channels, channels, downsample=True) for _ in range(k - 1)]
        blocks += [_DisBlock(channels, channels, downsample=False)]
        self.blocks = nn.Sequential(*blocks)
        self.linear = spectral_norm(nn.Linear(channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.linear(h).squeeze(1)
