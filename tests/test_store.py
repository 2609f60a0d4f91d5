"""Results store: results.csv keeps other configs' rows, replaces a re-run config's rows, never drops old ones."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report.store import KEY_COLUMNS, consolidate

SUITE = {"name": "s", "table": "t", "description": ""}


def _rec(value: float, config: str, metric: str = "psnr_rgb") -> dict:
    return {"dataset": "d", "method": "m", "setting": "8x8x1", "metric": metric, "value": value,
            "config_hash": config, "metric_weights": "random-seed0", "scale": "smoke"}


def test_merge_semantics(tmp_path: Path):
    consolidate(SUITE, [_rec(1.0, "aaa"), _rec(0.5, "aaa", "ssim")], tmp_path)
    current = consolidate(SUITE, [_rec(2.0, "bbb")], tmp_path)  # another config: added, not replacing
    assert list(current["value"]) == [2.0]
    df = pd.read_csv(tmp_path / "results.csv", dtype={"config_hash": str})
    assert list(df.columns[:7]) == KEY_COLUMNS
    assert sorted(zip(df["config_hash"], df["metric"], df["value"], strict=True)) == [
        ("aaa", "psnr_rgb", 1.0), ("aaa", "ssim", 0.5), ("bbb", "psnr_rgb", 2.0)]
    consolidate(SUITE, [_rec(3.0, "aaa")], tmp_path)  # same config re-run: its psnr row is replaced
    df = pd.read_csv(tmp_path / "results.csv", dtype={"config_hash": str})
    assert sorted(zip(df["config_hash"], df["metric"], df["value"], strict=True)) == [
        ("aaa", "psnr_rgb", 3.0), ("aaa", "ssim", 0.5), ("bbb", "psnr_rgb", 2.0)]
    consolidate(SUITE, [], tmp_path)  # a run that produced nothing loses nothing
    assert len(pd.read_csv(tmp_path / "results.csv")) == 3
    md = (tmp_path / "results.md").read_text()
    assert "| aaa |" in md and "| bbb |" in md and "never comparable" in md
