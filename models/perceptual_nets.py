"""The pretrained backbones the perceptual losses use (LPIPS-VGG/Alex heads, torchvision VGG16), found offline.

They sit in `models` because training losses need them; the metrics in `tasks` load the same networks from here.
"""
from __future__ import annotations

import contextlib
import io

import torch
from torch import nn

from bench.core.provenance import state_dict_hash
from bench.core.weights import WeightsSpec, find_weights


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


def build_vgg16(mode: str, seed: int, weights_dir: str | None) -> nn.Module:
    """torchvision VGG16 with local ImageNet weights (vgg16-397923af.pth) or seeded random ones."""
    from torchvision.models import vgg16

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = vgg16(weights=None)
    if mode == "pretrained":
        model.load_state_dict(torch.load(find_weights("vgg", weights_dir), map_location="cpu", weights_only=True))
    return model
