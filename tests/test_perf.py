"""action=perf's pytest-benchmark twin (issue #16.5), at reduced size: every component in every numerics mode runs,
and perf.csv carries the ratios against the fp32-eager taming-order reference with their provenance."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from bench.training.perf import COLUMNS, MODES, PRIORS, PerfOptions, perf_prior_entry, run_perf

TINY = PerfOptions(width=0.0625, resolution=32, batch=2, steps=1, depth=1)  # ch 32, 1-layer priors of minimum width


@pytest.mark.benchmark(group="perf", min_rounds=1)
def test_perf_reports_every_component_and_mode_against_the_reference(benchmark, tmp_path: Path):
    out = tmp_path / "perf" / "perf.csv"
    rows = benchmark.pedantic(run_perf, args=(TINY, torch.device("cpu"), out, tmp_path / "tmp"), rounds=1,
                              iterations=1)
    with out.open() as f:
        written = list(csv.DictReader(f))
    assert list(written[0]) == COLUMNS and len(written) == len(rows)
    expect = {(c, m) for c in ("tokenizer", *PRIORS) for m in MODES} | {("eval", m) for m in MODES if m != "fp32"}
    assert {(r["component"], r["mode"]) for r in written} == expect
    for r in written:
        assert float(r["img_per_s"]) > 0 and float(r["peak_mem_mb"]) >= 0, r
        assert r["device"] == "cpu" and r["torch_version"] == torch.__version__ and r["cpu_capability"]
        if r["mode"] == "reference":
            assert float(r["ratio_to_reference"]) == 1.0


def test_perf_action_is_wired_and_options_are_checked():
    """action=perf is a valid action; a bad perf option fails before anything runs."""
    from bench.plan.config import check_value_of

    check_value_of({}, "action", "perf")
    check_value_of({}, "perf.width", 0.5)
    with pytest.raises(SystemExit, match="perf.steps"):
        check_value_of({}, "perf.steps", "three")


@pytest.mark.parametrize("kind", sorted(PRIORS))
def test_reduced_width_really_shrinks_every_prior(kind):
    """A CPU row labelled width w must run a smaller model: every prior's width fields are scaled, not just some."""
    from models.priors.registry import build_prior

    def count(entry) -> int:
        with torch.device("meta"):
            return sum(p.numel() for p in build_prior(entry).parameters())

    full, reduced = count(perf_prior_entry(kind, 1.0, None)), count(perf_prior_entry(kind, 0.0625, None))
    assert reduced < 0.05 * full, (kind, reduced, full)
