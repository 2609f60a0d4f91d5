"""SeQ-GAN's stated base, MaskGIT's VQGAN trainer: StyleGAN discriminator, non-saturating loss, R1 (10), fixed
adversarial weight 0.1, Adam (0, 0.99). Checked against the formulas of maskgit/libml/losses.py and its config."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bench.plan.recipes import resolve_entry
from models.discriminator import StyleGANDiscriminator
from models.losses import LossConfig, VQLPIPSWithDiscriminator, non_saturating_d_loss, r1_penalty
from models.recipes import recipe_for


def test_non_saturating_losses_follow_maskgit():
    """losses.py: D = mean(sce(1, real) + sce(0, fake)); G = mean(sce(1, fake)); sce = softplus form."""
    real, fake = torch.randn(5, 1), torch.randn(5, 1)
    sce = F.binary_cross_entropy_with_logits
    want = sce(real, torch.ones_like(real), reduction="none") + sce(fake, torch.zeros_like(fake), reduction="none")
    assert torch.allclose(non_saturating_d_loss(real, fake), want.mean())


def test_r1_is_the_batch_mean_of_squared_input_gradients():
    torch.manual_seed(0)
    disc = StyleGANDiscriminator(8, max_width=8)
    x = torch.randn(3, 3, 8, 8)
    per_sample = []
    for i in range(3):  # no normalisation layers: each sample's gradient is its own
        xi = x[i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(disc(xi).sum(), xi)
        per_sample.append(g.pow(2).sum())
    assert torch.allclose(r1_penalty(disc, x), torch.stack(per_sample).mean(), rtol=1e-5)


def test_stylegan_discriminator_shapes_and_downsampling():
    disc = StyleGANDiscriminator(32, max_width=16)
    assert disc(torch.randn(2, 3, 32, 32)).shape == (2, 1)
    assert len(disc.blocks) == 3  # 32 -> 16 -> 8 -> 4, as MaskGIT's range(log2(size), 2, -1)
    with pytest.raises(ValueError, match="power-of-two"):
        StyleGANDiscriminator(48)


def test_generator_term_uses_the_fixed_weight_and_softplus():
    cfg = LossConfig(disc_start=0, disc_arch="stylegan", disc_max_width=8, disc_loss="non_saturating",
                     adaptive_weight=False, disc_weight=0.1, r1_gamma=10.0, perceptual_weight=0.0)
    crit = VQLPIPSWithDiscriminator(cfg, torch.nn.Identity(), image_size=8)
    x, recon = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8, requires_grad=True)
    _, terms = crit.generator_loss(x, recon, torch.zeros(()), 0, recon)
    assert float(terms["d_weight"]) == pytest.approx(0.1)
    assert float(terms["g_loss"]) == pytest.approx(float(F.softplus(-crit.discriminator(recon)).mean()), rel=1e-5)
    d_loss, d_terms = crit.discriminator_loss(x, recon, 0)
    assert "r1" in d_terms and float(d_loss) == pytest.approx(float(d_terms["d_loss"] + 10.0 * d_terms["r1"]), rel=1e-5)


def test_seqgan_paper_recipe_is_maskgit_and_taming_is_selectable():
    maskgit, taming = recipe_for("seqgan", "imagenet"), recipe_for("seqgan_taming", "imagenet")
    assert maskgit.train["betas"] == (0.0, 0.99) and maskgit.loss["r1_gamma"] == 10.0
    assert maskgit.loss["disc_arch"] == "stylegan" and maskgit.loss["adaptive_weight"] is False
    assert maskgit.loss["disc_weight"] == 0.1 and "vqgan_config.py" in maskgit.sources["loss.disc_weight"]
    assert maskgit.length == taming.length and maskgit.phase2_length == taming.phase2_length  # paper-stated
    assert taming.train["betas"] == (0.5, 0.9) and "disc_arch" not in taming.loss
    d = {"name": "imagenet", "root": None, "resolution": 256}
    e = resolve_entry("seqgan_f16_1024", "paper", {}, d, "seqgan")
    assert e.loss.disc_arch == "stylegan" and e.train.betas == (0.0, 0.99)
    e2 = resolve_entry("seqgan_f16_1024", "paper", {}, d, "seqgan_taming")
    assert e2.loss.disc_arch == "patchgan" and e2.loss.adaptive_weight


def test_maskgit_recipe_trains_at_smoke_scale(tmp_path: Path):
    """The MaskGIT GAN path end to end: a few steps with R1 and the fixed weight, through the real trainer."""
    from bench.core.weights import WeightsSpec
    from bench.training.tokenizer import train_tokenizer
    from models.registry import create_entry
    from tasks.data.imagefolder import Protocol
    from tasks.data.registry import DATASETS

    entry = create_entry("seqgan_f16_1024", "smoke", {
        "loss": {"disc_start": 0, "disc_arch": "stylegan", "disc_max_width": 16, "disc_loss": "non_saturating",
                 "adaptive_weight": False, "disc_weight": 0.1, "r1_gamma": 10.0},
        "train": {"steps": 3, "batch_size": 2, "num_workers": 0}})
    entry = dataclasses.replace(entry, phase1=None)
    data = DATASETS.get("mini_faces").open("train", Protocol(entry.model.resolution))
    train_tokenizer(entry, data, tmp_path, 0, torch.device("cpu"), WeightsSpec("random", 0))
    rows = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "r1" in r]
    assert len(steps) == 3 and all(r["d_weight"] == pytest.approx(0.1) for r in steps)
    assert all(torch.isfinite(torch.tensor(r["r1"])) for r in steps)
