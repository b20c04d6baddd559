"""Render query results as an aligned text table, CSV or JSON."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Sequence
from typing import Any

CELL_WIDTH = 60  # wider cells are cut in the table view; CSV and JSON keep everything


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def _cell(value: Any, width: int) -> str:
    # Newlines would break the rows apart; show them as the two characters \n.
    text = _text(value).replace("\r", "").replace("\n", "\\n").replace("\t", " ")
    return text if len(text) <= width else text[: width - 3] + "..."


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]],
                 *, width: int = CELL_WIDTH) -> str:
    """Return rows as a plain-text table with a header line, cells cut at width characters."""
    cells = [[_cell(v, width) for v in row] for row in rows]
    head = [_cell(c, width) for c in columns]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(head)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [line(head), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)


def format_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Return rows as CSV (RFC 4180, header first); blobs become base64."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(columns)
    for row in rows:
        w.writerow(["" if v is None else base64.b64encode(v).decode() if isinstance(v, bytes)
                    else v for v in row])
    return buf.getvalue()


def _json_value(v: Any) -> Any:
    if isinstance(v, bytes):
        # The same shape datasette uses for binary values.
        return {"$base64": True, "encoded": base64.b64encode(v).decode()}
    return v


def _unique(columns: Sequence[str]) -> list[str]:
    # `SELECT a.id, b.id` names two columns "id"; a JSON object would keep one.
    seen: dict[str, int] = {}
    out = []
    for c in columns:
        seen[c] = seen.get(c, 0) + 1
        out.append(c if seen[c] == 1 else f"{c}_{seen[c]}")
    return out


def format_json(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Return rows as a JSON array of objects keyed by column name (repeats get _2, _3...)."""
    names = _unique(columns)
    return json.dumps([{c: _json_value(v) for c, v in zip(names, row, strict=True)}
                       for row in rows], ensure_ascii=False, indent=1)
