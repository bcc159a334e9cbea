"""Matplotlib figures written as PNG and SVG, each atomically.

The SVG is byte-identical across reruns: a fixed ``svg.hashsalt`` (the ids of clip paths and
other defs are hashes salted with it, random otherwise) and no ``Date`` in its metadata.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from ..atomic import atomic_path

__all__ = ["SVG_HASHSALT", "save_figure", "svg_beside"]

#: the salt of the SVG backend's ids (any fixed string makes them reproducible)
SVG_HASHSALT = "diffrepro"


def svg_beside(png_path: str | os.PathLike) -> str:
    """The SVG path of a figure: the PNG's path with the suffix ``.svg``."""
    return str(Path(png_path).with_suffix(".svg"))


def save_figure(fig, png_path: str | os.PathLike, svg_path: str | os.PathLike | None = None, *, dpi: int = 120) -> None:
    """Write ``fig`` as PNG to ``png_path`` and as SVG to ``svg_path`` (default: beside the PNG)."""
    import matplotlib

    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi)
    svg = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT}):
        fig.savefig(svg, format="svg", dpi=dpi, metadata={"Date": None})
    with atomic_path(png_path, suffix=".png") as tmp:
        tmp.write_bytes(png.getvalue())
    with atomic_path(svg_beside(png_path) if svg_path is None else svg_path, suffix=".svg") as tmp:
        tmp.write_bytes(svg.getvalue())
