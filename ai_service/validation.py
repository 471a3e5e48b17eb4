"""Small helpers for error messages about malformed input, shared by every parser (alerts, runbooks, policy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import yaml


def type_name(value: object, *, style: Literal["yaml", "json"] = "yaml") -> str:
    """Name a decoded value's type for a message: YAML words ("mapping", "number") or JSON words ("object",
    "integer", "null")."""
    if value is None:
        return "null" if style == "json" else "nothing"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if style == "json" else "number"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object" if style == "json" else "mapping"
    return type(value).__name__


def yaml_tree(text: str) -> yaml.Node | None:
    """The YAML node tree (JSON is read as YAML too), only to find line numbers; None when it cannot be built."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def yaml_line(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the value at ``loc`` (a pydantic error location); for a missing key, the line of the
    closest existing parent.

    A mapping or list written on the lines below its key (``when:`` then the conditions) is reported at the
    line of its key, where the reader looks for it.
    """
    if node is None:
        return None
    current, key = node, None
    for part in loc:
        found = _yaml_child(current, part)
        if found is None:
            break
        key, current = found
    if key is not None and isinstance(current, yaml.CollectionNode) and current.start_mark.line > key.start_mark.line:
        return key.start_mark.line + 1
    return current.start_mark.line + 1


def _yaml_child(node: yaml.Node, part: int | str) -> tuple[yaml.Node | None, yaml.Node] | None:
    """(key node or None, value node) of ``part`` in ``node``."""
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                # An empty value (`when:`) has no position of its own: use the key's.
                return key, value if not isinstance(value, yaml.ScalarNode) or value.value != "" else key
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        child: yaml.Node = node.value[part]
        return None, child
    return None
