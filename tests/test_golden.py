"""Golden diff statuses: match, drift (both directions, abs and rel bands), missing, new, not-comparable."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.golden import diff_golden, golden_frame


def _results(values: dict[str, float], device="cpu:Some CPU:threads=1", torch_v="2.15.0") -> pd.DataFrame:
    return pd.DataFrame([{"dataset": "d", "method": "m", "setting": "s", "metric": k, "value": v,
                          "config_hash": "abc", "metric_weights": "random-seed0", "device": device,
                          "packages": f"torch=={torch_v};numpy==2"} for k, v in values.items()])


def test_statuses(tmp_path: Path):
    path = tmp_path / "golden.csv"
    golden_frame(_results({"psnr_rgb": 20.0, "rfid": 10.0, "ssim": 0.5})).to_csv(path, index=False)
    diff = diff_golden(_results({"psnr_rgb": 20.29, "rfid": 11.5, "usage": 0.3}), path).set_index("metric")
    assert diff.loc["psnr_rgb", "status"] == "match"      # |0.29| <= abs 0.3
    assert diff.loc["rfid", "status"] == "drift"          # 15% > rel 10%
    assert diff.loc["ssim", "status"] == "missing"
    assert diff.loc["usage", "status"] == "new"
    below = diff_golden(_results({"psnr_rgb": 19.6, "rfid": 9.1, "ssim": 0.5}), path).set_index("metric")
    assert below.loc["psnr_rgb", "status"] == "drift" and below.loc["rfid", "status"] == "match"


def test_other_platform_is_not_comparable(tmp_path: Path):
    path = tmp_path / "golden.csv"
    golden_frame(_results({"psnr_rgb": 20.0})).to_csv(path, index=False)
    for kwargs in ({"device": "cuda:NVIDIA H100"}, {"torch_v": "2.11.0"}):
        diff = diff_golden(_results({"psnr_rgb": 25.0}, **kwargs), path)
        assert list(diff["status"]) == ["not-comparable"]
