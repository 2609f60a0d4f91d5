"""Metric facts and evaluation protocols: one table (tasks/metrics/registry.py + protocols.py) that the record
writer and the paper comparison both read, so a record's protocol and the comparison's can never disagree."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.report.compare import DIRECTION, OUR_METRICS, PAPER_VARIANT, TOLERANCE, _ours_long, compare, record_facts
from bench.stages.base import write_records
from fake_stages import fake_stage
from tasks.metrics.protocols import DEFAULT_PROTOCOL, PAPER_PROTOCOL, PROTOCOLS, protocol_facts, supports
from tasks.metrics.registry import METRICS


def _record(tmp_path: Path, metric: str, protocol: str, **extra) -> dict:
    """One record written by the real record writer (bench/stages/base.py write_records)."""
    stage = fake_stage("eval_reconstruction", "t", {"metric": metric, "protocol": protocol},
                       labels={"dataset": "imagenet", "method": "M", "setting": "S"})
    out = tmp_path / f"{metric}-{protocol}"
    out.mkdir()
    write_records(out, stage, torch.device("cpu"), 0, {}, {metric: 1.0},
                  {"scale": "paper", "metric_weights": "pretrained", "eval_protocol": protocol, **extra})
    return json.loads((out / "records.jsonl").read_text().splitlines()[0])


def _all_records(tmp_path: Path) -> list[dict]:
    return [_record(tmp_path, m, p) for p in PROTOCOLS for m in METRICS.names() if supports(p, m)]


def test_compare_tables_are_derived_from_the_registry():
    for name in METRICS.names():
        m = METRICS.get(name)
        if m.paper_metric:
            assert OUR_METRICS[name] == m.paper_metric
            assert DIRECTION[m.paper_metric] == m.direction and TOLERANCE[m.paper_metric] == m.tolerance
    assert OUR_METRICS["psnr_y"] == OUR_METRICS["psnr_rgb"] == "psnr"
    # every metric of every protocol names its facts, and the default protocol covers every scored metric
    assert all(supports(None, m) for m in METRICS.names())


def test_every_record_maps_to_its_paper_metric_and_protocol(tmp_path: Path):
    records = _all_records(tmp_path)
    long = _ours_long(pd.DataFrame(records)).set_index(["our_metric"], append=True)
    for r in records:
        facts = protocol_facts(r["metric"], r["eval_protocol"])
        assert {k: r[k] for k in facts} == facts, r["metric"]  # the record carries its own protocol's facts
        assert record_facts(r) == facts
        if METRICS.get(r["metric"]).paper_metric:
            assert r["metric"] in long.index.get_level_values("our_metric")
    # each metric's row carries its own facts, not another metric's (psnr_rgb and psnr_y share 'psnr_colour')
    by = {(r["metric"], r["eval_protocol"]): r for r in records}
    assert by[("psnr_rgb", "torch-fidelity")]["psnr_colour"] == "rgb"
    assert by[("psnr_y", "torch-fidelity")]["psnr_colour"] == "y-bt601"


@pytest.mark.parametrize("paper", sorted(PAPER_PROTOCOL))
def test_compare_pairs_each_paper_row_with_the_papers_protocol(tmp_path: Path, paper: str):
    """A record is comparable exactly when its metric-specific facts are the paper protocol's."""
    for r in _all_records(tmp_path):
        pm = METRICS.get(r["metric"]).paper_metric
        if pm is None or pm == "params_m":
            continue
        row = pd.DataFrame([{"paper": paper, "table": "T", "dataset": "imagenet", "method": "M", "setting": "S",
                             "metric": pm, "unit": "", "ours": True, "tokenizer_implemented": True,
                             "paper_value": 1.0}])
        status = compare(row, pd.DataFrame([r])).iloc[0]["status"]
        wanted = PAPER_PROTOCOL[paper].get(METRICS.get(r["metric"]).task)
        variant = PAPER_VARIANT.get(paper, {}).get(pm, r["metric"])
        if wanted is None:
            assert status == "match", (paper, r["metric"], r["eval_protocol"])
            continue
        strip = lambda f: {k: v for k, v in f.items() if k not in ("eval_protocol", "protocol_inexact")}  # noqa: E731
        same = supports(wanted, variant) and strip(protocol_facts(r["metric"], r["eval_protocol"])) == \
            strip(protocol_facts(variant, wanted))
        assert status == ("match" if same else "protocol-mismatch"), (paper, r["metric"], r["eval_protocol"])
        if r["eval_protocol"] == wanted and r["metric"] == variant:
            assert status == "match"  # a faithful implementation ran: never a mismatch


def test_protocol_inexact_and_small_sample_are_flagged(tmp_path: Path):
    r = _record(tmp_path, "rfid", "vqganlc", small_sample="FID from 8 images < 2048 feature dims")
    row = pd.DataFrame([{"paper": "vqganlc", "table": "T", "dataset": "imagenet", "method": "M", "setting": "S",
                         "metric": "rfid", "unit": "", "ours": True, "tokenizer_implemented": True,
                         "paper_value": 1.0}])
    c = compare(row, pd.DataFrame([r])).iloc[0]
    assert c.status == "match" and "inexact" in c.why and "drop_last" in c.why
    assert "small sample" in c.why and c.small_sample


def test_small_sample_fid_warns_and_is_labelled():
    from tasks.metrics.fid import SmallSampleWarning, sample_size_facts

    with pytest.warns(SmallSampleWarning, match="rank-deficient"):
        facts = sample_size_facts(20, 50_000)
    assert facts["fid_sample_count"] == 20 and facts["fid_reference_count"] == 50_000 and facts["small_sample"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sample_size_facts(50_000, 50_000)["small_sample"] == ""


def test_small_sample_rows_are_marked_in_the_paper_table(tmp_path: Path):
    from bench.report.compare import paper_table

    rec = _record(tmp_path, "rfid", "torch-fidelity", small_sample="rFID from images 8 <= 2048 feature dims")
    row = pd.DataFrame([{"paper": "movq", "table": "T", "dataset": "imagenet", "method": "M", "setting": "S",
                         "metric": "rfid", "unit": "", "ours": True, "tokenizer_implemented": True,
                         "paper_value": 1.0}])
    cmp = compare(row, pd.DataFrame([rec]))
    md, tex = paper_table(cmp)
    assert "small sample: rfid" in md and "small sample" in tex


def test_protocol_selector_reaches_only_the_stages_it_defines():
    from tasks.metrics.protocols import eval_stage_options

    assert eval_stage_options({}) == {} and eval_stage_options({"protocol": "torch-fidelity"}) == {}
    assert eval_stage_options({"protocol": "vqganlc"}) == {"protocol": "vqganlc"}
    assert eval_stage_options({"protocol": "vqganlc"}, "generation") == {}
    assert eval_stage_options({"protocol": "adm"}) == {}
    assert eval_stage_options({"protocol": "adm"}, "generation") == {"protocol": "adm"}
    with pytest.raises(ValueError, match="unknown evaluation protocol"):
        eval_stage_options({"protocol": "nope"})


def test_paper_choice_resolves_each_task_to_its_papers_protocol():
    from tasks.metrics.protocols import eval_stage_options, protocol_for

    assert protocol_for("paper", "reconstruction", "vqganlc") == "vqganlc"
    assert protocol_for("paper", "generation", "movq") == "adm"
    assert protocol_for("paper", "reconstruction", "movq") == "torch-fidelity"
    assert protocol_for("paper", "reconstruction", "seqgan") == "torch-fidelity"  # its code is unknown
    assert protocol_for("paper", "generation", None) == "torch-fidelity"  # a suite that reproduces no paper
    assert eval_stage_options({"protocol": "paper"}, "reconstruction", "vqganlc") == {"protocol": "vqganlc"}
    assert eval_stage_options({"protocol": "paper"}, "generation", "vqganlc") == {"protocol": "clean-fid"}


@pytest.mark.parametrize("suite, recon, gen", [("paper/vqganlc_t1", "vqganlc", "clean-fid"),
                                               ("paper/movq_t3", None, "adm"), ("paper/vqganlc_t2", "vqganlc", None)])
def test_a_paper_run_measures_each_task_with_its_papers_protocol(suite: str, recon: str | None, gen: str | None):
    """scale=paper defaults to scale.eval.protocol=paper: one run, the paper's own protocol per task."""
    from bench.plan.planner import plan
    from conftest import compose

    cfg = compose([f"suite={suite}", "scale=paper", "launcher.gpus=32"])  # the GPUs of the papers' layouts
    assert cfg["scale"]["eval"]["protocol"] == "paper"
    stages = plan(cfg)
    by_kind = {}
    for st in stages:
        protocol = st.config.get("protocol")  # the spec's field; the default protocol as None here
        by_kind.setdefault(st.kind, set()).add(None if protocol == DEFAULT_PROTOCOL else protocol)
    if recon is not None or "eval_reconstruction" in by_kind:
        assert by_kind.get("eval_reconstruction") == {recon}
    if gen is not None:
        assert by_kind["eval_generation"] == {gen} and by_kind["gen_reference"] == {gen}
