"""Tokenizer registry: one named function per published configuration, each with a paper and a smoke form.

`entry = create_entry("vqgan_f16_1024", scale="smoke", overrides)` gives the architecture, loss and
training recipe; `build_tokenizer(entry)` the module. Every field's source is in `entry.sources`; a field
marked 'unpublished default' is a documented guess that a user may override.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from bench.registry import Registry, RegistryError
from models.losses import LossConfig
from models.tokenizer import Tokenizer
from models.vqgan import VQGAN, VQGANConfig

SCALES = ("smoke", "paper")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule. lr = accumulate * n_gpu * batch_size * base_lr when lr_scaling='taming'."""

    steps: int = 1000
    batch_size: int = 12
    n_gpu: int = 1
    accumulate: int = 1
    base_lr: float = 4.5e-6
    lr_scaling: str = "taming"  # 'taming' (scaled by batch) or 'none' (base_lr used as-is)
    betas: tuple[float, float] = (0.5, 0.9)
    eps: float = 1e-8
    ckpt_every: int = 5000
    num_workers: int = 4

    @property
    def lr(self) -> float:
        if self.lr_scaling == "none":
            return self.base_lr
        return self.accumulate * self.n_gpu * self.batch_size * self.base_lr


@dataclass(frozen=True)
class TokenizerEntry:
    """A registered configuration at one scale: architecture, loss, training recipe, and sources."""

    name: str
    scale: str
    family: str
    paper: str
    model: Any
    loss: LossConfig
    train: TrainConfig
    sources: dict[str, str] = field(default_factory=dict)
    published_params: float | None = None  # millions, where a paper prints the figure

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, used for config hashes and run manifests."""
        return {"name": self.name, "scale": self.scale, "family": self.family,
                "model": dataclasses.asdict(self.model), "loss": dataclasses.asdict(self.loss),
                "train": dataclasses.asdict(self.train)}


TOKENIZERS: Registry[Callable[[str], TokenizerEntry]] = Registry("tokenizer")
BUILDERS: dict[type, Callable[[Any], Tokenizer]] = {VQGANConfig: VQGAN}


def register_tokenizer(fn: Callable[[str], TokenizerEntry]) -> Callable[[str], TokenizerEntry]:
    """Decorator for entry functions `fn(scale) -> TokenizerEntry`."""
    return TOKENIZERS.register()(fn)


def create_entry(name: str, scale: str = "paper", overrides: dict[str, dict[str, Any]] | None = None) -> TokenizerEntry:
    """Resolve a registry entry at a scale and apply {'model'|'loss'|'train': {field: value}} overrides."""
    if scale not in SCALES:
        raise RegistryError(f"unknown scale '{scale}'; expected one of {SCALES}")
    entry = TOKENIZERS.get(name)(scale)
    for part, values in (overrides or {}).items():
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            continue
        cfg = getattr(entry, part)
        valid = {f.name for f in dataclasses.fields(cfg)}
        unknown = sorted(set(values) - valid)
        if unknown:
            raise RegistryError(f"unknown {part} field(s) {unknown} for tokenizer '{name}'; valid: {sorted(valid)}")
        values = {k: tuple(v) if isinstance(getattr(cfg, k), tuple) else v for k, v in values.items()}
        entry = dataclasses.replace(entry, **{part: dataclasses.replace(cfg, **values)})
    return entry


def build_tokenizer(entry: TokenizerEntry) -> Tokenizer:
    """Instantiate the tokenizer module for an entry (use `torch.device('meta')` to count without memory)."""
    return BUILDERS[type(entry.model)](entry.model)


def count_params(entry: TokenizerEntry) -> int:
    """Parameters of encoder + quantizer + decoder (no discriminator, no LPIPS), counted on the meta device."""
    with torch.device("meta"):
        model = build_tokenizer(entry)
    return sum(p.numel() for p in model.parameters())


# --- taming-transformers VQGAN (Esser et al. 2021) -------------------------------------------------------

_TAMING = "taming-transformers configs/imagenet_vqgan.yaml + taming/modules/losses/vqperceptual.py"


def _vqgan(name: str, scale: str, n_embed: int, published: float | None) -> TokenizerEntry:
    """taming f16 VQGAN at paper scale; at smoke scale the same code with tiny widths at 32 px."""
    if scale == "paper":
        model = VQGANConfig(resolution=256, ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2,
                            attn_resolutions=(16,), z_channels=256, embed_dim=256, n_embed=n_embed)
        loss = LossConfig(disc_start=250001, codebook_weight=1.0, perceptual_weight=1.0, disc_weight=0.8,
                          disc_ndf=64, disc_layers=3)
        train = TrainConfig(steps=500_000, batch_size=12, n_gpu=8, base_lr=4.5e-6, ckpt_every=5000, num_workers=8)
        sources = {"model": _TAMING, "loss": _TAMING, "train.base_lr": _TAMING, "train.betas": _TAMING,
                   "train.batch_size": _TAMING, "train.n_gpu": "unpublished default",
                   "train.steps": "unpublished default (taming trains until convergence; disc_start=250001)"}
    else:
        model = VQGANConfig(resolution=32, ch=32, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(8,),
                            z_channels=32, embed_dim=32, n_embed=max(64, n_embed // 16))
        loss = LossConfig(disc_start=150, codebook_weight=1.0, perceptual_weight=1.0, disc_weight=0.8,
                          disc_ndf=16, disc_layers=2)
        train = TrainConfig(steps=300, batch_size=8, n_gpu=1, base_lr=1e-4, lr_scaling="none",
                            ckpt_every=100, num_workers=0)
        sources = {"all": "smoke scale: tiny widths, 32 px, codebook size / 16 (min 64); same code paths"}
    return TokenizerEntry(name, scale, "vqgan", "Esser et al. 2021 (taming-transformers)", model, loss, train,
                          sources, published if scale == "paper" else None)


@register_tokenizer
def vqgan_f16_1024(scale: str) -> TokenizerEntry:
    """taming VQGAN, f16, 1024 codes (MoVQ Table 2 prints 72.1M parameters)."""
    return _vqgan("vqgan_f16_1024", scale, 1024, 72.1)


@register_tokenizer
def vqgan_f16_16384(scale: str) -> TokenizerEntry:
    """taming VQGAN, f16, 16384 codes (the released ImageNet model; rFID 4.98 on val)."""
    return _vqgan("vqgan_f16_16384", scale, 16384, None)
