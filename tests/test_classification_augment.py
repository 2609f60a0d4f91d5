"""MAE's fine-tuning augmentations on token maps (issue 22 item 15), against timm's own Mixup / RandomErasing."""
from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import torch

from tasks.classification import CLASSIFIERS, ClassifierConfig, TokenAugment, TokenEmbed, build_classifier


def _batch(b: int = 8, h: int = 4, w: int = 5):
    """Token maps with no token shared between two positions, so a pasted token is always recognisable."""
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(b * h * w, generator=g).reshape(b, h, w, 1)
    y = torch.randint(0, 10, (b,), generator=g)
    torch.manual_seed(0)
    return idx, y, TokenEmbed(b * h * w, 16, 1)


def _grid(embed: TokenEmbed, idx: torch.Tensor) -> torch.Tensor:
    b, h, w, _ = idx.shape
    return embed.embed(idx).reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous()  # (B, D, h, w)


def test_paper_scale_follows_mae_finetune_md_and_smoke_turns_them_off():
    paper, smoke = CLASSIFIERS.get("vit_b_tokens")["paper"], CLASSIFIERS.get("vit_b_tokens")["smoke"]
    assert (paper.mixup, paper.cutmix, paper.reprob, paper.label_smoothing) == (0.8, 1.0, 0.25, 0.1)
    assert smoke.augments() == "none" and "Mixup" in paper.augments()


@pytest.mark.parametrize("seed", range(10))
def test_mixup_cutmix_equal_timms_mixup_on_the_embedding_grid(seed: int):
    from timm.data import Mixup

    idx, y, embed = _batch()
    cfg = ClassifierConfig(reprob=0.0)
    with torch.no_grad():
        np.random.seed(seed)
        seq, target = TokenAugment(cfg, 10, torch.device("cpu"))(embed, idx, y)
        np.random.seed(seed)
        ref, ref_target = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, mode="batch",
                                label_smoothing=0.1, num_classes=10)(_grid(embed, idx), y)
    assert torch.equal(seq, ref.flatten(2).transpose(1, 2)) and torch.allclose(target, ref_target)
    # independent of timm: CutMix pastes whole tokens of the flipped batch (a rectangle), and the label weight is
    # the kept area; Mixup blends the two embeddings with that weight
    e, ef = embed(idx), embed(idx.flip(0))
    lam = float(target[0, y[0]] - 0.1 / 10) / 0.9 if y[0] != y.flip(0)[0] else None
    own = (seq == e).all(-1)
    if (own | (seq == ef).all(-1)).all():  # CutMix
        pasted = (~own[0]).reshape(4, 5)
        rows, cols = pasted.any(1).nonzero().flatten(), pasted.any(0).nonzero().flatten()
        if len(rows):
            assert pasted[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
        if lam is not None:
            assert lam == pytest.approx(1 - pasted.float().mean().item(), abs=1e-6)
    elif lam is not None:  # Mixup
        assert torch.allclose(seq, lam * e + (1 - lam) * ef, atol=1e-5)


def test_random_erasing_is_timms_pixel_mode_on_the_grid():
    from timm.data.random_erasing import RandomErasing

    idx, y, embed = _batch()
    cfg = ClassifierConfig(mixup=0.0, cutmix=0.0, reprob=1.0)
    with torch.no_grad():
        random.seed(3)
        torch.manual_seed(3)
        seq, target = TokenAugment(cfg, 10, torch.device("cpu"))(embed, idx, y)
        random.seed(3)
        torch.manual_seed(3)
        ref = RandomErasing(1.0, mode="pixel", max_count=1, device="cpu")(_grid(embed, idx))
    assert torch.equal(seq, ref.flatten(2).transpose(1, 2))
    assert not torch.equal(seq, embed(idx))  # something was erased
    assert torch.allclose(target.sum(1), torch.ones(8)) and (target.argmax(1) == y).all()  # smoothed one-hot


def test_training_with_the_augmentations_runs_and_backpropagates_into_the_embedding():
    from tasks.classification import train_and_evaluate

    g = torch.Generator().manual_seed(1)
    tr, tr_y = torch.randint(0, 30, (21, 4, 4, 1), generator=g), torch.randint(0, 3, (21,), generator=g)
    cfg = dataclasses.replace(CLASSIFIERS.get("vit_b_tokens")["smoke"], mixup=0.8, cutmix=1.0, reprob=0.25,
                              epochs=2, batch_size=8, embed_dim=16, depth=1, heads=2)
    model = build_classifier(cfg, 30, (4, 4, 1), 3)
    before = model.patch_embed.embed.weight.detach().clone()
    res = train_and_evaluate(cfg, model, tr, tr_y, tr[:6], tr_y[:6], 0, torch.device("cpu"))
    assert np.isfinite(res["final_loss"]) and res["steps"] == 6
    assert not torch.equal(before, model.patch_embed.embed.weight)
