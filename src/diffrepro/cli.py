"""The ``diffrepro`` command: one subcommand per DAG step plus workspace helpers and tools.

A step's command line is built from its declaration (:mod:`diffrepro.dag.steps`: every input, output and
value becomes an option) and runs ``run(args)`` of its module ``diffrepro.steps.<step>``, imported only then.
Before a step that runs on a torch device starts, the command claims it a GPU of ``$DIFFREPRO_GPUS``
(:func:`diffrepro.gpu_slots.pin_gpus`; which GPU runs a step changes no result). None of this is in a step's
code dependencies (:mod:`diffrepro.codedeps`): what it hands a step is the command line, which both tools track.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

from . import __version__
from .config import load_config
from .dag import STEPS, Step
from .dag import step as declared_step
from .dag.spec import In, Option, Out, Value, belongs_to_preset, preset_root
from .errors import DiffreproError
from .gpu_slots import pin_gpus
from .runlog import get_logger, setup_logging


def _validate(args) -> None:
    config = load_config(args.params)
    if args.condition:
        from .dag.spec import lookup
        from .dag.steps import CONDITIONS

        for given in args.condition:
            name, _, value = given.partition("=")
            if name not in CONDITIONS or value not in ("true", "false"):
                raise DiffreproError(f"--condition {given!r}: NAME=true|false, NAME one of {sorted(CONDITIONS)}")
            cond = CONDITIONS[name]
            holds = cond.holds(config)
            if holds != (value == "true"):
                raise DiffreproError(
                    f"{args.params}: {cond.key} = {lookup(config, cond.key)!r}: that {cond.meaning} is "
                    f"{str(holds).lower()}, but this DVC pipeline was generated for {value} (its stages "
                    f"and inputs differ): regenerate it with `diffrepro dag dvc-yaml --params {args.params} --write`"
                )
    if args.out:  # the record DVC's check_params stage writes: the same bytes for every valid file
        from .atomic import write_json

        write_json(args.out, {"params": os.path.normpath(args.params), "valid": True})
    print(f"{args.params}: valid")


def _preset(args) -> None:
    from .workspace import use_preset

    use_preset(args.preset)


def _after_pull(args) -> None:
    from .workspace import after_pull

    after_pull(args.cores, check_dvc=not args.no_dvc_check)


#: the steps that train data-parallel under ``torchrun`` when ``distributed.nproc_per_node`` > 1
#: (:mod:`diffrepro.training.distributed`)
DISTRIBUTED_COMMANDS = tuple(s.command for s in STEPS if s.distributed)
#: environment variables that ``torchrun`` (torch.distributed.run) sets in the processes it starts
LAUNCHER_ENV = ("LOCAL_RANK", "TORCHELASTIC_RUN_ID")


def inside_launcher() -> bool:
    """Whether this process was started by ``torchrun`` (``LOCAL_RANK`` or ``TORCHELASTIC_RUN_ID`` set)."""
    return any(k in os.environ for k in LAUNCHER_ENV)


def nproc_per_node(params: str) -> int:
    """``distributed.nproc_per_node`` of the parameter file ``params``: 1 when the section or the file is
    absent (the step itself then reports a missing or invalid file); a value that is not an integer >= 1
    is a :class:`~diffrepro.config.ConfigError`."""
    import yaml

    from .config import ConfigError
    from .schema import apply_defaults

    try:
        config = yaml.safe_load(Path(params).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return 1
    section = config.get("distributed") if isinstance(config, dict) else None
    nproc = (
        apply_defaults(dict(section or {}), "distributed")["nproc_per_node"]
        if isinstance(section, (dict, type(None)))
        else None
    )
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ConfigError(f"{params}: distributed.nproc_per_node must be an integer >= 1, got {nproc!r}")
    return nproc


def torchrun_argv(nproc: int, argv: list[str]) -> list[str]:
    """The command that reruns ``diffrepro <argv>`` as ``nproc`` processes on this machine:
    ``torchrun --standalone --nproc_per_node N -m diffrepro -- <argv>``, spelled with this interpreter
    (``python -m torch.distributed.run``, the module behind ``torchrun``) so the same environment runs it.
    The ``--`` keeps torchrun's parser off the step's options (``--log`` would be an ambiguous abbreviation
    of torchrun's ``--log-dir``...); torchrun drops it and passes ``<argv>`` on unchanged."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(int(nproc)),
        "-m",
        "diffrepro",
        "--",
        *argv,
    ]


def relaunch(nproc: int, argv: list[str], device: str = "auto") -> int:
    """Run :func:`torchrun_argv` and return its exit status; SIGTERM is passed on to ``torchrun``, which
    stops its processes. For a CUDA ``device`` (``auto`` or ``cuda``) this process first claims ``nproc``
    GPUs of ``$DIFFREPRO_GPUS`` (:func:`diffrepro.gpu_slots.pin_gpus`, nothing when that is unset) and holds
    them while torchrun's processes, which inherit its ``CUDA_VISIBLE_DEVICES``, run."""
    import signal
    import subprocess

    if device in ("auto", "cuda"):
        pin_gpus(nproc)
    cmd = torchrun_argv(nproc, argv)
    get_logger().info("distributed.nproc_per_node=%d: running %s", nproc, " ".join(cmd))
    proc = subprocess.Popen(cmd)
    try:
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signum))
    except ValueError:  # not the main thread: no handler
        previous = None
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # the terminal's SIGINT reached torchrun too; wait for it to stop
                continue
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


#: commands outside the DAG: name -> (module, help). Their modules are imported by name, only when they run.
TOOLS = {
    "bench": ("diffrepro.perf.bench", "measure training/sampling throughput, FLOPs and speed-switch speedups (JSON)"),
    "gpu-hours": ("diffrepro.perf.gpu_hours", "table of the DAG's GPU-hours on one H100, beside the papers' compute"),
    "job-costs": ("diffrepro.perf.job_costs", "each job's wall time and peak memory from Snakemake's benchmark files"),
    "dag": ("diffrepro.dag.tool", "the step declaration: write dvc.yaml, list the steps, print a step's code files"),
    "smoke-preset": ("diffrepro.smoke", "the paper preset cut to the least work that runs every job (paper_smoke)"),
    "standin-data": (
        "diffrepro.data.standins",
        "stand-in files of an offline-missing data set, for the smoke run only",
    ),
    "standin-weights": (
        "diffrepro.standin_weights",
        "stand-in LPIPS backbone weight files (random, torchvision's format), for the smoke run's TORCH_HOME only",
    ),
}


def load_step(command: str) -> ModuleType:
    """The module that runs step ``command`` (``train-ddgm`` or ``train_ddgm``); ValueError naming the steps."""
    try:
        return importlib.import_module(declared_step(command).module)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None


def add_common(parser: argparse.ArgumentParser, step: Step) -> None:
    """The options of every step command, and ``--device`` for the steps that run on a torch device."""
    parser.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    parser.add_argument("--log", default=None, help="append the step's log to this file")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help=f"CPU threads for torch (default: the step's fixed {step.threads}, whatever $OMP_NUM_THREADS says: "
        "a CPU run's float rounding depends on the thread count, and the committed results are computed at "
        "the fixed counts; another count may move their last digits)",
    )
    if step.device:
        parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when present)")


def add_step_arguments(parser: argparse.ArgumentParser, step: Step) -> None:
    """The options of ``step`` from its declaration: inputs, outputs and values (required unless declared
    otherwise), an input given several times as a repeated option, and the options the DAG leaves at their
    defaults."""
    seen: set[str] = set()
    for arg in step.args:
        if arg.flag in seen:  # another occurrence of a repeated input
            continue
        seen.add(arg.flag)
        if isinstance(arg, In):
            parser.add_argument(
                arg.flag,
                required=arg.when is None,  # a conditional input: the step checks it is there when it needs it
                help=arg.help,
                metavar=arg.metavar,
                action="append" if arg.append else "store",
            )
        elif isinstance(arg, Out):
            parser.add_argument(arg.flag, required=arg.required, help=arg.help)
        elif isinstance(arg, Value):
            parser.add_argument(arg.flag, required=True, help=arg.help, choices=arg.choices)
        elif isinstance(arg, Option):
            parser.add_argument(arg.flag, default=arg.default, help=arg.help)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI; with ``command`` given, only that tool's module is imported (step modules are imported only
    when their command runs)."""
    parser = argparse.ArgumentParser(
        prog="diffrepro", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"diffrepro {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for step in STEPS:
        p = sub.add_parser(step.command, help=step.help, description=step.help)
        add_common(p, step)
        add_step_arguments(p, step)
        p.set_defaults(declared_step=step)

    p = sub.add_parser("validate-config", help="validate a parameter file against the schema")
    p.add_argument("params", nargs="?", default="params.yaml")
    p.add_argument("--out", help="write a record of the check here (DVC's check_params stage)")
    p.add_argument(
        "--condition",
        action="append",
        metavar="NAME=true|false",
        help="a DAG condition the file must decide so (DVC's check_params stage: the pipeline's shape)",
    )
    p.set_defaults(func=_validate)

    p = sub.add_parser("preset", help="make configs/<NAME>.yaml (or a path) the active params.yaml")
    p.add_argument("preset", help="a preset name (tiny, paper) or a path to a parameter file")
    p.set_defaults(func=_preset)

    p = sub.add_parser(
        "after-pull", help="after `dvc pull`: check `dvc status`, then let Snakemake accept the artifacts"
    )
    p.add_argument("--cores", type=int, default=1)
    p.add_argument("--no-dvc-check", action="store_true", help="skip the `dvc status` check")
    p.set_defaults(func=_after_pull)

    for name, (module, help_) in TOOLS.items():
        if command in (None, name):
            tool = importlib.import_module(module)
            p = sub.add_parser(
                name, help=help_, description=tool.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
            )
            tool.add_arguments(p)
            p.set_defaults(func=tool.main)
        else:
            sub.add_parser(name, help=help_)
    return parser


def check_preset_folders(step: Step, args: argparse.Namespace) -> None:
    """Refuse a job that would write outside its preset's folders (presets never overwrite each other's
    results): for example the root dvc.yaml (the default preset's) run with another preset in params.yaml. A
    missing parameter file is left to the step, whose error names it."""
    if not os.path.isfile(args.params):
        return
    root = preset_root(load_config(args.params))
    flags = ["--log"] + [a.flag for a in step.outputs]
    for flag in flags:
        value = getattr(args, flag.lstrip("-").replace("-", "_"), None)
        if value is not None and not belongs_to_preset(value, root):
            where = f"presets/{root.split('/')[1]}/" if root else "the top of the repository"
            raise DiffreproError(
                f"{step.name}: {flag} {value} lies outside the folders of the preset of {args.params} ({where}); "
                "run that preset with `snakemake --configfile FILE` or its own DVC pipeline "
                "(`diffrepro dag dvc-yaml --params FILE`, see README, Presets)"
            )


def run_step(step: Step, args: argparse.Namespace, argv: list[str]) -> int:
    """Run ``step``: relaunched under torchrun when it trains data-parallel, else pinned to a GPU of
    ``$DIFFREPRO_GPUS`` (for a CUDA ``--device``) and run in this process. Returns the exit status."""
    check_preset_folders(step, args)
    if step.distributed and not inside_launcher():
        nproc = nproc_per_node(args.params)
        if nproc > 1:
            return relaunch(nproc, argv, args.device)
    if step.device and args.device in ("auto", "cuda"):
        pin_gpus()
    load_step(step.name).run(args)
    return 0


#: an explicit override of every step's fixed torch thread count (its numbers then move in their last digits)
THREADS_ENV = "DIFFREPRO_THREADS"


def torch_threads(args: argparse.Namespace) -> int | None:
    """The torch CPU threads of a command: its ``--threads``, else ``$DIFFREPRO_THREADS`` (an explicit override
    for a run whose numbers are not committed, such as the paper-shape smoke run), else a step's fixed count
    (never ``$OMP_NUM_THREADS``, which Snakemake sets from --cores and DVC leaves unset: float rounding on the CPU
    depends on the thread count, and a step's bytes must not depend on the orchestrator); None for a tool."""
    threads = getattr(args, "threads", None)
    if threads is None and hasattr(args, "declared_step"):
        override = os.environ.get(THREADS_ENV)
        if override:
            if not override.isdigit() or int(override) < 1:
                raise DiffreproError(f"${THREADS_ENV} = {override!r}: a positive number of threads")
            return int(override)
        threads = args.declared_step.threads
    return threads


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--"]:  # a launcher that keeps the separator of torchrun_argv
        argv = argv[1:]
    command = next((a for a in argv if not a.startswith("-")), None)
    # a tool imports its module only when it runs; no command (``--help``) lists every command with its help
    args = build_parser(None if command is None else command if command in TOOLS else "").parse_args(argv)
    rank = int(os.environ.get("RANK", "0")) if inside_launcher() else 0
    if rank == 0:
        setup_logging(getattr(args, "log", None))
    else:  # the other processes of a data-parallel run: warnings and errors on stderr, nothing in the log
        setup_logging(None, level=logging.WARNING)
    threads = torch_threads(args)
    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        if hasattr(args, "declared_step"):
            return run_step(args.declared_step, args, argv)
        args.func(args)
    except DiffreproError as exc:
        get_logger().error("%s", exc)
        print(f"diffrepro {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
