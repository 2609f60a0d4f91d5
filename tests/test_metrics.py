"""Metric math against independent references: skimage (PSNR, SSIM), scipy (Fréchet), lpips, torch-fidelity."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import skimage.data
import torch
from PIL import Image
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bench.core.weights import WeightsSpec
from models.perceptual_nets import load_lpips
from models.tokenizer import EncodeOutput
from tasks.metrics.fid import FeatureStats, frechet_distance
from tasks.metrics.image import PSNR, SSIM
from tasks.metrics.networks import load_inception
from tasks.metrics.usage import CodebookUsage
from tasks.reconstruction import evaluate_reconstruction


def _photo_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """Real photos and JPEG-degraded copies (a realistic reconstruction error), 64x64 crops."""
    pairs = []
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        img = getattr(skimage.data, name)()[:128, :128, :3]
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=20)
        pairs.append((img, np.asarray(Image.open(buf).convert("RGB"))))
    return pairs


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1)[None]


def test_psnr_rgb_and_y_match_skimage():
    rgb, y = PSNR("rgb"), PSNR("y")
    ref_rgb, ref_y = [], []
    for real, fake in _photo_pairs():
        rgb.update(_t(real), _t(fake))
        y.update(_t(real), _t(fake))
        ref_rgb.append(peak_signal_noise_ratio(real, fake, data_range=255))
        ref_y.append(peak_signal_noise_ratio(rgb2ycbcr(real)[..., 0], rgb2ycbcr(fake)[..., 0], data_range=255))
    assert rgb.compute() == pytest.approx(np.mean(ref_rgb), abs=1e-9)
    assert y.compute() == pytest.approx(np.mean(ref_y), abs=1e-9)
    assert abs(rgb.compute() - y.compute()) > 0.1  # the two colour spaces really differ


@pytest.mark.parametrize("data_range", [1.0, 255.0])
def test_ssim_matches_skimage(data_range):
    metric = SSIM(data_range=data_range)
    ref = []
    for real, fake in _photo_pairs():
        metric.update(_t(real), _t(fake))
        a, b = real / 255.0 * data_range, fake / 255.0 * data_range
        ref.append(structural_similarity(a, b, data_range=data_range, channel_axis=-1, gaussian_weights=True,
                                         sigma=1.5, use_sample_covariance=False))
    assert metric.compute() == pytest.approx(np.mean(ref), abs=1e-8)


def test_streaming_stats_equal_numpy_and_frechet_equals_scipy():
    rng = np.random.RandomState(0)
    a, b = rng.randn(300, 16), rng.randn(250, 16) * 1.3 + 0.2
    sa, sb = FeatureStats(16), FeatureStats(16)
    for chunk in np.array_split(a, 7):
        sa.update(torch.from_numpy(chunk))
    sb.update(torch.from_numpy(b))
    st_a, st_b = sa.statistics(), sb.statistics()
    np.testing.assert_allclose(st_a["mu"], a.mean(0), atol=1e-12)
    np.testing.assert_allclose(st_a["sigma"], np.cov(a, rowvar=False), atol=1e-10)
    ref = a.mean(0) - b.mean(0)
    c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(c1 @ c2).real
    expect = ref @ ref + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean)
    assert frechet_distance(st_a, st_b) == pytest.approx(expect, rel=1e-6)


def test_usage_and_perplexity():
    u = CodebookUsage(8)
    u.update(torch.tensor([[0, 1], [1, 1]]))
    u.update(torch.tensor([3]))
    assert u.usage() == 3 / 8
    p = np.array([1, 3, 1]) / 5
    assert u.perplexity() == pytest.approx(np.exp(-(p * np.log(p)).sum()))


class JPEGTokenizer(torch.nn.Module):
    """A stand-in tokenizer whose 'reconstruction' is a JPEG round trip; indices = a per-pixel colour bin."""

    codebook_size = 8
    latent_shape = (4, 4, 1)
    tokens_per_image = 16

    def encode(self, x):
        idx = ((x[:, 0, ::8, ::8] + 1) * 3.99).long().clamp(0, 7)[..., None]
        self._x = x
        return EncodeOutput(idx, x, x)

    def decode_indices(self, idx):
        out = []
        for img in self._x:
            arr = ((img.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, format="JPEG", quality=10)
            out.append(torch.from_numpy(np.asarray(Image.open(buf))).permute(2, 0, 1).float() / 127.5 - 1)
        return torch.stack(out)


def _batches(pairs, bs=2):
    xs = torch.stack([_t(r)[0].float() / 127.5 - 1 for r, _ in pairs])
    return [{"image": xs[i:i + bs], "n_corrupt": 0} for i in range(0, len(xs), bs)]


def test_lpips_matches_the_lpips_package_called_directly():
    import lpips

    pairs = _photo_pairs()
    spec = WeightsSpec("random", seed=3)
    res = evaluate_reconstruction(JPEGTokenizer(), _batches(pairs), ("lpips_vgg", "lpips_alex"), spec,
                                  torch.device("cpu"))
    for net in ("vgg", "alex"):
        torch.manual_seed(3)  # the seeded random backbone vqbench uses at smoke scale
        direct = lpips.LPIPS(net=net, pnet_rand=True, verbose=False).eval()
        tok = JPEGTokenizer()
        vals = []
        for b in _batches(pairs):
            tok.encode(b["image"])
            fake = tok.decode_indices(None)
            real = ((b["image"] + 1) * 127.5).round() / 127.5 - 1
            fake = ((fake.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1
            vals += direct(real, fake).flatten().tolist()
        assert res.values[f"lpips_{net}"] == pytest.approx(np.mean(vals), rel=1e-5)
        assert res.weights[f"lpips_{net}"]


def test_rfid_matches_torch_fidelity_on_image_folders(tmp_path: Path):
    """Our streaming rFID == torch_fidelity.calculate_metrics on the same images written as PNG folders."""
    import torch_fidelity

    pairs = _photo_pairs() * 2
    spec = WeightsSpec("random", seed=0)
    res = evaluate_reconstruction(JPEGTokenizer(), _batches(pairs, bs=3), ("rfid",), spec, torch.device("cpu"))
    real_dir, fake_dir = tmp_path / "real", tmp_path / "fake"
    real_dir.mkdir(), fake_dir.mkdir()
    tok = JPEGTokenizer()
    for i, b in enumerate(_batches(pairs, bs=1)):
        tok.encode(b["image"])
        f = ((tok.decode_indices(None)[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        r = ((b["image"][0] + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        Image.fromarray(r).save(real_dir / f"{i}.png")
        Image.fromarray(f).save(fake_dir / f"{i}.png")
    _, _ = load_inception(spec)  # materialises the seeded random weights file
    from tasks.metrics.networks import _random_inception_file
    ref = torch_fidelity.calculate_metrics(input1=str(fake_dir), input2=str(real_dir), fid=True, cuda=False,
                                           verbose=False, cache=False,
                                           feature_extractor_weights_path=str(_random_inception_file(0)))
    assert res.values["rfid"] == pytest.approx(ref["frechet_inception_distance"], rel=1e-4, abs=1e-6)
    assert res.values["rfid"] > 0
    # 8 images < 2048 Inception dims: a rank-deficient FID, labelled in its own record columns
    assert res.metric_facts["rfid"]["fid_sample_count"] == 8
    assert "rank-deficient" in res.metric_facts["rfid"]["small_sample"]


def test_real_weights_are_loaded_from_weights_dir(tmp_path: Path):
    """A torchvision-format VGG16 file under the expected name is found offline and really used."""
    import torchvision

    torch.manual_seed(7)
    vgg = torchvision.models.vgg16()
    torch.save(vgg.state_dict(), tmp_path / "vgg16-397923af.pth")
    model, h = load_lpips("vgg", WeightsSpec("pretrained", weights_dir=str(tmp_path)))
    assert torch.equal(model.net.slice3._modules["10"].weight, vgg.features[10].weight)
    _, h_random = load_lpips("vgg", WeightsSpec("random", seed=0))
    assert h != h_random
