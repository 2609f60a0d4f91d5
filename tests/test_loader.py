"""Input pipeline: batches independent of the worker count, the decoder option, workers sized from the job's CPUs."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from tasks.data.device_decode import DeferredJpeg, finish_batch
from tasks.data.imagefolder import (
    CorruptImageError,
    ImageFolder,
    Protocol,
    collate_skip_corrupt,
    decode_image,
)
from tasks.data.loader import auto_workers, loader_options, resolve_workers
from tasks.data.sampling import StepBatchSampler

TOOL = Path(__file__).resolve().parent.parent / "tools" / "loader_throughput.py"


def _tool():
    spec = importlib.util.spec_from_file_location("loader_throughput", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory) -> Path:
    """6 real JPEGs (shipped photos, 60x45 and 45x60, quality 90) plus one PNG."""
    root = _tool().make_jpeg_folder(tmp_path_factory.mktemp("jpeg"), 6, size=(60, 45))
    Image.open(root / "train" / "00000.jpg").save(root / "train" / "00006.png")
    return root


def _batches(data, workers: int, start: int = 0, steps: int = 4) -> list[dict]:
    sampler = StepBatchSampler(len(data), 3, seed=5, start_step=start, end_step=steps, draw_seeds=True)
    return list(DataLoader(data, batch_sampler=sampler, collate_fn=collate_skip_corrupt, num_workers=workers))


@pytest.mark.parametrize("decoder", ["pil", "torchvision"])
def test_batches_identical_with_0_and_2_workers_and_after_resume(jpegs, decoder):
    """Random crops + flips are drawn per sample from its stream position: the worker count and a resume at
    step 2 change nothing (with torch's global RNG, workers would each draw their own crops)."""
    data = ImageFolder(jpegs, "train", Protocol(32, augment="random_crop_flip", decoder=decoder))
    zero, two = _batches(data, 0), _batches(data, 2)
    assert len(zero) == len(two) == 4
    for a, b in zip(zero, two, strict=True):
        assert torch.equal(a["index"], b["index"]) and torch.equal(a["image"], b["image"])
    for a, b in zip(zero[2:], _batches(data, 0, start=2), strict=False):
        assert torch.equal(a["image"], b["image"])
    # the crops really are random: the same image at two stream positions (epochs) gets different crops
    flat = [(int(i), x) for bt in zero for i, x in zip(bt["index"], bt["image"], strict=True)]
    firsts = {}
    assert any(not torch.equal(firsts.setdefault(i, x), x) for i, x in flat)


def test_center_crop_eval_loader_identical_with_workers(jpegs):
    """The evaluation loader (sequential, center crop) gives the same batches with 0 and 2 workers."""
    data = ImageFolder(jpegs, "train", Protocol(32))
    runs = [list(DataLoader(data, batch_size=4, collate_fn=collate_skip_corrupt, num_workers=w)) for w in (0, 2)]
    assert all(torch.equal(a["image"], b["image"]) for a, b in zip(*runs, strict=False)) and len(runs[0]) == 2


def test_torchvision_decoder_matches_pil(jpegs):
    """torchvision.io decodes JPEGs to PIL's exact pixels; its resize differs by at most one grey level;
    a PNG falls back to PIL; the protocol names the decoder only when it is not the default."""
    for name in ("00000.jpg", "00001.jpg", "00006.png"):
        path = jpegs / "train" / name
        pil = np.asarray(decode_image(path, "pil"))
        tv = decode_image(path, "torchvision").permute(1, 2, 0).numpy()
        assert np.array_equal(pil, tv)
    pil_x = ImageFolder(jpegs, "train", Protocol(32))[0]["image"]
    tv_x = ImageFolder(jpegs, "train", Protocol(32, decoder="torchvision"))[0]["image"]
    assert (pil_x - tv_x).abs().max() <= 1 / 127.5 + 1e-6
    assert "decoder" not in Protocol(32).describe()
    assert "decoder torchvision" in Protocol(32, decoder="torchvision").describe()
    with pytest.raises(ValueError, match="decoder"):
        decode_image(jpegs / "train" / "00000.jpg", "cv2")


@pytest.mark.parametrize("workers", [0, 2])
def test_device_decoder_gives_the_torchvision_decoders_batches(jpegs, workers):
    """decoder=gpu: workers only read JPEG bytes and draw the crops; the batch is decoded in this process on its
    device. On a CPU device that is libjpeg again, so every training batch (random crops, flips, the PNG decoded
    in the worker) equals decoder=torchvision's exactly, with any worker count."""
    proto = {"augment": "random_crop_flip"}
    ref = _batches(ImageFolder(jpegs, "train", Protocol(32, decoder="torchvision", **proto)), 0)
    raw = _batches(ImageFolder(jpegs, "train", Protocol(32, decoder="gpu", **proto)), workers)
    assert all(isinstance(it, DeferredJpeg) for it in raw[0]["items"] if not isinstance(it, torch.Tensor))
    assert any(isinstance(it, DeferredJpeg) for b in raw for it in b["items"])
    assert any(isinstance(it, torch.Tensor) for b in raw for it in b["items"])  # the PNG
    for a, b in zip(ref, (finish_batch(b, torch.device("cpu")) for b in raw), strict=True):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["index"], b["index"])
        assert torch.equal(a["label"], b["label"]) and a["n_corrupt"] == b["n_corrupt"] == 0
    assert "decoder gpu" in Protocol(32, decoder="gpu").describe()


def test_device_decoder_counts_or_fails_on_corrupt_jpegs(tmp_path):
    """A JPEG whose header reads but whose data is truncated fails only in the device decode: it is dropped with
    its label and counted (on_corrupt=skip), or raises CorruptImageError (fail); a bad header fails in the worker."""
    root = _tool().make_jpeg_folder(tmp_path, 3, size=(60, 45))
    good = (root / "train" / "00001.jpg").read_bytes()
    (root / "train" / "00001.jpg").write_bytes(good[: len(good) // 2])  # header intact, scan data cut
    (root / "train" / "00002.jpg").write_bytes(b"not a jpeg")
    data = ImageFolder(root, "train", Protocol(32, decoder="gpu"))
    batch = collate_skip_corrupt([data[i] for i in range(3)])
    assert batch["n_corrupt"] == 1 and len(batch["items"]) == 2  # the bad header, in the worker
    out = finish_batch(batch, torch.device("cpu"))
    assert out["n_corrupt"] == 2 and out["image"].shape == (1, 3, 32, 32) and out["index"].tolist() == [0]
    assert out["label"].tolist() == [0]
    strict = ImageFolder(root, "train", Protocol(32, decoder="gpu"), on_corrupt="fail")
    with pytest.raises(CorruptImageError, match="00001.jpg"):
        finish_batch(collate_skip_corrupt([strict[0], strict[1]]), torch.device("cpu"))
    none = finish_batch(collate_skip_corrupt([data[1]]), torch.device("cpu"))
    assert none == {"n_corrupt": 1}


def test_workers_from_job_cpus(monkeypatch):
    """SLURM's cpus_per_task (per rank already) wins over the affinity set, which is shared by local ranks;
    one CPU stays with the rank; an explicit value wins."""
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "10")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert auto_workers() == 9
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)))
    assert auto_workers() == 7  # 64 CPUs / 8 ranks - 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert resolve_workers("auto") == 63 and resolve_workers(3) == 3
    for bad in ("many", None, -1):
        with pytest.raises(ValueError, match="scale.loader.workers"):
            resolve_workers(bad)
    gpu, cpu = loader_options(4, torch.device("cuda")), loader_options(0, torch.device("cpu"))
    assert gpu == {"num_workers": 4, "pin_memory": True, "persistent_workers": True, "prefetch_factor": 2}
    assert cpu == {"num_workers": 0, "pin_memory": False}


def test_loader_settings_stay_out_of_stage_keys():
    """scale.loader.* are runtime settings: stage keys do not move; dataset.decoder=torchvision does move them."""
    from bench.plan.planner import plan
    from conftest import compose

    def keys(over):
        return [st.key for st in plan(compose(["suite=smoke", *over]))]

    base = keys([])
    assert keys(["scale.loader.workers=auto", "scale.loader.prefetch_factor=4"]) == base
    assert keys(["dataset.decoder=torchvision"]) != base
    assert keys(["dataset.decoder=gpu"]) not in (base, keys(["dataset.decoder=torchvision"]))


def test_loader_throughput_tool_tiny():
    """The measurement tool runs end to end at a tiny size and reports a per-worker rate per decoder."""
    rows = _tool().main(["--images", "4", "--resolution", "32", "--batch-size", "2", "--batches", "1",
                         "--workers", "0", "1"])
    decoders = ("pil", "torchvision", "gpu")
    assert {(r["decoder"], r["workers"]) for r in rows} == {(d, w) for d in decoders for w in (0, 1)}
    assert all(r["images"] == 2 and r["img_s_per_worker"] > 0 for r in rows)
    need, gpus = _tool().gpus_per_node(64, 20.0)
    assert gpus == 64 // (4 + 1) and abs(need - 63.6 / 20.0) < 1e-9


def test_recon_suite_with_the_device_decoder_reproduces_torchvision(tmp_path):
    """dataset.decoder=gpu through a whole suite (train, evaluate) on JPEGs with one truncated file: on a CPU
    device every number equals decoder=torchvision's, the truncated file is counted, and the protocol says gpu."""
    import pandas as pd

    from bench.suite import run_suite
    from conftest import compose

    root = tmp_path / "ffhq"
    _tool().make_jpeg_folder(root, 8, size=(60, 45))  # 8: at least one smoke batch
    val = _tool().make_jpeg_folder(tmp_path / "v", 5, size=(48, 40)) / "train"
    val.rename(root / "validation")
    cut = (root / "validation" / "00004.jpg").read_bytes()
    (root / "validation" / "00004.jpg").write_bytes(cut[: len(cut) // 2])

    def results(decoder: str) -> pd.DataFrame:
        over = ["suite=recon", "dataset=ffhq", f"dataset.root={root}", f"dataset.decoder={decoder}", "train.steps=2",
                "launcher=debug", f"paths.work_dir={tmp_path / decoder}", f"paths.results_dir={tmp_path / decoder}"]
        assert run_suite(compose(over)) == 0
        return pd.read_csv(tmp_path / decoder / "recon" / "results.csv").set_index("metric")

    ref, dev = results("torchvision"), results("gpu")
    pd.testing.assert_series_equal(ref["value"], dev["value"])
    assert set(dev["corrupt_skipped"]) == {1} and set(dev["image_count"]) == {4}
    assert dev["crop"].str.contains("decoder gpu").all() and ref["crop"].str.contains("decoder torchvision").all()
