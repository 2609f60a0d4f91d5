"""Streaming PSNR (RGB or Y) and SSIM over uint8 images (b, 3, H, W); memory does not grow with image count."""
from __future__ import annotations

import torch
import torch.nn.functional as F

PSNR_MSE_FLOOR = 1e-10  # identical images would give inf; floor caps one image at 10*log10(255^2/1e-10) dB


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma as MATLAB rgb2ycbcr (and pyiqa, skimage): Y in [16, 235] for x in [0, 255]."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    return (16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0)[:, None]


class PSNR:
    """Mean over images of 10 log10(255^2 / MSE), on RGB or on the Y channel (VQGAN-LC uses Y via pyiqa)."""

    def __init__(self, colour: str = "rgb") -> None:
        if colour not in ("rgb", "y"):
            raise ValueError(f"PSNR colour space must be 'rgb' or 'y', got '{colour}'")
        self.colour, self.total, self.n = colour, 0.0, 0

    def update(self, real: torch.Tensor, fake: torch.Tensor) -> None:
        a, b = real.double(), fake.double()
        if self.colour == "y":
            a, b = rgb_to_y(a), rgb_to_y(b)
        mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(PSNR_MSE_FLOOR)
        self.total += float((10 * torch.log10(255.0**2 / mse)).sum())
        self.n += real.shape[0]

    def compute(self) -> float:
        return self.total / max(self.n, 1)


def gaussian_window(sigma: float = 1.5, truncate: float = 3.5) -> torch.Tensor:
    """1-D Gaussian taps as scipy.ndimage.gaussian_filter builds them (radius = int(truncate*sigma+0.5))."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


class SSIM:
    """Mean SSIM (Wang et al. 2004) with an 11x11 Gaussian window, sigma 1.5, population covariance.

    Equals skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, channel_axis=-1, data_range=data_range) on images scaled to
    [0, data_range]: skimage crops the filter's border, so a 'valid' convolution gives the same mean.
    """

    def __init__(self, data_range: float = 1.0, k1: float = 0.01, k2: float = 0.03) -> None:
        self.data_range, self.c1, self.c2 = data_range, (k1 * data_range) ** 2, (k2 * data_range) ** 2
        self.w = gaussian_window()
        self.total, self.n = 0.0, 0

    def _filter(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        k = self.w.numel()
        x = F.conv2d(x, self.w.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
        return F.conv2d(x, self.w.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)

    def update(self, real: torch.Tensor, fake: torch.Tensor) -> None:
        a = real.double() * (self.data_range / 255.0)
        b = fake.double() * (self.data_range / 255.0)
        mu_a, mu_b = self._filter(a), self._filter(b)
        var_a = self._filter(a * a) - mu_a**2
        var_b = self._filter(b * b) - mu_b**2
        cov = self._filter(a * b) - mu_a * mu_b
        s = (((2 * mu_a * mu_b + self.c1) * (2 * cov + self.c2))
             / ((mu_a**2 + mu_b**2 + self.c1) * (var_a + var_b + self.c2)))
        self.total += float(s.flatten(1).mean(1).sum())
        self.n += real.shape[0]

    def compute(self) -> float:
        return self.total / max(self.n, 1)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float images -> uint8 as they would be saved to PNG (clamp, scale, round)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
