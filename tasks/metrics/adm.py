"""The ADM evaluator's generation metrics (openai/guided-diffusion `evaluations/evaluator.py`), on features:

- FID: mean / np.cov of Inception pool_3 features (Evaluator.compute_statistics), Fréchet distance.
- IS: softmax of the unbiased logits, KL to the split's marginal, exp, mean over 5,000-image splits
  (Evaluator.compute_inception_score; no shuffling, the last split may be short).
- Precision / recall: ManifoldEstimator with k=3 (nhood_sizes=(3,)): each set's radii are the squared L2
  distance to its k-th nearest neighbour (index k of the sorted row, self at index 0); precision = share of
  samples inside some reference ball, recall = share of references inside some sample ball (compute_prec_recall
  with the reference batch first). The reference batch is a random 10k draw of the split at paper scale.
  Distances are computed as the evaluator's DistanceBlock does: features cast to float16, squared norms, matmul and
  `nu - 2 uv + nv` in float16, kept (as float32) when every entry of the 10,000 x 10,000 block is finite, else
  recomputed in float32; radii and the `<=` tests (ties count as inside) then use those float32 values. At pool_3
  norms float16 rounds the distances to steps of 0.25-1, which moves P/R by up to ~0.3 points vs float64.
- FID statistics (`feature_statistics`): np.mean of the float32 features (a float32 mean, as
  Evaluator.compute_statistics) and np.cov.
"""
from __future__ import annotations

import numpy as np
import torch

REF_BATCH = 10_000  # images in the evaluator's reference batches (VIRTUAL_imagenet256_labeled.npz)
IS_SPLIT = 5_000
BLOCK = 10_000  # ManifoldEstimator row_batch_size = col_batch_size: the float16 finiteness test is per block


def inception_score(logits: torch.Tensor, split_size: int = IS_SPLIT) -> float:
    """exp(E KL(p(y|x) || p(y))) per split of `split_size`, averaged (the evaluator's compute_inception_score)."""
    p = torch.softmax(logits.double(), dim=1)
    scores = []
    for i in range(0, len(p), split_size):
        part = p[i:i + split_size]
        kl = (part * (part.log() - part.mean(0, keepdim=True).log())).sum(1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores))


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared L2 distances, clipped at 0 (the evaluator's _batch_pairwise_distances), in the inputs' dtype."""
    return ((a * a).sum(1, keepdim=True) - 2 * a @ b.T + (b * b).sum(1)[None]).clamp_min(0)


def block_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """DistanceBlock.pairwise_distances: float16 distances of the float32 features, as float32 when all are finite;
    otherwise the float32 computation."""
    a32, b32 = a.float(), b.float()
    a16, b16 = a32.half().float(), b32.half().float()  # float16 values, held in float32
    # each op rounded to float16 as TF's CPU kernels give it: squares, and the float16 matmul accumulated in float32
    # (checked against TensorFlow 2.21: equal on every entry); torch's own CPU float16 matmul rounds differently
    nu = (a16 * a16).half().float().sum(1, keepdim=True).half()
    nv = (b16 * b16).half().float().sum(1)[None].half()
    uv = (a16 @ b16.T).half()
    d16 = ((nu - 2 * uv) + nv).clamp_min(0)  # float16 elementwise, in the evaluator's order
    if bool(torch.isfinite(d16).all()):
        return d16.float()
    return _sq_dists(a32, b32)


def _blocks(n: int, block: int) -> list[slice]:
    return [slice(i, min(i + block, n)) for i in range(0, n, block)]


def manifold_radii(feats: torch.Tensor, k: int = 3, block: int = BLOCK) -> torch.Tensor:
    """Squared distance of every feature to its k-th nearest neighbour in the same set (self excluded)."""
    out = []
    for rows in _blocks(len(feats), block):
        d = torch.cat([block_distances(feats[rows], feats[cols]) for cols in _blocks(len(feats), block)], 1)
        out.append(d.kthvalue(k + 1, dim=1).values)  # k+1-th smallest: the self distance 0 is the first
    return torch.cat(out)


def precision_recall(ref: torch.Tensor, sample: torch.Tensor, k: int = 3, block: int = BLOCK) -> tuple[float, float]:
    """(precision, recall) as the evaluator's compute_prec_recall(activations_ref, activations_sample)."""
    r_ref, r_sample = manifold_radii(ref, k, block), manifold_radii(sample, k, block)
    sample_in = torch.zeros(len(sample), dtype=torch.bool)
    ref_in = torch.zeros(len(ref), dtype=torch.bool)
    for rows in _blocks(len(ref), block):
        for cols in _blocks(len(sample), block):
            d = block_distances(ref[rows], sample[cols])  # (refs, samples), float32
            sample_in[cols] |= (d <= r_ref[rows, None]).any(0)
            ref_in[rows] |= (d <= r_sample[None, cols]).any(1)
    return float(sample_in.double().mean()), float(ref_in.double().mean())


def feature_statistics(feats: torch.Tensor) -> dict[str, np.ndarray]:
    """{'mu', 'sigma'} as Evaluator.compute_statistics: np.mean of float32 features (float32) and np.cov."""
    f = feats.detach().cpu().float().numpy()
    return {"mu": np.mean(f, axis=0), "sigma": np.cov(f, rowvar=False)}
