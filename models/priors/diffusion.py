"""Gaussian diffusion for latent priors (DDPM, Ho et al. 2020): linear beta schedules (DiT: 1e-4..0.02;
LDM: linear in sqrt space 0.0015..0.0195), epsilon prediction, classifier-free guidance on all channels or, as
the published DiT code does, on the first three channels only.

DiT (facebookresearch/DiT diffusion/gaussian_diffusion.py, create_diffusion defaults): learn_sigma with the
learned-range variance (the network's second C channels v interpolate log beta_t and the clipped log
posterior variance: log var = (v + 1) / 2 * log beta_t + (1 - v) / 2 * log var~_t), the hybrid loss
MSE(eps) + VLB (RESCALED_MSE: vb * steps / 1000) where the VLB term sees the mean detached, as guided-diffusion's
`_vb_terms_bpd` with a frozen output: KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) in bits for t > 0 and the
discretized Gaussian decoder NLL at t = 0; ancestral sampling on 250 respaced steps with the learned variance.

LDM (ldm-lc configs + run_evaluations.py): epsilon MSE, fixed variance, DDIM (200 steps, eta 1.0) with
LDM's uniform timesteps (every 5th step + 1) and guidance on every channel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

CFG_MODES = ("all", "first3")
LOSSES = ("mse", "hybrid")
SAMPLERS = ("ancestral", "ddim")


@dataclass(frozen=True)
class DiffusionConfig:
    steps: int = 1000
    schedule: str = "linear"  # linear (DiT / ADM) | ldm (linear in sqrt(beta), LDM)
    beta_start: float = 1e-4
    beta_end: float = 0.02
    sample_steps: int = 250
    cfg_scale: float = 1.5
    cfg_channels: str = "first3"  # DiT's code guides the first 3 channels; 'all' guides every channel
    learn_sigma: bool = False  # DiT: the network's second C channels give the learned-range variance
    loss: str = "mse"  # mse | hybrid (DiT: MSE + VLB)
    sampler: str = "ancestral"  # ancestral (DDPM, DiT) | ddim (LDM)
    ddim_eta: float = 1.0


def guided_output(net: nn.Module, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, null: int, scale: float,
                  channels: str, keep: int | None = None) -> torch.Tensor:
    """Classifier-free guidance u + s (c - u) on the first C output channels; 'first3' guides only channels 0-2
    and keeps the conditional prediction elsewhere (the rest of eps and the variance channels), as DiT's
    forward_with_cfg. Returns the first `keep` output channels (default C)."""
    c = x.shape[1]
    keep = keep or c
    if scale == 1.0:
        return net(x, t, y)[:, :keep]
    out = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, null)]))[:, :keep]
    cond, uncond = out.chunk(2)
    eps = uncond[:, :c] + scale * (cond[:, :c] - uncond[:, :c])
    if channels == "first3":
        eps = torch.cat([eps[:, :3], cond[:, 3:c]], 1)
    return torch.cat([eps, cond[:, c:]], 1)


def betas_for(cfg: DiffusionConfig) -> torch.Tensor:
    if cfg.schedule == "linear":
        return torch.linspace(cfg.beta_start, cfg.beta_end, cfg.steps, dtype=torch.float64)
    if cfg.schedule == "ldm":
        return torch.linspace(cfg.beta_start**0.5, cfg.beta_end**0.5, cfg.steps, dtype=torch.float64) ** 2
    raise ValueError(f"diffusion schedule must be 'linear' or 'ldm', got '{cfg.schedule}'")


class Schedule:
    """Per-step quantities of a (possibly respaced) chain, from its cumulative alphas (float64)."""

    def __init__(self, alphas_cumprod: torch.Tensor) -> None:
        ac = alphas_cumprod.double()
        self.ac = ac
        self.ac_prev = torch.cat([torch.ones(1, dtype=ac.dtype), ac[:-1]])
        self.betas = 1 - ac / self.ac_prev
        self.post_var = self.betas * (1 - self.ac_prev) / (1 - ac)
        # guided-diffusion: the first posterior variance is 0, so its log is clipped to the second one
        self.post_log_var = torch.log(torch.cat([self.post_var[1:2], self.post_var[1:]]))
        self.coef_x0 = self.betas * self.ac_prev.sqrt() / (1 - ac)
        self.coef_xt = (1 - self.ac_prev) * (1 - self.betas).sqrt() / (1 - ac)

    def at(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return getattr(self, name).to(like.device)[t].to(like.dtype).view(-1, *([1] * (like.dim() - 1)))

    def x0_from_eps(self, x: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        a = self.at("ac", t, x)
        return (x - (1 - a).sqrt() * eps) / a.sqrt()

    def posterior_mean(self, x0: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.at("coef_x0", t, x) * x0 + self.at("coef_xt", t, x) * x

    def learned_log_var(self, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Learned range: frac = (v + 1) / 2 between the clipped log posterior variance and log beta_t."""
        lo, hi = self.at("post_log_var", t, v), torch.log(self.at("betas", t, v))
        frac = (v + 1) / 2
        return frac * hi + (1 - frac) * lo


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def _approx_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def discretized_gaussian_log_likelihood(x: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor) -> torch.Tensor:
    """log p of x on a 256-level grid over [-1, 1] under N(means, exp(log_scales)^2) (guided-diffusion / DiT)."""
    centered = x - means
    inv = torch.exp(-log_scales)
    cdf_plus, cdf_min = _approx_cdf(inv * (centered + 1.0 / 255)), _approx_cdf(inv * (centered - 1.0 / 255))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    mid = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, mid))


def _mean_flat(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=list(range(1, x.dim())))


class Diffusion:
    """Training loss and samplers around a network net(x_t, t, y) whose first C output channels predict eps
    (and, with learn_sigma, the next C the variance interpolation)."""

    def __init__(self, cfg: DiffusionConfig) -> None:
        if cfg.cfg_channels not in CFG_MODES:
            raise ValueError(f"cfg_channels must be one of {CFG_MODES}, got '{cfg.cfg_channels}'")
        if cfg.loss not in LOSSES or cfg.sampler not in SAMPLERS:
            raise ValueError(f"loss must be one of {LOSSES} and sampler one of {SAMPLERS}; "
                             f"got {cfg.loss}, {cfg.sampler}")
        if cfg.loss == "hybrid" and not cfg.learn_sigma:
            raise ValueError("the hybrid (VLB) loss needs learn_sigma=True")
        self.cfg = cfg
        self.alphas_cumprod = torch.cumprod(1.0 - betas_for(cfg), 0)
        self.full = Schedule(self.alphas_cumprod)

    def vb_terms(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, eps: torch.Tensor,
                 v: torch.Tensor, sched: Schedule | None = None) -> torch.Tensor:
        """Per-sample VLB term in bits: KL for t > 0, decoder NLL at t = 0 (pass eps detached for DiT's loss)."""
        s = sched or self.full
        true_mean = s.posterior_mean(x0, xt, t)
        true_log_var = s.at("post_log_var", t, xt)
        mean = s.posterior_mean(s.x0_from_eps(xt, t, eps), xt, t)
        log_var = s.learned_log_var(v, t)
        kl = _mean_flat(normal_kl(true_mean, true_log_var, mean, log_var)) / math.log(2.0)
        nll = -_mean_flat(discretized_gaussian_log_likelihood(x0, mean, 0.5 * log_var)) / math.log(2.0)
        return torch.where(t == 0, nll, kl)

    def loss(self, net: nn.Module, x0: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        t = torch.randint(0, self.cfg.steps, (x0.shape[0],), device=x0.device, generator=generator)
        a = self.alphas_cumprod.to(x0.device)[t].to(x0.dtype).view(-1, 1, 1, 1)
        noise = randn_like(x0, generator)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        out = net(xt, t, y)
        c = x0.shape[1]
        mse = _mean_flat((out[:, :c] - noise) ** 2)
        if self.cfg.loss == "mse":
            return mse.mean()
        vb = self.vb_terms(x0, xt, t, out[:, :c].detach(), out[:, c:2 * c]) * (self.cfg.steps / 1000.0)
        return (mse + vb).mean()

    @torch.no_grad()
    def sample(self, net: nn.Module, shape: tuple[int, ...], y: torch.Tensor, null_class: int,
               generator: torch.Generator | None = None, steps: int | None = None,
               scale: float | None = None) -> tuple[torch.Tensor, int]:
        """Returns (x0, network evaluations of a batch) for the configured sampler."""
        steps = steps or self.cfg.sample_steps
        scale = self.cfg.cfg_scale if scale is None else scale
        if self.cfg.sampler == "ddim":
            return self._ddim(net, shape, y, null_class, generator, steps, scale)
        device = y.device
        use = respaced_timesteps(self.cfg.steps, steps)
        sched = Schedule(self.alphas_cumprod[use])
        c = shape[1]
        x = torch.randn(shape, generator=generator, device=device)
        for i in reversed(range(steps)):
            ti = torch.full((shape[0],), i, device=device, dtype=torch.long)
            t = torch.full((shape[0],), int(use[i]), device=device, dtype=torch.long)
            out = guided_output(net, x, t, y, null_class, scale, self.cfg.cfg_channels,
                                keep=2 * c if self.cfg.learn_sigma else c)
            mean = sched.posterior_mean(sched.x0_from_eps(x, ti, out[:, :c]), x, ti)
            if self.cfg.learn_sigma:
                log_var = sched.learned_log_var(out[:, c:2 * c], ti)
            else:  # the fixed (clipped) posterior variance
                log_var = sched.at("post_log_var", ti, x).expand_as(x)
            if i > 0:
                x = mean + torch.exp(0.5 * log_var) * torch.randn(shape, generator=generator, device=device)
            else:
                x = mean
        return x, steps

    def _ddim(self, net, shape, y, null_class, generator, steps, scale) -> tuple[torch.Tensor, int]:
        """LDM's DDIMSampler: uniform timesteps arange(0, T, T // steps) + 1, sigma_t = eta * sqrt((1 - a_prev)
        / (1 - a) * (1 - a / a_prev)), noise added at every step (as LDM's p_sample_ddim)."""
        device = y.device
        ts = ddim_timesteps(self.cfg.steps, steps)
        ac = self.alphas_cumprod
        a_all = ac[ts]
        a_prev_all = torch.cat([ac[:1], ac[ts[:-1]]])
        sig_all = self.cfg.ddim_eta * ((1 - a_prev_all) / (1 - a_all) * (1 - a_all / a_prev_all)).sqrt()
        x = torch.randn(shape, generator=generator, device=device)
        for i in reversed(range(len(ts))):
            t = torch.full((shape[0],), int(ts[i]), device=device, dtype=torch.long)
            eps = guided_output(net, x, t, y, null_class, scale, self.cfg.cfg_channels)
            a, ap, sig = float(a_all[i]), float(a_prev_all[i]), float(sig_all[i])
            x0 = (x - (1 - a) ** 0.5 * eps) / a**0.5
            x = ap**0.5 * x0 + (1 - ap - sig**2) ** 0.5 * eps
            x = x + sig * torch.randn(shape, generator=generator, device=device)
        return x, len(ts)


def randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """torch.randn_like, drawn from `generator` when one is given (randn_like takes none); without one the call is
    torch.randn_like itself, the draw the official-code fixtures record (tests/test_official_priors.py)."""
    if generator is None:
        return torch.randn_like(x)
    return torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)


def respaced_timesteps(total: int, steps: int) -> torch.Tensor:
    """DiT/guided-diffusion space_timesteps(total, [steps]): round(i * (total - 1) / (steps - 1))."""
    if steps == 1:
        return torch.zeros(1, dtype=torch.long)
    return torch.tensor(sorted({round(i * (total - 1) / (steps - 1)) for i in range(steps)}), dtype=torch.long)


def ddim_timesteps(total: int, steps: int) -> torch.Tensor:
    """LDM make_ddim_timesteps('uniform'): arange(0, total, total // steps) + 1."""
    return torch.from_numpy(np.arange(0, total, total // steps) + 1).long()
