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

import torch
import torch.nn.functional as F
from torch import nn

from models.priors.blocks import Block, class_labels


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
    class_dropout: float = 0.1


def cosine_schedule(r: torch.Tensor) -> torch.Tensor:
    """Fraction of tokens masked at progress r in [0, 1] (MaskGIT Sec. 3.3, 'cosine')."""
    return torch.cos(math.pi / 2 * r)


class MaskGIT(nn.Module):
    """forward(indices (B, L, c) with mask id K where masked, labels) -> logits (B, L, c, K)."""

    def __init__(self, cfg: MaskGITConfig) -> None:
        super().__init__()
        if cfg.n_embd % cfg.channels:
            raise ValueError(f"n_embd {cfg.n_embd} must divide into {cfg.channels} chunk embeddings")
        self.cfg = cfg
        self.mask_id = cfg.vocab_size
        self.tok_emb = nn.Embedding(cfg.vocab_size + 1, cfg.n_embd // cfg.channels)
        self.cls_emb = nn.Embedding(cfg.n_classes + 1, cfg.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(1, cfg.positions + 1, cfg.n_embd))
        self.blocks = nn.ModuleList(Block(cfg.n_embd, cfg.n_head, 4.0, cfg.dropout) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size * cfg.channels)
        nn.init.normal_(self.pos_emb, std=0.02)

    def forward(self, idx: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        b, t, c = idx.shape
        lab = class_labels(labels, self.cfg.n_classes, self.cfg.class_dropout, self.training, b, idx.device)
        x = torch.cat([self.cls_emb(lab)[:, None], self.tok_emb(idx).reshape(b, t, -1)], 1) + self.pos_emb
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x[:, 1:])).view(b, t, c, self.cfg.vocab_size)

    def loss(self, idx: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Mask a cosine-scheduled random fraction of the indices; cross-entropy on the masked ones."""
        b = idx.shape[0]
        ratio = cosine_schedule(torch.rand(b, device=idx.device)).clamp_min(1.0 / idx[0].numel())
        masked = torch.rand(idx.shape, device=idx.device) < ratio.view(b, 1, 1)
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
        total = int((idx == self.mask_id).flatten(1).sum(1).max())  # the schedule runs over the masked tokens
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
            ratio = (step + 1) / steps
            n_mask = int(math.floor(cosine_schedule(torch.tensor(ratio)).item() * total))
            if n_mask == 0 or step == steps - 1:
                idx = sampled
                break
            logp = torch.log(probs.gather(-1, sampled.unsqueeze(-1)).squeeze(-1) + 1e-20)
            u = torch.rand(shape, generator=generator, device=device).clamp(1e-20, 1 - 1e-20)
            gumbel = -torch.log(-torch.log(u))
            conf = logp + choice_temperature * (1.0 - ratio) * gumbel  # annealed to 0 at the last step
            conf = torch.where(unknown, conf, torch.full_like(conf, float("inf")))  # decided tokens stay
            n_mask = max(1, min(n_mask, int(unknown.flatten(1).sum(1).min()) - 1))
            cut = conf.flatten(1).sort(1).values[:, n_mask - 1:n_mask].view(n, 1, 1)
            idx = torch.where(conf <= cut, torch.full_like(sampled, self.mask_id), sampled)
        return idx, passes
