"""Tables written for other tools (``salesbot score --out``), safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel, LibreOffice and Google Sheets as a formula: an account called
``=HYPERLINK("http://…")`` would run when a manager opens the export. As OWASP advises
(CSV Injection), such text cells get a leading single quote, which spreadsheets show as
text. Numbers are left as numbers (a negative amount is not text and stays ``-12.5``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are :func:`spreadsheet_safe`."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(spreadsheet_safe)
    return safe


def write_csvs(folder: Path, tables: Mapping[str, pd.DataFrame]) -> None:
    """Write each table as ``folder/<name>`` (CSV, no index), every text cell spreadsheet-safe."""
    for name, frame in tables.items():
        spreadsheet_safe_frame(frame).to_csv(folder / name, index=False)
