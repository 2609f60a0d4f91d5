"""The dataset options a user may set (`dataset.*`), with their defaults: the one definition.

The Hydra `dataset/<name>` options and the config schema (bench/plan/config.py), the planner's dataset dict
(bench/plan/planner.py), the image protocol (tasks/data/transforms.py Protocol) and the loaders
(tasks/data/registry.py, tasks/data/imagefolder.py) all read their defaults from `DatasetOptions` here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

Interpolation = Literal["bicubic", "bilinear", "lanczos", "area", "cv2_linear"]
Decoder = Literal["pil", "torchvision", "gpu"]
OnCorrupt = Literal["skip", "fail"]


@dataclass(frozen=True)
class DatasetOptions:
    """dataset.<field>: where the images are, what to do with unreadable ones, and how they are resized and decoded."""

    root: str | None = None  # None: the dataset's env var, else the built-in builder (tasks/data/registry.py)
    file_list: str | None = None  # a text file of relative paths (taming's ffhqtrain.txt style)
    on_corrupt: OnCorrupt = "skip"  # skip (counted) or fail on an unreadable image
    interpolation: Interpolation = "bicubic"  # the shorter-side resize (cv2_linear: VQGAN-LC's eval resize)
    # pil: PIL decode + resize. torchvision: same libjpeg IDCT, torchvision's uint8 resize (one grey level off PIL
    # on ~0.35% of pixels). gpu: workers read JPEG bytes, the rank decodes on its device (tasks/data/device_decode.py)
    decoder: Decoder = "pil"


DEFAULTS = DatasetOptions()


def dataset_defaults() -> dict[str, Any]:
    """Every dataset option at its default, as the plain dict a config or stage holds."""
    return dataclasses.asdict(DEFAULTS)
