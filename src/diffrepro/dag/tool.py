"""``diffrepro dag``: the step declaration (src/diffrepro/dag/steps.py) as files and lists.

``diffrepro dag dvc-yaml > dvc.yaml`` writes the DVC pipeline (``--check``: exit 1 when dvc.yaml differs; with
``--params configs/NAME.yaml --write``: the preset's own pipeline, presets/NAME/dvc.yaml);
``diffrepro dag steps`` lists the steps; ``diffrepro dag code STEP`` prints the source files a step depends on
(with ``--params FILE --key KEY``: for that job of a parameter file, loaders included); ``diffrepro dag command
STEP --key KEY`` prints the command line of one job, as both tools run it.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ..atomic import write_text
from ..config import load_config
from ..errors import DiffreproError
from .dvc import dvc_yaml, pipeline_of
from .steps import STEPS, step

__all__ = ["add_arguments", "main"]


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    q = sub.add_parser("dvc-yaml", help="print dvc.yaml (generated from the declaration)")
    q.add_argument("--check", metavar="FILE", help="instead: exit 1 unless FILE holds exactly this text")
    q.add_argument(
        "--params",
        default="params.yaml",
        help="the preset's parameter file (default: params.yaml, the default preset's root dvc.yaml); another "
        "preset NAME gets presets/NAME/dvc.yaml",
    )
    q.add_argument("--write", action="store_true", help="write the file (dvc.yaml or presets/NAME/dvc.yaml)")
    sub.add_parser("steps", help="list the steps: name, command and foreach")
    q = sub.add_parser("code", help="the source files a step depends on")
    q.add_argument("step", help="a step (train_ddgm or train-ddgm)")
    q.add_argument("--params", default=None, help="a parameter file: the files of one job of it (loaders included)")
    q.add_argument("--key", default=None, help="with --params: the job's foreach element")
    q = sub.add_parser("command", help="the command line of one job of a parameter file (to run it by hand)")
    q.add_argument("step", help="a step (train_ddgm or train-ddgm)")
    q.add_argument("--params", default="params.yaml", help="the parameter file (default: params.yaml)")
    q.add_argument("--key", default=None, help="the job's foreach element (a model, a data set, ...)")


def main(args) -> None:
    if args.what == "dvc-yaml":
        config = load_config(args.params)
        try:
            pipeline = pipeline_of(config, args.params)
        except ValueError as exc:
            raise DiffreproError(str(exc)) from None
        text = dvc_yaml(config, pipeline)
        if args.write:
            Path(pipeline.folder).mkdir(parents=True, exist_ok=True)
            write_text(pipeline.path, text)
            print(f"wrote {pipeline.path}")
        elif args.check is None:
            sys.stdout.write(text)
        elif Path(args.check).read_text(encoding="utf-8") != text:
            raise DiffreproError(
                f"{args.check} differs from the step declaration: run `diffrepro dag dvc-yaml > {args.check}`"
            )
    elif args.what == "steps":
        for s in STEPS:
            over = "" if s.foreach is None else f"  foreach {s.foreach.section or 'table names'}"
            print(f"{s.name:<20} diffrepro {s.command}{over}")
    else:
        try:
            declared = step(args.step)
        except KeyError as exc:
            raise DiffreproError(exc.args[0]) from None
        config = None if args.params is None else load_config(args.params)
        if args.what == "code":
            print("\n".join(declared.code(config, args.key)))
            return
        elements = declared.elements(config)
        if args.key not in elements:
            raise DiffreproError(f"{declared.name}: --key {args.key!r} is not one of {elements} in {args.params}")
        print(shlex.join(declared.argv(config, args.key, args.params)))
