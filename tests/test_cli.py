"""The command line: lazily loaded steps agree with their modules; the sample grid matches torchvision's layout."""

import subprocess
import sys

import pytest
import torch

from diffrepro.cli import build_parser
from diffrepro.reporting.figures import image_grid
from diffrepro.steps import load_step, step_commands


EXPECTED_STEPS = ["convert-inception", "dddm-tables", "dynamics", "evaluate", "evaluate-dddm", "evaluate-posthoc", "evaluate-snapshots",
                  "evaluate-surrogate", "nll", "prepare-data", "reconstruction", "reference-features", "sample", "sample-dddm",
                  "sample-posthoc", "sample-surrogate", "snr", "surrogate-table", "table", "toy-examples",
                  "train-classifier", "train-dae", "train-dddm", "train-ddgm", "train-gan", "transferability"]


def test_steps_are_the_modules_of_the_steps_package():
    assert step_commands() == EXPECTED_STEPS
    with pytest.raises(ValueError, match="unknown step 'common'"):
        load_step("common")


@pytest.mark.parametrize("command", EXPECTED_STEPS)
def test_step_modules_define_the_step_interface(command):
    module = load_step(command)
    assert module.NAME == command and module.HELP
    assert callable(module.run) and callable(module.add_arguments)


def test_running_one_step_imports_only_that_step():
    code = ("import sys; from diffrepro.cli import build_parser; build_parser('table'); "
            "print(sorted(m for m in sys.modules if m.startswith('diffrepro.steps.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "diffrepro.steps.table" in out and "diffrepro.steps.evaluate" not in out
    assert "torch_fidelity" not in out


def test_full_parser_knows_every_step():
    parser = build_parser()
    for command in step_commands():
        assert parser.parse_args([command] + required_args(command)).command == command


def required_args(command):
    parser = build_parser(command)
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    args = []
    for action in sub._actions:
        if action.required:
            args += [action.option_strings[0], "1" if action.choices is None else sorted(action.choices)[0]]
    return args


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
