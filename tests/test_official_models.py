"""vqbench's tokenizer modules against outputs of the official code (fixtures in tests/data/official/, written by
tools/official_fixtures/*.py, which import the official repositories unchanged): weights are ported with vqbench's
converters and outputs compared on the same inputs. No network, no official code at test time."""
from __future__ import annotations

import pytest
import torch

from models.converters.base import CONVERTERS, load_into
from models.quantizers.rq import ResidualQuantizer
from models.registry import build_tokenizer, create_entry
from official import load_fixture


def _state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official state dict a fixture stores under `state.`."""
    return {k.removeprefix("state."): v for k, v in tensors.items() if k.startswith("state.")}


# --- RQ-VAE (kakaobrain/rq-vae-transformer) --------------------------------------------------------------------

def test_rqvae_converter_reproduces_the_official_forward():
    """RQVAE.forward (eval) vs vqbench's RQ-VAE with the converted weights: codes at every depth, recon, latent loss."""
    t, meta = load_fixture("rq-vae-transformer", "rqvae_model")
    from models.converters import rqvae  # noqa: F401  registers the converter

    entry = create_entry("rqvae_16x16x4_2048", "smoke", {"model": {
        "resolution": 16, "ch_mult": (1, 1), "attn_resolutions": (8,), "z_channels": 16, "embed_dim": 16,
        "n_embed": 64, "depth": 4}})
    model = build_tokenizer(entry).eval()
    load_into(model, CONVERTERS.get("rqvae")(_state(t), model), "rqvae")
    with torch.no_grad():
        out = model(t["x"])
    assert torch.equal(out.indices, t["codes"]), f"codes differ from {meta['file']} at commit {meta['commit']}"
    assert torch.allclose(out.recon, t["recon"], atol=1e-5)
    assert torch.allclose(out.terms["commit"], t["latent_loss"], rtol=1e-5)  # compute_commitment_loss, unweighted


def _rq_from(t: dict[str, torch.Tensor]) -> ResidualQuantizer:
    rq = ResidualQuantizer(64, 8, depth=3, beta=0.25, decay=0.99, eps=1e-5, restart_threshold=1.0).train()
    rq.codebook.embed.copy_(t["weight0"][:-1])  # the official weight carries a padding row
    rq.codebook.embed_avg.copy_(t["embed_ema0"])
    rq.codebook.cluster_size.copy_(t["cluster_size_ema0"])
    return rq


def test_rqvae_ema_step_with_restarts_matches_the_official_step():
    """Two seeded training steps of RQBottleneck (32 vectors < 64 codes: tiled with noise, randperm draws)."""
    t, _ = load_fixture("rq-vae-transformer", "rq_ema_restart")
    rq = _rq_from(t)
    for step in range(2):
        torch.manual_seed(100 + step)  # as the fixture script, before each forward
        q = rq(t[f"x{step}"].permute(0, 3, 1, 2))
        assert torch.equal(q.indices, t[f"codes{step}"])
        assert torch.allclose(q.z_q.permute(0, 2, 3, 1), t[f"quant{step}"], atol=1e-6)
        assert torch.allclose(q.terms["commit"], t[f"loss{step}"], rtol=1e-5)
        assert torch.allclose(rq.codebook.cluster_size, t[f"cluster_size_ema{step + 1}"], atol=1e-6)
        assert torch.allclose(rq.codebook.embed_avg, t[f"embed_ema{step + 1}"], atol=1e-6)
        assert torch.allclose(rq.codebook.embed, t[f"weight{step + 1}"][:-1], atol=1e-6)
    restarted = t["cluster_size_ema2"] == 1.0
    assert restarted.any() and len(torch.unique(rq.codebook.embed, dim=0)) == 64  # restarted codes are distinct


def test_rqvae_restarts_never_duplicate_codes_in_the_paper_regime():
    """K/8 vectors per batch (RQ-VAE's regime): every restarted code is a distinct vector (item 8: 102/134 were
    copies with randint draws)."""
    torch.manual_seed(0)
    rq = ResidualQuantizer(1024, 16, depth=1, restart_threshold=1.0).train()
    rq(torch.randn(2, 16, 8, 8))  # 128 vectors, 1024 codes: most codes restart
    assert len(torch.unique(rq.codebook.embed, dim=0)) == 1024
