"""Results store: consolidate stage records into results/<suite>/results.csv (long format) and a markdown table."""
from __future__ import annotations

import fcntl
import json
from pathlib import Path

import pandas as pd

from bench.core.atomic import atomic_path
from bench.report.numbers import fmt_number
from bench.stages.base import Stage, stage_dir

KEY_COLUMNS = ["suite", "table", "dataset", "method", "setting", "metric", "value"]


def load_records(stages: list[Stage], work_dir: str | Path) -> list[dict]:
    """Every record written by the finished evaluation stages among `stages`."""
    records = []
    for st in stages:
        path = stage_dir(work_dir, st.key) / "records.jsonl"
        if (stage_dir(work_dir, st.key) / "done.json").is_file() and path.is_file():
            # this suite's row labels win: the same stage may have been run for another suite's row first
            for line in path.read_text().splitlines():
                if line.strip():
                    rec = {**json.loads(line), **st.labels}
                    rec["setting"] = str(rec.get("setting", "")) + rec.get("setting_suffix", "")
                    records.append(rec)
    return records


ROW_KEY = ["dataset", "method", "setting", "metric", "config_hash"]


def records_frame(suite: dict, records: list[dict]) -> pd.DataFrame:
    """This run's records as a long-format frame: key columns first, then provenance/protocol, sorted."""
    df = pd.DataFrame([{**r, "suite": suite["name"], "table": suite["table"]} for r in records])
    if df.empty:
        return pd.DataFrame(columns=KEY_COLUMNS + ["config_hash"])
    df = df[KEY_COLUMNS + sorted(c for c in df.columns if c not in KEY_COLUMNS)]
    return df.sort_values(["dataset", "method", "setting", "metric"], kind="stable").reset_index(drop=True)


def consolidate(suite: dict, records: list[dict], out_dir: Path) -> pd.DataFrame:
    """Merge this run's records into results.csv and rewrite results.md; returns this run's frame.

    Rows are keyed by (dataset, method, setting, metric, config_hash): a re-run of the same config replaces
    its rows, while rows of other configs, earlier runs or a run that failed are kept, so results are never
    lost. An exclusive lock makes concurrent writers (sweep jobs) merge one after the other.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    current = records_frame(suite, records)
    path = out_dir / "results.csv"
    with open(out_dir / ".results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = current
        if path.is_file() and path.stat().st_size > 0:
            old = pd.read_csv(path, dtype={"config_hash": str})
            if not old.empty:
                new_keys = set(map(tuple, current[ROW_KEY].astype(str).values))
                keep = old[[tuple(k) not in new_keys for k in old[ROW_KEY].astype(str).values]]
                merged = pd.concat([d for d in (keep, current) if not d.empty], ignore_index=True) \
                    if not keep.empty else current
        merged = merged.sort_values(["dataset", "method", "setting", "metric"], kind="stable")
        with atomic_path(path) as tmp:
            merged.to_csv(tmp, index=False)
        (out_dir / "results.md").write_text(markdown_table(merged, suite))
    return current


def markdown_table(df: pd.DataFrame, suite: dict) -> str:
    """One row per (dataset, method, setting), one column per metric, with the weights/scale caveat."""
    if df.empty:
        return f"# {suite['name']}\n\n(no finished results yet)\n"
    df = df.assign(config=df["config_hash"].astype(str).str[:8])
    index = ["dataset", "method", "setting", "config"]
    extra = [c for c in ("tokens_per_image", "codebook_size") if c in df.columns]  # the zoo table's facts
    wide = df.pivot_table(index=index, columns="metric", values="value", aggfunc="first")
    if extra:
        wide = df.groupby(index)[extra].first().join(wide)
    lines = [f"# Suite `{suite['name']}`", "", suite.get("description", "").strip(), ""]
    cols = list(wide.columns)
    lines.append("| dataset | method | setting | config | " + " | ".join(cols) + " |")
    lines.append("|---|---|---|---|" + "---:|" * len(cols))
    for idx, row in wide.iterrows():
        lines.append("| " + " | ".join(idx) + " | " + " | ".join(fmt_number(row[c]) for c in cols) + " |")
    weights = sorted(df["metric_weights"].dropna().unique()) if "metric_weights" in df else []
    scales = sorted(df["scale"].dropna().unique()) if "scale" in df else []
    lines += ["", f"Scale: {', '.join(scales)}. Metric network weights: {', '.join(weights)}."]
    if any(w.startswith("random") for w in weights) or "smoke" in scales:
        lines.append("These numbers come from smoke scale and/or random metric networks: they check the code, "
                     "and are never comparable with published numbers.")
    return "\n".join(lines) + "\n"

