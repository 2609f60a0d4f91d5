"""Results store: results.csv and results.md are rebuilt from the stages' records.jsonl every time (issue #24.2).

Other configs' rows stay (read again from their own records), a re-run config's rows are replaced, a run that
produced nothing loses nothing, and nothing in an old results.csv (a garbage row, a float-typed integer) survives.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd

from bench.report.store import KEY_COLUMNS, consolidate, load_records
from bench.stages.base import Stage, stage_dir, write_done, write_records_file
from fake_stages import fake_stage

SUITE = {"name": "s", "table": "t", "description": ""}
LABELS = {"dataset": "d", "method": "m", "setting": "8x8x1"}


def _stage(work: Path, config: str, values: dict[str, float], extra: dict | None = None) -> Stage:
    """A finished evaluation stage: records.jsonl (one row per metric), then its verified done.json."""
    st = fake_stage("eval_reconstruction", f"eval {config}", config, labels=LABELS)
    out = stage_dir(work, st.key)
    out.mkdir(parents=True, exist_ok=True)
    rows = [{**LABELS, "metric": m, "value": v, "config_hash": st.key.split("-", 1)[1],
             "metric_weights": "random-seed0", "scale": "smoke", **(extra or {})} for m, v in values.items()]
    write_records_file(out, rows)
    write_done(out, {"key": st.key})
    return st


def _table(results: Path) -> list[tuple[str, str, float]]:
    df = pd.read_csv(results / "results.csv", dtype={"config_hash": str})
    assert list(df.columns[:7]) == KEY_COLUMNS
    return sorted(zip(df["config_hash"].str[:3], df["metric"], df["value"], strict=True))


def test_rebuilt_from_records_keeps_other_configs_and_replaces_a_rerun(tmp_path: Path):
    work, res = tmp_path / "w", tmp_path / "r"
    a = _stage(work, "a", {"psnr_rgb": 1.0, "ssim": 0.5})
    consolidate(SUITE, load_records([a], work), res)
    b = _stage(work, "b", {"psnr_rgb": 2.0})
    current = consolidate(SUITE, load_records([b], work), res)  # another config: added, not replacing
    assert list(current["value"]) == [2.0]
    ha, hb = a.key.split("-", 1)[1][:3], b.key.split("-", 1)[1][:3]
    assert _table(res) == sorted([(ha, "psnr_rgb", 1.0), (ha, "ssim", 0.5), (hb, "psnr_rgb", 2.0)])
    _stage(work, "a", {"psnr_rgb": 3.0, "ssim": 0.5})  # the same config redone: its records are the new truth
    consolidate(SUITE, load_records([a], work), res)
    assert _table(res) == sorted([(ha, "psnr_rgb", 3.0), (ha, "ssim", 0.5), (hb, "psnr_rgb", 2.0)])
    consolidate(SUITE, load_records([], work), res)  # a run that produced nothing loses nothing
    assert len(pd.read_csv(res / "results.csv")) == 3
    md = (res / "results.md").read_text()
    assert f"| {a.key.split('-', 1)[1][:8]} |" in md and "never comparable" in md


def test_a_damaged_results_csv_is_never_read_back(tmp_path: Path):
    """Issue #24 section 1: a short row with NOT_A_NUMBER was kept and 64 became 64.0; an unterminated quote or
    extra fields crashed with a pandas ParserError. The table is now rebuilt from records only."""
    work, res = tmp_path / "w", tmp_path / "r"
    a = _stage(work, "a", {"psnr_rgb": 1.5, "usage": 0.25}, extra={"tokens_per_image": 64})
    b = _stage(work, "b", {"psnr_rgb": 2.5})  # no tokens_per_image: a blank beside a's integers
    consolidate(SUITE, load_records([a, b], work), res)
    with open(res / "results.csv", "a") as f:
        f.write("s,t,d,m,8x8x1,psnr_rgb,NOT_A_NUMBER\n")  # a short row
        f.write('s,t,d,m,"unterminated,psnr_y,1.0\n')  # an unterminated quote
        f.write("s,t,d,m,x,y,1,2,3,4,5,6,7,8,9,10,11,12,13,14\n")  # extra fields
    consolidate(SUITE, load_records([a, b], work), res)  # no ParserError
    text = (res / "results.csv").read_text()
    assert "NOT_A_NUMBER" not in text and "unterminated" not in text
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 3
    assert sorted(r["tokens_per_image"] for r in rows) == ["", "64", "64"]  # an integer stays 64, not 64.0
    assert {r["value"] for r in rows} == {"1.5", "0.25", "2.5"}


def test_a_stage_whose_records_are_damaged_drops_out_and_a_garbage_sources_file_is_set_aside(tmp_path: Path,
                                                                                             capsys):
    work, res = tmp_path / "w", tmp_path / "r"
    a, b = _stage(work, "a", {"psnr_rgb": 1.0}), _stage(work, "b", {"psnr_rgb": 2.0})
    consolidate(SUITE, load_records([a, b], work), res)
    rec = stage_dir(work, a.key) / "records.jsonl"
    rec.write_text(rec.read_text().replace("1.0", "9.0"))  # edited after the stage finished: not trusted
    consolidate(SUITE, load_records([b], work), res)
    assert [v for _, _, v in _table(res)] == [2.0]
    assert "moved to" in capsys.readouterr().err
    (res / "sources.json").write_text("{garbage")
    consolidate(SUITE, load_records([b], work), res)
    assert [v for _, _, v in _table(res)] == [2.0]
    assert list(res.glob("sources.json.corrupt-*"))
    assert json.loads((res / "sources.json").read_text())["sources"][0]["key"] == b.key
