"""Results store: consolidate stage records into results/<suite>/results.csv (long format) and a markdown table."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.stages import Stage, stage_dir

KEY_COLUMNS = ["suite", "table", "dataset", "method", "setting", "metric", "value"]


def load_records(stages: list[Stage], work_dir: str | Path) -> list[dict]:
    """Every record written by the finished evaluation stages among `stages`."""
    records = []
    for st in stages:
        path = stage_dir(work_dir, st.key) / "records.jsonl"
        if (stage_dir(work_dir, st.key) / "done.json").is_file() and path.is_file():
            records += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return records


ROW_KEY = ["dataset", "method", "setting", "metric"]


def consolidate(suite: dict, records: list[dict], out_dir: Path) -> pd.DataFrame:
    """Write results.csv (long format: key columns first, then provenance/protocol) and results.md.

    Rows of an earlier results.csv that this run did not produce are kept, so a run that fails, or that
    covers another subset, never erases earlier results; rows this run produced replace their old versions.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame([{**r, "suite": suite["name"], "table": suite["table"]} for r in records])
    if df.empty:
        df = pd.DataFrame(columns=KEY_COLUMNS)
    old_path = out_dir / "results.csv"
    if old_path.is_file() and old_path.stat().st_size > 0:
        old = pd.read_csv(old_path, dtype={"config_hash": str, "seed": str})
        if not old.empty:
            new_keys = set(map(tuple, df[ROW_KEY].astype(str).values)) if not df.empty else set()
            keep = old[[tuple(k) not in new_keys for k in old[ROW_KEY].astype(str).values]]
            df = pd.concat([d for d in (keep, df) if not d.empty], ignore_index=True) if not keep.empty else df
    df = df[KEY_COLUMNS + sorted(c for c in df.columns if c not in KEY_COLUMNS)]
    df = df.sort_values(["dataset", "method", "setting", "metric"], kind="stable").reset_index(drop=True)
    tmp = out_dir / ".results.csv.tmp"
    df.to_csv(tmp, index=False)
    tmp.replace(out_dir / "results.csv")
    (out_dir / "results.md").write_text(markdown_table(df, suite))
    return df


def markdown_table(df: pd.DataFrame, suite: dict) -> str:
    """One row per (dataset, method, setting), one column per metric, with the weights/scale caveat."""
    if df.empty:
        return f"# {suite['name']}\n\n(no finished results yet)\n"
    wide = df.pivot_table(index=["dataset", "method", "setting"], columns="metric", values="value", aggfunc="first")
    lines = [f"# Suite `{suite['name']}`", "", suite.get("description", "").strip(), ""]
    cols = list(wide.columns)
    lines.append("| dataset | method | setting | " + " | ".join(cols) + " |")
    lines.append("|---|---|---|" + "---:|" * len(cols))
    for idx, row in wide.iterrows():
        lines.append("| " + " | ".join(idx) + " | " + " | ".join(_fmt(row[c]) for c in cols) + " |")
    weights = sorted(df["metric_weights"].dropna().unique()) if "metric_weights" in df else []
    scales = sorted(df["scale"].dropna().unique()) if "scale" in df else []
    lines += ["", f"Scale: {', '.join(scales)}. Metric network weights: {', '.join(weights)}."]
    if any(w != "pretrained" for w in weights) or "smoke" in scales:
        lines.append("These numbers come from smoke scale and/or random metric networks: they check the code, "
                     "and are never comparable with published numbers.")
    return "\n".join(lines) + "\n"


def _fmt(v: float) -> str:
    return "" if pd.isna(v) else f"{v:.4g}"
