"""Quantizer math: both beta placements, straight-through gradient, and chunked nearest-code search."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from models.quantizers.search import nearest_code
from models.quantizers.vq import VectorQuantizer


def _setup(placement: str):
    q = VectorQuantizer(n_embed=16, embed_dim=4, beta=0.25, beta_placement=placement)
    q.embedding.weight.data = torch.randn(16, 4)
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    return q, z


@pytest.mark.parametrize("placement", ["legacy", "corrected"])
def test_beta_placement_gradients(placement):
    q, z = _setup(placement)
    out = q(z)
    zf = z.detach().permute(0, 2, 3, 1).reshape(-1, 4)
    idx = torch.cdist(zf, q.embedding.weight).argmin(1)
    e = q.embedding.weight.detach()[idx]
    mse = F.mse_loss(zf, e)
    assert torch.allclose(out.loss, 1.25 * mse)  # same value either way; the gradients tell them apart
    out.loss.backward()
    n = zf.numel()
    commit_w, code_w = (1.0, 0.25) if placement == "legacy" else (0.25, 1.0)
    expect_z = commit_w * 2 * (zf - e) / n
    got_z = z.grad.permute(0, 2, 3, 1).reshape(-1, 4)
    assert torch.allclose(got_z, expect_z, atol=1e-6)
    expect_e = torch.zeros_like(q.embedding.weight).index_add_(0, idx, code_w * 2 * (e - zf) / n)
    assert torch.allclose(q.embedding.weight.grad, expect_e, atol=1e-6)


def test_straight_through_gradient_is_identity():
    q, z = _setup("legacy")
    out = q(z)
    g = torch.randn_like(out.z_q)
    (out.z_q * g).sum().backward()
    assert torch.allclose(z.grad, g)
    assert q.embedding.weight.grad is None  # no path from z_q's value to the codebook except the losses


def test_forward_value_is_the_nearest_code():
    q, z = _setup("corrected")
    out = q(z)
    looked_up = q.lookup(out.indices)
    assert torch.allclose(out.z_q, looked_up, atol=1e-6)


@pytest.mark.parametrize("n,k,d,chunk", [(1000, 3000, 8, 4096), (257, 50, 3, 64), (10, 100_000, 8, 2**16)])
def test_chunked_search_matches_brute_force(n, k, d, chunk):
    z, cb = torch.randn(n, d), torch.randn(k, d)
    expect = torch.cdist(z, cb).argmin(1)
    got = nearest_code(z, cb, chunk_elems=chunk)
    # ties/rounding can differ only where two codes are (numerically) equidistant
    diff = got != expect
    if diff.any():
        dg = ((z[diff] - cb[got[diff]]) ** 2).sum(1)
        de = ((z[diff] - cb[expect[diff]]) ** 2).sum(1)
        assert torch.allclose(dg, de, rtol=1e-4, atol=1e-5)


def test_ema_update_matches_laplace_smoothed_formula_and_skips_eval():
    from models.quantizers.ema import EMAVectorQuantizer

    q = EMAVectorQuantizer(n_embed=4, embed_dim=2, decay=0.9, eps=1e-5)
    cb = q.codebook
    size0, avg0 = cb.cluster_size.clone(), cb.embed_avg.clone()
    z = torch.randn(1, 2, 3, 3)
    q.eval()
    q(z)
    assert torch.equal(cb.cluster_size, size0)  # no update outside training
    q.train()
    out = q(z)
    idx = out.indices.flatten()
    zf = z.permute(0, 2, 3, 1).reshape(-1, 2)
    counts = torch.bincount(idx, minlength=4).float()
    sums = torch.zeros(4, 2).index_add_(0, idx, zf)
    size = 0.9 * size0 + 0.1 * counts
    avg = 0.9 * avg0 + 0.1 * sums
    n = size.sum()
    expect = avg / ((size + 1e-5) / (n + 4e-5) * n)[:, None]
    assert torch.allclose(cb.embed, expect, atol=1e-6)
    assert torch.allclose(out.loss, 0.25 * F.mse_loss(z, out.z_q.detach()), atol=1e-6)


def test_fc_lookup_is_cosine_on_unit_vectors():
    from models.quantizers.fc import FactorizedQuantizer

    q = FactorizedQuantizer(n_embed=32, embed_dim=8)
    q.embedding.weight.data = torch.randn(32, 8)
    z = torch.randn(2, 8, 4, 4) * 5
    out = q(z)
    zf = F.normalize(z.permute(0, 2, 3, 1).reshape(-1, 8), dim=1)
    expect = (zf @ F.normalize(q.embedding.weight, dim=1).T).argmax(1)
    assert torch.equal(out.indices.flatten(), expect)
    assert torch.allclose(out.z_q.norm(dim=1), torch.ones(2, 4, 4), atol=1e-5)


def test_residual_quantizer_sums_codes_and_averages_commitment_over_depth():
    from models.quantizers.rq import ResidualQuantizer

    q = ResidualQuantizer(n_embed=64, embed_dim=4, depth=3, restart_threshold=0.0).eval()
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = q(z)
    assert out.indices.shape == (2, 3, 3, 3)
    assert torch.allclose(q.lookup(out.indices), out.z_q, atol=1e-5)
    zf = z.detach().permute(0, 2, 3, 1).reshape(-1, 4)
    emb, agg, res, commits = q.codebook.embed, torch.zeros_like(zf), zf.clone(), []
    for d in range(3):
        i = out.indices.reshape(-1, 3)[:, d]
        assert torch.equal(i, torch.cdist(res, emb).argmin(1))  # each depth quantizes the current residual
        agg, res = agg + emb[i], res - emb[i]
        commits.append(F.mse_loss(zf, agg))
    assert torch.allclose(out.loss, 0.25 * torch.stack(commits).mean(), atol=1e-6)


def test_dead_codes_restart_from_encoder_outputs():
    from models.quantizers.ema import EMACodebook

    cb = EMACodebook(8, 2, decay=0.5, restart_threshold=1.0)
    z = torch.full((16, 2), 3.0)
    cb.update(z, torch.zeros(16, dtype=torch.long))  # only code 0 is used; the others decay below 1
    assert torch.allclose(cb.embed[1:], torch.full((7, 2), 3.0))
    assert (cb.cluster_size[1:] == 1.0).all()


def test_multichannel_chunks_share_one_codebook():
    from models.quantizers.multichannel import MultichannelQuantizer

    q = MultichannelQuantizer(n_embed=16, embed_dim=8, channels=4)
    q.vq.embedding.weight.data = torch.randn(16, 2)
    z = torch.randn(2, 8, 3, 3)
    out = q(z)
    assert out.indices.shape == (2, 3, 3, 4)
    for j in range(4):  # chunk j = channels [2j, 2j+2), looked up in the same codebook
        zj = z[:, 2 * j:2 * j + 2].permute(0, 2, 3, 1).reshape(-1, 2)
        expect = torch.cdist(zj, q.vq.embedding.weight).argmin(1)
        assert torch.equal(out.indices[..., j].reshape(-1), expect)
    assert torch.allclose(q.lookup(out.indices), out.z_q, atol=1e-6)


def test_ema_and_rq_quantise_with_the_codes_from_before_the_update():
    """taming / VQGAN-LC / RQ-VAE: counts start at zero; a training step's output uses the pre-update codes."""
    from models.quantizers.ema import EMAVectorQuantizer
    from models.quantizers.rq import ResidualQuantizer

    torch.manual_seed(0)
    for q in (EMAVectorQuantizer(16, 4), ResidualQuantizer(16, 4, depth=1)):
        assert float(q.codebook.cluster_size.abs().sum()) == 0.0
        before = q.codebook.embed.clone()
        z = torch.randn(2, 4, 3, 3)
        out = q.train()(z)
        expect = before[out.indices[..., 0]].permute(0, 3, 1, 2)
        assert torch.allclose(out.z_q, expect, atol=1e-6)
        assert not torch.equal(q.codebook.embed, before)  # the update did happen


def test_vqganlc_sourced_fc_uses_the_org_weighting():
    """VQGAN-LC has no FC type: its VQGAN-FC baseline takes models_vq.py's org loss, commit + 0.33 * codebook, on the
    l2-normalised factorized codes (taming-sourced FC keeps LlamaGen's codebook + beta * commit)."""
    from models.quantizers import build_quantizer
    from models.registry import create_entry

    torch.manual_seed(0)
    cfg = create_entry("vqgan_fc_f16_16384", "smoke").model
    assert cfg.quantizer_source == "vqganlc"
    lc, taming = build_quantizer(cfg), build_quantizer(dataclasses.replace(cfg, quantizer_source="taming"))
    taming.load_state_dict(lc.state_dict())
    z = torch.randn(2, cfg.embed_dim, 4, 4)
    a, b = lc(z), taming(z)
    mse = a.terms["commit"]  # commit and codebook terms are equal in value (both ||z - z_q||^2)
    assert torch.allclose(a.loss, mse * 1.33) and torch.allclose(b.loss, mse * 1.25)


@pytest.mark.parametrize("latent,init,trainable,l2", [(768, "kmeans", False, True), (8, "kmeans", False, False),
                                                      (768, "random", True, False), (768, "random", False, True),
                                                      (1024, "kmeans", False, False)])
def test_vqganlc_l2_features_only_at_768(latent, init, trainable, l2):
    """models_vq.py encode: features l2-normalised iff e_dim == 768 and tuning_codebook != -1 (trainable random)."""
    from models.quantizers.lc import lc_l2_features

    assert lc_l2_features(latent, init, trainable) is l2
