"""Training-loader throughput on real JPEGs: images/s per DataLoader worker, for the pil, torchvision and gpu decoders.

    python tools/loader_throughput.py                       # 96 JPEGs ~500x375 q90, 256 px random crops
    python tools/loader_throughput.py --images 8 --resolution 32 --workers 0 --batches 2   # a quick check

The JPEGs are the shipped photos (skimage.data, sklearn sample images: tasks/data/mini.py) resized to
ImageNet-like sizes (~500x375, quality 90) and written to a temp folder. Each configuration runs the tokenizer
trainer's own pipeline: ImageFolder (decode, shorter-side resize, random crop) behind StepBatchSampler with
per-sample crop seeds, collated by collate_skip_corrupt, finished by finish_batch on --device (decoder=gpu:
workers read bytes, the batch is decoded on the device; on a CPU device that decode is in-process, so its
workers=0 row is the whole pipeline's CPU cost, and on CUDA it is what is left on the CPU). With r img/s per
worker and a GPU step consuming g img/s, each GPU needs w = ceil(g / r) workers, and a node of C CPUs feeds
floor(C / (w + 1)) GPUs (one CPU per rank for its own process).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks.data.imagefolder import ImageFolder, Protocol, collate_skip_corrupt
from tasks.data.mini import NATURAL_TRAIN, NATURAL_VAL, _photo
from tasks.data.sampling import StepBatchSampler

# The paper-scale tokenizer step measured on one H100 in fp32 at batch 12 per GPU (issue #16): 63.6 img/s.
NEEDED_IMG_S_PER_GPU = 63.6


def make_jpeg_folder(root: Path, n: int, size: tuple[int, int] = (500, 375), quality: int = 90) -> Path:
    """n JPEGs at `size` (w, h; every other one portrait) from the shipped photos, as <root>/train/*.jpg."""
    names = NATURAL_TRAIN + NATURAL_VAL
    photos = [_photo(p) for p in names[:min(n, len(names))]]
    rng = np.random.RandomState(0)
    (root / "train").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        arr = photos[i % len(photos)]
        h, w = arr.shape[:2]
        side = int(min(h, w) * rng.uniform(0.6, 1.0))  # a different crop of the photo each time
        top, left = rng.randint(0, h - side + 1), rng.randint(0, w - side + 1)
        img = Image.fromarray(arr[top:top + side, left:left + side])
        img.resize(size if i % 2 == 0 else size[::-1], Image.BICUBIC).save(root / "train" / f"{i:05d}.jpg",
                                                                             quality=quality)
    return root


def measure(root: Path, decoder: str, workers: int, resolution: int, batch_size: int, batches: int,
            device: str = "cpu") -> dict:
    """Images/s of one loader configuration, after one warm-up batch (worker start-up excluded); each batch is
    finished on `device` as the trainer does (decoder=gpu decodes it there)."""
    import torch
    from torch.utils.data import DataLoader

    from tasks.data.device_decode import finish_batch

    dev = torch.device(device)

    data = ImageFolder(root, "train", Protocol(resolution, "bicubic", "random_crop", decoder))
    sampler = StepBatchSampler(len(data), batch_size, seed=0, start_step=0, end_step=batches + 1, draw_seeds=True)
    opts = {"num_workers": workers, **({"prefetch_factor": 2} if workers else {})}
    torch.set_num_threads(1)  # one core per worker, as in training
    it = iter(DataLoader(data, batch_sampler=sampler, collate_fn=collate_skip_corrupt, **opts))
    finish_batch(next(it), dev)
    t0, c0, n = time.perf_counter(), time.process_time(), 0
    for batch in it:
        n += len(finish_batch(batch, dev)["image"])
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    rate = n / secs
    row = {"decoder": decoder, "device": device, "workers": workers, "images": n, "seconds": round(secs, 3),
           "img_s": round(rate, 1), "img_s_per_worker": round(rate / max(1, workers), 1)}
    if workers == 0:  # the whole pipeline ran in this process: its CPU time is what one dedicated core needs
        row["img_per_cpu_s"] = round(n / max(cpu, 1e-9), 1)
    return row


def gpus_per_node(cpus: int, per_worker: float, needed: float = NEEDED_IMG_S_PER_GPU) -> tuple[float, int]:
    """(workers each GPU needs, GPUs one node of `cpus` CPUs can feed), one CPU kept per rank."""
    workers = math.ceil(needed / per_worker)
    return needed / per_worker, cpus // (workers + 1)


def main(argv: list[str] | None = None) -> list[dict]:
    """Measure every (decoder, workers) pair; print a table and the GPUs-per-node estimate; return the rows."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=12)
    ap.add_argument("--batches", type=int, default=6)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--decoders", nargs="+", default=["pil", "torchvision", "gpu"])
    ap.add_argument("--device", default=None, help="where batches are finished (default: cuda if present, else cpu)")
    ap.add_argument("--node-cpus", type=int, default=64)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args(argv)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    with tempfile.TemporaryDirectory(prefix="vqbench-jpeg-") as tmp:
        root = make_jpeg_folder(Path(tmp), args.images)
        for decoder in args.decoders:
            for workers in args.workers:
                rows.append(measure(root, decoder, workers, args.resolution, args.batch_size, args.batches, device))
                print(json.dumps(rows[-1]), flush=True)
    for decoder in args.decoders:
        # per worker = per CPU-second of the in-process run (wall-clock rates drop on a shared machine)
        rate = next((r.get("img_per_cpu_s", 0.0) for r in rows if r["decoder"] == decoder and r["workers"] == 0), 0.0)
        if rate > 0:
            need, gpus = gpus_per_node(args.node_cpus, rate)
            print(f"{decoder}: {rate:.1f} img/s per worker (per CPU-second) -> {need:.2f} workers per GPU at "
                  f"{NEEDED_IMG_S_PER_GPU} img/s/GPU; a {args.node_cpus}-CPU node feeds {gpus} GPUs")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
