"""The published numbers as data, and the comparison: tolerance, direction, protocol mismatch, not-comparable,
missing / paper-only, paper-style tables, and the golden comparison's exit code."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.report.compare import DIRECTION, PAPER_NUMBERS, STATUSES, compare, load_paper_numbers, paper_table, status_of
from conftest import REPO, run_cli

KEY = ["paper", "table", "dataset", "method", "setting", "metric"]


@pytest.fixture(scope="module")
def numbers() -> pd.DataFrame:
    return load_paper_numbers()


def test_paper_numbers_schema(numbers):
    raw = pd.read_csv(PAPER_NUMBERS)
    assert list(raw.columns[:7]) == ["paper", "table", "dataset", "method", "setting", "metric", "value"]
    assert not raw.duplicated(KEY).any(), raw[raw.duplicated(KEY, keep=False)]
    assert set(raw["paper"]) == {"movq", "seqgan", "vqganlc"}
    assert set(raw["metric"]) <= set(DIRECTION) - {"params_m"}, set(raw["metric"]) - set(DIRECTION)
    assert pd.api.types.is_float_dtype(raw["value"]) and raw["value"].notna().all()
    assert set(raw["unit"]) <= {"score", "dB", "fraction", "percent", "M"}
    assert set(raw["dataset"]) <= {"imagenet", "ffhq", "lsun_church", "lsun_cat", "lsun_bedroom"}
    tables = set(zip(raw["paper"], raw["table"], strict=True))
    expected = {("movq", t) for t in ("T1", "T2", "T3", "F6a", "F6b")} | \
               {("seqgan", t) for t in ("T1", "T2", "T3", "T4", "T5", "T6", "F8b")} | \
               {("vqganlc", t) for t in ("T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "T10", "F1b")}
    assert tables == expected
    # cells the prose repeats: VQGAN-LC 2.62 rFID at 100K, MoVQ 82.7M, SeQ-GAN 4.99 FID for NAR
    lc = raw[(raw.paper == "vqganlc") & (raw.table == "T2") & (raw.method == "VQGAN-LC") & (raw.metric == "rfid")]
    assert lc.loc[lc.setting == "tokens=256 K=100000", "value"].item() == 2.62
    assert raw[(raw.paper == "seqgan") & (raw.table == "T4") & (raw.method == "SeQ-GAN + NAR")]["value"].min() == 4.99
    # percent units become fractions for comparison
    ssim = numbers[(numbers.paper == "vqganlc") & (numbers.metric == "ssim")]["paper_value"]
    assert ssim.between(0, 1).all()


@pytest.mark.parametrize("metric,paper,ours,expected", [
    ("rfid", 2.62, 2.80, "match"), ("rfid", 2.62, 3.10, "worse"), ("rfid", 2.62, 2.00, "better"),
    ("psnr", 23.8, 23.6, "match"), ("psnr", 23.8, 23.0, "worse"), ("psnr", 23.8, 24.5, "better"),
    ("usage", 0.999, 0.95, "worse"), ("lpips", 0.12, 0.10, "better"),
])
def test_tolerance_and_direction(metric, paper, ours, expected):
    assert status_of(paper, ours, metric) == expected


def _record(method, setting, metric, value, scale="paper", weights="pretrained", dataset="imagenet", protocol=None):
    """A record as the runners write it; protocol=None: a record from before the protocol columns (default)."""
    from tasks.metrics.protocols import protocol_facts

    facts = protocol_facts(metric, protocol) if protocol else {}
    return {"dataset": dataset, "method": method, "setting": setting, "metric": metric, "value": value,
            "scale": scale, "metric_weights": weights, "config_hash": "x", **facts}


def test_statuses(numbers):
    t2 = numbers[(numbers.paper == "vqganlc") & (numbers.table == "T2")]
    t1 = numbers[(numbers.paper == "movq") & (numbers.table == "T1")]
    rows = pd.concat([t2, t1])
    records = pd.DataFrame([
        # Y channel through VQGAN-LC's protocol (pyiqa on floats): comparable
        _record("VQGAN-LC", "tokens=256 K=100000", "psnr_y", 23.7, protocol="vqganlc"),
        _record("VQGAN-LC", "tokens=256 K=100000", "psnr_rgb", 21.0),  # ignored: psnr_y agrees with the paper
        _record("VQGAN-LC", "tokens=256 K=100000", "rfid", 2.7),  # torch-fidelity vs clean-fid
        _record("VQGAN-LC", "tokens=256 K=16384", "psnr_y", 23.0),  # Y channel, but on uint8: not VQGAN-LC's
        _record("VQGAN-LC", "tokens=256 K=16384", "rfid", 2.7, protocol="vqganlc"),  # clean-fid protocol ran
        _record("VQGAN-FC", "tokens=256 K=16384", "psnr_rgb", 22.8),  # RGB vs the paper's Y channel
        _record("VQGAN-EMA", "tokens=256 K=16384", "rfid", 3.0, scale="smoke", weights="random-seed0"),
        _record("MoVQ", "latent=16x16x4 K=1024", "rfid", 1.5),  # torch-fidelity, as MoVQ: comparable, worse
        _record("MoVQ", "latent=16x16x4 K=1024", "ssim", 0.70),
    ])
    cmp = compare(rows, records)
    def get(p, m, s, k):
        return cmp[(cmp.paper == p) & (cmp.dataset == "imagenet") & (cmp.method == m) & (cmp.setting == s)
                   & (cmp.metric == k)].iloc[0]

    assert get("vqganlc", "VQGAN-LC", "tokens=256 K=100000", "psnr").status == "match"
    assert get("vqganlc", "VQGAN-LC", "tokens=256 K=100000", "psnr").our_metric == "psnr_y"
    r = get("vqganlc", "VQGAN-LC", "tokens=256 K=100000", "rfid")
    assert r.status == "protocol-mismatch" and "clean-fid" in r.why
    assert get("vqganlc", "VQGAN-FC", "tokens=256 K=16384", "psnr").status == "protocol-mismatch"
    r = get("vqganlc", "VQGAN-LC", "tokens=256 K=16384", "psnr")
    assert r.status == "protocol-mismatch" and "psnr_input" in r.why
    r = get("vqganlc", "VQGAN-LC", "tokens=256 K=16384", "rfid")
    assert r.status != "protocol-mismatch" and r.eval_protocol == "vqganlc" and "inexact" in r.why
    nc = get("vqganlc", "VQGAN-EMA", "tokens=256 K=16384", "rfid")
    assert nc.status == "not-comparable" and np.isnan(nc.delta)
    assert get("vqganlc", "VQGAN-LC", "tokens=256 K=100000", "ssim").status == "missing"
    assert get("vqganlc", "DQVAE", "tokens=256 K=1024", "rfid").status == "paper-only"
    assert get("movq", "MoVQ", "latent=16x16x4 K=1024", "rfid").status == "worse"
    assert get("movq", "MoVQ", "latent=16x16x4 K=1024", "ssim").status == "better"
    assert set(cmp["status"]) <= set(STATUSES)
    md, tex = paper_table(cmp)
    assert "**1.12**" in md  # the best published ImageNet/FFHQ rFID of MoVQ Table 1 is in bold
    assert tex.startswith(r"\begin{tabular}") and r"\toprule" in tex and r"\bottomrule" in tex


def test_smoke_records_map_to_paper_keys(numbers):
    rows = numbers[(numbers.paper == "movq") & (numbers.table == "F6b")]
    rec = pd.DataFrame([_record("MoVQ", "K=1024 [8x8x4 K=64 smoke]", "rfid", 3.0, "smoke", "random-seed0",
                                "imagenet~mini_natural")])
    cmp = compare(rows, rec)
    assert cmp.loc[(cmp.method == "MoVQ") & (cmp.setting == "K=1024"), "status"].item() == "not-comparable"


def test_compare_action_golden_drift_exits_nonzero_and_paper_compare_reports(tmp_path: Path, smoke):
    _, _, _, _, root = smoke
    golden = pd.read_csv(REPO / "results" / "golden" / "smoke.csv", dtype={"config_hash": str})
    golden.loc[golden["metric"] == "ssim", "value"] += 0.5
    bad = tmp_path / "golden.csv"
    golden.to_csv(bad, index=False)
    base = [f"paths.work_dir={root / 'outputs'}", f"paths.results_dir={tmp_path / 'results'}", "action=compare"]
    assert run_cli(base + [f"suite.golden={bad}"], cwd=REPO).returncode == 1
    assert run_cli(base, cwd=REPO).returncode == 0


def test_compare_on_a_smoke_paper_suite_writes_tables_and_plots(tmp_path: Path):
    """suite=paper/movq_f6b at smoke scale: run the same graph on mini sets, then compare: all not-comparable."""
    from bench.suite import run_suite
    from conftest import compose

    over = ["suite=paper/movq_f6b", "train.steps=2", "scale.eval.max_images=8", "launcher=debug",
            f"paths.work_dir={tmp_path / 'w'}", f"paths.results_dir={tmp_path / 'r'}"]
    assert run_suite(compose(over)) == 0
    assert run_suite(compose(over + ["action=compare"])) == 0
    out = tmp_path / "r" / "paper" / "movq_f6b"
    cmp = pd.read_csv(out / "compare.csv")
    assert len(cmp) == 4 and (cmp["status"] == "not-comparable").all() and cmp["delta"].isna().all()
    assert "| imagenet | MoVQ | K=1024 |" in (out / "compare.md").read_text()
    assert r"\toprule" in (out / "compare.tex").read_text()
    assert (out / "plots" / "movq_F6b_K.png").stat().st_size > 0 and (out / "plots" / "movq_F6b_K.pdf").is_file()


def test_table1_zoo_facts_compare_parameter_figures(tmp_path: Path):
    """Unified Table 1 at paper scale needs no data: counts on the meta device against the published figures."""
    from bench.suite import run_suite
    from conftest import compose

    over = ["suite=table1", "scale=paper", "launcher=debug", f"paths.work_dir={tmp_path / 'w'}",
            f"paths.results_dir={tmp_path / 'r'}"]
    assert run_suite(compose(over)) == 0
    assert run_suite(compose(over + ["action=compare"])) == 0
    cmp = pd.read_csv(tmp_path / "r" / "table1" / "compare.csv").set_index("method")
    assert cmp.loc["vqgan_f16_1024", "status"] == "match" and cmp.loc["seqgan_baseline_f16_1024", "status"] == "match"
    assert cmp.loc["seqgan_conv_f16_1024", "status"] == "protocol-mismatch"  # the stated 0.1M gap
    assert cmp.loc["movq_f16_1024", "status"] == "protocol-mismatch" and "82.7M" in cmp.loc["movq_f16_1024", "why"]


def test_compare_before_any_run_reports_missing_and_exits_zero(tmp_path: Path):
    """A paper comparison never fails a build: with no records yet every paper row is `missing`."""
    from bench.suite import run_suite
    from conftest import compose

    over = ["suite=paper/vqganlc_t2", "scale=paper", "launcher.gpus=32", "action=compare",
            f"paths.work_dir={tmp_path / 'w'}",
            f"paths.results_dir={tmp_path / 'r'}"]
    assert run_suite(compose(over)) == 0
    cmp = pd.read_csv(tmp_path / "r" / "paper" / "vqganlc_t2" / "compare.csv")
    assert set(cmp["status"]) <= {"missing", "paper-only"} and (cmp["status"] == "missing").sum() > 0


PAPER_SUITES = sorted(p.stem for p in (REPO / "bench" / "conf" / "suite" / "paper").glob("*.yaml"))


@pytest.mark.parametrize("name", PAPER_SUITES)
def test_every_paper_suite_compares_before_any_run(name, tmp_path: Path, numbers):
    """action=compare with no records lists every paper row as missing (or paper-only); a figure the paper draws
    without numbers lists each of its suite's rows as missing (movq_f6c, seqgan_f6b, vqganlc_f3/f5 used to end in
    KeyError: 'metric')."""
    from omegaconf import OmegaConf

    from bench.suite import run_suite
    from conftest import compose

    raw = OmegaConf.to_container(OmegaConf.load(REPO / "bench" / "conf" / "suite" / "paper" / f"{name}.yaml"))
    over = [f"suite=paper/{name}", "scale=paper", "launcher.gpus=32", "action=compare",
            f"paths.work_dir={tmp_path / 'w'}", f"paths.results_dir={tmp_path / 'r'}"]
    assert run_suite(compose(over)) == 0
    cmp = pd.read_csv(tmp_path / "r" / "paper" / name / "compare.csv", keep_default_na=False, na_values=[""])
    assert len(cmp) and set(cmp["status"]) <= {"missing", "paper-only"}, cmp["status"].value_counts()
    rows = numbers[(numbers.paper == raw["paper"]) & (numbers.table == raw["paper_table"])]
    if len(rows):  # the paper prints numbers: exactly its rows, each once
        key = ["dataset", "method", "setting", "metric"]
        assert sorted(map(tuple, cmp[key].astype(str).values)) == sorted(map(tuple, rows[key].astype(str).values))
        implemented = rows["tokenizer_implemented"].astype(bool).values
        assert (cmp.set_index(key).loc[[tuple(r) for r in rows[key].values], "status"].values
                == ["missing" if i else "paper-only" for i in implemented]).all()
    else:  # a figure without printed numbers: every run's row is listed as missing
        for run in raw["runs"]:
            got = cmp[(cmp.method == run["row"]["method"]) & (cmp.setting == run["row"]["setting"])]
            assert len(got) and (got["status"] == "missing").all(), run["row"]
    assert "| dataset | method | setting |" in (tmp_path / "r" / "paper" / name / "compare.md").read_text()
