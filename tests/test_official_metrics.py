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
    two float16 steps of the squared norms (~500 here; nu, nv) of TensorFlow's: TF sums float16 squares in an order
    set by the CPU's vector width, so even the official radii differ by such a step between machines."""
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


# --- VQGAN-LC eval_reconstruction.py's resize (albumentations SmallestMaxSize, cv2 INTER_LINEAR) -----------------

def test_vqganlc_resize_is_albumentations_smallest_max_size_bit_for_bit():
    """cv2 INTER_LINEAR fixed point (x-clamped, y two-tap edge rows, SIMD vertical rounding) and the 2x area path,
    against albumentations 2.0.8 / OpenCV 5.1 outputs; PIL bicubic (the old resize) differs."""
    from PIL import Image

    from tasks.metrics.vqganlc import smallest_max_size

    t, meta = load_fixture("VQGAN-LC", "eval_resize")
    for i, (_, _, size) in enumerate(meta["cases"]):
        img, ref = t[f"image{i}"].numpy(), t[f"resized{i}"].numpy()
        assert np.array_equal(smallest_max_size(img, size), ref), f"case {meta['cases'][i]}"
    img, ref = t["image0"].numpy(), t["resized0"].numpy()
    pil = np.asarray(Image.fromarray(img).resize(ref.shape[1::-1], Image.BICUBIC))
    assert not np.array_equal(pil, ref)


def test_loader_cv2_linear_option_uses_the_same_resize():
    """dataset.interpolation=cv2_linear: the PIL and tensor loader paths give eval_reconstruction.py's pixels."""
    from PIL import Image

    from tasks.data.imagefolder import Protocol, resize_center_crop, resize_crop_tensor

    t, meta = load_fixture("VQGAN-LC", "eval_resize")
    img, ref = t["image5"].numpy(), t["resized5"].numpy()  # 90 x 120 -> 64 x 85
    size = meta["cases"][5][2]
    p = Protocol(size, "cv2_linear")
    left = (ref.shape[1] - size) // 2
    crop = ref[:, left:left + size]
    assert np.array_equal(np.asarray(resize_center_crop(Image.fromarray(img), p)), crop)
    tensor = resize_crop_tensor(torch.from_numpy(img).permute(2, 0, 1), p)
    assert np.array_equal(tensor.permute(1, 2, 0).numpy(), crop)


# --- clean-fid mode='clean' (GaParmar/clean-fid) -------------------------------------------------------------------

def test_clean_mode_resize_features_and_fid_match_clean_fid():
    """vqbench's clean resize (float32 PIL bicubic per channel) and FID against clean-fid's own, on fixed PNG images
    with the fixture's stand-in feature extractor in place of Inception (whose weights are a download)."""
    from tasks.metrics.fid import FeatureStats, frechet_distance
    from tasks.metrics.vqganlc import clean_resize

    t, meta = load_fixture("clean-fid", "clean_mode")
    n = sum(k.startswith("b") for k in t)

    def extract(imgs: list[np.ndarray]) -> torch.Tensor:
        x = torch.from_numpy(np.stack([clean_resize(i) for i in imgs])).permute(0, 3, 1, 2)
        return torch.nn.functional.adaptive_avg_pool2d(x / 255.0, 4).flatten(1) @ t["weight"].T

    for i in range(3):
        assert np.array_equal(clean_resize(t[f"a{i}"].numpy(), 32), t[f"a{i}_clean32"].numpy()), meta["function"]
    feats = [extract([t[f"{s}{i}"].numpy() for i in range(n)]) for s in "ab"]
    assert torch.allclose(feats[0], t["feats_a"], rtol=1e-5, atol=1e-5)
    stats = []
    for f in feats:
        s = FeatureStats(f.shape[1])
        s.update(f)
        stats.append(s.statistics())
    assert frechet_distance(stats[0], stats[1]) == pytest.approx(float(t["fid"]), rel=1e-4)
