"""RQ-VAE's FFHQ training augmentation against torchvision's own transforms (issue 22 item 17).

kakaobrain/rq-vae-transformer@341395e `rqvae/img_datasets/transforms.py` (ffhq branch) composes torchvision's
RandomResizedCrop(256, scale=(0.75, 1.0), ratio=(1.0, 1.0)) and RandomHorizontalFlip(0.5): the reference here is that
Compose, run by torchvision under the same seed on a fixture image.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from official import load_fixture
from PIL import Image


def _official(resolution: int):
    from torchvision import transforms

    return transforms.Compose([transforms.RandomResizedCrop(resolution, scale=(0.75, 1.0), ratio=(1.0, 1.0)),
                               transforms.RandomHorizontalFlip(p=0.5)])


@pytest.mark.parametrize("seed", range(6))
def test_resized_crop_flip_equals_torchvision(seed: int):
    from tasks.data.imagefolder import Protocol, resize_center_crop, resize_crop_tensor

    t, _ = load_fixture("VQGAN-LC", "eval_resize")
    img = Image.fromarray(t["image5"].numpy())  # 120 x 90, not square: the box's both sides are drawn
    torch.manual_seed(seed)
    ref = np.asarray(_official(48)(img))
    p = Protocol(48, augment="random_resized_crop_flip")
    torch.manual_seed(seed)
    assert np.array_equal(np.asarray(resize_center_crop(img, p)), ref)
    # an explicit generator gives the same draws as the global RNG seeded alike
    assert np.array_equal(np.asarray(resize_center_crop(img, p, torch.Generator().manual_seed(seed))), ref)
    torch.manual_seed(seed)
    x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)
    out = resize_crop_tensor(x, p).permute(1, 2, 0).numpy()
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 2  # torchvision's tensor resize vs PIL's


def test_box_matches_get_params_and_falls_back_to_centre():
    from torchvision.transforms import RandomResizedCrop

    from tasks.data.augment import resized_crop_box

    img = Image.new("RGB", (300, 200))
    for seed in range(20):
        torch.manual_seed(seed)
        ref = RandomResizedCrop.get_params(img, [0.75, 1.0], [1.0, 1.0])
        torch.manual_seed(seed)
        assert resized_crop_box(300, 200) == tuple(ref)
    # square crops of >= 0.75 of a 300 x 10 strip never fit: torchvision's fallback, the central crop
    torch.manual_seed(0)
    ref = RandomResizedCrop.get_params(Image.new("RGB", (300, 10)), [0.75, 1.0], [1.0, 1.0])
    assert resized_crop_box(300, 10) == tuple(ref)


def test_rqvae_ffhq_recipe_uses_it_and_a_square_image_really_changes():
    """On a square image the old random crop after the shorter-side resize was the identity; this one is not."""
    from models.recipes import recipe_for
    from tasks.data.imagefolder import Protocol, resize_center_crop

    assert recipe_for("rqvae", "ffhq").train["augment"] == "random_resized_crop_flip"
    assert recipe_for("rqvae", "imagenet").train["augment"] == "random_crop_flip"
    sq = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    torch.manual_seed(3)
    out = np.asarray(resize_center_crop(sq, Protocol(64, augment="random_resized_crop_flip")))
    assert not np.array_equal(out, np.asarray(sq)) and not np.array_equal(out, np.asarray(sq)[:, ::-1])
