"""clean-fid fixtures from the clean-fid library (GaParmar/clean-fid; the pip package in vqbench's venv), unchanged.

Ran: cleanfid.resize.make_resizer('PIL', False, 'bicubic', (32, 32)) (mode='clean''s resizer at a small size) and
cleanfid.fid.compute_fid(dir1, dir2, mode='clean', custom_feat_extractor=...) plus get_folder_features on PNG folders
of fixed images. The Inception weights are a download, so the feature extractor is a seeded stand-in (average-pool
to 4 x 4, then a fixed linear map to 8 features) that receives exactly what clean-fid feeds Inception: the clean
299 x 299 float32 resize as a (B, 3, 299, 299) tensor in [0, 255]. Its weights are stored in the fixture.

    python tools/official_fixtures/cleanfid.py   # after `fetch github:GaParmar/clean-fid`
"""
from __future__ import annotations

import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from tools.official_fixtures.common import mirror_commit, save_fixture

REPO = "GaParmar/clean-fid"
MIRROR = Path("/work/.mirror/GaParmar+clean-fid/repo")
SIZES = ((20, 30), (33, 17), (25, 25), (40, 28), (18, 22), (31, 45), (27, 27), (16, 36))


class PoolProject(nn.Module):
    """Stand-in for Inception: (B, 3, 299, 299) in [0, 255] -> adaptive average pool 4 x 4 -> Linear(48, 8)."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x.float() / 255.0, 4).flatten(1) @ self.weight.T


def images(seed: int) -> list[np.ndarray]:
    """Fixed uint8 RGB images of several sizes (gradients plus noise)."""
    rng = np.random.default_rng(seed)
    out = []
    for h, w in SIZES:
        yy, xx = np.mgrid[0:h, 0:w]
        base = (yy * (seed + 3) + xx * 5)[..., None] + rng.integers(0, 120, (1, 1, 3))
        out.append(((base + rng.integers(0, 60, (h, w, 3))) % 256).astype(np.uint8))
    return out


def main() -> None:
    here = Path(__file__).resolve().parent  # this script is named cleanfid.py: keep it from shadowing the library
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from cleanfid import fid
    from cleanfid.resize import make_resizer

    torch.manual_seed(0)
    weight = torch.randn(8, 48)
    extractor = PoolProject(weight).eval()
    a, b = images(1), images(2)
    tensors = {"weight": weight}
    resize32 = make_resizer("PIL", False, "bicubic", (32, 32))
    for i, img in enumerate(a):
        tensors[f"a{i}"], tensors[f"b{i}"] = torch.from_numpy(a[i]), torch.from_numpy(b[i])
        if i < 3:
            tensors[f"a{i}_clean32"] = torch.from_numpy(np.ascontiguousarray(resize32(img)))
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [Path(tmp) / "a", Path(tmp) / "b"]
        for d, imgs in zip(dirs, (a, b), strict=True):
            d.mkdir()
            for i, img in enumerate(imgs):
                Image.fromarray(img).save(d / f"{i:02d}.png")
        kw = dict(mode="clean", num_workers=0, batch_size=4, device=torch.device("cpu"), verbose=False)
        tensors["feats_a"] = torch.from_numpy(fid.get_folder_features(str(dirs[0]), extractor, **kw))
        score = fid.compute_fid(str(dirs[0]), str(dirs[1]), custom_feat_extractor=extractor,
                                use_dataparallel=False, **kw)
    tensors["fid"] = torch.tensor(score, dtype=torch.float64)
    save_fixture("clean-fid", "clean_mode", tensors, repo=REPO, commit=mirror_commit(MIRROR),
                 source="cleanfid/fid.py, cleanfid/resize.py",
                 function="compute_fid(mode='clean', custom_feat_extractor) / get_folder_features / make_resizer",
                 notes="a*, b*: the images of the two PNG folders (sorted names); a*_clean32: make_resizer('PIL', "
                       "False, 'bicubic', (32, 32)); extractor: adaptive_avg_pool2d(x / 255, 4).flatten(1) @ weight.T",
                 extra={"clean_fid_version": version("clean-fid")})


if __name__ == "__main__":
    main()
