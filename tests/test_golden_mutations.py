"""Mutation tests: the golden check passes on the code as it is, and turns red on each regression it exists to
catch. Each mutation changes code, not configuration (the config hash stays the same, as in a real regression),
and reruns only the stages that check covers, in this process, on mini_faces:

- trajectory (the GAN-from-step-0 probe, 6 steps): beta 0.25 -> 1.0, the LPIPS weight 1.0 -> 0, the adaptive
  GAN weight removed;
- fixed_weights (the committed checkpoint): PSNR's colour space, SSIM's window, the usage definition;
- end_of_run (the main run, mini_faces): training that silently stops after 5 of its 300 steps (the 5 steps the
  trajectory rows hold all match), so only the end-of-run bounds over the untrained model can catch it.

The unmutated main run (300 steps) is not repeated here: tests/test_suite.py checks the default suite's whole
golden file on the `smoke` fixture's run.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.core.resources import resolve
from bench.plan.planner import plan
from bench.report.golden import diff_golden, observed_frame
from bench.report.store import load_records, records_frame
from bench.stages.base import Runtime, run_stage
from bench.training.loop import TrainLoop
from conftest import compose
from models.losses import VQLPIPSWithDiscriminator
from models.quantizers.vq import VectorQuantizer
from tasks.metrics import image
from tasks.metrics.usage import CodebookUsage

PROBE, FIXED, MAIN = "vqgan_f16_1024@gan-probe", "vqgan_f16_1024@golden-weights", "vqgan_f16_1024"


def golden_diff(work: Path, method: str) -> pd.DataFrame:
    """Run the default suite's mini_faces stage(s) of `method` here, then the golden diff of their rows."""
    cfg = compose([f"paths.work_dir={work}"])
    stages = [st for st in plan(cfg) if st.labels.get("dataset") == "mini_faces" and st.labels.get("method") == method]
    assert stages, method
    for st in stages:
        run_stage(st, Runtime(work_dir=str(work)))
    df = records_frame(cfg["suite"], load_records(stages, work))
    diff = diff_golden(observed_frame(df, stages, work), resolve(cfg["suite"]["golden"]))
    return diff[(diff["dataset"] == "mini_faces") & (diff["method"] == method)]


def statuses(diff: pd.DataFrame) -> dict[str, int]:
    return diff["status"].value_counts().to_dict()


@pytest.mark.parametrize("method", [PROBE, FIXED])
def test_unmutated_code_matches(tmp_path: Path, method: str):
    diff = golden_diff(tmp_path, method)
    assert len(diff) > 0 and (diff["status"] == "match").all(), diff[diff["status"] != "match"].to_string()


def _beta_one(monkeypatch):
    init = VectorQuantizer.__init__

    def mutated(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.beta = 1.0
    monkeypatch.setattr(VectorQuantizer, "__init__", mutated)


def _no_lpips(monkeypatch):
    init = VQLPIPSWithDiscriminator.__init__

    def mutated(self, cfg, perceptual, *args, **kwargs):
        init(self, dataclasses.replace(cfg, perceptual_weight=0.0), perceptual, *args, **kwargs)
    monkeypatch.setattr(VQLPIPSWithDiscriminator, "__init__", mutated)


def _no_adaptive_weight(monkeypatch):
    monkeypatch.setattr(VQLPIPSWithDiscriminator, "adaptive_weight",
                        lambda self, nll, g, last_layer: torch.tensor(self.cfg.disc_weight))


def _full_range_luma(monkeypatch):  # Y as 0.299R + 0.587G + 0.114B in [0, 255], not BT.601's [16, 235]
    monkeypatch.setattr(image, "rgb_to_y", lambda x: (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None])


def _ssim_7x7(monkeypatch):
    window = image.gaussian_window
    monkeypatch.setattr(image, "gaussian_window", lambda sigma=1.5, truncate=3.5: window(sigma, truncate=2.0))


def _usage_as_perplexity(monkeypatch):  # RQ-VAE-style "usage" = perplexity / K instead of VQGAN-LC's hit rate
    monkeypatch.setattr(CodebookUsage, "usage", lambda self: self.perplexity() / self.counts.numel())


def _stops_after_5_steps(monkeypatch):  # a loader that runs dry early: zip() ends the loop without a word
    run = TrainLoop.run
    monkeypatch.setattr(TrainLoop, "run", lambda self, batches, step_fn: run(self, itertools.islice(batches, 5),
                                                                             step_fn))


MUTATIONS = {
    "beta 0.25 -> 1.0": (_beta_one, PROBE, "qloss"),
    "LPIPS weight 1.0 -> 0": (_no_lpips, PROBE, "lpips"),
    "adaptive GAN weight removed": (_no_adaptive_weight, PROBE, "d_weight"),
    "PSNR luma: full-range Y": (_full_range_luma, FIXED, "psnr_y"),
    "SSIM window 11 -> 7 taps": (_ssim_7x7, FIXED, "ssim"),
    "usage = perplexity / K": (_usage_as_perplexity, FIXED, "usage"),
    "training stops at step 5 of 300": (_stops_after_5_steps, MAIN, "psnr_rgb"),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutation_turns_the_check_red(tmp_path: Path, monkeypatch, name: str):
    mutate, method, metric = MUTATIONS[name]
    mutate(monkeypatch)
    diff = golden_diff(tmp_path, method)
    drift = diff[diff["status"] == "drift"]
    assert not drift.empty, f"mutation '{name}' went unnoticed: {statuses(diff)}"
    assert metric in set(drift["metric"]), (name, sorted(set(drift["metric"])))
    assert not (diff["status"] == "not-comparable").any()  # caught as drift, not excused as another platform
    assert all(math.isfinite(v) for v in drift["value_ours"])
