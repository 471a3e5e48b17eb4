"""Small helpers for error messages about malformed input, shared by every parser (alerts, runbooks, policy)."""

from __future__ import annotations

from typing import Literal


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
