"""The quantizer interface and its registry (timm style): one module per quantizer, registered by name.

A quantizer owns everything the harness needs to know about it: how it is built from a tokenizer's config
(`from_config`), how many code channels it gives per position (`code_channels`, the c of (h, w, c)), what
must be precomputed before training (`precompute`, e.g. VQGAN-LC's CLIP codebook), its lookup, and the flat
codebook its nearest-code search sees (`search_space`). Shapes use einops names: z (B, D, h, w).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import torch
from torch import nn

from bench.core.registry import Registry


class QuantOutput(NamedTuple):
    """z_q: (B, D, h, w) straight-through quantised latents; indices: (B, h, w, c); loss: scalar."""

    z_q: torch.Tensor
    indices: torch.Tensor
    loss: torch.Tensor
    terms: dict[str, torch.Tensor]


@dataclass(frozen=True)
class Precompute:
    """A stage a quantizer needs before training: its kind, its own config, and the dataset it reads.

    `config` holds the fields of the kind's spec (bench/stages/specs.py); the planner adds the dataset, the seed and
    the metric-network settings. The train stage hands the finished stage's folder to `Quantizer.load_precomputed`.
    """

    kind: str  # the stage kind (a registered runner)
    title: str  # what the stage makes, for its name ("codebook for <tokenizer> from <dataset>")
    config: dict[str, Any]
    dataset: str | None = None  # None: the tokenizer's training dataset
    dataset_field: str = "model"  # the config field that names `dataset`, for error messages
    setting: str = ""  # the record label of the stage
    networks_key: str = "networks"  # the config key under which the planner puts the metric-network settings


# Whose code a baseline quantizer follows (VQGANConfig.quantizer_source). VQGAN-LC trains its VQGAN / -EMA / -FC
# baselines with zh460045050/VQGAN-LC vqgan-gpt-lc/models/models_vq.py, whose losses and init differ from taming's.
QUANTIZER_SOURCES = ("taming", "vqganlc")
# models_vq.py VQModel.quantize, the non-EMA ("org") branch: mean((sg(z_q) - z)^2) + 0.33 * mean((z_q - sg(z))^2)
VQGANLC_CODEBOOK_WEIGHT = 0.33


def quantizer_source(cfg: Any) -> str:
    """The config's quantizer_source ('taming' where the config has no such field), checked."""
    source = getattr(cfg, "quantizer_source", "taming")
    if source not in QUANTIZER_SOURCES:
        raise ValueError(f"quantizer_source must be one of {QUANTIZER_SOURCES}, got '{source}'")
    return source


def flat(z: torch.Tensor) -> torch.Tensor:
    """(B, D, h, w) -> (B*h*w, D), the order every quantizer's indices use."""
    return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])


def fp32_forward(forward: Callable[..., QuantOutput]) -> Callable[..., QuantOutput]:
    """Run a quantizer's forward outside autocast on fp32 latents: under bf16/fp16 training the distances, the
    codebook (and its projection), the EMA statistics and the losses stay fp32, so the chosen codes do not depend
    on the training precision (issue #16.1). A no-op for fp32 inputs without autocast."""
    if getattr(forward, "_fp32", False):
        return forward

    @functools.wraps(forward)
    def run(self: Quantizer, z: torch.Tensor, *args: Any, **kwargs: Any) -> QuantOutput:
        with torch.autocast(z.device.type, enabled=False):
            return forward(self, z.float(), *args, **kwargs)

    run._fp32 = True  # type: ignore[attr-defined]
    return run


class Quantizer(nn.Module):
    """Base class: forward(z) -> QuantOutput and lookup(indices) -> z_q; the rest has defaults.

    Every subclass's `forward` runs in fp32 outside autocast (`fp32_forward`, applied here once for all), so a new
    quantizer inherits the numerics guarantee without opting in.
    """

    code_channels: int = 1  # c: codes per latent position
    recipe_fields: tuple[str, ...] = ()  # model-config fields a training recipe reports (the EMA decay)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:
            cls.forward = fp32_forward(cls.__dict__["forward"])  # type: ignore[method-assign]

    @classmethod
    def from_config(cls, cfg: Any) -> Quantizer:
        """Build from a tokenizer's model config (its n_embed, embed_dim, beta, ...)."""
        raise NotImplementedError(f"{cls.__name__} does not say how to build itself from a config")

    @classmethod
    def channels_for(cls, cfg: Any) -> int:
        """c in the (h, w, c) token map for a config, known without building the module."""
        return 1

    @classmethod
    def precompute(cls, cfg: Any) -> Precompute | None:
        """The stage this quantizer needs before training, or None."""
        return None

    def load_precomputed(self, key: str, folder: Path) -> dict[str, Any]:
        """Install what the `precompute` stage `key` wrote in `folder` (called by the train stage); returns facts
        for the training summary."""
        raise NotImplementedError(f"{type(self).__name__} needs no precomputed stage ({key})")

    def forward(self, z: torch.Tensor) -> QuantOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """(B, h, w, c) indices -> (B, D, h, w) code vectors."""
        raise NotImplementedError

    def search_space(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(codebook (K, d'), queries (B*h*w*c, d'), c) exactly as this quantizer's own lookup sees them."""
        raise ValueError(f"token replacement needs a single-stage quantizer; {type(self).__name__} has no single "
                         "M-th nearest code per token")


Q = TypeVar("Q", bound=type[Quantizer])
QUANTIZERS: Registry[type[Quantizer]] = Registry("quantizer")


def register_quantizer(name: str) -> Callable[[Q], Q]:
    """Class decorator: register a Quantizer subclass under `name` (the config's `quantizer` value)."""

    def deco(cls: Q) -> Q:
        QUANTIZERS.add(name, cls)
        return cls

    return deco


def build_quantizer(cfg: Any) -> Quantizer:
    """The quantizer module a config names (`cfg.quantizer`, a registry name)."""
    return QUANTIZERS.get(cfg.quantizer).from_config(cfg)


def code_channels(cfg: Any) -> int:
    """c in the (h, w, c) token map of a config, from its quantizer."""
    return QUANTIZERS.get(cfg.quantizer).channels_for(cfg)


def precompute_for(cfg: Any) -> Precompute | None:
    """The stage a config's quantizer needs before training (None for most)."""
    return QUANTIZERS.get(cfg.quantizer).precompute(cfg)
