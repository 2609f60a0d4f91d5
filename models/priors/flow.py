"""SiT (Ma et al. 2024; willisma/SiT transport/) in SiT's own conventions: the linear interpolant
x_t = t * x1 + (1 - t) * x0 with x1 the data and x0 ~ N(0, I) (alpha_t = t, sigma_t = 1 - t, data at t = 1),
velocity target u = x1 - x0, and the network fed the raw t in [0, 1].

Samplers (integrating from t = 0, noise, to t = 1, data):
- 'ode_dopri5' (default; VQGAN-LC's sit-lc evaluation and SiT's sample.py ODE mode): torchdiffeq's adaptive
  Dormand-Prince solver, atol 1e-6, rtol 1e-3, over [0, 1];
- 'ode_euler' / 'ode_heun': fixed-step solvers over [0, 1];
- 'sde': SiT's Euler-Maruyama over linspace(0, 1 - last_step_size, steps) (steps - 1 stochastic steps) with
  diffusion w_t = diffusion_norm * sigma_t (SiT's 'sigma' form, norm 1.0), drift v + w_t * score,
  noise sqrt(2 w_t dt), and a final deterministic 'Mean' step of size last_step_size (0.04).
The score of the linear path from the velocity: s = (t v - x) / (1 - t).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.priors.diffusion import guided_output, randn_like

SAMPLERS = ("ode_dopri5", "ode_euler", "ode_heun", "sde")


@dataclass(frozen=True)
class FlowConfig:
    sample_steps: int = 250  # SDE / fixed-step ODE steps (for dopri5: the output grid only, as SiT's num_steps)
    sampler: str = "ode_dopri5"
    cfg_scale: float = 1.5
    cfg_channels: str = "first3"
    atol: float = 1e-6
    rtol: float = 1e-3
    diffusion_norm: float = 1.0  # SiT sample.py --diffusion-norm
    last_step_size: float = 0.04  # SiT sample.py --last-step Mean --last-step-size 0.04


def interpolate(x1: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SiT ICPlan.plan: (x_t, u_t) for data x1, noise x0, time t (B,)."""
    tt = t.view(-1, *([1] * (x1.dim() - 1)))
    return tt * x1 + (1 - tt) * x0, x1 - x0


def score_from_velocity(v: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """SiT ICPlan.get_score_from_velocity for alpha_t = t, sigma_t = 1 - t: (t v - x) / (1 - t)."""
    tt = t.view(-1, *([1] * (x.dim() - 1)))
    return (tt * v - x) / (1 - tt)


class Flow:
    """Training loss and samplers around net(x_t, t, y) predicting the velocity (first C output channels)."""

    def __init__(self, cfg: FlowConfig) -> None:
        if cfg.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got '{cfg.sampler}'")
        self.cfg = cfg

    def loss(self, net: nn.Module, x1: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        t = torch.rand(x1.shape[0], device=x1.device, generator=generator)  # train_eps 0: the linear path's velocity
        xt, ut = interpolate(x1, randn_like(x1, generator), t)
        return F.mse_loss(net(xt, t, y)[:, : x1.shape[1]], ut)

    def _v(self, net: nn.Module, x: torch.Tensor, t: float, y: torch.Tensor, null: int, scale: float) -> torch.Tensor:
        tt = torch.full((x.shape[0],), float(t), device=x.device)
        return guided_output(net, x, tt, y, null, scale, self.cfg.cfg_channels)

    @torch.no_grad()
    def sample(self, net: nn.Module, shape: tuple[int, ...], y: torch.Tensor, null_class: int,
               generator: torch.Generator | None = None, steps: int | None = None,
               scale: float | None = None) -> tuple[torch.Tensor, int]:
        """Returns (x at t = 1, network evaluations)."""
        steps = steps or self.cfg.sample_steps
        scale = self.cfg.cfg_scale if scale is None else scale
        x = torch.randn(shape, generator=generator, device=y.device)
        count = [0]

        def v(x_: torch.Tensor, t: float) -> torch.Tensor:
            count[0] += 1
            return self._v(net, x_, t, y, null_class, scale)

        if self.cfg.sampler == "ode_dopri5":
            from torchdiffeq import odeint

            grid = torch.tensor([0.0, 1.0], device=y.device, dtype=x.dtype)
            x = odeint(lambda t, x_: v(x_, float(t)), x, grid, method="dopri5", atol=self.cfg.atol,
                       rtol=self.cfg.rtol)[-1]
            return x, count[0]
        if self.cfg.sampler in ("ode_euler", "ode_heun"):
            ts = torch.linspace(0.0, 1.0, steps + 1).tolist()
            for i in range(steps):
                t, dt = ts[i], ts[i + 1] - ts[i]
                d = v(x, t)
                if self.cfg.sampler == "ode_heun":
                    d = 0.5 * (d + v(x + dt * d, ts[i + 1]))
                x = x + dt * d
            return x, count[0]
        return self._sde(v, x, steps, generator), count[0]

    def _sde(self, v, x: torch.Tensor, steps: int, generator: torch.Generator | None) -> torch.Tensor:
        """SiT Euler-Maruyama + 'Mean' last step: `steps` network evaluations in all."""
        t1 = 1.0 - self.cfg.last_step_size
        ts = torch.linspace(0.0, t1, steps).tolist()
        dt = ts[1] - ts[0] if steps > 1 else t1

        def drift(x_: torch.Tensor, t: float) -> tuple[torch.Tensor, float]:
            vel = v(x_, t)
            w = self.cfg.diffusion_norm * (1.0 - t)  # the 'sigma' form: norm * sigma_t
            tt = torch.full((x_.shape[0],), t, device=x_.device)
            return vel + w * score_from_velocity(vel, x_, tt), w

        for t in ts[:-1]:
            d, w = drift(x, t)
            noise = torch.randn(x.shape, generator=generator, device=x.device)
            x = x + d * dt + (2 * w) ** 0.5 * dt**0.5 * noise
        d, _ = drift(x, t1)
        return x + d * self.cfg.last_step_size
