"""The ADM evaluator's generation metrics (openai/guided-diffusion `evaluations/evaluator.py`), on features:

- FID: mean / np.cov of Inception pool_3 features (Evaluator.compute_statistics), Fréchet distance.
- IS: softmax of the unbiased logits, KL to the split's marginal, exp, mean over 5,000-image splits
  (Evaluator.compute_inception_score; no shuffling, the last split may be short).
- Precision / recall: ManifoldEstimator with k=3 (nhood_sizes=(3,)): each set's radii are the squared L2
  distance to its k-th nearest neighbour (index k of the sorted row, self at index 0); precision = share of
  samples inside some reference ball, recall = share of references inside some sample ball (compute_prec_recall
  with the reference batch first). The reference batch is a random 10k draw of the split at paper scale.
"""
from __future__ import annotations

import numpy as np
import torch

REF_BATCH = 10_000  # images in the evaluator's reference batches (VIRTUAL_imagenet256_labeled.npz)
IS_SPLIT = 5_000


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
    """Squared L2 distances, clipped at 0 (the evaluator's _batch_pairwise_distances)."""
    return ((a * a).sum(1, keepdim=True) - 2 * a @ b.T + (b * b).sum(1)[None]).clamp_min(0)


def manifold_radii(feats: torch.Tensor, k: int = 3, block: int = 2048) -> torch.Tensor:
    """Squared distance of every feature to its k-th nearest neighbour in the same set (self excluded)."""
    f = feats.double()
    out = []
    for i in range(0, len(f), block):
        d = _sq_dists(f[i:i + block], f)
        out.append(d.kthvalue(k + 1, dim=1).values)  # k+1-th smallest: the self distance 0 is the first
    return torch.cat(out)


def precision_recall(ref: torch.Tensor, sample: torch.Tensor, k: int = 3, block: int = 2048) -> tuple[float, float]:
    """(precision, recall) as the evaluator's compute_prec_recall(activations_ref, activations_sample)."""
    ref, sample = ref.double(), sample.double()
    r_ref, r_sample = manifold_radii(ref, k, block), manifold_radii(sample, k, block)
    sample_in = torch.zeros(len(sample), dtype=torch.bool)
    ref_in = torch.zeros(len(ref), dtype=torch.bool)
    for i in range(0, len(ref), block):
        d = _sq_dists(ref[i:i + block], sample)  # (refs, samples)
        sample_in |= (d <= r_ref[i:i + block, None]).any(0)
        ref_in[i:i + block] = (d <= r_sample[None]).any(1)
    return float(sample_in.double().mean()), float(ref_in.double().mean())
