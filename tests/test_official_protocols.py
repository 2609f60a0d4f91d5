"""The official evaluation protocols selected by name imply the official scripts' pipelines (issue 22: 8c, 12)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from official import load_fixture
from PIL import Image


def test_vqganlc_protocol_implies_eval_reconstruction_resize(tmp_path: Path):
    """protocol=vqganlc opens the evaluation images with albumentations SmallestMaxSize's cv2 INTER_LINEAR
    (fixture from eval_reconstruction.py's transform), whatever dataset.interpolation says."""
    from bench.stages.common import open_dataset
    from tasks.metrics.protocols import get_protocol, protocol_dataset, protocol_facts

    t, meta = load_fixture("VQGAN-LC", "eval_resize")
    img, ref = t["image5"].numpy(), t["resized5"].numpy()  # 90 x 120 -> 64 x 85
    size = meta["cases"][5][2]
    (tmp_path / "val").mkdir()
    Image.fromarray(img).save(tmp_path / "val" / "a.png")
    d = {"name": "imagenet", "root": str(tmp_path), "resolution": size, "interpolation": "bicubic",
         "on_corrupt": "fail"}
    assert protocol_dataset(d, None) is d and protocol_dataset(d, "torch-fidelity") is d
    left = (ref.shape[1] - size) // 2
    crop = ref[:, left:left + size]
    got = open_dataset(protocol_dataset(d, "vqganlc"), "val")[0]["image"]
    assert np.array_equal(((got.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8), crop)
    plain = open_dataset(d, "val")[0]["image"]  # the dataset's own resize gives other pixels
    assert not np.array_equal(((plain.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8), crop)
    assert get_protocol("vqganlc").interpolation == "cv2_linear"
    assert "INTER_LINEAR" in protocol_facts("psnr_y", "vqganlc")["input_resize"]
    assert "protocol_inexact" not in protocol_facts("psnr_y", "vqganlc")
