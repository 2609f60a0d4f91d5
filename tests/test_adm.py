"""The ADM-evaluator metrics (tasks/metrics/adm.py) against the evaluator's math written out directly in numpy
(dense distance matrix, np.partition radii, the improved-gan IS loop) on the same features. These unit-scale features
have no float16 ties; the evaluator's float16 distances are checked against its own outputs in
tests/test_official_metrics.py."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.metrics.adm import inception_score, manifold_radii, precision_recall


def _evaluator_pr(ref: np.ndarray, sample: np.ndarray, k: int = 3) -> tuple[float, float]:
    def d2(a, b):
        return np.maximum((a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None], 0)

    def radii(x):
        return np.partition(d2(x, x), np.arange(k + 1), axis=1)[:, k]

    r_ref, r_s = radii(ref), radii(sample)
    d = d2(ref, sample)
    precision = (d <= r_ref[:, None]).any(0).mean()  # samples inside some reference ball
    recall = (d <= r_s[None]).any(1).mean()  # references inside some sample ball
    return float(precision), float(recall)


def _evaluator_is(logits: np.ndarray, split: int) -> float:
    e = np.exp(logits - logits.max(1, keepdims=True))
    preds = e / e.sum(1, keepdims=True)
    scores = []
    for i in range(0, len(preds), split):
        part = preds[i:i + split]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return float(np.mean(scores))


def test_precision_recall_match_the_evaluator_math():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(300, 32))
    sample = rng.normal(size=(250, 32)) * 1.2 + 0.3
    ours = precision_recall(torch.from_numpy(ref), torch.from_numpy(sample), block=64)  # blocks: same answer
    assert ours == pytest.approx(_evaluator_pr(ref, sample), abs=1e-12)
    assert 0 < ours[0] < 1 and 0 < ours[1] < 1
    same = precision_recall(torch.from_numpy(ref), torch.from_numpy(ref))
    assert same == (1.0, 1.0)
    r = manifold_radii(torch.from_numpy(ref), 3).numpy()
    assert (r > 0).all()


def test_inception_score_matches_the_evaluator_loop():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(130, 20)) * 3
    assert inception_score(torch.from_numpy(logits), split_size=50) == pytest.approx(_evaluator_is(logits, 50),
                                                                                    rel=1e-10)


def test_generation_metrics_under_the_adm_protocol():
    from types import SimpleNamespace

    from tasks.generation import generation_metrics
    from tasks.metrics.fid import FeatureStats

    rng = np.random.default_rng(2)
    pool_s, pool_r = torch.from_numpy(rng.normal(size=(60, 8))), torch.from_numpy(rng.normal(size=(80, 8)))
    logits = torch.from_numpy(rng.normal(size=(60, 5)))
    fs, rs = FeatureStats(8), FeatureStats(8)
    fs.update(pool_s)
    rs.update(pool_r)
    fake = SimpleNamespace(stats=fs, logits=[logits[:30], logits[30:]], vgg_feats=[], pool=[pool_s[:30], pool_s[30:]])
    out = generation_metrics(fake, rs, torch.zeros(0, 4096), protocol="adm", ref_pool=pool_r)
    assert (out["precision"], out["recall"]) == pytest.approx(_evaluator_pr(pool_r.numpy(), pool_s.numpy()))
    assert out["is"] == pytest.approx(_evaluator_is(logits.numpy(), 5000))
