"""Loading and validating the parameter file (params.yaml or configs/*.yaml).

The JSON schema lives in ``workflow/schemas/config.schema.yaml`` so Snakemake's workflow and
the ``diffrepro`` steps validate against the same file.  Errors name the offending key by its
dotted path (``models.ddgm_simple.train.lr``) and the file it came from.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_RELPATH = Path("workflow") / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A parameter file is missing, unreadable or does not satisfy the schema."""


def schema_path() -> Path:
    """The schema file: $DIFFREPRO_SCHEMA, else the repository's workflow/schemas copy."""
    env = os.environ.get("DIFFREPRO_SCHEMA")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[2] / SCHEMA_RELPATH, Path.cwd() / SCHEMA_RELPATH]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(
        "cannot find the config schema; looked at " + ", ".join(str(c) for c in candidates)
        + " (set DIFFREPRO_SCHEMA to its path)"
    )


def load_schema() -> dict[str, Any]:
    with open(schema_path(), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def dotted(path) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"


def validate_config(config: dict[str, Any], source: str = "params") -> dict[str, Any]:
    """Validate ``config`` against the schema; raise ConfigError naming key path and file."""
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(config).__name__}")
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        lines = []
        for err in errors[:10]:
            where = dotted(err.absolute_path)
            if err.validator == "additionalProperties":
                lines.append(f"  {where}: {err.message} (unknown key; allowed keys are listed in {SCHEMA_RELPATH})")
            else:
                lines.append(f"  {where}: {err.message}")
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise ConfigError(f"{source} is invalid:\n" + "\n".join(lines) + more)
    _check_semantics(config, source)
    return config


def _check_semantics(config: dict[str, Any], source: str) -> None:
    """Cross-field rules the schema cannot express."""
    resolution = config["data"]["resolution"]
    for name, model in config["models"].items():
        levels = len(model["unet"]["channel_mult"])
        if resolution is not None and resolution % (2 ** (levels - 1)):
            raise ConfigError(
                f"{source}: models.{name}.unet.channel_mult has {levels} levels, so data.resolution "
                f"must be divisible by {2 ** (levels - 1)}, got {resolution}"
            )


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a parameter file."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            config = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"parameter file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"parameter file {path} is not valid YAML: {exc}") from None
    return validate_config(config, source=str(path))


def model_config(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The section of one model, with a clear error for an unknown name."""
    try:
        return copy.deepcopy(config["models"][name])
    except KeyError:
        known = ", ".join(sorted(config["models"]))
        raise ConfigError(f"unknown model '{name}': params define models {known}") from None
