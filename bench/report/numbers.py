"""The one number formatter of every report table (results.md, compare.md/.tex, golden_diff.md)."""
from __future__ import annotations

from typing import Any

import pandas as pd


def fmt_number(v: Any, digits: int = 4, missing: str = "") -> str:
    """`digits` significant digits; from 10**(digits-1) up a whole number (no exponent); `missing` for NaN/None."""
    if v is None or pd.isna(v):
        return missing
    v = float(v)
    return f"{v:.0f}" if abs(v) >= 10 ** (digits - 1) else f"{v:.{digits}g}"
