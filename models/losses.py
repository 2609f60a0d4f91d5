"""taming VQLPIPSWithDiscriminator (taming/modules/losses/vqperceptual.py): L1 + LPIPS + hinge PatchGAN.

Generator: |x - x_hat| (or MSE) + w_p * LPIPS + codebook_weight * q_loss + lambda * disc_factor * (-mean D(x_hat)),
lambda = clamp(||grad nll|| / (||grad g|| + 1e-4), 0, 1e4) * disc_weight, gradients taken on the decoder's
last layer (Esser et al. 2021, Eq. 7). The discriminator term and its update start at `disc_start`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from annotated_types import Ge, Le
from torch import nn

from bench.core.registry import Registry
from models.discriminator import NLayerDiscriminator, StyleGANDiscriminator


@dataclass(frozen=True)
class LossConfig:
    """Loss weights, named as in taming's lossconfig params."""

    disc_start: Annotated[int, Ge(0)] = 250001
    codebook_weight: Annotated[float, Ge(0)] = 1.0
    pixel_weight: Annotated[float, Ge(0)] = 1.0
    pixel_loss: Literal["l1", "mse"] = "l1"  # taming: l1; RQ-VAE: mse
    perceptual_weight: Annotated[float, Ge(0)] = 1.0
    disc_weight: Annotated[float, Ge(0)] = 0.8
    disc_factor: Annotated[float, Ge(0)] = 1.0
    disc_ndf: Annotated[int, Ge(1)] = 64
    disc_layers: Annotated[int, Ge(1)] = 3
    disc_loss: Literal["hinge", "vanilla", "non_saturating"] = "hinge"  # non_saturating: MaskGIT's (G too)
    perceptual: Literal["lpips", "semantic"] = "lpips"  # lpips (taming) | semantic (SeQ-GAN Eq. 3, VGG16 + logits)
    semantic_alpha: Annotated[float, Ge(0), Le(1)] = 1.0  # SeQ-GAN semantic ratio alpha: phase 1 uses 1, phase 2 uses 0
    sem_layers: tuple[str, ...] = ("relu5_3", "logit")  # L_sem (Table 6 last row)
    low_layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")  # L_low
    # Recipe options (paper recipes set them from their sources; the defaults keep the smoke numbers):
    d_recompute_recon: bool = False  # discriminator step on a fresh reconstruction after the G step (taming, VQGAN-LC)
    lpips_train_mode: bool = False  # LPIPS with its dropout active during training, as the references run it
    disc_start_strict: bool = False  # GAN on at step > disc_start (VQGAN-LC) instead of >= (taming adopt_weight)
    # MaskGIT's VQGAN trainer (maskgit/configs/vqgan_config.py), the base SeQ-GAN states it builds on:
    disc_arch: Literal["patchgan", "stylegan"] = "patchgan"  # stylegan: maskgit/nets/discriminator.py
    disc_max_width: Annotated[int, Ge(1)] = 512  # StyleGAN discriminator's widest layer (512 in MaskGIT)
    adaptive_weight: bool = True  # taming's Eq. 7 balance; MaskGIT uses the fixed g_adversarial_loss_weight
    r1_gamma: Annotated[float, Ge(0)] = 0.0  # MaskGIT: gradient_penalty "r1", grad_penalty_cost 10


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """0.5 * (E[relu(1 - D(x))] + E[relu(1 + D(x_hat))])."""
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def vanilla_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN loss, taming's 'vanilla' option."""
    return 0.5 * (F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean())


def non_saturating_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """MaskGIT losses.discriminator_loss 'non-saturating': E[softplus(-D(x)) + softplus(D(x_hat))] (no 1/2)."""
    return (F.softplus(-logits_real) + F.softplus(logits_fake)).mean()


D_LOSSES: Registry[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = Registry("discriminator loss")
for _loss in (hinge_d_loss, vanilla_d_loss, non_saturating_d_loss):
    D_LOSSES.add(_loss.__name__.removesuffix("_d_loss"), _loss)


def r1_penalty(discriminator: nn.Module, real: torch.Tensor) -> torch.Tensor:
    """MaskGIT losses.r1_gradient_penalty: batch mean of ||d D(x) / d x||^2 on real images (cost applied by caller)."""
    real = real.detach().requires_grad_(True)
    grad = torch.autograd.grad(discriminator(real).sum(), real, create_graph=True)[0]
    return grad.pow(2).flatten(1).sum(1).mean()


def build_discriminator(cfg: LossConfig, image_size: int) -> nn.Module:
    """The discriminator a loss config names: taming's PatchGAN or MaskGIT's StyleGAN discriminator."""
    if cfg.disc_arch == "stylegan":
        return StyleGANDiscriminator(image_size, max_width=cfg.disc_max_width)
    return NLayerDiscriminator(3, cfg.disc_ndf, cfg.disc_layers)


class VQLPIPSWithDiscriminator(nn.Module):
    """Holds the PatchGAN and a (frozen) LPIPS network; computes generator and discriminator losses."""

    def __init__(self, cfg: LossConfig, perceptual: nn.Module, image_size: int = 256) -> None:
        super().__init__()
        if cfg.pixel_loss not in ("l1", "mse"):
            raise ValueError(f"pixel_loss must be 'l1' or 'mse', got '{cfg.pixel_loss}'")
        if cfg.disc_loss not in D_LOSSES:
            raise ValueError(f"disc_loss must be one of {D_LOSSES.names()}, got '{cfg.disc_loss}'")
        self.cfg = cfg
        self.perceptual = perceptual.train(cfg.lpips_train_mode).requires_grad_(False)
        self.discriminator = build_discriminator(cfg, image_size)
        self.d_loss_fn = D_LOSSES.get(cfg.disc_loss)
        self.grad_scale = 1.0  # the fp16 loss scale the adaptive weight differentiates at (1.0: no scaler)

    def disc_factor(self, step: int) -> float:
        """taming's adopt_weight: 0 before disc_start, disc_factor after."""
        on = step > self.cfg.disc_start if self.cfg.disc_start_strict else step >= self.cfg.disc_start
        return self.cfg.disc_factor if on else 0.0

    def generator_loss(self, x: torch.Tensor, recon: torch.Tensor, qloss: torch.Tensor, step: int,
                       last_layer: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total generator loss and its detached terms."""
        diff = x - recon
        rec = self.cfg.pixel_weight * (diff.abs().mean() if self.cfg.pixel_loss == "l1" else diff.pow(2).mean())
        p = self.perceptual(x, recon).mean() if self.cfg.perceptual_weight > 0 else torch.zeros((), device=x.device)
        nll = rec + self.cfg.perceptual_weight * p
        total = nll + self.cfg.codebook_weight * qloss
        terms = {"l1": rec.detach(), "lpips": p.detach(), "qloss": qloss.detach()}
        factor = self.disc_factor(step)
        if factor > 0:  # before disc_start taming multiplies the GAN term by 0; skip its cost instead
            logits = self.discriminator(recon)
            g = F.softplus(-logits).mean() if self.cfg.disc_loss == "non_saturating" else -logits.mean()
            d_weight = (self.adaptive_weight(nll, g, last_layer) if self.cfg.adaptive_weight
                        else torch.tensor(self.cfg.disc_weight, device=x.device))
            total = total + d_weight * factor * g
            terms.update(g_loss=g.detach(), d_weight=d_weight.detach())
        return total, terms

    def adaptive_weight(self, nll: torch.Tensor, g: torch.Tensor, last_layer: torch.Tensor) -> torch.Tensor:
        """Esser et al. Eq. 7: balance GAN and reconstruction gradients at the decoder's last layer.

        Computed in fp32 outside autocast. Under fp16 the losses are multiplied by the trainer's grad scale
        (`self.grad_scale`) before differentiation, so small gradients do not underflow, and the norms divided by it.
        """
        for s in dict.fromkeys((self.grad_scale, 1.0)):  # a scale that overflows fp16 falls back to no scale
            with torch.autocast(last_layer.device.type, enabled=False):
                nll_grad = torch.autograd.grad(nll * s if s != 1.0 else nll, last_layer, retain_graph=True)[0].float()
                g_grad = torch.autograd.grad(g * s if s != 1.0 else g, last_layer, retain_graph=True)[0].float()
                w = (nll_grad.norm() / s) / (g_grad.norm() / s + 1e-4)  # x / 1.0 is exact: fp32 runs are unchanged
            if torch.isfinite(w):
                break
        return torch.clamp(w, 0.0, 1e4).detach() * self.cfg.disc_weight

    def discriminator_loss(self, x: torch.Tensor, recon: torch.Tensor, step: int) -> tuple[torch.Tensor, dict]:
        """Hinge (or vanilla) loss on real vs detached reconstructions, gated by disc_start."""
        factor = self.disc_factor(step)
        loss = self.d_loss_fn(self.discriminator(x.detach()), self.discriminator(recon.detach()))
        terms = {"d_loss": loss.detach()}
        if self.cfg.r1_gamma > 0 and factor > 0:
            r1 = r1_penalty(self.discriminator, x)
            loss = loss + self.cfg.r1_gamma * r1
            terms["r1"] = r1.detach()
        return factor * loss, terms
