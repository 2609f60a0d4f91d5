"""Where real pretrained weights are looked up (never downloaded) and how random smoke-scale weights are named.

Files are found in `weights_dir` (if configured) and then in the torch hub cache (`torch.hub.get_dir()/checkpoints`),
under the file names the libraries would download.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

WEIGHT_FILES = {  # file names torchvision / torch-fidelity download under; users drop them in place
    "inception": "weights-inception-2015-12-05-6726825d.pth",
    "vgg": "vgg16-397923af.pth",
    "alex": "alexnet-owt-7be5be79.pth",
}
MODES = ("pretrained", "random")


class MissingWeightsError(FileNotFoundError):
    """A metric network's pretrained weights are not on disk; the message says where to put them."""


@dataclass(frozen=True)
class WeightsSpec:
    """How to obtain metric-network weights: mode, seed for random, optional directory for real ones."""

    mode: str = "pretrained"
    seed: int = 0
    weights_dir: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"metric weights mode must be one of {MODES}, got '{self.mode}'")


def find_weights(key: str, weights_dir: str | None) -> Path:
    """Path of the real weights file for `key`, or MissingWeightsError naming file and locations."""
    name = WEIGHT_FILES[key]
    candidates = ([Path(weights_dir).expanduser() / name] if weights_dir else [])
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / name)
    for path in candidates:
        if path.is_file():
            return path
    raise MissingWeightsError(
        f"pretrained {key} weights not found: need file '{name}'. Put it at one of: "
        + ", ".join(str(c) for c in candidates)
        + " (set metrics.weights_dir=DIR or TORCH_HOME to use another folder). vqbench never downloads weights;"
        " for a CPU smoke run without them use scale=smoke (metrics.weights=random), whose numbers are labelled"
        " as coming from random weights."
    )
