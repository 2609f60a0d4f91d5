"""Gaussian diffusion for latent priors (DDPM, Ho et al. 2020): linear beta schedules (DiT: 1e-4..0.02;
LDM: linear in sqrt space 0.0015..0.0195), epsilon-prediction training, and respaced ancestral sampling
(DiT samples 250 of the 1000 steps) with classifier-free guidance on all channels or, as the published
DiT code does, on the first three channels only."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

CFG_MODES = ("all", "first3")


@dataclass(frozen=True)
class DiffusionConfig:
    steps: int = 1000
    schedule: str = "linear"  # linear (DiT / ADM) | ldm (linear in sqrt(beta), LDM)
    beta_start: float = 1e-4
    beta_end: float = 0.02
    sample_steps: int = 250
    cfg_scale: float = 1.5
    cfg_channels: str = "first3"  # DiT's code guides the first 3 channels; 'all' guides every channel


def guided_output(net: nn.Module, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, null: int, scale: float,
                  channels: str) -> torch.Tensor:
    """Classifier-free guidance u + s (c - u) on the first C output channels; 'first3' guides only channels 0-2
    and keeps the conditional prediction elsewhere, as the published DiT code does."""
    c = x.shape[1]
    if scale == 1.0:
        return net(x, t, y)[:, :c]
    out = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, null)]))[:, :c]
    cond, uncond = out.chunk(2)
    guided = uncond + scale * (cond - uncond)
    return torch.cat([guided[:, :3], cond[:, 3:]], 1) if channels == "first3" else guided


def betas_for(cfg: DiffusionConfig) -> torch.Tensor:
    if cfg.schedule == "linear":
        return torch.linspace(cfg.beta_start, cfg.beta_end, cfg.steps, dtype=torch.float64)
    if cfg.schedule == "ldm":
        return torch.linspace(cfg.beta_start**0.5, cfg.beta_end**0.5, cfg.steps, dtype=torch.float64) ** 2
    raise ValueError(f"diffusion schedule must be 'linear' or 'ldm', got '{cfg.schedule}'")


class Diffusion:
    """Training loss and sampler around a network net(x_t, t, y) whose first C output channels predict eps."""

    def __init__(self, cfg: DiffusionConfig) -> None:
        if cfg.cfg_channels not in CFG_MODES:
            raise ValueError(f"cfg_channels must be one of {CFG_MODES}, got '{cfg.cfg_channels}'")
        self.cfg = cfg
        self.alphas_cumprod = torch.cumprod(1.0 - betas_for(cfg), 0)

    def loss(self, net: nn.Module, x0: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        t = torch.randint(0, self.cfg.steps, (x0.shape[0],), device=x0.device)
        a = self.alphas_cumprod.to(x0.device)[t].float().view(-1, 1, 1, 1)
        noise = torch.randn_like(x0)
        out = net(a.sqrt() * x0 + (1 - a).sqrt() * noise, t, y)
        return F.mse_loss(out[:, : x0.shape[1]], noise)

    def _eps(self, net: nn.Module, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, null: int,
             scale: float) -> torch.Tensor:
        return guided_output(net, x, t, y, null, scale, self.cfg.cfg_channels)

    @torch.no_grad()
    def sample(self, net: nn.Module, shape: tuple[int, ...], y: torch.Tensor, null_class: int,
               generator: torch.Generator | None = None, steps: int | None = None,
               scale: float | None = None) -> tuple[torch.Tensor, int]:
        """Ancestral sampling on `steps` evenly spaced timesteps; returns (x0, forward passes)."""
        steps = steps or self.cfg.sample_steps
        scale = self.cfg.cfg_scale if scale is None else scale
        device = y.device
        use = torch.linspace(0, self.cfg.steps - 1, steps).round().long()
        ac = self.alphas_cumprod[use]
        ac_prev = torch.cat([torch.ones(1, dtype=ac.dtype), ac[:-1]])
        x = torch.randn(shape, generator=generator, device=device)
        for i in reversed(range(steps)):
            t = torch.full((shape[0],), int(use[i]), device=device, dtype=torch.long)
            eps = self._eps(net, x, t, y, null_class, scale)
            a, ap = float(ac[i]), float(ac_prev[i])
            x0 = (x - (1 - a) ** 0.5 * eps) / a**0.5
            beta = 1 - a / ap
            mean = (ap**0.5 * beta / (1 - a)) * x0 + ((1 - beta) ** 0.5 * (1 - ap) / (1 - a)) * x
            if i > 0:
                var = beta * (1 - ap) / (1 - a)  # the fixed posterior variance
                x = mean + var**0.5 * torch.randn(shape, generator=generator, device=device)
            else:
                x = mean
        return x, steps
