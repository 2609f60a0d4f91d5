"""SeQ-GAN: semantic perceptual loss (Eq. 3, Table 6), entropy regulariser, k-means init, decoders, two phases."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.core.artifacts import load_artifact
from bench.plan.planner import plan
from bench.stages.runners import load_previous_phase
from conftest import compose
from models.maskgit_modules import AxisAttention
from models.quantizers.entropy_vq import EntropyVectorQuantizer
from models.registry import build_tokenizer, create_entry, phase1_entry
from models.semantic_loss import SemanticPerceptualLoss, build_vgg16

LOW = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


@pytest.fixture(scope="module")
def vgg() -> nn.Module:
    return build_vgg16("random", seed=0, weights_dir=None)


def _reference(vgg: nn.Module, x: torch.Tensor, y: torch.Tensor, layers: tuple[str, ...]) -> torch.Tensor:
    """Sum over layers of 1/(HWC) ||phi(x) - phi(y)||^2, from torchvision's VGG run end to end."""
    idx = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29}
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    total = torch.zeros(x.shape[0])
    for name in layers:
        a, b = ((x + 1) / 2 - mean) / std, ((y + 1) / 2 - mean) / std
        if name == "logit":
            fa, fb = vgg(a), vgg(b)
        else:
            fa, fb = vgg.features[: idx[name] + 1](a), vgg.features[: idx[name] + 1](b)
        total += (fa - fb).pow(2).flatten(1).mean(1)
    return total


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_semantic_loss_matches_eq3(vgg, alpha):
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    loss = SemanticPerceptualLoss(vgg, alpha, ("relu5_3", "logit"), LOW)
    expected = alpha * _reference(vgg, x, y, ("relu5_3", "logit")) + (1 - alpha) * _reference(vgg, x, y, LOW)
    assert torch.allclose(loss(x, y), expected, rtol=1e-4)


def test_table6_variant_d_and_unknown_layers(vgg):
    x, y = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    d_layers = ("relu4_3", "relu5_3", "logit")  # Table 6 variant D
    loss = SemanticPerceptualLoss(vgg, 0.0, ("relu5_3", "logit"), d_layers)
    assert torch.allclose(loss(x, y), _reference(vgg, x, y, d_layers), rtol=1e-4)
    with pytest.raises(ValueError, match="relu9_9"):
        SemanticPerceptualLoss(vgg, 0.0, ("relu9_9",), LOW)


def test_entropy_regulariser_is_the_soft_usage_entropy():
    q = EntropyVectorQuantizer(16, 4, entropy_gamma=0.01)
    z = torch.randn(2, 4, 3, 3)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 4)
    p = torch.softmax(-torch.cdist(flat, q.embedding.weight), dim=1).mean(0)
    h = -(p * p.log()).sum()
    assert torch.allclose(q.entropy(flat), h, atol=1e-5)
    q.train()
    out = q(z)
    plain = EntropyVectorQuantizer(16, 4)
    plain.load_state_dict(q.state_dict())
    assert torch.allclose(out.loss, plain(z).loss - 0.01 * h, atol=1e-5)  # loss falls as usage entropy rises


def test_kmeans_init_runs_once_and_is_saved():
    q = EntropyVectorQuantizer(4, 2, kmeans_init=True)
    centres = torch.tensor([[5.0, 5.0], [-5.0, 5.0], [5.0, -5.0], [-5.0, -5.0]])
    pts = (centres[:, None] + 0.01 * torch.randn(4, 50, 2)).reshape(-1, 2)
    q.train()
    q(pts.t().reshape(1, 2, 1, -1))
    got = q.embedding.weight.detach()
    assert torch.cdist(got, centres).min(0).values.max() < 0.1 and bool(q.initialized)
    q2 = EntropyVectorQuantizer(4, 2, kmeans_init=True)
    q2.load_state_dict(q.state_dict())
    assert bool(q2.initialized)


@pytest.mark.parametrize("mode", ["regional", "dilated"])
def test_attention_windows_partition_and_merge_exactly(mode):
    att = AxisAttention(64, mode, window=4)
    x = torch.randn(2, 8, 8, 64)
    assert torch.equal(att._merge(att._partition(x, 4), tuple(x.shape), 4), x)
    groups = att._partition(torch.arange(64.0).view(1, 8, 8, 1), 4)[..., 0]
    if mode == "regional":
        assert groups[0].tolist()[:5] == [0, 1, 2, 3, 8]  # a contiguous 4x4 block
    else:
        assert groups[0].tolist()[:5] == [0, 2, 4, 6, 16]  # every second token: a dilated grid


def test_two_phase_plan_and_phase2_freezes():
    stages = plan(compose(["suite=recon", "tokenizer=seqgan_f16_1024", "train.steps=7"]))
    p1, p2, ev = stages
    assert p2.inputs == (p1.key,) and ev.inputs == (p2.key,)
    assert p1.config["tokenizer"]["model"]["decoder_extra"] == "none"
    assert p1.config["tokenizer"]["loss"]["semantic_alpha"] == 1.0
    assert p2.config["tokenizer"]["loss"]["semantic_alpha"] == 0.0
    assert p1.config["tokenizer"]["train"]["steps"] == 7 == p2.config["tokenizer"]["train"]["steps"]
    entry = create_entry("seqgan_f16_1024", "smoke")
    first = build_tokenizer(phase1_entry(entry))
    second = build_tokenizer(entry)
    info = load_previous_phase(second, first.state_dict())
    assert info["new_params_from_scratch"] > 0
    assert torch.equal(second.encoder.conv_in.weight, first.encoder.conv_in.weight)
    with pytest.raises(ValueError, match="do not fit"):
        load_previous_phase(build_tokenizer(create_entry("seqgan_f16_1024", "smoke", {"model": {"n_embed": 32}})),
                            first.state_dict())


@pytest.mark.parametrize("reg", ["entropy", "kmeans", "fn", "none"])
def test_table5_codebook_regularisers_build_and_train(reg):
    changes = {"codebook_reg": reg} | ({"embed_dim": 32, "n_embed": 512} if reg == "fn" else {})
    model = build_tokenizer(create_entry("seqgan_baseline_f16_1024", "smoke", {"model": changes}))
    out = model(torch.rand(2, 3, 32, 32) * 2 - 1)
    out.qloss.backward()
    assert torch.isfinite(out.qloss) and out.indices.max() < model.codebook_size


def test_two_phase_training_end_to_end(tmp_path):
    """phase 1 (alpha=1, baseline decoder) -> phase 2 (frozen encoder/codebook, attention decoder) -> eval."""
    import json

    import pandas as pd

    from bench.stages.base import stage_dir
    from bench.suite import run_suite

    over = ["suite=recon", "tokenizer=seqgan_f16_1024", "train.steps=2", "launcher=debug", "scale.eval.max_images=8",
            f"paths.work_dir={tmp_path / 'w'}", f"paths.results_dir={tmp_path / 'r'}"]
    assert run_suite(compose(over)) == 0
    p1, p2, _ = plan(compose(over))
    s1 = load_artifact(stage_dir(tmp_path / "w", p1.key) / "tokenizer.safetensors")["state_dict"]
    s2 = load_artifact(stage_dir(tmp_path / "w", p2.key) / "tokenizer.safetensors")["state_dict"]
    for key in [k for k in s1 if k.startswith(("encoder.", "quantize."))]:
        assert torch.equal(s1[key], s2[key]), key  # the discrete latent space is fixed in phase 2
    assert not torch.equal(s1["decoder.conv_out.weight"], s2["decoder.conv_out.weight"])
    done = json.loads((stage_dir(tmp_path / "w", p2.key) / "done.json").read_text())
    assert done["init_from"] == p1.key and done["frozen_params"] > 0
    assert len(pd.read_csv(tmp_path / "r" / "recon" / "results.csv")) > 0
