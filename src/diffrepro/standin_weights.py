"""Stand-in weight files for the networks these offline machines cannot download, for the smoke run only.

``diffrepro standin-weights --out DIR`` writes, under ``DIR/hub/checkpoints/``, the ImageNet weight files of the
LPIPS backbones (torchvision's ``vgg16-397923af.pth`` and ``alexnet-owt-7be5be79.pth``: the names
:func:`diffrepro.diffusion.dddm_losses.lpips_backbone_path` looks for) holding a seeded random initialisation of
the same networks, in torchvision's own format (a ``torch.save`` state dict, read back with
``torch.load(weights_only=True)``), and ``DIR/STANDIN.txt`` saying so. The paper-shape smoke run
(``configs/paper_smoke.yaml``) trains its Pseudo-LPIPS DDDMs with them by setting ``TORCH_HOME=DIR``: the jobs
then run the real LPIPS code at the real shapes with a random backbone. Nothing computed with them measures
anything; the smoke run's numbers are never reported (its data are stand-ins too). Never point a real run's
``TORCH_HOME`` at this folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .data.standins import MARKER

__all__ = ["write_standin_weights"]


def write_standin_weights(root: str | os.PathLike[str], seed: int = 0) -> list[Path]:
    """The LPIPS backbones' weight files under ``root/hub/checkpoints`` (random, seeded) and ``root/STANDIN.txt``."""
    import torchvision.models as tvm

    from .atomic import atomic_path
    from .diffusion.dddm_losses import LPIPS_NETS

    folder = Path(root) / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for builder, weights in sorted(LPIPS_NETS.values()):
        torch.manual_seed(seed)
        state = getattr(tvm, builder)(weights=None).state_dict()
        path = folder / os.path.basename(getattr(tvm, weights).IMAGENET1K_V1.url)
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        written.append(path)
    (Path(root) / MARKER).write_text(
        "Stand-in weights written by `diffrepro standin-weights` for the paper-shape smoke run: torchvision's "
        f"file names and format ({', '.join(p.name for p in written)}) with a seeded random initialisation. NOT "
        "the ImageNet weights; an LPIPS computed with them measures nothing and is never reported. Use this folder "
        "as TORCH_HOME for the smoke run only.\n",
        encoding="utf-8",
    )
    return written


def add_arguments(parser) -> None:
    parser.add_argument("--out", required=True, help="the folder to write (the smoke run's TORCH_HOME)")
    parser.add_argument("--seed", type=int, default=0)


def main(args) -> None:
    written = write_standin_weights(args.out, args.seed)
    print(f"wrote stand-in weights ({', '.join(str(p) for p in written)}) and {Path(args.out) / MARKER}")
