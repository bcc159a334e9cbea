"""Each step's code dependencies are its import closure: everything the step module really imports is in it
(checked against sys.modules of a fresh interpreter), modules it never imports are not, and the data-set
loaders, imported by name only when their data set is loaded, are the code of the steps that load them."""

import json
import subprocess
import sys

import pytest

from diffrepro import codedeps
from diffrepro.dag import STEPS, step

LOADERS = {
    "src/diffrepro/data/" + m
    for m in ("celeba.py", "cifar.py", "fashion_mnist.py", "imagenet.py", "mnist.py", "small_sets.py")
}


def imported_files(*modules: str) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        "for m in sys.argv[1:]:\n"
        "    importlib.import_module(m)\n"
        "files = sorted({m.__file__ for n, m in sys.modules.items() if n.split('.')[0] == 'diffrepro'\n"
        "                and getattr(m, '__file__', None)})\n"
        "print(json.dumps(files))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, check=True).stdout
    return {"src/" + f.split("/src/", 1)[1] for f in json.loads(out)}


@pytest.mark.parametrize("name", [s.name for s in STEPS])
def test_closure_covers_every_module_the_step_imports(name):
    s = step(name)
    assert imported_files(s.module) <= set(s.code())


def test_unrelated_modules_are_not_dependencies():
    train = set(step("train_ddgm").code())
    assert "src/diffrepro/diffusion/losses.py" in train and "src/diffrepro/training/checkpoint.py" in train
    # the joint-DAED objective lives in diffusion/daed.py, so train-ddgm imports it; the post-hoc DAE's
    # fine-tuning loop is another step's code
    assert "src/diffrepro/diffusion/daed.py" in train and "src/diffrepro/training/dae.py" not in train
    assert not any(p.startswith("src/diffrepro/analysis/") for p in train)
    # adding a step adds a module and edits nothing any other step imports
    assert "src/diffrepro/steps/snr.py" not in train
    table = set(step("table").code())
    assert not any(p.startswith(("src/diffrepro/diffusion/", "src/diffrepro/models/")) for p in table)


def test_the_data_package_imports_no_loader():
    """A step that reads a processed data set depends on no loader: ``diffrepro.data`` imports none."""
    assert not imported_files("diffrepro.data") & LOADERS
    assert not set(codedeps.closure("diffrepro.data")) & LOADERS
    assert set(codedeps.dataset_loaders()) >= {
        "fashion_mnist",
        "mnist",
        "cifar10",
        "cifar100",
        "celeba64",
        "digits",
        "lfw_subset",
        "imagenet32",
        "imagenet64",
    }


def test_a_loader_is_the_code_of_the_jobs_that_load_its_data_set():
    config = {
        "datasets": {"fmnist": {"dataset": "fashion_mnist"}, "in32": {"dataset": "imagenet32"}},
        "analysis": {
            "reconstruction": {
                "panels": {
                    "a": {"data": "fmnist", "targets": ["fashion_mnist", "digits"]},
                    "b": {"data": "in32", "targets": ["imagenet32", "cifar10"]},
                }
            }
        },
    }
    prepare = step("prepare_data")
    assert "src/diffrepro/data/fashion_mnist.py" in prepare.code(config, "fmnist")
    assert not set(prepare.code(config, "fmnist")) & (LOADERS - {"src/diffrepro/data/fashion_mnist.py"})
    assert "src/diffrepro/data/imagenet.py" in prepare.code(config, "in32")
    # the in-domain target is read from the processed file: only the other targets' loaders
    recon = set(step("reconstruction").code(config, "a"))
    assert recon & LOADERS == {"src/diffrepro/data/small_sets.py"}
    assert set(step("reconstruction").code(config, "b")) & LOADERS == {"src/diffrepro/data/cifar.py"}  # per panel
    # without a parameter file (dvc.yaml): every loader
    assert set(prepare.code()) >= LOADERS
    with pytest.raises(KeyError, match="unknown data set 'nope'.*fashion_mnist"):
        codedeps.loader_code("nope")


def test_the_registry_loads_lazily_and_names_the_known_sets():
    from diffrepro.data import DATASETS, load_dataset
    from diffrepro.data.registry import loader

    assert codedeps.dataset_loaders() == {name: target.split(":")[0] for name, target in DATASETS.items()}
    assert loader("digits").__name__ == "load_digits_dataset" and loader("digits").__doc__
    with pytest.raises(ValueError, match=r"unknown data set 'imagenet'.*celeba64.*fashion_mnist.*lfw_subset"):
        load_dataset("imagenet")
