"""Autoregressive prior over token maps (taming minGPT, Esser et al. 2021 Sec. 3.2; VQGAN-LC models_gpt.py):
a class (or start) token first, then the h*w positions in raster order.

Multichannel maps (MoVQ 'auto', h x w x c): each position's input is the concatenation of its c chunk
embeddings (width n_embd / c each), and c heads predict the c indices of the next position together.
Sampling: temperature, top-k, top-p, classifier-free guidance u + (c - u) * s with a null class, KV cache.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models.priors.base import TokenPrior, register_kind
from models.priors.blocks import Block, KVCache, class_labels


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 1024  # codebook size K
    positions: int = 256  # h * w
    channels: int = 1  # c indices per position (MoVQ multichannel)
    n_classes: int = 0  # 0: unconditional (a learned start token)
    n_layer: int = 24
    n_head: int = 16
    n_embd: int = 1024
    dropout: float = 0.0
    class_dropout: float = 0.0  # > 0: labels dropped to the null class in training (guidance); the official
    # VQGAN-LC and taming trainers never drop them
    label_smoothing: float = 0.0  # VQGAN-LC's default 0 (its LabelSmoothing class is built with 0)
    pkeep: float = 1.0  # taming / VQGAN-LC: in training each input token is kept with prob pkeep, else random
    gelu: str = "none"  # exact GELU: taming mingpt.py and VQGAN-LC vqgan-gpt-lc/models/mingpt.py use nn.GELU()
    joint_vocab: bool = False  # VQGAN-LC models_gpt.py: one token table and one head over vocab_size + n_classes
    # (class c is token vocab_size + c, the training softmax runs over all of them, pkeep replacements are drawn
    # from all of them, sampling keeps the code logits only; unconditional: code 0 is the start token, sos_token 0);
    # False: a separate class table, a code-only head
    extra_positions: int = 0  # position-table rows beyond `positions` (VQGAN-LC: block_size 257 = 256 + 1, unused)


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Keep the top-k logits and/or the smallest set whose probability reaches top_p; the rest -> -inf."""
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) > top_p  # keep the first token that crosses top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


class GPT(nn.Module):
    """Decoder-only transformer; forward(indices (B, L, c), labels) -> logits (B, L, c, K)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        if cfg.n_embd % cfg.channels:
            raise ValueError(f"n_embd {cfg.n_embd} must divide into {cfg.channels} chunk embeddings")
        if cfg.joint_vocab and (cfg.channels != 1 or cfg.class_dropout > 0):
            raise ValueError("joint_vocab (VQGAN-LC) needs one index per position and no class dropout")
        self.cfg = cfg
        self.n_out = cfg.vocab_size + (cfg.n_classes if cfg.joint_vocab else 0)  # the softmax's width
        self.tok_emb = nn.Embedding(self.n_out, cfg.n_embd // cfg.channels)
        if not cfg.joint_vocab:
            self.cls_emb = nn.Embedding(cfg.n_classes + 1, cfg.n_embd)  # last row: null class / start token
        self.pos_emb = nn.Parameter(torch.zeros(1, cfg.positions + cfg.extra_positions, cfg.n_embd))
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg.n_embd, cfg.n_head, 4.0, cfg.dropout, cfg.gelu)
                                    for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, self.n_out * cfg.channels, bias=False)
        nn.init.normal_(self.pos_emb, std=0.02)

    def _embed(self, idx: torch.Tensor) -> torch.Tensor:
        b, t, c = idx.shape
        return self.tok_emb(idx).reshape(b, t, -1)

    def _start(self, lab: torch.Tensor) -> torch.Tensor:
        """(B, 1, n_embd): the class token; with joint_vocab the token table's row vocab_size + class, or, for an
        unconditional model, code 0 (models_gpt.py: sos_token 0, training_gpt.py --sos-token default)."""
        if self.cfg.joint_vocab:
            if self.cfg.n_classes == 0:
                return self.tok_emb(torch.zeros_like(lab))[:, None]
            if bool((lab >= self.cfg.n_classes).any()):
                raise ValueError("joint_vocab (VQGAN-LC) has no null class: sample with labels and no guidance")
            return self.tok_emb(lab + self.cfg.vocab_size)[:, None]
        return self.cls_emb(lab)[:, None]

    def _labels(self, labels: torch.Tensor | None, b: int, device: torch.device) -> torch.Tensor:
        return class_labels(labels if self.cfg.n_classes else None, self.cfg.n_classes, self.cfg.class_dropout,
                            self.training, b, device)

    def forward(self, idx: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher forcing: position t's logits predict idx[:, t] from the class token and idx[:, :t];
        (B, L, c, n_out), n_out = vocab_size (+ n_classes with joint_vocab)."""
        b, t, c = idx.shape
        start = self._start(self._labels(labels, b, idx.device))
        x = torch.cat([start, self._embed(idx[:, :-1])], 1) + self.pos_emb[:, :t]
        x = self.drop(x)
        for _i, block in enumerate(self.blocks):
            x = block(x, causal=True)
        return self.head(self.ln_f(x)).view(b, t, c, self.n_out)

    def corrupt(self, idx: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training inputs: each token kept with prob pkeep, else a uniform draw over the softmax's whole width
        (taming Net2NetTransformer.forward; VQGAN-LC models_gpt.py draws over n_vision_words + n_class)."""
        if not (self.training and self.cfg.pkeep < 1.0):
            return idx
        keep = torch.bernoulli(torch.full(idx.shape, self.cfg.pkeep, device=idx.device), generator=generator).bool()
        if generator is None:  # torch.randint_like: the draw the official-code fixture records
            noise = torch.randint_like(idx, self.n_out)
        else:
            noise = torch.randint(0, self.n_out, idx.shape, generator=generator, device=idx.device, dtype=idx.dtype)
        return torch.where(keep, idx, noise)

    def loss(self, idx: torch.Tensor, labels: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Cross-entropy on the true indices over all n_out logits, from pkeep-corrupted inputs."""
        logits = self(self.corrupt(idx, generator), labels)
        return F.cross_entropy(logits.reshape(-1, self.n_out), idx.reshape(-1),
                               label_smoothing=self.cfg.label_smoothing)

    def _step(self, x: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        """Code logits of the last position; VQGAN-LC's sample() keeps logits[..., :n_vision_words]."""
        for i, block in enumerate(self.blocks):
            x = block(x, causal=True, cache=cache, layer=i)
        out = self.head(self.ln_f(x[:, -1:]))[:, 0].view(x.shape[0], self.cfg.channels, self.n_out)
        return out[..., :self.cfg.vocab_size]

    @torch.no_grad()
    def generate(self, n: int, labels: torch.Tensor | None = None, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, cfg_scale: float = 1.0, use_cache: bool = True,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
        """Sample (n, L, c) indices; returns them and the number of transformer forward passes."""
        device = self.pos_emb.device
        guided = cfg_scale != 1.0 and labels is not None and self.cfg.n_classes > 0
        lab = self._labels(labels, n, device) if labels is not None else self._labels(None, n, device)
        if guided:  # cond and uncond rows in one batch
            lab = torch.cat([lab, torch.full_like(lab, self.cfg.n_classes)])
        seq = self._start(lab)
        out = torch.empty(n, 0, self.cfg.channels, dtype=torch.long, device=device)
        cache = KVCache() if use_cache else None
        passes = 0
        for t in range(self.cfg.positions):
            if use_cache and t > 0:  # only the newest position; the cache holds the keys/values of the rest
                x = seq[:, -1:] + self.pos_emb[:, t:t + 1]
            else:  # the whole prefix again: what decoding costs without a cache
                x = seq + self.pos_emb[:, :t + 1]
            logits = self._step(x, cache).float() / max(temperature, 1e-6)
            passes += 1
            if guided:
                cond, uncond = logits[:n], logits[n:]
                logits = uncond + (cond - uncond) * cfg_scale
            probs = filter_logits(logits, top_k, top_p).softmax(-1)
            nxt = torch.multinomial(probs.reshape(-1, self.cfg.vocab_size), 1, generator=generator).view(n, 1, -1)
            out = torch.cat([out, nxt], 1)
            emb = self._embed(nxt)
            seq = torch.cat([seq, torch.cat([emb, emb]) if guided else emb], 1)
        return out, passes


def top_k_for(entry: Any) -> int | None:
    """GPT top-k: a fraction of the bound vocabulary (10% of each tokenizer's codebook) or the fixed value."""
    if entry.sample.top_k_fraction is not None:
        return max(1, round(entry.sample.top_k_fraction * entry.model.vocab_size))
    return entry.sample.top_k


@register_kind("gpt")
class GPTPrior(TokenPrior):
    """Autoregressive prior over index maps (taming Net2NetTransformer, VQGAN-LC models_gpt.py)."""

    config, network, decoding, perf_entry = GPTConfig, GPT, "autoregressive", "gpt_movq"
    sample_file = ("png", None, "truncated (np.uint8)")  # vqgan-gpt-lc/eval_generation.py: plt.imsave

    def sample(self, net: nn.Module, labels: torch.Tensor, latent_shape: tuple[int, int, int],
               generator: torch.Generator | None = None, use_cache: bool = True) -> tuple[torch.Tensor, int]:
        s = self.entry.sample
        return net.generate(len(labels), self.condition(labels), s.temperature, top_k_for(self.entry), s.top_p,
                            s.cfg_scale, use_cache, generator)

    def protocol(self) -> dict[str, Any]:
        return {"top_k": top_k_for(self.entry)}
