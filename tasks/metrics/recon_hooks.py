"""What an evaluation protocol decides in a reconstruction evaluation (tasks/reconstruction.py): the images each
metric sees and which implementation computes it. Each protocol in tasks/metrics/protocols.py carries one
`ReconHooks`, so the evaluator never branches on a protocol's name.

- UINT8_HOOKS: vqbench's default (taming / torch-fidelity): every metric sees the uint8-rounded images.
- FLOAT_CLEAN_HOOKS: zh460045050/VQGAN-LC `vqgan-gpt-lc/eval_reconstruction.py` (see tasks/metrics/vqganlc.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from tasks.metrics import vqganlc
from tasks.metrics.fid import inception_pool
from tasks.metrics.image import PSNR, SSIM, to_uint8


class Streaming(Protocol):
    """A metric accumulated over batches of (real, fake) images."""

    def update(self, real: torch.Tensor, fake: torch.Tensor) -> None: ...

    def compute(self) -> float: ...


@dataclass(frozen=True)
class ReconBatch:
    """One evaluated batch as every reconstruction metric sees it."""

    x: torch.Tensor  # input images in [-1, 1], on `device`
    recon: torch.Tensor  # decoded images, on `device`
    indices: torch.Tensor  # the tokenizer's codes
    real: torch.Tensor  # the protocol's metric inputs (host): uint8, or float [0, 1]
    fake: torch.Tensor
    fake_u8: torch.Tensor  # the reconstructions as saved uint8 images (host, NCHW)
    device: torch.device


@dataclass(frozen=True)
class ReconHooks:
    """The protocol-specific steps of a reconstruction evaluation."""

    images: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # (real, fake, u8)
    psnr: Callable[[str], Streaming]  # colour ('rgb' / 'y') -> streaming PSNR
    ssim: Callable[[], Streaming]
    lpips: Callable[[nn.Module, ReconBatch], torch.Tensor]  # per-image distances
    fid_features: Callable[[nn.Module, torch.Tensor, torch.device], torch.Tensor]  # uint8 NCHW -> Inception pool3
    # rFID reference: None scores each batch's own real images; else features of the raw files at the given paths
    raw_reference: Callable[[nn.Module, list[Path], torch.device], torch.Tensor] | None = None


def _uint8_images(x: torch.Tensor, recon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    real, fake = to_uint8(x).cpu(), to_uint8(recon).cpu()
    return real, fake, fake


def _uint8_lpips(net: nn.Module, b: ReconBatch) -> torch.Tensor:
    # LPIPS sees the uint8-rounded images, like every other metric here
    return net(b.real.to(b.device).float() / 127.5 - 1, b.fake.to(b.device).float() / 127.5 - 1)


def _uint8_fid(inception: nn.Module, u8: torch.Tensor, device: torch.device) -> torch.Tensor:
    return inception_pool(inception, u8.to(device))


UINT8_HOOKS = ReconHooks(_uint8_images, PSNR, lambda: SSIM(data_range=1.0), _uint8_lpips, _uint8_fid)


def _lc_images(x: torch.Tensor, recon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # float [0, 1] images, recon clamped; the rFID reconstructions go through plt.imsave's PNG (np.uint8 truncation)
    return (vqganlc.to_unit(x, clamp=False).cpu(), vqganlc.to_unit(recon, clamp=True).cpu(),
            vqganlc.saved_png_uint8(recon).cpu())


def _lc_lpips(net: nn.Module, b: ReconBatch) -> torch.Tensor:
    return vqganlc.pyiqa_lpips(net, b.x, b.recon)  # [-1, 1] inputs, recon unclamped


def _clean_fid(inception: nn.Module, u8: torch.Tensor, device: torch.device) -> torch.Tensor:
    return vqganlc.clean_features(inception, list(u8.permute(0, 2, 3, 1).numpy()), device)


def _clean_raw(inception: nn.Module, paths: list[Path], device: torch.device) -> torch.Tensor:
    # clean-fid's reference: the raw files, resized uncropped
    return vqganlc.clean_features(inception, [vqganlc.raw_image(p) for p in paths], device)


FLOAT_CLEAN_HOOKS = ReconHooks(_lc_images, vqganlc.FloatPSNR, vqganlc.PiqSSIM, _lc_lpips, _clean_fid, _clean_raw)

