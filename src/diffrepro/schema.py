"""The JSON schema of the parameter file (``workflow/schemas/config.schema.yaml``) and its ``default`` keywords,
the one place the defaults of optional keys live.

Snakemake's workflow and the ``diffrepro`` steps validate against the same file (:mod:`diffrepro.config`).
:func:`apply_defaults` spells a validated value out with the defaults its schema states: through
``properties`` (an absent key that states a ``default`` gets a copy of it, then every present key is filled in
turn), ``additionalProperties``, ``items``, ``$ref``, ``allOf``, the branch of ``if``/``then``/``else`` the value
takes (the options of a named choice given as a mapping) and the first branch of ``anyOf``/``oneOf`` it
satisfies. A named choice given as a plain string is left as written; :func:`choice_spec` spells it out.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .errors import DiffreproError

__all__ = [
    "SCHEMA_RELPATH",
    "ConfigError",
    "apply_defaults",
    "choice_spec",
    "load_schema",
    "property_defaults",
    "schema_node",
    "schema_path",
    "without_defaults",
]

SCHEMA_RELPATH = Path("workflow") / "schemas" / "config.schema.yaml"


class ConfigError(DiffreproError, ValueError):
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
        "cannot find the config schema; looked at "
        + ", ".join(str(c) for c in candidates)
        + " (set DIFFREPRO_SCHEMA to its path)"
    )


@lru_cache(maxsize=4)
def _read(path: str, mtime_ns: int) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _schema() -> dict[str, Any]:
    """The schema as read (cached per file and modification time; never mutate it)."""
    path = schema_path()
    return _read(str(path), path.stat().st_mtime_ns)


def load_schema() -> dict[str, Any]:
    """The schema (a copy the caller may change)."""
    return copy.deepcopy(_schema())


def _pointer(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ConfigError(f"the config schema refers to {ref!r}; only local references (#/...) are supported")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` followed (a reference with sibling keywords keeps them, the target's added)."""
    while "$ref" in node:
        target = _pointer(root, node["$ref"])
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def schema_node(dotted: str = "") -> dict[str, Any]:
    """The schema of the key at ``dotted`` (``"speed"``, ``"$defs.ddgm.unet"``; ``""``: the whole file), its
    ``$ref`` followed; a name that is no property of a mapping's schema takes its ``additionalProperties``
    (``"models.ddgm_simple.train"``). Read only: never mutate it."""
    root = _schema()
    node = root
    parts = [p for p in dotted.split(".") if p]
    if parts and parts[0] == "$defs":
        node, parts = root["$defs"][parts[1]], parts[2:]
    for part in parts:
        node = _resolve(node, root)
        props = node.get("properties", {})
        if part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            raise ConfigError(f"the config schema has no key {dotted!r} (no {part!r})")
    return _resolve(node, root)


def property_defaults(dotted: str) -> dict[str, Any]:
    """``{key: default}`` of the properties of the mapping at ``dotted`` that state a ``default``, in schema order."""
    root = _schema()
    props = schema_node(dotted).get("properties", {})
    return {
        key: copy.deepcopy(_resolve(spec, root)["default"])
        for key, spec in props.items()
        if "default" in _resolve(spec, root)
    }


#: validators of the subschemas ``if`` and ``anyOf``/``oneOf`` branches test values against, by the ids of the
#: (cached, never changed) schema and subschema
_VALIDATORS: dict[tuple[int, int], Any] = {}


def without_defaults(values: Mapping[str, Any], dotted: str) -> dict[str, Any]:
    """The mapping ``values`` of the key at ``dotted`` less the keys whose value is the default their schema
    states (a section as written by one who leaves every default out)."""
    defaults = property_defaults(dotted)
    return {
        k: v for k, v in values.items() if not (k in defaults and type(v) is type(defaults[k]) and v == defaults[k])
    }


def _is_valid(instance: Any, node: dict[str, Any], root: dict[str, Any]) -> bool:
    key = (id(root), id(node))
    if key not in _VALIDATORS:
        import jsonschema

        _VALIDATORS[key] = (jsonschema.Draft202012Validator({**node, "$defs": root.get("$defs", {})}), root, node)
    return _VALIDATORS[key][0].is_valid(instance)


def _apply(instance: Any, node: dict[str, Any], root: dict[str, Any]) -> Any:
    node = _resolve(node, root)
    if isinstance(instance, dict):
        props = node.get("properties", {})
        for key, spec in props.items():
            spec = _resolve(spec, root)
            if key not in instance and "default" in spec:
                instance[key] = copy.deepcopy(spec["default"])
            if key in instance:
                instance[key] = _apply(instance[key], spec, root)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            for key in instance:
                if key not in props:
                    instance[key] = _apply(instance[key], extra, root)
    elif isinstance(instance, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(instance):
            instance[i] = _apply(item, node["items"], root)
    if "if" in node:
        branch = node.get("then" if _is_valid(instance, node["if"], root) else "else")
        if branch is not None:
            instance = _apply(instance, branch, root)
    for sub in node.get("allOf", []):
        instance = _apply(instance, sub, root)
    for key in ("anyOf", "oneOf"):
        for sub in node.get(key, []):
            if _is_valid(instance, sub, root):
                instance = _apply(instance, sub, root)
                break
    return instance


def apply_defaults(instance: Any, dotted: str = "") -> Any:
    """``instance`` (a value of the key at ``dotted``, see :func:`schema_node`; changed in place where it is a
    mapping or list, and returned) with every default its schema states filled in (module docstring). Meant for
    a value that satisfies the schema: it does not check it."""
    root = _schema()
    node = root if not dotted else schema_node(dotted)
    return _apply(instance, node, root)


def choice_spec(value: str | dict[str, Any], dotted: str) -> dict[str, Any]:
    """A named choice (the key at ``dotted``: ``"$defs.ddgm.objective"``) spelled out: ``"name"`` or
    ``{"name": ..., **options}`` -> ``{"name": ..., **options}`` with the defaults of the name's options (the
    ``if name is ... then`` clauses of its options schema); ``name`` first, then the options in name order."""
    spec = apply_defaults({"name": value} if isinstance(value, str) else copy.deepcopy(dict(value)), dotted)
    return {"name": spec["name"], **{k: v for k, v in sorted(spec.items()) if k != "name"}}
