"""The extension points are real: a quantizer written here, in the test file alone, with its own precompute
stage, registered next to a tokenizer entry that uses it, plans, trains and evaluates at smoke scale; and a task
kind written here plans and runs itself after training.

Nothing outside this file is edited: the quantizer registry builds the module, gives the latent shape and the
precompute stage; the planner and the train stage take them from it (models/quantizers/base.py). A task kind is
a TaskSpec, a planner (bench/plan/downstream.py TASK_PLANNERS) and a stage spec (bench/stages/specs.py: a frozen
dataclass with its KIND, typed fields, named inputs and run())."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.plan.downstream import TASK_PLANNERS, TaskPlan
from bench.plan.planner import plan
from bench.stages.base import SPECS, Runtime, Stage, StageSpec, stage_dir, write_records
from bench.stages.common import load_trained_tokenizer
from bench.stages.specs import DatasetSpec, MetricWeights, TokenizerSpec
from conftest import compose
from models.quantizers import QUANTIZERS, Precompute, Quantizer, QuantOutput
from models.registry import TOKENIZERS, TokenizerEntry, build_tokenizer, create_entry
from models.tokenizer import latent_shape
from tasks.registry import TASKS, TaskSpec


class PairQuantizer(Quantizer):
    """Test-only: two codes per position (c=2), each half of z against its nearest code (squared L2, as the
    search space promises), the codes installed from a precomputed stage."""

    code_channels = 2

    def __init__(self, n_embed: int, embed_dim: int, beta: float) -> None:
        super().__init__()
        self.beta = beta
        self.embedding = nn.Embedding(n_embed, embed_dim // 2)

    @classmethod
    def from_config(cls, cfg: Any) -> PairQuantizer:
        return cls(cfg.n_embed, cfg.embed_dim, cfg.beta)

    @classmethod
    def channels_for(cls, cfg: Any) -> int:
        return 2

    @classmethod
    def precompute(cls, cfg: Any) -> Precompute | None:
        return Precompute("ext_init_codes", "initial codes", {"n_embed": cfg.n_embed, "dim": cfg.embed_dim // 2},
                          setting=f"K={cfg.n_embed}", networks_key="metric_weights")

    def load_precomputed(self, key: str, folder: Path) -> dict[str, Any]:
        with torch.no_grad():
            self.embedding.weight.copy_(torch.load(folder / "codes.pt"))
        return {"ext_codes_from": key}

    def _halves(self, z: torch.Tensor) -> torch.Tensor:
        b, d, h, w = z.shape
        return z.reshape(b, 2, d // 2, h, w).permute(0, 3, 4, 1, 2).reshape(-1, d // 2)  # (b, h, w, c) order

    def forward(self, z: torch.Tensor) -> QuantOutput:
        b, d, h, w = z.shape
        q = self._halves(z)
        idx = torch.cdist(q.detach(), self.embedding.weight.detach(), p=2).argmin(1)
        idx = idx.view(b, h, w, 2)
        z_q = self.lookup(idx)
        commit, codebook = F.mse_loss(z, z_q.detach()), F.mse_loss(z_q, z.detach())
        return QuantOutput(z + (z_q - z).detach(), idx, commit + self.beta * codebook, {"commit": commit.detach()})

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        b, h, w, c = indices.shape
        return self.embedding(indices).reshape(b, h, w, -1).permute(0, 3, 1, 2)

    def search_space(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.embedding.weight, self._halves(z), 2


@dataclass(frozen=True)
class InitCodes(StageSpec):
    """The precompute stage: seeded codes, written where load_precomputed reads them."""

    KIND = "ext_init_codes"
    n_embed: int
    dim: int
    dataset: DatasetSpec
    seed: int
    metric_weights: MetricWeights

    def run(self, stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
        codes = torch.randn(self.n_embed, self.dim, generator=torch.Generator().manual_seed(self.seed)) * 0.1
        torch.save(codes, out / "codes.pt")
        return {"n_embed": self.n_embed}


def ext_pair_vqgan(scale: str) -> TokenizerEntry:
    """The smoke VQGAN with the test quantizer."""
    base = create_entry("vqgan_f16_1024", scale)
    return dataclasses.replace(base, name="ext_pair_vqgan", model=dataclasses.replace(base.model, quantizer="ext_pair"))


@pytest.fixture
def registered(monkeypatch):
    """The three registry entries a new quantizer needs (removed again afterwards, so registry-wide tests and
    suites never see them)."""
    with QUANTIZERS.added("ext_pair", PairQuantizer), TOKENIZERS.added("ext_pair_vqgan", ext_pair_vqgan), \
            SPECS.added("ext_init_codes", InitCodes):
        yield


@pytest.mark.usefixtures("registered")
def test_new_quantizer_builds_and_owns_its_latent_shape():
    entry = create_entry("ext_pair_vqgan", "smoke")
    model = build_tokenizer(entry)
    assert isinstance(model.quantize, PairQuantizer)
    assert model.latent_shape == latent_shape(entry.model) == (8, 8, 2)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    enc = model.encode(x)
    assert enc.indices.shape == (2, 8, 8, 2)
    assert model.decode_indices(enc.indices).shape == x.shape
    from models.token_ops import replace_with_mth_nearest  # the analyses' token space comes from the quantizer
    assert torch.equal(replace_with_mth_nearest(model, x, 1), enc.indices)


@pytest.mark.usefixtures("registered")
def test_new_quantizer_plans_trains_and_evaluates_at_smoke_scale(tmp_path):
    from bench.suite import run_suite

    over = ["suite=recon", "tokenizer=ext_pair_vqgan", "train.steps=2", "launcher=debug", "scale.eval.max_images=8",
            f"paths.work_dir={tmp_path / 'w'}", f"paths.results_dir={tmp_path / 'r'}"]
    stages = plan(compose(over))
    assert [s.kind for s in stages] == ["ext_init_codes", "train_tokenizer", "eval_reconstruction"]
    assert stages[1].inputs == (stages[0].key,) and stages[0].spec.metric_weights.mode == "random"
    assert stages[1].spec.precomputed == stages[0].key  # a named input, not a key prefix
    assert run_suite(compose(over)) == 0
    done = json.loads((stage_dir(tmp_path / "w", stages[1].key) / "done.json").read_text())
    assert done["ext_codes_from"] == stages[0].key  # the train stage installed the precomputed codes
    df = pd.read_csv(tmp_path / "r" / "recon" / "results.csv")
    assert set(df["method"]) == {"ext_pair_vqgan"}
    assert set(df["tokens_per_image"]) == {8 * 8 * 2}
    assert {"psnr_rgb", "usage"} <= set(df["metric"]) and df["value"].notna().all()


@dataclass(frozen=True)
class TokenCount(StageSpec):
    """Test task kind's stage: the trained tokenizer's tokens per image and codebook size, as records."""

    KIND = "ext_token_count"
    INPUTS = ("train",)
    tokenizer: TokenizerSpec
    seed: int
    task_version: int
    dataset: DatasetSpec
    train: str

    def run(self, stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
        model = load_trained_tokenizer(rt, self.train, self.tokenizer)
        values = {"tokens_per_image": model.tokens_per_image, "codebook_size": model.codebook_size}
        protocol = {"scale": "smoke", "task": f"ext_token_count@v{self.task_version}", "split": "none",
                    "metric_weights": "none (no metric network)", "image_count": 0}
        return {"records": write_records(out, stage, device, self.seed, {}, values, protocol)}


def plan_token_count(ctx: TaskPlan) -> None:
    """Test task kind: one stage after the tokenizer's training stage."""
    st = Stage(f"token count of {ctx.entry.name}", TokenCount(**ctx.common, dataset=ctx.d, train=ctx.train_key),
               ctx.labels)
    ctx.stages.setdefault(st.key, st)


def test_new_task_kind_plans_and_runs_itself(monkeypatch, tmp_path):
    from bench.suite import run_suite

    task = TaskSpec("ext_token_count", 1, "tokens per image of the trained tokenizer", "none", ("tokens_per_image",))
    with TASKS.added("ext_token_count", task), TASK_PLANNERS.added("ext_token_count", plan_token_count):
        _plan_and_run_token_count(tmp_path, run_suite)


def _plan_and_run_token_count(tmp_path: Path, run_suite) -> None:
    cfg = compose(["suite=recon", "tokenizer=movq_f16_1024", "train.steps=1", "launcher=debug",
                   f"paths.work_dir={tmp_path / 'w'}", f"paths.results_dir={tmp_path / 'r'}"])
    cfg["suite"]["runs"][0]["tasks"] = ["ext_token_count"]
    stages = plan(cfg)
    assert [s.kind for s in stages] == ["train_tokenizer", "ext_token_count"]
    assert stages[1].inputs == (stages[0].key,) and stages[1].config["task_version"] == 1
    assert run_suite(cfg) == 0
    df = pd.read_csv(tmp_path / "r" / "recon" / "results.csv").set_index("metric")
    assert df.loc["tokens_per_image", "value"] == 8 * 8 * 4 and df.loc["codebook_size", "value"] == 64


def test_a_new_quantizer_inherits_the_fp32_islands_under_autocast():
    """The base class runs every subclass's forward in fp32 outside autocast (issue #16.1), so this test-only
    quantizer picks the same codes under bf16 autocast as in fp32 without opting in."""
    torch.manual_seed(0)
    q = PairQuantizer(16, 8, 0.25)
    z = torch.randn(2, 8, 4, 4)
    ref = q(z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = q(z)
    assert torch.equal(ref.indices, got.indices) and got.z_q.dtype == torch.float32
