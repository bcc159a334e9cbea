"""Step: Table 2 of Deja et al. 2022 in the paper's layout, a block per source of
``analysis.transferability.sources`` (in the parameters' order) from the blocks the transferability step wrote,
followed by the published blocks (sources CIFAR-10 and ImageNet), as Markdown, LaTeX and HTML."""

from __future__ import annotations

from pathlib import Path

from ..atomic import read_json, write_text
from ..config import analysis_config, load_config
from ..errors import DiffreproError
from ..reporting.render import html_beside, tex_beside
from ..reporting.table2 import Table2Block, table2_block, table2_html, table2_latex, table2_markdown

TITLE = "Transferability (Deja et al. 2022, Table 2)"
#: what a source's block (the transferability step's JSON) holds
BLOCK_KEYS = ("source", "title", "description", "targets", "models", "labels", "rows")


def read_block(path: Path, source: str) -> Table2Block:
    """The block of ``source`` in ``path``, checked: the transferability step's keys, the source it names."""
    if not path.is_file():
        raise DiffreproError(f"{path} does not exist: run the transferability step of source {source!r} first")
    data = read_json(path)
    missing = [k for k in BLOCK_KEYS if not isinstance(data, dict) or k not in data]
    if missing:
        raise DiffreproError(f"{path}: not a block of Table 2 (no {', '.join(missing)})")
    if data["source"] != source:
        raise DiffreproError(f"{path} holds the block of source {data['source']!r}, not {source!r}")
    return table2_block(
        data["rows"],
        source=data.get("dataset", source),
        targets=data["targets"],
        models=data["models"],
        labels=data["labels"],
        title=data["title"],
        description=data["description"],
    )


def run(args) -> None:
    config = load_config(args.params)
    sources = analysis_config(config).transferability.sources
    blocks = [read_block(Path(args.sources) / f"{name}.json", name) for name in sources]
    write_text(args.out_md, table2_markdown(blocks, title=TITLE))
    write_text(args.out_tex or tex_beside(args.out_md), table2_latex(blocks, title=TITLE))
    write_text(args.out_html or html_beside(args.out_md), table2_html(blocks, title=TITLE))
