"""The ``diffrepro`` command: one subcommand per DAG step plus workspace helpers."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .config import load_config
from .errors import DiffreproError
from .runlog import get_logger, setup_logging
from .steps import load_step, step_commands
from .steps.common import add_common, apply_threads


def _validate(args) -> None:
    load_config(args.params)
    print(f"{args.params}: valid")


def _preset(args) -> None:
    from .workspace import use_preset

    use_preset(args.preset)


def _after_pull(args) -> None:
    from .workspace import after_pull

    after_pull(args.cores, check_dvc=not args.no_dvc_check)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI; with ``command`` given, only that step's module is imported (see ``steps``)."""
    parser = argparse.ArgumentParser(prog="diffrepro", description=__doc__)
    parser.add_argument("--version", action="version", version=f"diffrepro {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in step_commands():
        if command in (None, name):
            step = load_step(name)
            p = sub.add_parser(name, help=step.HELP, description=step.__doc__)
            add_common(p)
            step.add_arguments(p)
            p.set_defaults(func=step.run)
        else:  # listed, not imported: only the command that runs pays for its imports
            add_common(sub.add_parser(name))

    p = sub.add_parser("validate-config", help="validate a parameter file against the schema")
    p.add_argument("params", nargs="?", default="params.yaml")
    p.set_defaults(func=_validate)

    p = sub.add_parser("preset", help="make configs/<NAME>.yaml (or a path) the active params.yaml")
    p.add_argument("preset", help="a preset name (tiny, paper) or a path to a parameter file")
    p.set_defaults(func=_preset)

    p = sub.add_parser("after-pull", help="after `dvc pull`: check `dvc status`, then let Snakemake accept the artifacts")
    p.add_argument("--cores", type=int, default=1)
    p.add_argument("--no-dvc-check", action="store_true", help="skip the `dvc status` check")
    p.set_defaults(func=_after_pull)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    # a step command imports only its module; no command (``--help``) lists every step with its help
    args = build_parser(None if command is None else command if command in step_commands() else "").parse_args(argv)
    setup_logging(getattr(args, "log", None))
    if hasattr(args, "threads"):
        apply_threads(args.threads)
    try:
        args.func(args)
    except DiffreproError as exc:
        get_logger().error("%s", exc)
        print(f"diffrepro {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
