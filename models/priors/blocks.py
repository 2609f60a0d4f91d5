"""Transformer pieces shared by the priors: multi-head attention with an optional KV cache, MLP, pre-LN blocks,
and DiT's adaLN-Zero block (Peebles & Xie 2023, Sec. 3.2)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def class_labels(labels: torch.Tensor | None, n_classes: int, p_drop: float, training: bool, b: int,
                 device: torch.device) -> torch.Tensor:
    """Class ids for a conditioning embedding whose last row (index n_classes) is the null class: missing labels
    or an unconditional model give the null class; in training, labels drop to it with probability p_drop
    (classifier-free guidance, Ho & Salimans 2022)."""
    null = torch.full((b,), n_classes, dtype=torch.long, device=device)
    lab = null if labels is None or n_classes == 0 else labels
    if training and labels is not None and p_drop > 0:
        lab = torch.where(torch.rand(b, device=device) < p_drop, null, lab)
    return lab


class KVCache:
    """Keys/values of the positions decoded so far, one (k, v) pair per layer."""

    def __init__(self) -> None:
        self.layers: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if layer in self.layers:
            pk, pv = self.layers[layer]
            k, v = torch.cat([pk, k], 2), torch.cat([pv, v], 2)
        self.layers[layer] = (k, v)
        return k, v


class Attention(nn.Module):
    """Multi-head self-attention (qkv + proj with bias, as minGPT); causal or bidirectional."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, causal: bool = False, cache: KVCache | None = None,
                layer: int = 0) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        if cache is not None:
            k, v = cache.extend(layer, k, v)
        # with a cache, the new queries sit at the end of the key sequence: a causal mask offset by the past length
        if causal and k.shape[2] != t:
            past = k.shape[2] - t
            mask = torch.ones(t, k.shape[2], dtype=torch.bool, device=x.device).tril(past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                               dropout_p=self.dropout if self.training else 0.0)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                               dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


GELU_FORMS = ("none", "tanh")  # torch's `approximate`: exact erf form | tanh approximation


def gelu_form(form: str) -> str:
    """Validate a per-prior GELU choice (torch nn.GELU `approximate`)."""
    if form not in GELU_FORMS:
        raise ValueError(f"gelu must be one of {GELU_FORMS}, got '{form}'")
    return form


class MLP(nn.Sequential):
    """Linear -> GELU -> Linear -> dropout; `gelu` is each prior's official form (exact in minGPT's nn.GELU(),
    tanh in DiT's approx_gelu and in jax.nn.gelu, MaskGIT's default)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0, gelu: str = "tanh") -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(approximate=gelu_form(gelu)), nn.Linear(hidden, dim),
                         nn.Dropout(dropout))


class Block(nn.Module):
    """Pre-LN transformer block (minGPT / MaskGIT bidirectional transformer)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0, gelu: str = "none") -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.mlp = MLP(dim, int(dim * mlp_ratio), dropout, gelu)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, causal: bool = False, cache: KVCache | None = None,
                layer: int = 0) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x), causal, cache, layer))
        return x + self.mlp(self.ln2(x))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class AdaLNBlock(nn.Module):
    """DiT block with adaLN-Zero conditioning: the modulation is zero-initialised, so each block starts as identity."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, gelu: str = "tanh") -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.mlp = MLP(dim, int(dim * mlp_ratio), gelu=gelu)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        s1, sc1, g1, s2, sc2, g2 = self.ada(c).chunk(6, dim=1)
        x = x + g1.unsqueeze(1) * self.attn(modulate(self.norm1(x), s1, sc1))
        return x + g2.unsqueeze(1) * self.mlp(modulate(self.norm2(x), s2, sc2))
