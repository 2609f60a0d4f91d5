"""SiT (Ma et al. 2024): the linear interpolant x_t = (1 - t) x + t eps, velocity prediction v = eps - x, and
ODE (Euler or Heun) or SDE (Euler-Maruyama, diffusion w_t = t) samplers from t = 1 to 0."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.priors.diffusion import guided_output

SAMPLERS = ("ode_euler", "ode_heun", "sde")


@dataclass(frozen=True)
class FlowConfig:
    sample_steps: int = 250
    sampler: str = "sde"  # SiT: ODE (dopri5 in the paper; fixed-step Heun here) or SDE (Euler-Maruyama, 250)
    cfg_scale: float = 1.5
    cfg_channels: str = "first3"
    t_eps: float = 1e-3


class Flow:
    """Training loss and samplers around net(x_t, t * 1000, y) predicting the velocity (first C channels)."""

    def __init__(self, cfg: FlowConfig) -> None:
        if cfg.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got '{cfg.sampler}'")
        self.cfg = cfg

    def loss(self, net: nn.Module, x0: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        t = torch.rand(x0.shape[0], device=x0.device)
        noise = torch.randn_like(x0)
        tt = t.view(-1, 1, 1, 1)
        v = net((1 - tt) * x0 + tt * noise, t * 1000, y)[:, : x0.shape[1]]
        return F.mse_loss(v, noise - x0)

    def _v(self, net: nn.Module, x: torch.Tensor, t: float, y: torch.Tensor, null: int, scale: float) -> torch.Tensor:
        tt = torch.full((x.shape[0],), t * 1000, device=x.device)
        return guided_output(net, x, tt, y, null, scale, self.cfg.cfg_channels)

    @torch.no_grad()
    def sample(self, net: nn.Module, shape: tuple[int, ...], y: torch.Tensor, null_class: int,
               generator: torch.Generator | None = None, steps: int | None = None,
               scale: float | None = None) -> tuple[torch.Tensor, int]:
        steps = steps or self.cfg.sample_steps
        scale = self.cfg.cfg_scale if scale is None else scale
        x = torch.randn(shape, generator=generator, device=y.device)
        ts = torch.linspace(1.0, self.cfg.t_eps, steps + 1).tolist()
        passes = 0
        for i in range(steps):
            t, t_next = ts[i], ts[i + 1]
            dt = t_next - t  # negative
            v = self._v(net, x, t, y, null_class, scale)
            passes += 1
            if self.cfg.sampler == "ode_euler":
                x = x + dt * v
            elif self.cfg.sampler == "ode_heun":
                x_pred = x + dt * v
                v2 = self._v(net, x_pred, t_next, y, null_class, scale)
                passes += 1
                x = x + dt * 0.5 * (v + v2)
            else:  # reverse SDE: drift v - 0.5 w_t score, score = -eps_hat / t, eps_hat = x + (1 - t) v
                w = t
                score = -(x + (1 - t) * v) / t
                drift = v - 0.5 * w * score
                x = x + dt * drift
                if i < steps - 1:
                    x = x + (w * -dt) ** 0.5 * torch.randn(shape, generator=generator, device=y.device)
        return x, passes
