"""Golden check statuses (match, drift both ways, missing, not-comparable with its reason), one-sided bounds, the
verdict (passed needs a compared row; nothing compared is NOT CHECKED, never passed), the summary's exit code,
update_golden keeping bands and bounds, and the shipped golden file's own consistency."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.core.resources import resolve
from bench.report.golden import (
    BOUNDS,
    CHECKS,
    CLOSENESS,
    GOLDEN_COLUMNS,
    JOIN,
    MUST_AGREE,
    diff_golden,
    read_golden,
    summarize,
    update_values,
    verdict,
)
from bench.suite import golden_check


def _golden(rows: list[tuple[str, str, int, float, str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"check": c, "dataset": "d", "method": "m", "setting": "s", "metric": metric, "step": step,
                          "value": v, "tol_kind": kind, "tolerance": tol, "band_source": "test",
                          "config_hash": "abc", "metric_weights": "random-seed0", "device_type": "cpu",
                          "torch_version": "2.15.0"} for c, metric, step, v, kind, tol in rows])


def _observed(values: dict[tuple[str, str, int], float], device_type="cpu", torch_v="2.15.0") -> pd.DataFrame:
    return pd.DataFrame([{"check": c, "dataset": "d", "method": "m", "setting": "s", "metric": metric, "step": step,
                          "value": v, "config_hash": "abc", "metric_weights": "random-seed0",
                          "device_type": device_type, "torch_version": torch_v}
                         for (c, metric, step), v in values.items()])


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    path = tmp_path / "golden.csv"
    _golden([("fixed_weights", "psnr_rgb", -1, 20.0, "rel", 1e-4), ("trajectory", "l1", 0, 0.5, "rel", 1e-4),
             ("end_of_run", "rfid", -1, 10.0, "abs", 1.0)]).to_csv(path, index=False)
    return path


def test_statuses_and_reasons(golden: Path):
    diff = diff_golden(_observed({("fixed_weights", "psnr_rgb", -1): 20.001, ("trajectory", "l1", 0): 0.50001,
                                  ("trajectory", "l1", 9): 0.7}), golden).set_index("metric")
    assert diff.loc["psnr_rgb", "status"] == "match"  # 5e-5 relative, inside 1e-4
    assert diff.loc["l1", "status"] == "match"
    assert diff.loc["rfid", "status"] == "missing"
    assert "l1" in diff.index and len(diff) == 3  # a step the golden file does not hold is not listed
    below = diff_golden(_observed({("fixed_weights", "psnr_rgb", -1): 19.99, ("trajectory", "l1", 0): 0.5,
                                   ("end_of_run", "rfid", -1): 8.9}), golden).set_index("metric")
    assert below.loc["psnr_rgb", "status"] == "drift" and "band" in below.loc["psnr_rgb", "why"]
    assert below.loc["rfid", "status"] == "drift"  # |1.1| > abs 1.0


def test_other_platform_is_reported_not_checked(golden: Path):
    values = {("fixed_weights", "psnr_rgb", -1): 99.0, ("trajectory", "l1", 0): 9.0, ("end_of_run", "rfid", -1): 0.0}
    for kwargs, word in (({"device_type": "cuda"}, "device_type"), ({"torch_v": "2.11.0"}, "torch_version")):
        diff = diff_golden(_observed(values, **kwargs), golden)
        assert set(diff["status"]) == {"not-comparable"}
        assert all(word in w for w in diff["why"])
        code, lines = summarize(diff)
        assert code == 0 and verdict(diff) == "NOT CHECKED"
        assert any(line.strip().startswith("NOT CHECKED: none of the 3 golden rows") for line in lines)


def test_a_step_missing_under_another_config_is_not_comparable(tmp_path: Path):
    """A shorter run (another config) lacks later golden trajectory steps: those could never be compared, so they
    are not-comparable, not missing; under the golden config the same gap is missing and fails the check."""
    path = tmp_path / "golden.csv"
    rows = [("trajectory", "l1", 0, 0.5, "rel", 1e-4), ("trajectory", "l1", 4, 0.4, "rel", 1e-4)]
    _golden(rows).to_csv(path, index=False)
    short = _observed({("trajectory", "l1", 0): 0.6}).assign(config_hash="other")
    diff = diff_golden(short, path).set_index("step")
    assert list(diff["status"]) == ["not-comparable", "not-comparable"]
    assert "golden abc vs this run other; this run did not produce it" in diff.loc[4, "why"]
    assert summarize(diff_golden(short, path))[0] == 0
    same = diff_golden(_observed({("trajectory", "l1", 0): 0.5}), path).set_index("step")
    assert same.loc[0, "status"] == "match" and same.loc[4, "status"] == "missing"
    assert summarize(diff_golden(_observed({("trajectory", "l1", 0): 0.5}), path))[0] == 1


def test_nothing_compared_is_not_checked_never_passed(golden: Path, tmp_path: Path, capsys):
    """`train.steps=20` (another config hash for every row): exit 0, and the run says NOT CHECKED, not passed."""
    df = pd.DataFrame([{"dataset": "d", "method": "m", "setting": "s", "metric": "rfid", "value": 10.0,
                        "config_hash": "steps20", "metric_weights": "random-seed0", "device": "cpu",
                        "packages": "torch==2.15.0"}])
    only_end = tmp_path / "end.csv"
    _golden([("end_of_run", "rfid", -1, 10.0, "abs", 1.0)]).to_csv(only_end, index=False)
    assert golden_check("run", only_end, df, [], str(tmp_path), tmp_path, True) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(": NOT CHECKED") and "passed" not in out
    assert "none of the 1 golden rows could be compared, so nothing was checked" in out
    assert "config_hash: golden abc vs this run steps20" in out
    one = diff_golden(_observed({("trajectory", "l1", 0): 0.5}).assign(config_hash="abc"), golden)
    assert verdict(one).startswith("FAILED")  # the other two rows are missing under the golden config
    ok = diff_golden(_observed({("fixed_weights", "psnr_rgb", -1): 20.0, ("trajectory", "l1", 0): 0.5,
                                ("end_of_run", "rfid", -1): 10.5}), golden)
    assert verdict(ok) == "passed (3 of 3 golden rows compared)"


def test_one_sided_bounds(tmp_path: Path):
    """at_least / at_most: the value is the bound; any distance on the right side passes, the wrong side drifts."""
    path = tmp_path / "golden.csv"
    _golden([("end_of_run", "psnr_rgb", -1, 13.8, "at_least", 0.0),
             ("end_of_run", "rfid", -1, 2.8, "at_most", 0.0)]).to_csv(path, index=False)
    good = diff_golden(_observed({("end_of_run", "psnr_rgb", -1): 25.0, ("end_of_run", "rfid", -1): 0.01}), path)
    assert (good["status"] == "match").all()
    bad = diff_golden(_observed({("end_of_run", "psnr_rgb", -1): 11.5, ("end_of_run", "rfid", -1): 5.3}), path)
    bad = bad.set_index("metric")
    assert (bad["status"] == "drift").all()
    assert bad.loc["psnr_rgb", "why"].startswith("11.5 < bound 13.8")
    assert bad.loc["rfid", "why"].startswith("5.3 > bound 2.8")
    update_values(_observed({("end_of_run", "psnr_rgb", -1): 25.0, ("end_of_run", "rfid", -1): 0.01}), path,
                  tmp_path / "new.csv")
    assert list(read_golden(tmp_path / "new.csv")["value"]) == [13.8, 2.8]  # a bound is not this run's value


def test_summary_exit_code(golden: Path):
    ok = diff_golden(_observed({("fixed_weights", "psnr_rgb", -1): 20.0, ("trajectory", "l1", 0): 0.5,
                                ("end_of_run", "rfid", -1): 10.5}), golden)
    assert summarize(ok)[0] == 0
    bad = diff_golden(_observed({("fixed_weights", "psnr_rgb", -1): 20.0, ("trajectory", "l1", 0): 0.5}), golden)
    code, lines = summarize(bad)
    assert code == 1 and any("MISSING end_of_run" in line for line in lines)


def test_update_golden_keeps_bands(golden: Path, tmp_path: Path):
    obs = _observed({("fixed_weights", "psnr_rgb", -1): 21.0, ("trajectory", "l1", 0): 0.4,
                     ("end_of_run", "rfid", -1): 12.0})
    target = tmp_path / "new.csv"
    update_values(obs, golden, target)
    new = read_golden(target).set_index("metric")
    assert new.loc["psnr_rgb", "value"] == 21.0 and new.loc["rfid", "tolerance"] == 1.0
    assert new.loc["rfid", "band_source"].startswith("value from update_golden; ")
    with pytest.raises(SystemExit, match="lacks 1 golden rows"):
        update_values(obs.iloc[:2], golden, target)


def test_old_golden_format_is_refused(tmp_path: Path):
    path = tmp_path / "old.csv"
    pd.DataFrame([{"dataset": "d", "method": "m", "setting": "s", "metric": "ssim", "value": 0.5}]).to_csv(path)
    with pytest.raises(SystemExit, match="lacks columns"):
        read_golden(path)


def test_shipped_golden_file_is_complete():
    """Every check has rows, every band is positive and says where it came from, every row is unique."""
    g = read_golden(resolve("pkg://results/golden/smoke.csv"))
    assert list(g.columns) == GOLDEN_COLUMNS
    assert set(g["check"]) == set(CHECKS)
    assert set(g["tol_kind"]) <= set(CLOSENESS + BOUNDS) and g["band_source"].str.len().gt(10).all()
    assert (g.loc[g["tol_kind"].isin(CLOSENESS), "tolerance"] > 0).all()
    # the end of the run is held by properties (bounds from the untrained model and measured runs), the rest by
    # closeness: a chaotic 300-step run is not close to one golden run on another CPU
    assert set(g.loc[g["check"] == "end_of_run", "tol_kind"]) == set(BOUNDS)
    assert set(g.loc[g["check"] != "end_of_run", "tol_kind"]) <= set(CLOSENESS)
    end = g[g["check"] == "end_of_run"]
    assert {"psnr_rgb", "ssim", "lpips_vgg", "usage", "perplexity"} <= set(end["metric"])
    assert not g.duplicated(JOIN).any()
    assert g[MUST_AGREE].notna().all().all()
    # the tight checks are tight: fixed weights within 0.1%, the first trajectory steps within a few percent
    assert g.loc[g["check"] == "fixed_weights", "tolerance"].max() < 1e-3
    assert g.loc[g["check"] == "trajectory", "tolerance"].max() < 0.05
    assert g.loc[(g["check"] == "trajectory") & (g["step"] == 0), "tolerance"].max() < 1e-3
    traj = g[g["check"] == "trajectory"]
    assert {"g_loss", "d_weight", "d_loss", "qloss", "lpips", "l1"} <= set(traj["metric"])


def test_end_of_run_bounds_rule():
    """tools/golden_bands.py: the bound is the untrained value moved by half the smallest measured improvement;
    a metric some run did not improve is left out; usage gets half the smallest measured value as its floor."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    from golden_bands import bound_rows

    template = pd.DataFrame([{"check": "end_of_run", "dataset": "d", "method": "m", "setting": "s", "metric": m,
                              "step": -1, "value": 0.0, "config_hash": "abc", "metric_weights": "random-seed0",
                              "device_type": "cpu", "torch_version": "2.15.0"} for m in ("psnr_rgb", "rfid", "usage")])
    runs = pd.DataFrame([{"run": r, "dataset": "d", "method": "m", "setting": "s", "metric": m, "value": v}
                         for r, vals in (("a", (16.0, 1.0, 0.25)), ("b", (14.0, 3.0, 0.20)))
                         for m, v in zip(("psnr_rgb", "rfid", "usage"), vals, strict=True)])
    base = pd.DataFrame({"dataset": "d", "metric": ["psnr_rgb", "rfid", "usage"], "value": [11.0, 2.5, 0.7]})
    rows, left_out = bound_rows(template, runs, base)
    got = {r["metric"]: (r["tol_kind"], r["value"]) for r in rows}
    assert got == {"psnr_rgb": ("at_least", 11.0 + 0.5 * 3.0), "usage": ("at_least", 0.5 * 0.20)}
    assert len(left_out) == 1 and left_out[0].startswith("d rfid: a measured run (3)")
