"""The registry of the studies' findings (``workflow/claims.yaml``): read, checked against its schema
(``workflow/schemas/claims.schema.yaml``), ids unique. Errors name the file and the entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ..config import ConfigError, dotted, schema_path

__all__ = ["load_registry"]


def load_registry(path: str | Path) -> list[dict[str, Any]]:
    """The findings of the registry file ``path``, in file order."""
    path = Path(path)
    try:
        registry = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the claims registry {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"claims registry {path} is not valid YAML: {exc}") from None
    schema_file = schema_path().with_name("claims.schema.yaml")
    schema = yaml.safe_load(schema_file.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(registry), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = dotted(err.absolute_path)
        raise ConfigError(f"claims registry {path} is invalid at {where}: {err.message}")
    seen: set[str] = set()
    for i, claim in enumerate(registry["claims"]):
        if claim["id"] in seen:
            raise ConfigError(f"claims registry {path}: claims.{i}.id: {claim['id']!r} is used twice")
        seen.add(claim["id"])
    return registry["claims"]
