"""Metric networks (Inception for FID, VGG/AlexNet for LPIPS): real weights found offline, or seeded random ones.

Real weights are never downloaded: they are looked up in `weights_dir` (if configured) and then in the
torch hub cache (`torch.hub.get_dir()/checkpoints`), under the file names the libraries would download.
At smoke scale, `mode='random'` builds the same architectures with seeded random weights and runs them
through the *same* lpips / torch-fidelity modules; every record carries the resulting weights hash.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bench.atomic import atomic_path
from bench.provenance import state_dict_hash
from tasks.paths import cache_dir

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


def load_lpips(net: str, spec: WeightsSpec) -> tuple[nn.Module, str]:
    """lpips.LPIPS(net) in eval mode with its shipped linear heads; returns (module, weights hash)."""
    import lpips  # heavy import, only when a metric needs it

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        with contextlib.redirect_stdout(io.StringIO()):  # lpips prints its load messages
            model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)  # backbone built without downloading
    if spec.mode == "pretrained":
        _load_backbone(model, torch.load(find_weights(net, spec.weights_dir), map_location="cpu", weights_only=True))
    model.eval().requires_grad_(False)
    return model, state_dict_hash(model)


def _load_backbone(model: nn.Module, tv_state: dict[str, torch.Tensor]) -> None:
    """Copy torchvision `features.<i>.*` weights into lpips' slices, which keep torchvision's layer indices."""
    own = {}
    for name, _ in model.net.named_parameters():  # e.g. 'slice2.5.weight' <- 'features.5.weight'
        _, idx, kind = name.split(".")
        own[name] = tv_state[f"features.{idx}.{kind}"]
    missing = model.net.load_state_dict(own, strict=False)
    if missing.missing_keys:
        raise RuntimeError(f"LPIPS backbone weights incomplete, missing {missing.missing_keys}")


def load_inception(spec: WeightsSpec, features: tuple[str, ...] = ("2048", "logits_unbiased")) -> tuple[nn.Module, str]:
    """torch-fidelity's InceptionV3 ('inception-v3-compat'); returns (module, weights hash)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    if spec.mode == "pretrained":
        path = find_weights("inception", spec.weights_dir)
    else:
        path = _random_inception_file(spec.seed)
    model = FeatureExtractorInceptionV3("inception-v3-compat", list(features), feature_extractor_weights_path=str(path))
    return model, state_dict_hash(model)


def _random_inception_file(seed: int) -> Path:
    """A seeded random state dict with torch-fidelity's exact Inception layout, saved once and cached."""
    path = cache_dir("metric_weights") / f"inception-random-seed{seed}.pth"
    if not path.is_file():
        with torch.random.fork_rng(devices=[]):  # the 1-d parameters (fc.bias) keep their seeded default init
            torch.manual_seed(seed)
            skeleton = _inception_skeleton()
        gen = torch.Generator().manual_seed(seed)
        for name, p in skeleton.named_parameters():
            if p.dim() > 1:  # He-normal keeps activations alive through ~50 random layers
                fan_in = p[0].numel()
                p.data = torch.randn(p.shape, generator=gen) * (2.0 / fan_in) ** 0.5
        with atomic_path(path) as tmp:
            torch.save(skeleton.state_dict(), tmp)
    return path


def _inception_skeleton() -> nn.Module:
    """torch-fidelity's Inception layers without loading weights (strict loading later checks the layout)."""
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    m = nn.Module()
    m.Conv2d_1a_3x3 = fe.BasicConv2d(3, 32, kernel_size=3, stride=2)
    m.Conv2d_2a_3x3 = fe.BasicConv2d(32, 32, kernel_size=3)
    m.Conv2d_2b_3x3 = fe.BasicConv2d(32, 64, kernel_size=3, padding=1)
    m.Conv2d_3b_1x1 = fe.BasicConv2d(64, 80, kernel_size=1)
    m.Conv2d_4a_3x3 = fe.BasicConv2d(80, 192, kernel_size=3)
    m.Mixed_5b = fe.InceptionA(192, pool_features=32)
    m.Mixed_5c = fe.InceptionA(256, pool_features=64)
    m.Mixed_5d = fe.InceptionA(288, pool_features=64)
    m.Mixed_6a = fe.InceptionB(288)
    m.Mixed_6b = fe.InceptionC(768, channels_7x7=128)
    m.Mixed_6c = fe.InceptionC(768, channels_7x7=160)
    m.Mixed_6d = fe.InceptionC(768, channels_7x7=160)
    m.Mixed_6e = fe.InceptionC(768, channels_7x7=192)
    m.Mixed_7a = fe.InceptionD(768)
    m.Mixed_7b = fe.InceptionE_1(1280)
    m.Mixed_7c = fe.InceptionE_2(2048)
    m.fc = nn.Linear(2048, 1008)
    return m


def load_vgg16_features(spec: WeightsSpec) -> tuple[nn.Module, str]:
    """torch-fidelity's VGG16 fc2 extractor (precision/recall), from torchvision's vgg16 file or seeded weights."""
    from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

    if spec.mode == "pretrained":
        path = find_weights("vgg", spec.weights_dir)
    else:
        path = cache_dir("metric_weights") / f"vgg16-random-seed{spec.seed}.pth"
        if not path.is_file():
            from torchvision.models import vgg16

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(spec.seed)
                state = vgg16(weights=None).state_dict()
            with atomic_path(path) as tmp:
                torch.save(state, tmp)
    model = FeatureExtractorVGG16("vgg16-fc2", ["fc2"], feature_extractor_weights_path=str(path))
    return model, state_dict_hash(model)
