"""VQGAN-LC's reconstruction protocol (tasks/metrics/vqganlc.py) against the packages its eval_reconstruction.py
calls, on the same images: piq (SSIM), clean-fid (rFID, with the same seeded random Inception as its custom
feature extractor), the lpips package (pyiqa's LPIPS formula), skimage's BT.601 Y (pyiqa's PSNR formula)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2ycbcr

from bench.core.weights import WeightsSpec
from tasks.metrics import vqganlc
from tasks.metrics.networks import load_inception
from tasks.reconstruction import evaluate_reconstruction


class NoisyTokenizer(torch.nn.Module):
    """Stand-in tokenizer: reconstruction = input + seeded noise, partly outside [-1, 1] (tests the clamping)."""

    codebook_size = 4
    latent_shape = (2, 2, 1)

    def encode(self, x):
        from models.tokenizer import EncodeOutput

        self._x = x
        return EncodeOutput(torch.zeros(x.shape[0], 2, 2, 1, dtype=torch.long), x, x)

    def decode_indices(self, idx):
        g = torch.Generator().manual_seed(int(self._x.sum() * 1000) % 10_000)
        return self._x * 1.05 + 0.15 * torch.randn(self._x.shape, generator=g)


def _raw_images(n: int = 4) -> list[np.ndarray]:
    """Raw (uncropped, 40x48) images; the evaluation sees their central 40x40 crop."""
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (1, 40, 48, 3)).astype(np.float64)
    return [np.clip(base[0] * 0.6 + rng.integers(0, 100, (40, 48, 3)), 0, 255).astype(np.uint8) for _ in range(n)]


def test_clean_resize_equals_clean_fid():
    from cleanfid.resize import make_resizer

    img = _raw_images(1)[0]
    np.testing.assert_array_equal(vqganlc.clean_resize(img), make_resizer("PIL", False, "bicubic", (299, 299))(img))


def test_float_inception_equals_torch_fidelity_forward():
    model, _ = load_inception(WeightsSpec("random", seed=0), ("2048",))
    x = torch.from_numpy(np.stack(_raw_images(2))).permute(0, 3, 1, 2)
    x = torch.nn.functional.interpolate(x.float(), size=(299, 299)).round().to(torch.uint8)
    torch.testing.assert_close(vqganlc.inception_pool_float(model, x.float()), model(x)[0], rtol=1e-5, atol=1e-5)


def test_vqganlc_protocol_matches_the_packages(tmp_path: Path):
    import lpips
    import piq
    from cleanfid import fid as cleanfid

    raws = _raw_images(4)
    raw_dir, fake_dir = tmp_path / "raw", tmp_path / "recons"
    raw_dir.mkdir(), fake_dir.mkdir()
    for i, r in enumerate(raws):
        Image.fromarray(r).save(raw_dir / f"{i}.png")
    crops = torch.stack([torch.from_numpy(r[:, 4:44]).permute(2, 0, 1).float() / 127.5 - 1 for r in raws])
    batches = [{"image": crops[i:i + 2], "n_corrupt": 0} for i in (0, 2)]
    spec = WeightsSpec("random", seed=3)
    metrics = ("psnr_y", "ssim", "lpips_alex", "rfid", "usage")
    res = evaluate_reconstruction(NoisyTokenizer(), batches, metrics, spec, torch.device("cpu"), protocol="vqganlc",
                                  raw_paths=sorted(raw_dir.iterdir()))
    # the reference computations, as eval_reconstruction.py makes them
    tok, psnr, ssim, lp, k = NoisyTokenizer(), [], [], [], 0
    torch.manual_seed(3)  # the seeded random LPIPS backbone vqbench builds at smoke scale
    net = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    for b in batches:
        x = b["image"]
        tok.encode(x)
        xrec = tok.decode_indices(None)
        with torch.no_grad():
            lp += net(2 * x - 1, 2 * xrec - 1).flatten().tolist()  # pyiqa maps its [-1, 1] inputs again
        xrec = xrec.clamp(-1, 1)
        save_x, save_xrec = (x + 1) * 127.5 / 255.0, (xrec + 1) * 127.5 / 255.0
        ssim += piq.ssim(save_x, save_xrec, data_range=1.0, reduction="none").tolist()
        for a, f in zip(save_x.permute(0, 2, 3, 1).double().numpy(), save_xrec.permute(0, 2, 3, 1).double().numpy(),
                        strict=True):
            ya, yf = rgb2ycbcr(a)[..., 0] / 255.0, rgb2ycbcr(f)[..., 0] / 255.0
            psnr.append(10 * np.log10(1.0 / (np.mean((ya - yf) ** 2) + 1e-8)))
            Image.fromarray(np.uint8(f.astype(np.float32) * 255)).save(fake_dir / f"{k}.png")
            k += 1
    assert res.values["psnr_y"] == pytest.approx(np.mean(psnr), abs=1e-4)
    assert res.values["ssim"] == pytest.approx(np.mean(ssim), abs=1e-6)
    assert res.values["lpips_alex"] == pytest.approx(np.mean(lp), rel=1e-5)
    model, _ = load_inception(spec, ("2048",))
    ref = cleanfid.compute_fid(str(fake_dir), str(raw_dir), mode="clean", num_workers=0, batch_size=4,
                               device=torch.device("cpu"), verbose=False, use_dataparallel=False,
                               custom_feat_extractor=lambda b: vqganlc.inception_pool_float(model, b))
    assert res.values["rfid"] == pytest.approx(ref, rel=1e-3)
    # the protocol really differs from vqbench's default on the same images
    default = evaluate_reconstruction(NoisyTokenizer(), batches, ("psnr_y", "lpips_alex"), spec, torch.device("cpu"))
    assert abs(default.values["lpips_alex"] - res.values["lpips_alex"]) > 1e-3
