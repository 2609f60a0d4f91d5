"""MaskGIT (Chang et al. 2022; google-research/maskgit): a bidirectional transformer over token maps with a
[MASK] token, trained on cosine-scheduled masking, sampled by iterative parallel decoding.

Each decoding step samples every masked token, scores confidence as log p + temperature * (1 - r) * Gumbel
(annealed to 0 over the steps), and re-masks the least confident ones so that cos(pi/2 * r) of the map stays
masked. Class-conditional via a class token; MoVQ's multichannel variant embeds each position as the
concatenation of its c chunk embeddings, predicts c indices, and masks every index independently.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models.priors.base import TokenPrior, register_kind
from models.priors.blocks import Attention, Block, class_labels, gelu_form


@dataclass(frozen=True)
class MaskGITConfig:
    vocab_size: int = 1024
    positions: int = 256
    channels: int = 1
    n_classes: int = 0
    n_layer: int = 24
    n_head: int = 16
    n_embd: int = 768
    dropout: float = 0.1
    label_smoothing: float = 0.1
    class_dropout: float = 0.0  # > 0: labels dropped in training; google-research/maskgit never drops them
    arch: str = "preln"  # preln (minGPT blocks, untied head) | bert (maskgit_transformer.py: post-LN, tied head)
    gelu: str = "tanh"  # maskgit_transformer.py calls jax.nn.gelu, whose default is the tanh form (approximate=True);
    # the preln variant (MoVQ's mask prior, no official code) keeps the same


def cosine_schedule(r: torch.Tensor) -> torch.Tensor:
    """Fraction of tokens masked at progress r in [0, 1] (MaskGIT Sec. 3.3, 'cosine')."""
    return torch.cos(math.pi / 2 * r)


def remask_cut(conf: torch.Tensor, total: torch.Tensor, unknown: torch.Tensor, ratio: float) -> torch.Tensor:
    """(n, 1, 1) confidence below which a token is re-masked after a pass (libml/parallel_decode.py): each sample
    re-masks floor(total * cos(pi/2 * ratio)) tokens in float32 as jax does, at least 1 and at most its unknown
    count - 1, so one token stays masked until the last pass however small the map (every pass runs)."""
    n = conf.shape[0]
    frac = cosine_schedule(torch.tensor(ratio, dtype=torch.float32)).clamp(1e-6, 1.0)
    n_mask = torch.floor(total.float() * frac).long()
    n_mask = torch.maximum(torch.ones_like(n_mask), torch.minimum(unknown.flatten(1).sum(1) - 1, n_mask))
    ordered = conf.flatten(1).sort(1).values
    return ordered.gather(1, n_mask.clamp_max(ordered.shape[1] - 1)[:, None]).view(n, 1, 1)


class PostLNBlock(nn.Module):
    """BERT-style layer (maskgit_transformer.py TransformerLayer): x = LN(x + drop(attn(x))); LN(x + drop(mlp(x)))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float, gelu: str = "tanh") -> None:
        super().__init__()
        self.attn = Attention(dim, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(approximate=gelu_form(gelu)),
                                 nn.Linear(int(dim * mlp_ratio), dim))
        self.ln1, self.ln2 = nn.LayerNorm(dim, eps=1e-12), nn.LayerNorm(dim, eps=1e-12)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln1(x + self.drop(self.attn(x)))
        return self.ln2(x + self.drop(self.mlp(x)))


class MaskGIT(nn.Module):
    """forward(indices (B, L, c) with mask id K where masked, labels) -> logits (B, L, c, K).

    arch 'bert' (google-research/maskgit, the paper entries' official network): one token table over the codes,
    the classes and [MASK] (ids K .. K + n_classes - 1 are classes, the last one is [MASK]; an unconditional
    model keeps one start class); word + position embeddings -> LayerNorm -> dropout; post-LN layers; the MLM
    head Dense + GELU + LayerNorm, then logits = h @ token_table[:K]^T + bias (tied to the embedding)."""

    def __init__(self, cfg: MaskGITConfig) -> None:
        super().__init__()
        if cfg.n_embd % cfg.channels:
            raise ValueError(f"n_embd {cfg.n_embd} must divide into {cfg.channels} chunk embeddings")
        if cfg.arch not in ("preln", "bert"):
            raise ValueError(f"MaskGIT arch must be 'preln' or 'bert', got '{cfg.arch}'")
        self.cfg = cfg
        if cfg.arch == "bert":
            if cfg.channels != 1:
                raise ValueError("the BERT-style MaskGIT (arch=bert) has one index per position")
            self._build_bert(cfg)
            return
        self.mask_id = cfg.vocab_size
        self.tok_emb = nn.Embedding(cfg.vocab_size + 1, cfg.n_embd // cfg.channels)
        self.cls_emb = nn.Embedding(cfg.n_classes + 1, cfg.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(1, cfg.positions + 1, cfg.n_embd))
        self.blocks = nn.ModuleList(Block(cfg.n_embd, cfg.n_head, 4.0, cfg.dropout, cfg.gelu)
                                    for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size * cfg.channels)
        nn.init.normal_(self.pos_emb, std=0.02)

    def _build_bert(self, cfg: MaskGITConfig) -> None:
        n_cls = max(cfg.n_classes, 1)
        self.mask_id = cfg.vocab_size + n_cls
        self.tok_emb = nn.Embedding(cfg.vocab_size + n_cls + 1, cfg.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(1, cfg.positions + 1, cfg.n_embd))
        self.emb_ln, self.emb_drop = nn.LayerNorm(cfg.n_embd, eps=1e-12), nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(PostLNBlock(cfg.n_embd, cfg.n_head, 4.0, cfg.dropout, cfg.gelu)
                                    for _ in range(cfg.n_layer))
        self.mlm_dense, self.mlm_ln = nn.Linear(cfg.n_embd, cfg.n_embd), nn.LayerNorm(cfg.n_embd, eps=1e-12)
        self.mlm_bias = nn.Parameter(torch.zeros(self.tok_emb.num_embeddings))
        for p in (self.tok_emb.weight, self.pos_emb):
            nn.init.trunc_normal_(p, std=0.02)

    def _forward_bert(self, idx: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        b, t, _ = idx.shape
        k = self.cfg.vocab_size
        if labels is None or self.cfg.n_classes == 0:
            cls = torch.full((b,), k, dtype=torch.long, device=idx.device)
        else:
            lab = labels
            if self.training and self.cfg.class_dropout > 0:  # optional: dropped labels read [MASK]
                drop = torch.rand(b, device=idx.device) < self.cfg.class_dropout
                lab = torch.where(drop, torch.full_like(lab, self.mask_id - k), lab)
            cls = lab + k
        ids = torch.cat([cls[:, None], idx[..., 0]], 1)
        x = self.emb_drop(self.emb_ln(self.tok_emb(ids) + self.pos_emb[:, : t + 1]))
        for block in self.blocks:
            x = block(x)
        h = self.mlm_ln(F.gelu(self.mlm_dense(x[:, 1:]), approximate=gelu_form(self.cfg.gelu)))
        logits = h @ self.tok_emb.weight.t() + self.mlm_bias  # tied output: the token table itself
        return logits[..., :k].view(b, t, 1, k)

    def forward(self, idx: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.cfg.arch == "bert":
            return self._forward_bert(idx, labels)
        b, t, c = idx.shape
        lab = class_labels(labels, self.cfg.n_classes, self.cfg.class_dropout, self.training, b, idx.device)
        x = torch.cat([self.cls_emb(lab)[:, None], self.tok_emb(idx).reshape(b, t, -1)], 1) + self.pos_emb
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x[:, 1:])).view(b, t, c, self.cfg.vocab_size)

    def loss(self, idx: torch.Tensor, labels: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Mask a cosine-scheduled random fraction of the indices; cross-entropy on the masked ones."""
        b = idx.shape[0]
        ratio = cosine_schedule(torch.rand(b, device=idx.device, generator=generator)).clamp_min(1.0 / idx[0].numel())
        masked = torch.rand(idx.shape, device=idx.device, generator=generator) < ratio.view(b, 1, 1)
        logits = self(idx.masked_fill(masked, self.mask_id), labels)
        return F.cross_entropy(logits[masked], idx[masked], label_smoothing=self.cfg.label_smoothing)

    @torch.no_grad()
    def generate(self, n: int, labels: torch.Tensor | None = None, steps: int = 8, temperature: float = 1.0,
                 choice_temperature: float = 4.5, cfg_scale: float = 1.0,
                 generator: torch.Generator | None = None, init: torch.Tensor | None = None,
                 greedy: bool = False) -> tuple[torch.Tensor, int]:
        """Iterative decoding from an all-masked map (or `init`, partly masked with mask_id); returns (n, L, c)
        indices and the forward-pass count. `greedy` takes the top-1 token instead of sampling."""
        device = self.pos_emb.device
        shape = (n, self.cfg.positions, self.cfg.channels)
        idx = torch.full(shape, self.mask_id, dtype=torch.long, device=device) if init is None else init.clone()
        # each sample's schedule runs over its own masked count (libml/parallel_decode.py
        # unknown_number_in_the_beginning), so partial masks of different sizes decode as they would alone
        total = (idx == self.mask_id).flatten(1).sum(1)
        guided = cfg_scale != 1.0 and labels is not None and self.cfg.n_classes > 0
        passes = 0
        for step in range(steps):
            if guided:
                both = self(torch.cat([idx, idx]), torch.cat([labels, torch.full_like(labels, self.cfg.n_classes)]))
                logits = both[n:] + (both[:n] - both[n:]) * cfg_scale
            else:
                logits = self(idx, labels)
            passes += 1
            probs = (logits.float() / max(temperature, 1e-6)).softmax(-1)
            if greedy:
                sampled = probs.argmax(-1)
            else:
                sampled = torch.multinomial(probs.reshape(-1, self.cfg.vocab_size), 1, generator=generator).view(shape)
            unknown = idx == self.mask_id
            sampled = torch.where(unknown, sampled, idx)
            if step == steps - 1:  # the official decode returns the last pass's samples (final_seqs[:, -1])
                idx = sampled
                break
            ratio = (step + 1) / steps
            logp = torch.log(probs.gather(-1, sampled.unsqueeze(-1)).squeeze(-1) + 1e-20)
            u = torch.rand(shape, generator=generator, device=device).clamp(1e-20, 1 - 1e-20)
            gumbel = -torch.log(-torch.log(u))
            conf = logp + choice_temperature * (1.0 - ratio) * gumbel  # annealed to 0 at the last step
            conf = torch.where(unknown, conf, torch.full_like(conf, float("inf")))  # decided tokens stay
            idx = torch.where(conf < remask_cut(conf, total, unknown, ratio), self.mask_id, sampled)
        return idx, passes


def decode_steps(entry: Any) -> int:
    """MaskGIT decoding steps: steps_conditional for a class-conditional binding when set (MoVQ Table 3), else steps."""
    s = entry.sample
    if s.steps_conditional and entry.model.n_classes > 1:
        return s.steps_conditional
    return s.steps or 8


@register_kind("maskgit")
class MaskGITPrior(TokenPrior):
    """Masked (bidirectional) prior over index maps, decoded iteratively (Chang et al. 2022)."""

    config, network, decoding, perf_entry = MaskGITConfig, MaskGIT, "masked", "maskgit"

    def sample(self, net: nn.Module, labels: torch.Tensor, latent_shape: tuple[int, int, int],
               generator: torch.Generator | None = None, use_cache: bool = True) -> tuple[torch.Tensor, int]:
        s = self.entry.sample
        return net.generate(len(labels), self.condition(labels), decode_steps(self.entry), s.temperature,
                            s.choice_temperature, s.cfg_scale, generator)

    def protocol(self) -> dict[str, Any]:
        return {"sampling_steps": decode_steps(self.entry)}
