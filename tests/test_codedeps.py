"""Each step's code dependencies are its import closure: everything the step really imports is in
it (checked against sys.modules of a fresh interpreter), and modules it never imports are not."""

import json
import subprocess
import sys

import pytest

from diffrepro.codedeps import step_code
from diffrepro.steps import step_commands

STEP_NAMES = [c.replace("-", "_") for c in step_commands()]


def imported_files(step_module: str) -> set[str]:
    code = (
        "import json, sys\n"
        "import diffrepro.cli\n"
        f"import diffrepro.steps.{step_module}\n"
        "files = sorted({m.__file__ for n, m in sys.modules.items() if n.split('.')[0] == 'diffrepro'\n"
        "                and getattr(m, '__file__', None)})\n"
        "print(json.dumps(files))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {"src/" + f.split("/src/", 1)[1] for f in json.loads(out)}


@pytest.mark.parametrize("step", STEP_NAMES)
def test_closure_covers_every_module_the_step_imports(step):
    assert imported_files(step) <= set(step_code(step))


def test_unrelated_modules_are_not_dependencies():
    train = set(step_code("train_ddgm"))
    assert "src/diffrepro/diffusion/losses.py" in train and "src/diffrepro/training/checkpoint.py" in train
    # the joint-DAED objective lives in diffusion/daed.py, so train-ddgm imports it; the post-hoc DAE's
    # fine-tuning loop is another step's code
    assert "src/diffrepro/diffusion/daed.py" in train and "src/diffrepro/training/dae.py" not in train
    assert not any(p.startswith("src/diffrepro/analysis/") for p in train)
    # adding a step adds a module and edits nothing any other step imports
    assert "src/diffrepro/steps/snr.py" not in train
    table = set(step_code("table"))
    assert not any(p.startswith(("src/diffrepro/diffusion/", "src/diffrepro/models/")) for p in table)
