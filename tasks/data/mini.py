"""Small real-image sets built from photos that installed packages ship (no downloads), cached as image folders.

mini_natural: crops of the RGB photos in skimage.data and sklearn's sample images, split by *source photo*
  so validation crops come from photos never trained on. mini_faces: the 100 faces of skimage's lfw_subset.
Both are deterministic (fixed seed, fixed photo order) and built once into $VQBENCH_CACHE/datasets.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from bench.core.paths import cache_dir

VERSION = "v1"  # bump when the recipe changes, so caches and golden numbers move together
NATURAL_TRAIN = ("astronaut", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "china")
NATURAL_VAL = ("coffee", "flower")
CROPS = {"train": 60, "val": 40}


def _photo(name: str) -> np.ndarray:
    """One shipped RGB photo as uint8 (H, W, 3)."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image
        return load_sample_image(f"{name}.jpg")
    import skimage.data
    return getattr(skimage.data, name)()[..., :3]


def _write_atomically(name: str, fill) -> Path:
    """Build a dataset folder in a temp dir beside the cache, then rename it into place."""
    final = cache_dir("datasets") / f"{name}-{VERSION}"
    if (final / "DONE").is_file():
        return final
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        fill(tmp)
        (tmp / "DONE").write_text(VERSION)
        if final.exists() and not (final / "DONE").is_file():
            # a partial folder from an older build: move it aside atomically, never delete under a reader
            final.rename(Path(tempfile.mkdtemp(prefix=f".{name}-stale-", dir=final.parent)) / "old")
        try:
            tmp.rename(final)
        except OSError:  # another process renamed its identical build into place first: use that one
            if not (final / "DONE").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def build_mini_natural() -> Path:
    """Random crops (side 64-160 px, aspect up to 4:3) of 9 photos: 7 train photos x 60, 2 val photos x 40."""
    def fill(root: Path) -> None:
        rng = np.random.RandomState(0)
        for split, photos in (("train", NATURAL_TRAIN), ("val", NATURAL_VAL)):
            (root / split).mkdir(parents=True)
            for photo in photos:
                img = _photo(photo)
                h, w = img.shape[:2]
                for i in range(CROPS[split]):
                    side = int(rng.randint(64, 161))
                    ch, cw = (side, int(side * rng.uniform(1.0, 4 / 3)))[:: 1 if rng.rand() < 0.5 else -1]
                    ch, cw = min(ch, h), min(cw, w)
                    y, x = rng.randint(0, h - ch + 1), rng.randint(0, w - cw + 1)
                    Image.fromarray(img[y:y + ch, x:x + cw]).save(root / split / f"{photo}_{i:03d}.png")
    return _write_atomically("mini_natural", fill)


def build_mini_faces() -> Path:
    """The 100 face images (25x25 grey) of skimage.data.lfw_subset(): first 80 train, last 20 val."""
    def fill(root: Path) -> None:
        import skimage.data
        faces = skimage.data.lfw_subset()[:100]  # the subset stores 100 faces, then 100 non-faces
        for split, idx in (("train", range(0, 80)), ("val", range(80, 100))):
            (root / split).mkdir(parents=True)
            for i in idx:
                Image.fromarray(np.round(faces[i] * 255).astype(np.uint8)).save(root / split / f"face_{i:03d}.png")
    return _write_atomically("mini_faces", fill)


def build_mini_digits() -> Path:
    """The 1,797 handwritten digits of sklearn.datasets.load_digits() (8x8, 17 grey levels) as 10 class folders:
    every 6th image of each class to val (about 300), the rest to train; the labelled set for class-conditional
    smoke runs (priors with a class token, classification on tokens)."""
    def fill(root: Path) -> None:
        from sklearn.datasets import load_digits
        digits = load_digits()
        seen = np.zeros(10, dtype=int)
        for i, (img, label) in enumerate(zip(digits.images, digits.target, strict=True)):
            split = "val" if seen[label] % 6 == 5 else "train"
            seen[label] += 1
            folder = root / split / f"digit_{label}"
            folder.mkdir(parents=True, exist_ok=True)
            grey = np.round(img / 16.0 * 255).astype(np.uint8)
            Image.fromarray(np.repeat(grey[..., None], 3, 2)).save(folder / f"{i:04d}.png")
    return _write_atomically("mini_digits", fill)
