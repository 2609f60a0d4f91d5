"""Results store: rebuild results/<suite>/results.csv (long format) and results.md from the stages' records.jsonl.

Records are the one source of truth: the tables are views, rebuilt from records.jsonl every time and never read back,
so a damaged results.csv cannot carry a bad row into the next one. `sources.json` beside them lists the stages
(work dir, key, row labels) whose records the folder shows: rows of other configs and earlier runs stay, read again
from their own records.jsonl (verified through done.json) on every rebuild; a run that produced nothing loses nothing.
"""
from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any

import pandas as pd

from bench.core.atomic import atomic_path, write_json_atomic, write_text_atomic
from bench.core.integrity import move_aside, warn
from bench.report.numbers import fmt_number
from bench.stages.base import Stage, done_summary, stage_dir

KEY_COLUMNS = ["suite", "table", "dataset", "method", "setting", "metric", "value"]
SOURCES = "sources.json"


class StageRecords(list):
    """Records of a run's stages, with `sources`: the (work_dir, key, labels) of each finished stage they came from."""

    sources: list[dict[str, Any]]


def read_stage_records(work_dir: str | Path, key: str, labels: dict[str, str]) -> list[dict] | None:
    """The rows of a finished stage's records.jsonl under this suite's labels; None when the stage is not done
    (or damaged: moved aside) or wrote no records."""
    path = stage_dir(work_dir, key) / "records.jsonl"
    if done_summary(work_dir, key) is None or not path.is_file():
        return None
    rows = []
    # this suite's row labels win: the same stage may have been run for another suite's row first
    for line in path.read_text().splitlines():
        if line.strip():
            rec = {**json.loads(line), **labels}
            rec["setting"] = str(rec.get("setting", "")) + rec.get("setting_suffix", "")
            rows.append(rec)
    return rows


def load_records(stages: list[Stage], work_dir: str | Path) -> StageRecords:
    """Every record written by the finished (verified) evaluation stages among `stages`."""
    records, sources = StageRecords(), []
    for st in stages:
        rows = read_stage_records(work_dir, st.key, st.labels)
        if rows is not None:
            records.extend(rows)
            sources.append({"work_dir": str(Path(work_dir).resolve()), "key": st.key, "labels": dict(st.labels)})
    records.sources = sources
    return records


ROW_KEY = ["dataset", "method", "setting", "metric", "config_hash"]


def records_frame(suite: dict, records: list[dict]) -> pd.DataFrame:
    """This run's records as a long-format frame: key columns first, then provenance/protocol, sorted."""
    df = pd.DataFrame([{**r, "suite": suite["name"], "table": suite["table"]} for r in records])
    if df.empty:
        return pd.DataFrame(columns=KEY_COLUMNS + ["config_hash"])
    df = df[KEY_COLUMNS + sorted(c for c in df.columns if c not in KEY_COLUMNS)]
    return df.sort_values(["dataset", "method", "setting", "metric"], kind="stable").reset_index(drop=True)


def _read_sources(path: Path) -> list[dict[str, Any]]:
    """sources.json's entries; a damaged file is moved aside with one line (its stages' records are still on disk)."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
        entries = data["sources"]
        if not all(isinstance(e, dict) and isinstance(e.get("work_dir"), str) and isinstance(e.get("key"), str)
                   and isinstance(e.get("labels"), dict) for e in entries):
            raise ValueError("malformed entry")
        return entries
    except (OSError, ValueError, KeyError, TypeError) as err:
        aside = move_aside(path)
        warn(f"{path} is unreadable ({type(err).__name__}: {err}); moved to {aside.name}; results.csv now shows this "
             "run's records only")
        return []


def _ident(source: dict[str, Any]) -> str:
    return json.dumps([source["work_dir"], source["key"], source["labels"]], sort_keys=True)


def _typed(df: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
    """Columns whose every value is an integer become Int64, so 64 is written as 64 (not 64.0) even beside blanks."""
    df = df.copy()
    for c in df.columns:
        vals = [r[c] for r in rows if r.get(c) is not None]
        if vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            df[c] = df[c].astype("Int64")
    return df


def consolidate(suite: dict, records: list[dict], out_dir: Path) -> pd.DataFrame:
    """Rebuild results.csv and results.md from records.jsonl files; returns this run's frame.

    The tables show this run's records plus those of every stage listed in sources.json (other configs, earlier
    runs), re-read from their own records.jsonl; a config's rows from this run replace the same rows from elsewhere.
    results.csv itself is never read. An exclusive lock makes concurrent writers (sweep jobs) go one after the other.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    current = records_frame(suite, records)
    path, src_path = out_dir / "results.csv", out_dir / SOURCES
    with open(out_dir / ".results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file() and not src_path.is_file():  # a table from before the records rebuild: kept, not read
            warn(f"{path} predates {SOURCES} (rebuilt from records now); the old table is kept as "
                 f"{move_aside(path).name}")
        ours = {_ident(s) for s in getattr(records, "sources", [])}
        sources = [s for s in _read_sources(src_path) if _ident(s) not in ours] + list(getattr(records, "sources", []))
        rows: list[dict] = []
        for s in sources:
            if _ident(s) not in ours:
                rows.extend(read_stage_records(s["work_dir"], s["key"], s["labels"]) or [])
        rows += list(records)  # last: this run's rows win over the same rows from other work dirs
        merged = records_frame(suite, rows)
        if not merged.empty:
            merged = merged.drop_duplicates(ROW_KEY, keep="last") if set(ROW_KEY) <= set(merged.columns) else merged
        typed = _typed(merged, rows)
        with atomic_path(path) as tmp:
            typed.to_csv(tmp, index=False)
        write_text_atomic(out_dir / "results.md", markdown_table(merged, suite))
        write_json_atomic(src_path, {"sources": sources})
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

