"""Nearest-code search in bounded memory: never an N x K distance matrix beyond one chunk."""
from __future__ import annotations

import torch


@torch.no_grad()
def nearest_code(z: torch.Tensor, codebook: torch.Tensor, chunk_elems: int = 2**24) -> torch.Tensor:
    """argmin_k ||z_n - e_k||^2 for z (N, D), codebook (K, D); returns (N,) int64.

    Distances are formed as ||e||^2 - 2 z.e (||z||^2 is constant per row), one (n_chunk, k_chunk)
    tile at a time, keeping a running minimum, so peak extra memory is about chunk_elems floats.
    """
    n, k = z.shape[0], codebook.shape[0]
    e_sq = (codebook * codebook).sum(1)
    k_chunk = min(k, max(1, chunk_elems // 1024))
    n_chunk = max(1, min(n, chunk_elems // k_chunk))
    out = torch.empty(n, dtype=torch.long, device=z.device)
    for i in range(0, n, n_chunk):
        zi = z[i:i + n_chunk]
        best_d = torch.full((zi.shape[0],), float("inf"), device=z.device, dtype=z.dtype)
        best_i = torch.zeros(zi.shape[0], dtype=torch.long, device=z.device)
        for j in range(0, k, k_chunk):
            d = torch.addmm(e_sq[j:j + k_chunk], zi, codebook[j:j + k_chunk].t(), beta=1.0, alpha=-2.0)
            dmin, imin = d.min(1)
            better = dmin < best_d  # strict: ties keep the lowest index, as argmin over the full matrix would
            best_d = torch.where(better, dmin, best_d)
            best_i = torch.where(better, imin + j, best_i)
        out[i:i + n_chunk] = best_i
    return out


@torch.no_grad()
def mth_nearest_code(z: torch.Tensor, codebook: torch.Tensor, m: int, chunk_elems: int = 2**24) -> torch.Tensor:
    """Index of the m-th nearest code (m=1: the nearest) for z (N, D); keeps a running top-m over codebook chunks,
    so memory stays about chunk_elems floats for any K (VQGAN-LC Fig. 5 token replacement)."""
    n, k = z.shape[0], codebook.shape[0]
    if not 1 <= m <= k:
        raise ValueError(f"m must be in [1, {k}] for a codebook of {k} codes, got {m}")
    e_sq = (codebook * codebook).sum(1)
    k_chunk = min(k, max(m, chunk_elems // 1024))
    n_chunk = max(1, min(n, chunk_elems // (k_chunk + m)))
    out = torch.empty(n, dtype=torch.long, device=z.device)
    for i in range(0, n, n_chunk):
        zi = z[i:i + n_chunk]
        best_d = torch.empty(zi.shape[0], 0, device=z.device, dtype=z.dtype)
        best_i = torch.empty(zi.shape[0], 0, device=z.device, dtype=torch.long)
        for j in range(0, k, k_chunk):
            d = torch.addmm(e_sq[j:j + k_chunk], zi, codebook[j:j + k_chunk].t(), beta=1.0, alpha=-2.0)
            idx = torch.arange(j, j + d.shape[1], device=z.device).expand(zi.shape[0], -1)
            cat_d, cat_i = torch.cat([best_d, d], 1), torch.cat([best_i, idx], 1)
            top = cat_d.topk(min(m, cat_d.shape[1]), dim=1, largest=False, sorted=True)
            best_d, best_i = top.values, cat_i.gather(1, top.indices)
        out[i:i + n_chunk] = best_i[:, m - 1]
    return out
