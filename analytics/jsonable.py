"""Values of analytics results as JSON: what answers, digests and exports carry as data."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd


def json_value(value: Any) -> Any:
    """``value`` as JSON: NaN/NaT -> None, midnight timestamps and dates -> ISO dates, other
    timestamps -> ISO datetimes, numpy scalars -> int/float/bool, tuples -> lists."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else number
    if isinstance(value, str):
        return value
    if isinstance(value, pd.Timestamp | dt.datetime):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is None and stamp == stamp.normalize():
            return stamp.date().isoformat()
        return stamp.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return json_value(pd.Timestamp(value)) if not np.isnat(value) else None
    if isinstance(value, list | tuple | np.ndarray):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if value is pd.NA:
        return None
    return str(value)
