"""Reading a parameter file strictly: YAML whose errors name the file and line, and whose duplicate keys are refused.

PyYAML (and Snakemake's loader) let the last of two equal keys win silently: a model section written twice under
one name loses the first, a key repeated in a training section changes a run without a word. :func:`read_params`
refuses any mapping that holds a key twice, naming the key's dotted path and both lines. YAML syntax errors name
the file, line and column. Snakemake's workflow (``workflow/rules/common.smk``) and every step read the file
through it, so ``snakemake -n`` refuses a malformed file before any job runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .schema import ConfigError

__all__ = ["read_params"]


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _duplicates(node: yaml.Node, path: tuple[str, ...], source: str) -> None:
    """Refuse a key given twice in one mapping of the composed document (merge keys ``<<`` aside: an explicit key
    may override a merged one), naming its dotted path and both lines."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else repr(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"{source}:{line}: {'.'.join((*path, key))} is given twice (first on line {seen[key]}); "
                    "YAML would silently keep the last"
                )
            seen[key] = line
            _duplicates(value_node, (*path, key), source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _duplicates(item, (*path, str(i)), source)


def read_params(path: str | os.PathLike[str]) -> Any:
    """The parameter file at ``path`` as plain data; :class:`ConfigError` naming the file (and the line) when it
    does not exist, is not valid YAML or holds a duplicate key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"parameter file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read parameter file {path}: {exc}") from None
    loader = yaml.SafeLoader(text)
    loader.name = str(path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _duplicates(node, (), str(path))
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        context = exc.context or ""
        if context and exc.context_mark is not None and exc.context_mark.line != getattr(mark, "line", None):
            context += f" (line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1})"
        problem = " ".join(p for p in (context, exc.problem) if p)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
