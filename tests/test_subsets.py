"""Subsets of a split are seeded random draws across the whole split, recorded as protocol facts; no subset
requested means every image in sorted order (the default smoke suite's evaluation is unchanged)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.data.imagefolder import ImageFolder, Protocol, list_images
from tasks.data.subset import draw_indices

N_CLASSES, PER_CLASS = 8, 5


@pytest.fixture()
def class_folders(tmp_path: Path) -> Path:
    """An ImageNet-style split: 8 class folders of 5 tiny PNGs each."""
    rng = np.random.default_rng(0)
    for c in range(N_CLASSES):
        d = tmp_path / "val" / f"n{c:08d}"
        d.mkdir(parents=True)
        for i in range(PER_CLASS):
            Image.fromarray(rng.integers(0, 255, (6, 6, 3), dtype=np.uint8)).save(d / f"img{i}.png")
    return tmp_path


def _classes(data: ImageFolder) -> set[str]:
    return {p.parent.name for p in data.paths}


def test_subset_is_a_seeded_draw_across_classes(class_folders: Path):
    data = ImageFolder(class_folders, "val", Protocol(4), max_images=10)
    assert len(data) == 10
    assert len(_classes(data)) >= 4  # the first 10 sorted files would be 2 classes
    again = ImageFolder(class_folders, "val", Protocol(4), max_images=10)
    assert again.paths == data.paths  # seeded: the same draw every time
    other = ImageFolder(class_folders, "val", Protocol(4), max_images=10, subset_seed=1)
    assert other.paths != data.paths
    assert data.paths == sorted(data.paths)  # read in split order
    facts = data.subset.facts()
    assert facts["subset_count"] == 10 and facts["subset_of"] == N_CLASSES * PER_CLASS and facts["subset_seed"] == 0
    # labels keep the whole split's class ids, whatever classes the draw hit
    full = ImageFolder(class_folders, "val", Protocol(4))
    assert data.class_to_idx == full.class_to_idx
    assert all(data.label(p) == full.label(p) for p in data.paths)


def test_no_subset_means_every_image_in_sorted_order(class_folders: Path):
    data = ImageFolder(class_folders, "val", Protocol(4), max_images=None)
    assert data.paths == list_images(class_folders, "val")
    assert data.subset.seed is None and data.subset.facts()["subset"] == "all, in split order"
    big = ImageFolder(class_folders, "val", Protocol(4), max_images=10_000)
    assert big.paths == data.paths


def test_draw_spans_the_range():
    pick, draw = draw_indices(50_000, 1000, seed=3)
    assert len(set(pick)) == 1000 and pick == sorted(pick) and draw.of == 50_000
    assert max(pick) > 45_000 and min(pick) < 5_000  # not a prefix
    with pytest.raises(ValueError):
        draw_indices(10, 0, 0)
