"""The results table's row type: one flat record per run (results.csv) or per cell (results_summary.csv).

Columns are open-ended (one per benchmark task and category the suite scored), so a row is a mapping of
column name to a CSV/JSON scalar rather than a fixed model.
"""

from __future__ import annotations

Value = str | int | float | bool | None
Row = dict[str, Value]


def number(row: Row, column: str) -> float | None:
    """A numeric column's value, None when missing or not a number."""
    v = row.get(column)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
