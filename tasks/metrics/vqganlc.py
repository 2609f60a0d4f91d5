"""VQGAN-LC's reconstruction protocol (zh460045050/VQGAN-LC `vqgan-gpt-lc/eval_reconstruction.py`, main()):

- PSNR: pyiqa `create_metric('psnr', test_y_channel=True, color_space='ycbcr')` on float images in [0, 1]
  (input as loaded, reconstruction clamped to [-1, 1]); pyiqa's psnr() adds eps 1e-8 to the MSE.
- SSIM: `piq.ssim(x, xrec, data_range=1., reduction='none')` on the same float images (piq is called here).
- LPIPS: pyiqa `create_metric('lpips')` (AlexNet, v0.1) called on images still in [-1, 1] and on the *unclamped*
  reconstruction; pyiqa's LPIPS.forward(normalize=True) maps 2x - 1 again, so the network sees [-3, 1].
- rFID: reconstructions saved with plt.imsave(np.uint8(xrec01 * 255)) (truncation, PNG: lossless), then
  `cleanfid.fid.compute_fid(recons_dir, imagenet/val, mode='clean')`: the *raw* val images (no crop) and the
  reconstructions each resized to 299x299 by PIL bicubic on float32 channels (clean-fid make_resizer('PIL',
  False, 'bicubic')), Inception pool3 features, np.cov statistics.
pyiqa itself is not a dependency (it pulls transformers, bitsandbytes, datasets ...): its two formulas are
re-implemented here and tested against skimage (Y channel) and the lpips package.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

PYIQA_EPS = 1e-8
CLEAN_SIZE = 299


def to_unit(x: torch.Tensor, clamp: bool) -> torch.Tensor:
    """[-1, 1] -> [0, 1] as eval_reconstruction.py does: (x + 1) * 127.5 / 255 in float32."""
    x = x.float()
    if clamp:
        x = x.clamp(-1, 1)
    return (x + 1) * 127.5 / 255.0


def saved_png_uint8(xrec: torch.Tensor) -> torch.Tensor:
    """The uint8 pixels plt.imsave writes: np.uint8(float32 xrec01 * 255), a truncation (not rounding)."""
    return (to_unit(xrec, clamp=True) * 255).to(torch.uint8)


def ycbcr_y(x01: torch.Tensor) -> torch.Tensor:
    """pyiqa rgb2ycbcr's Y for x in [0, 1]: (16 + 65.481 R + 128.553 G + 24.966 B) / 255."""
    r, g, b = x01[:, 0], x01[:, 1], x01[:, 2]
    return ((16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0)[:, None]


class FloatPSNR:
    """pyiqa psnr(): 10 log10(1 / (MSE + 1e-8)) on [0, 1] floats, RGB or the YCbCr Y channel, mean over images."""

    def __init__(self, colour: str) -> None:
        self.colour, self.total, self.n = colour, 0.0, 0

    def update(self, real01: torch.Tensor, fake01: torch.Tensor) -> None:
        a, b = (ycbcr_y(real01), ycbcr_y(fake01)) if self.colour == "y" else (real01, fake01)
        mse = ((a - b) ** 2).flatten(1).mean(1)
        self.total += float((10 * torch.log10(1.0 / (mse + PYIQA_EPS))).sum())
        self.n += real01.shape[0]

    def compute(self) -> float:
        return self.total / max(self.n, 1)


class PiqSSIM:
    """piq.ssim(data_range=1, reduction='none') summed over images, then averaged."""

    def __init__(self) -> None:
        self.total, self.n = 0.0, 0

    def update(self, real01: torch.Tensor, fake01: torch.Tensor) -> None:
        import piq

        self.total += float(piq.ssim(real01, fake01, data_range=1.0, reduction="none").sum())
        self.n += real01.shape[0]

    def compute(self) -> float:
        return self.total / max(self.n, 1)


def pyiqa_lpips(net: nn.Module, real: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Per-image LPIPS as eval_reconstruction.py gets it: pyiqa maps its [-1, 1] inputs by 2x - 1 once more."""
    return net(2 * real.float() - 1, 2 * recon.float() - 1).flatten()


def clean_resize(img_u8: np.ndarray, size: int = CLEAN_SIZE) -> np.ndarray:
    """clean-fid mode='clean' resize: each channel as a float32 PIL 'F' image, bicubic to size x size, clipped."""
    chans = [np.asarray(Image.fromarray(img_u8[:, :, c].astype(np.float32), mode="F")
                        .resize((size, size), resample=Image.BICUBIC)).clip(0, 255) for c in range(3)]
    return np.stack(chans, axis=2).astype(np.float32)


@torch.no_grad()
def inception_pool_float(inception: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """pool3 features of float (b, 3, 299, 299) images in [0, 255] through torch-fidelity's Inception layers.

    torch-fidelity's forward accepts only uint8 and resizes itself; clean-fid feeds already-resized floats, so the
    same layers are run here after the same (x - 128) / 128 scaling (a 299 -> 299 resize is the identity)."""
    m = inception
    x = (x.float() - 128) / 128
    for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                 "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                 "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "AvgPool"):
        x = getattr(m, name)(x)
    return torch.flatten(x, 1).float()


def clean_features(inception: nn.Module, images_u8: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """clean-fid features of HWC uint8 images (any size): clean resize, then Inception pool3."""
    x = torch.from_numpy(np.stack([clean_resize(i) for i in images_u8])).permute(0, 3, 1, 2)
    return inception_pool_float(inception, x.to(device))


def raw_image(path: Path) -> np.ndarray:
    """A file as clean-fid's folder reader loads it: np.array(Image.open(path).convert('RGB'))."""
    with Image.open(path) as img:
        return np.array(img.convert("RGB"))


# --- eval_reconstruction.py's resize: albumentations SmallestMaxSize(256) = cv2.resize(INTER_LINEAR) ---------------
CV2_COEF_BITS = 11  # OpenCV resize.cpp INTER_RESIZE_COEF_BITS: linear weights in 1/2048 steps


def smallest_max_size_shape(h: int, w: int, max_size: int = 256) -> tuple[int, int]:
    """albumentations SmallestMaxSize: scale = max_size / min(h, w); new (h, w) = Python round of each side."""
    scale = max_size / float(min(h, w))
    return (h, w) if scale == 1.0 else (round(h * scale), round(w * scale))


def _linear_taps(src: int, dst: int, clamp_weights: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cv2 INTER_LINEAR taps along one axis (resize.cpp): float32 positions (d + 0.5) * src / dst - 0.5, indices
    clamped to the image; along x an outside position also gets the edge pixel's full weight (`fx = 0`), along y
    the weights stay (1 - fy, fy) on two copies of the edge row. Each weight is rounded to 1/2048 on its own."""
    pos = ((np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5).astype(np.float32)
    i0 = np.floor(pos).astype(np.int64)
    f = (pos - i0.astype(np.float32)).astype(np.float32)
    if clamp_weights:
        low, high = i0 < 0, i0 >= src - 1
        f[low], i0[low] = 0.0, 0
        f[high], i0[high] = 0.0, src - 1
    scale = np.float32(1 << CV2_COEF_BITS)
    w = np.stack([np.rint((np.float32(1) - f) * scale), np.rint(f * scale)]).astype(np.int64)
    return np.clip(i0, 0, src - 1), np.clip(i0 + 1, 0, src - 1), w


def cv2_resize_linear(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """cv2.resize(img, (w, h), INTER_LINEAR) for an (H, W, C) uint8 image, in cv2's fixed point: a horizontal pass
    with 11-bit weights (int sums), then the vertical pass of its SIMD kernel (VResizeLinearVec_32s8u: rows >> 4,
    16-bit multiply-high by the weights, then (v + 2) >> 2). Exact 2x downscales, which cv2 hands to its area-fast
    path, are 2x2 means rounded as cv2 does."""
    sh, sw = img.shape[:2]
    x = img.astype(np.int64)
    if sh == 2 * h and sw == 2 * w:  # resize.cpp: INTER_LINEAR with integer scale 2 runs INTER_AREA's fast path
        s = x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]
        return ((s + 2) >> 2).astype(np.uint8)
    y0, y1, wy = _linear_taps(sh, h, clamp_weights=False)
    x0, x1, wx = _linear_taps(sw, w, clamp_weights=True)
    rows = x[:, x0] * wx[0][None, :, None] + x[:, x1] * wx[1][None, :, None]  # (sh, w, C), scale 2^11
    top, bottom = rows[y0] >> 4, rows[y1] >> 4
    v = ((top * wy[0][:, None, None]) >> 16) + ((bottom * wy[1][:, None, None]) >> 16)
    return np.clip((v + 2) >> 2, 0, 255).astype(np.uint8)


def smallest_max_size(img: np.ndarray, max_size: int = 256) -> np.ndarray:
    """albumentations SmallestMaxSize(max_size) (default interpolation cv2.INTER_LINEAR) on an (H, W, C) uint8 image."""
    h, w = smallest_max_size_shape(*img.shape[:2], max_size)
    return img if (h, w) == img.shape[:2] else cv2_resize_linear(img, h, w)
