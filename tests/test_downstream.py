"""smoke_downstream end to end: token cache -> five priors -> samples -> FID/IS/PR, classification, the four
analyses, for a single-channel and a multichannel tokenizer; one prior through DeepSpeed."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.plan.planner import plan
from bench.stages.base import stage_dir
from bench.suite import run_suite
from conftest import compose


@pytest.fixture(scope="module")
def downstream(tmp_path_factory):
    root = tmp_path_factory.mktemp("downstream")
    cfg = compose(["suite=smoke_downstream", "train.steps=20", "launcher=debug", "scale.eval.max_ref_images=48",
                   f"paths.work_dir={root / 'w'}",
                   f"paths.results_dir={root / 'r'}"])
    short = {"train": {"steps": 8, "ckpt_every": 4}, "sample": {"n_samples": 16}}
    movq = cfg["suite"]["runs"][1]
    movq["priors"] = ["gpt_movq", "maskgit_movq"]  # CI time: the multichannel path with both token priors
    movq["tasks"] = ["generation", "classification", "ar_visualization", "masked_reconstruction"]
    for run in cfg["suite"]["runs"]:  # shorter prior schedules than the suite's, same graph
        over = run.setdefault("prior_overrides", {}) or {}
        run["prior_overrides"] = {p: {**short, **{k: {**short.get(k, {}), **v} for k, v in (over.get(p) or {}).items()}}
                                  for p in run["priors"]}
    code = run_suite(cfg)
    return cfg, root, code


def test_suite_finishes_with_every_task(downstream):
    cfg, root, code = downstream
    assert code == 0
    df = pd.read_csv(root / "r" / "smoke_downstream" / "results.csv")
    for prior in ("gpt_vqganlc", "maskgit", "dit_xl2", "sit_xl2", "ldm_cin", "gpt_movq", "maskgit_movq"):
        rows = df[df["method"].str.endswith(f"+ {prior}") & df["metric"].isin(["fid", "is", "precision", "recall"])]
        assert len(rows) >= 4, prior
    assert set(df["metric"]) >= {"fid", "is", "precision", "recall", "top1", "token_accuracy", "psnr_rgb", "ssim",
                                 "lpips_vgg", "usage"}
    assert df.loc[df.metric == "fid", "sample_count"].eq(16).all()
    assert df.loc[df.metric == "fid", "class_sampling"].notna().all()
    assert set(df.loc[(df.metric == "fid") & df.method.str.contains("dit_xl2"), "guidance_channels"]) == {"first3"}


def test_deepspeed_prior_and_multichannel_path(downstream):
    cfg, root, _ = downstream
    stages = plan(cfg)
    dit = [s for s in stages if s.kind == "train_prior" and s.config["prior"]["name"] == "dit_xl2"
           and s.config["tokenizer"]["name"] == "vqgan_f16_1024"][0]
    done = json.loads((stage_dir(root / "w", dit.key) / "done.json").read_text())
    assert done["deepspeed"] is True and done["zero_stage"] == 2
    movq = [s for s in stages if s.kind == "sample_prior" and s.config["prior"]["name"] == "gpt_movq"][0]
    samples = np.load(stage_dir(root / "w", movq.key) / "samples.npz")
    assert samples["images"].dtype == np.uint8 and samples["images"].shape == (16, 32, 32, 3)
    cache = [s for s in stages if s.kind == "token_cache" and s.config["tokenizer"]["name"] == "movq_f16_1024"
             and s.config["store"] == "indices" and s.config["split"] == "train"][0]
    idx = np.load(stage_dir(root / "w", cache.key) / "train_indices.npy")
    assert idx.shape[1:] == (8, 8, 4) and idx.dtype == np.uint16  # h x w x c tokens cached once


def test_analyses_write_their_rows_and_grids(downstream):
    cfg, root, _ = downstream
    df = pd.read_csv(root / "r" / "smoke_downstream" / "results.csv")
    rep = df[df.setting.str.contains(" M=")]
    assert set(rep.setting.str.extract(r"M=(\d+)")[0].astype(int)) == {1, 50}  # K=64 at smoke: M=100, 1000 skipped
    masked = df[df.setting.str.contains("mask=")]
    assert {"top1_1step", "random_8step"} <= set(masked.setting.str.split().str[-1])
    assert df[df.setting.str.contains("epoch=")].shape[0] >= 1
    grids = list((root / "w" / "stages").glob("analysis-*/*_grid.png"))
    assert len(grids) == 4  # AR and masked grids for both tokenizers
