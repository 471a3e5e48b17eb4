"""Small helpers every store uses to read one value, so that no caller indexes a row by position.

What this module must never do: hold a domain's SQL (that lives in the domain's ``store.py``).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.abc import Params

Query = str | sql.SQL | sql.Composed

_MISSING: Any = object()


def scalar(conn: psycopg.Connection, query: Query, params: Params | None = None, *, default: Any = _MISSING) -> Any:
    """The single column of the single row ``query`` returns.

    When it returns no row, ``default`` is returned if given; otherwise it is an error (``LookupError``), since a
    statement such as ``SELECT count(*)`` or ``INSERT ... RETURNING id`` always returns one.
    """
    with conn.cursor() as cur:
        cur.execute(query, params)
        if cur.description is None or len(cur.description) != 1:
            raise ValueError(f"scalar() needs a statement returning one column: {_text(query)}")
        row = cur.fetchone()
    if row is None:
        if default is _MISSING:
            raise LookupError(f"the statement returned no row: {_text(query)}")
        return default
    (value,) = row
    return value


def _text(query: Query) -> str:
    text = query.as_string() if isinstance(query, sql.Composable) else str(query)
    return text if len(text) <= 120 else text[:117] + "..."
