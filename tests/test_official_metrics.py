"""vqbench's metric code against outputs of the official evaluators (fixtures in tests/data/official/, written by
tools/official_fixtures/*.py running the official code unchanged): the ADM evaluator and clean-fid."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from official import load_fixture
from tasks.metrics.adm import feature_statistics, inception_score, manifold_radii, precision_recall
from tasks.metrics.fid import frechet_distance


@pytest.fixture(scope="module")
def adm():
    return load_fixture("guided-diffusion", "adm_evaluator")


def _ulp16(x: torch.Tensor) -> torch.Tensor:
    """The float16 spacing at |x|."""
    return torch.finfo(torch.float16).eps * 2.0 ** torch.floor(torch.log2(x.abs().clamp_min(2**-14)))


def test_adm_radii_are_the_evaluators_float16_distances(adm):
    """ManifoldEstimator.manifold_radii: float16 distances (DistanceBlock), so every radius is a float16 value, within
    two float16 steps of the squared norms (~500 here; nu, nv) of TensorFlow's: TF sums float16 squares in an order set by
    the CPU's vector width, so even the official radii differ by such a step between machines."""
    t, meta = adm
    r = manifold_radii(t["ref"])
    assert torch.equal(r.half().float(), r), "radii are not float16 values: distances computed in a wider type"
    step = 2 * _ulp16(t["ref"].pow(2).sum(1).max())  # nu and nv each rounded once in float16
    assert ((r - t["radii_ref"]).abs() <= step).all(), f"vs {meta['file']} @ {meta['commit']}"
    assert (r == t["radii_ref"]).float().mean() > 0.5


def test_adm_precision_recall_match_the_evaluator(adm):
    """compute_prec_recall on fixed features: precision exactly, recall within one reference point (one fp16 step
    on a radius); the float64 distances of the old code miss the official precision by a sample."""
    t, _ = adm
    p, r = precision_recall(t["ref"], t["sample"])
    assert p == pytest.approx(float(t["precision"]), abs=1e-12)
    assert abs(r - float(t["recall"])) <= 1 / len(t["ref"]) + 1e-12
    d64 = torch.cdist(t["ref"].double(), t["sample"].double()) ** 2
    rad = torch.cdist(t["ref"].double(), t["ref"].double()).pow(2).kthvalue(4, 1).values
    p64 = float((d64 <= rad[:, None]).any(0).double().mean())
    assert p64 != pytest.approx(float(t["precision"]), abs=1e-12)  # the fixture tells float16 from float64


def test_adm_float32_fallback_when_float16_overflows(adm):
    """DistanceBlock keeps float32 distances when a float16 block has an inf (features at 150x scale)."""
    t, _ = adm
    r = manifold_radii(t["big_ref"])
    assert torch.allclose(r, t["big_radii_ref"], rtol=1e-5)
    assert precision_recall(t["big_ref"], t["big_sample"]) == (float(t["big_precision"]), float(t["big_recall"]))


def test_adm_fid_statistics_and_inception_score(adm):
    """compute_statistics' float32 np.mean and np.cov, frechet_distance, and compute_inception_score."""
    t, _ = adm
    s_ref, s_sample = feature_statistics(t["ref"]), feature_statistics(t["sample"])
    assert s_ref["mu"].dtype == np.float32 and np.array_equal(s_ref["mu"], t["mu_ref"].numpy())
    assert frechet_distance(s_sample, s_ref) == pytest.approx(float(t["fid"]), rel=1e-6)
    assert inception_score(t["logits"], split_size=50) == pytest.approx(float(t["is_50"]), rel=1e-6)
