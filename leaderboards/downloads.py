"""A snapshot's boards as files: CSV (standard library) and Parquet (pandas + pyarrow).

The columns are the scalar fields of a board line (`LINE_FIELDS`, declared once by EntryRow: what
the board JSON gives per entry), after the board's key and title. pandas and pyarrow are imported
when a Parquet file is built, never when the web process starts. Nothing here reads the database:
the rows come from the selectors.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from leaderboards.selectors import LINE_FIELDS, DownloadBoard

FORMATS = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
BOARD_COLUMNS = ("board_key", "board_title")


def _entry_columns() -> list[tuple[str, Any]]:
    """(name, type) of every scalar public field of a board row, in the row's field order."""
    return [(line.name, line.kind) for line in LINE_FIELDS]


def download_columns() -> list[str]:
    """The column names of every download, in order."""
    return [*BOARD_COLUMNS, *(name for name, _ in _entry_columns())]


def _records(boards: list[DownloadBoard]) -> list[list[Any]]:
    columns = _entry_columns()
    return [
        [board.key, board.title, *(getattr(entry, name) for name, _ in columns)]
        for board in boards
        for entry in board.entries
    ]


def boards_csv(boards: list[DownloadBoard]) -> bytes:
    """The boards' rows as CSV with a header line; an empty cell is a null (no rank, no Elo)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(download_columns())
    for record in _records(boards):
        # repr keeps every float's digits, so the file reads back to the JSON's numbers exactly.
        writer.writerow(
            [
                "" if value is None else repr(value) if isinstance(value, float) else value
                for value in record
            ]
        )
    return out.getvalue().encode()


def boards_parquet(boards: list[DownloadBoard]) -> bytes:
    """The boards' rows as a Parquet file with nullable integer, float, text and bool columns."""
    import pandas as pd

    dtypes = {int: "Int64", float: "Float64", str: "string", bool: "boolean"}
    frame = pd.DataFrame(_records(boards), columns=download_columns(), dtype=object)
    frame = frame.astype(
        {
            "board_key": "string",
            "board_title": "string",
            **{name: dtypes[kind] for name, kind in _entry_columns()},
        }
    )
    out = io.BytesIO()
    frame.to_parquet(out, engine="pyarrow", index=False)
    return out.getvalue()


def boards_file(boards: list[DownloadBoard], fmt: str) -> bytes:
    """The boards in one of FORMATS."""
    if fmt == "csv":
        return boards_csv(boards)
    if fmt == "parquet":
        return boards_parquet(boards)
    raise ValueError(f"unknown download format {fmt!r}")
