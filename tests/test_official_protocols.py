"""The official evaluation protocols selected by name imply the official scripts' pipelines (issue 22: 8c, 12)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from official import load_fixture
from PIL import Image

from models.priors.base import PRIOR_KINDS


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
    from bench.stages.specs import DatasetSpec

    d = DatasetSpec("imagenet", "v1", size, root=str(tmp_path), interpolation="bicubic", on_corrupt="fail")
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


class _PoolProject(torch.nn.Module):
    """Stand-in for Inception (its weights are a download): what clean-fid feeds Inception, the clean 299 x 299
    float32 resize in [0, 255], average-pooled to 4 x 4 and mapped to 8 features by a fixed matrix."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("weight", torch.randn(8, 48, generator=torch.Generator().manual_seed(0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x.float() / 255.0, 4).flatten(1) @ self.weight.T


def _images(seed: int, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for h, w in sizes:
        yy, xx = np.mgrid[0:h, 0:w]
        base = (yy * (seed + 3) + xx * 5)[..., None] + rng.integers(0, 120, (1, 1, 3))
        out.append(((base + rng.integers(0, 60, (h, w, 3))) % 256).astype(np.uint8))
    return out


@pytest.mark.parametrize("kind", ["gpt", "dit"])
def test_clean_fid_generation_equals_clean_fid_compute_fid(tmp_path: Path, kind: str, monkeypatch):
    """The clean-fid protocol's FID against cleanfid.fid.compute_fid itself: samples written as the official script
    writes them (GPT: plt.imsave PNG; DiT/SiT: torchvision save_image JPEG) vs a raw, uncropped train folder."""
    cleanfid_fid = pytest.importorskip("cleanfid.fid")
    import matplotlib
    from torchvision.utils import save_image

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tasks.metrics import fid_clean, vqganlc
    from tasks.metrics.fid import frechet_distance

    monkeypatch.setattr(vqganlc, "inception_pool_float", lambda m, x: m(x))  # the stand-in takes the clean floats
    extractor = _PoolProject().eval()
    samples = np.stack(_images(1, [(24, 24)] * 12))
    refs = _images(2, [(20, 30), (33, 17), (25, 25), (40, 28), (18, 22), (31, 45), (27, 27), (16, 36)] * 2)
    (tmp_path / "gen").mkdir()
    for i, img in enumerate(samples):  # the official scripts' sample files
        if kind == "gpt":  # vqgan-gpt-lc/eval_generation.py
            plt.imsave(tmp_path / "gen" / f"c_{i}.png", img)
        else:  # dit-lc/evaluation.py: save_image(sample, *.jpg, normalize=True, value_range=(-1, 1))
            x = torch.from_numpy(img).permute(2, 0, 1).float() / 127.5 - 1
            save_image(x[None], tmp_path / "gen" / f"{i}_0.jpg", nrow=1, normalize=True, value_range=(-1, 1))
    paths = []
    for i, img in enumerate(refs):  # a raw ImageNet-style train folder: class folders, images of any size
        (tmp_path / "train" / f"n{i % 3}").mkdir(parents=True, exist_ok=True)
        paths.append(tmp_path / "train" / f"n{i % 3}" / f"{i}.png")
        Image.fromarray(img).save(paths[-1])
    official = cleanfid_fid.compute_fid(str(tmp_path / "gen"), str(tmp_path / "train"), mode="clean",
                                        custom_feat_extractor=extractor, num_workers=0, batch_size=4,
                                        device=torch.device("cpu"), verbose=False, use_dataparallel=False)
    fake = fid_clean.clean_stats_of_samples(extractor, samples, PRIOR_KINDS.get(kind).sample_file,
                                          torch.device("cpu"), batch=5, dim=8)
    real = fid_clean.clean_stats_of_files(extractor, paths, torch.device("cpu"), batch=5, dim=8)
    ours = frechet_distance(fake.statistics(), real.statistics())
    assert ours == pytest.approx(official, rel=1e-4)
    if kind == "dit":  # the JPEG round trip matters: scoring the uint8 arrays directly gives another number
        plain = fid_clean.clean_stats_of_samples(extractor, samples, fid_clean.LOSSLESS, torch.device("cpu"),
                                                 batch=5, dim=8)
        assert frechet_distance(plain.statistics(), real.statistics()) != pytest.approx(official, rel=1e-3)


def test_vqganlc_generation_pairs_with_clean_fid_and_compare_flags_adm():
    """VQGAN-LC's paper generation rows are measured with clean-fid: an adm record is a protocol mismatch."""
    import pandas as pd

    from bench.report.compare import compare
    from tasks.metrics.protocols import PAPER_PROTOCOL, protocol_facts, protocol_for

    assert PAPER_PROTOCOL["vqganlc"]["generation"] == "clean-fid"
    assert protocol_for("paper", "generation", "vqganlc") == "clean-fid"
    assert protocol_for("paper", "generation", "movq") == "adm"
    row = pd.DataFrame([{"paper": "vqganlc", "table": "T", "dataset": "imagenet", "method": "M", "setting": "S",
                         "metric": "fid", "unit": "", "ours": True, "tokenizer_implemented": True,
                         "paper_value": 1.0}])
    status = {}
    for proto in ("adm", "clean-fid", "torch-fidelity"):
        rec = {"paper": "vqganlc", "dataset": "imagenet", "method": "M", "setting": "S", "metric": "fid",
               "value": 2.0, "scale": "paper", "metric_weights": "pretrained", **protocol_facts("fid", proto)}
        status[proto] = compare(row, pd.DataFrame([rec])).iloc[0]["status"]
    assert status["adm"] == "protocol-mismatch" and status["torch-fidelity"] == "protocol-mismatch"
    assert status["clean-fid"] != "protocol-mismatch"


@pytest.mark.parametrize("protocol, interpolation", [(None, "bicubic"), ("vqganlc", "cv2_linear")])
def test_the_reconstruction_stage_opens_its_images_with_the_protocols_resize(monkeypatch, protocol, interpolation):
    """run_eval (bench/stages/runners.py) opens the images with the protocol's resize; the planned dataset: bicubic."""
    from bench.stages import runners
    from bench.stages.base import Stage
    from bench.stages.specs import DatasetSpec, EvalReconstruction, MetricWeights

    class Opened(Exception):
        pass

    def fake_open(d, split, max_images=None, **kw):
        raise Opened(d.interpolation)

    monkeypatch.setattr(runners, "entry_from_config", lambda cfg: type("E", (), {"name": "x"})())
    monkeypatch.setattr(runners, "load_trained_tokenizer", lambda rt, key, cfg: torch.nn.Identity())
    monkeypatch.setattr(runners, "open_dataset", fake_open)
    tok = None  # the runner's tokenizer lookups are patched above
    spec = EvalReconstruction(tok, DatasetSpec("imagenet", "v1", 32), "reconstruction", 1,  # type: ignore[arg-type]
                              ("psnr_rgb",), 0, MetricWeights("random", 0), 4, train="train_tokenizer-0",
                              **({"protocol": protocol} if protocol else {}))
    with pytest.raises(Opened, match=interpolation):
        runners.run_eval(Stage("e", spec), Path("."), None, torch.device("cpu"))
