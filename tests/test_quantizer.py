"""Quantizer math: both beta placements, straight-through gradient, and chunked nearest-code search."""
from __future__ import annotations

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
