"""Metric networks (Inception for FID, VGG/AlexNet for LPIPS): real weights found offline, or seeded random ones.

Real weights are never downloaded: they are looked up in `weights_dir` (if configured) and then in the
torch hub cache (`torch.hub.get_dir()/checkpoints`), under the file names the libraries would download.
At smoke scale, `mode='random'` builds the same architectures with seeded random weights and runs them
through the *same* lpips / torch-fidelity modules; every record carries the resulting weights hash.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from bench.core.atomic import atomic_path
from bench.core.integrity import load_or_rebuild
from bench.core.paths import cache_dir
from bench.core.provenance import state_dict_hash
from bench.core.weights import WeightsSpec, find_weights

# Built metric networks, per process: (kind, file, its size and mtime, features) -> (module, weights hash). A
# process that evaluates several stages (launcher=debug, the tests) builds and hashes each network once (Inception
# ~3 s, VGG16 ~10 s on a CPU); a file rewritten since (a rebuilt cache) has another key. Callers share the module:
# they use it in eval mode and do not modify it.
_BUILT: dict[tuple, tuple[nn.Module, str]] = {}


def _memo(kind: str, path: Path, features: tuple[str, ...], build: Callable[[], nn.Module]) -> tuple[nn.Module, str]:
    """The network built from `path` once per process, with its weights hash."""
    st = Path(path).stat()
    key = (kind, str(Path(path).resolve()), st.st_size, st.st_mtime_ns, features)
    if key not in _BUILT:
        model = build()
        _BUILT[key] = (model, state_dict_hash(model))
    return _BUILT[key]


def load_inception(spec: WeightsSpec, features: tuple[str, ...] = ("2048", "logits_unbiased")) -> tuple[nn.Module, str]:
    """torch-fidelity's InceptionV3 ('inception-v3-compat'); returns (module, weights hash)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    if spec.mode == "pretrained":
        path = find_weights("inception", spec.weights_dir)
    else:
        path = _random_inception_file(spec.seed)
    return _memo("inception", path, features, lambda: FeatureExtractorInceptionV3(
        "inception-v3-compat", list(features), feature_extractor_weights_path=str(path)))


def _readable_state_dict(path: Path) -> None:
    """Raise unless `path` opens as a torch state dict (memory-mapped: a truncated or zero-filled file fails)."""
    torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def _random_inception_file(seed: int) -> Path:
    """The cached seeded random Inception weights, written once; a damaged file is set aside and rebuilt (one line)."""
    path = cache_dir("metric_weights") / f"inception-random-seed{seed}.pth"
    load_or_rebuild(path, _readable_state_dict, lambda p: _write_random_inception(seed, p), "random Inception weights")
    return path


def _write_random_inception(seed: int, path: Path) -> None:
    """A seeded random state dict with torch-fidelity's exact Inception layout, saved to `path` (the cache)."""
    with torch.random.fork_rng(devices=[]):  # the 1-d parameters (fc.bias) keep their seeded default init
        torch.manual_seed(seed)
        skeleton = _inception_skeleton()
    gen = torch.Generator().manual_seed(seed)
    for _name, p in skeleton.named_parameters():
        if p.dim() > 1:  # He-normal keeps activations alive through ~50 random layers
            fan_in = p[0].numel()
            p.data = torch.randn(p.shape, generator=gen) * (2.0 / fan_in) ** 0.5
    with atomic_path(path) as tmp:
        torch.save(skeleton.state_dict(), tmp)


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
    else:  # a damaged cached file is set aside and rebuilt, with one warning line
        path = cache_dir("metric_weights") / f"vgg16-random-seed{spec.seed}.pth"
        load_or_rebuild(path, _readable_state_dict, lambda p: _write_random_vgg16(spec.seed, p), "random VGG16 weights")
    return _memo("vgg16", path, ("fc2",), lambda: FeatureExtractorVGG16(
        "vgg16-fc2", ["fc2"], feature_extractor_weights_path=str(path)))


def _write_random_vgg16(seed: int, path: Path) -> None:
    """torchvision's vgg16 with its seeded default init, saved to `path` (the cache)."""
    from torchvision.models import vgg16

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        state = vgg16(weights=None).state_dict()
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
