"""The command line: every declared step is a command whose options are its declaration's inputs, outputs and
values, run by the module of the same name, imported only then (GPU pinning: tests/test_profiles.py); the sample
grid matches torchvision's layout."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import diffrepro.steps
from diffrepro.cli import DISTRIBUTED_COMMANDS, build_parser, load_step
from diffrepro.dag import STEPS, In, Option, Out, Value
from diffrepro.reporting.figures import image_grid

COMMANDS = [s.command for s in STEPS]


def test_every_step_module_is_declared_and_every_declared_step_has_a_module():
    modules = {m.name for m in pkgutil.iter_modules(diffrepro.steps.__path__)}
    assert modules == {s.module.rsplit(".", 1)[1] for s in STEPS}
    # a step that runs another step's module runs it over another params section (a model's seed replicates, the
    # composed DAEDs)
    assert {s.name: s.module_name for s in STEPS if s.module_name not in (None, s.name)} == {
        "train_replicate": "train_ddgm",
        "sample_replicate": "sample",
        "evaluate_replicate": "evaluate",
        "sample_composed": "sample",
        "evaluate_composed": "evaluate",
    }
    assert len(set(COMMANDS)) == len(COMMANDS) == 39
    with pytest.raises(ValueError, match="unknown step 'common'"):
        load_step("common")


@pytest.mark.parametrize("command", COMMANDS)
def test_step_modules_run_and_parse_nothing(command):
    module = load_step(command)
    assert callable(module.run) and not hasattr(module, "add_arguments")
    source = Path(module.__file__).read_text()
    assert "argparse" not in source and "add_argument" not in source
    # the steps that run on a torch device are declared so (the CLI pins their GPU and gives them --device)
    declared = next(s for s in STEPS if s.command == command)
    # (the training steps resolve it through training.launch.train_in_step, which passes args.device on)
    uses_device = "resolve_device(args.device)" in source or "train_in_step(" in source
    assert declared.device == uses_device, command


def test_running_one_step_imports_only_that_step():
    code = (
        "import sys; from diffrepro.cli import build_parser, load_step; build_parser(); load_step('table'); "
        "print(sorted(m for m in sys.modules if m.startswith('diffrepro.steps.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "diffrepro.steps.table" in out and "diffrepro.steps.evaluate" not in out
    assert "torch_fidelity" not in out


@pytest.mark.parametrize("step", STEPS, ids=COMMANDS)
def test_the_parser_of_a_step_is_its_declaration(step):
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[step.command]
    options = {a.option_strings[0]: a for a in sub._actions if a.option_strings}
    assert {"--params", "--log", "--threads"} <= set(options) and ("--device" in options) == step.device
    for arg in step.args:
        action = options[arg.flag]
        if isinstance(arg, Option):
            assert not action.required and action.default == arg.default
        else:
            expected = arg.required if isinstance(arg, Out) else arg.when is None if isinstance(arg, In) else True
            assert action.required == expected, arg.flag
        if isinstance(arg, In) and arg.append:
            assert action.__class__.__name__ == "_AppendAction"
    # the DAG's command line of a job parses, and every declared argument lands where the step reads it
    config = {
        "preset": "default",
        "seed": 0,
        "replicates": {"m_s1": {"model": "m", "seed": 1, "data": "d"}},
        "datasets": {"d": {"dataset": "digits"}},
        "models": {"m": {"data": "d"}},
        "gans": {"g": {"data": "d"}},
        "dddm": {"datasets": ["d"], "runs": {"r": {"data": "d"}}},
        "surrogate": {"surrogates": ["s"], "base_model": "m", "data": "d"},
        "daed": {
            "posthoc": {"studies": {"st": {"generator": "m", "data": "d"}}, "split_points": [0.1]},
            "composed": {"c": {"generator": "m", "dae": "m2", "data": "d"}},
        },
        "analysis": {
            "snr": {"data": "d"},
            "reconstruction": {"panels": {"p": {"model": "m", "data": "d"}}},
            "transferability": {
                "beta_1": 0.1,
                "sources": {"s": {"models": {"vlb": "m", "simple": "m2"}, "data": "d", "posthoc": "st"}},
                "figures": {"f": {"target": "d", "columns": [{"source": "s", "model": "DAED"}]}},
            },
            "toy_examples": {"model": "m", "beta_1": 0.1, "posthoc": "st"},
            "dynamics": {"ddgm": "m", "daed": "m"},
        },
        "evaluation": {"backends": ["inception", "classifier"]},
    }
    argv = step.argv(config, step.elements(config)[0], "p.yaml")
    args = build_parser().parse_args(argv[1:])
    assert args.declared_step is step and args.params == "p.yaml"
    for arg in step.args:
        if isinstance(arg, (Out, Value)) or (isinstance(arg, In) and not arg.append):
            assert getattr(args, arg.name) == argv[argv.index(arg.flag) + 1], arg.flag
    # without the classifier backend: no train_classifier job, and no --classifier on any command line
    inception_only = {**config, "evaluation": {"backends": ["inception"]}}
    if step.name == "train_classifier":
        assert step.elements(inception_only) == []
    else:
        words = step.argv(inception_only, step.elements(inception_only)[0], "p.yaml")
        conditional = {a.flag for a in step.inputs if a.when is not None}
        assert not conditional & set(words) and build_parser().parse_args(words[1:]).declared_step is step
        assert all(getattr(build_parser().parse_args(words[1:]), f.lstrip("-")) is None for f in conditional)
    if step.name == "transferability":
        assert args.ddgm == ["m=models/m/ema.safetensors", "m2=models/m2/ema.safetensors"]


def test_distributed_commands_are_the_declared_ones():
    assert set(DISTRIBUTED_COMMANDS) == {"train-ddgm", "train-replicate", "train-dae", "train-gan", "train-dddm"}


@pytest.mark.parametrize("n, c", [(7, 1), (100, 1), (5, 3)])
def test_image_grid_matches_torchvision(n, c):
    from torchvision.utils import make_grid

    images = torch.randint(0, 256, (n, c, 6, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(n))
    nrow = 3
    ours = image_grid(images, nrow=nrow, padding=1, pad_value=255)
    ref = make_grid(images, nrow=nrow, padding=1, pad_value=255)
    if c == 1:  # make_grid repeats a single channel to RGB
        ref = ref[:1]
    assert torch.equal(ours, ref)


def test_a_step_runs_on_its_fixed_thread_count_whatever_the_environment(monkeypatch):
    """CPU float rounding depends on torch's thread count (here: the Inception self-check of convert-inception is
    1.43e-6 on one thread, 9.5e-7 on two), so a step's count is fixed by its declaration, never taken from
    $OMP_NUM_THREADS (Snakemake sets it from --cores, DVC not at all); --threads still overrides it."""
    from diffrepro.cli import torch_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    import argparse

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    counts = {}
    for step in STEPS:
        threads = next(a for a in sub[step.command]._actions if a.dest == "threads")
        assert threads.default is None and f"fixed {step.threads}" in threads.help
        assert isinstance(step.threads, int) and step.threads >= 1
        counts[step.name] = torch_threads(argparse.Namespace(declared_step=step, threads=None))
        assert counts[step.name] == step.threads, step.name
        assert torch_threads(argparse.Namespace(declared_step=step, threads=3)) == 3
    assert counts["train_ddgm"] == 1 and counts["evaluate"] == 2
    monkeypatch.setenv("DIFFREPRO_THREADS", "2")  # the explicit override (runs whose numbers are not committed)
    assert torch_threads(argparse.Namespace(declared_step=STEPS[0], threads=None)) == 2
    assert torch_threads(argparse.Namespace(declared_step=STEPS[0], threads=3)) == 3
    assert torch_threads(argparse.Namespace(command="standin-weights")) is None
