"""Token cache (downstream stage 1): encode a dataset split once with a trained tokenizer and store the
indices (uint16 when K <= 65,536, else int32; (N, h, w, c)) or the pre-quantisation latents (float16,
(N, d, h, w)) plus labels, so priors and classifiers train without ever re-encoding images."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from models.tokenizer import Tokenizer
from tasks.data.device_decode import finish_batch
from tasks.data.imagefolder import collate_skip_corrupt

STORES = ("indices", "latents")


@torch.no_grad()
def encode_split(model: Tokenizer, data: Dataset, store: str, device: torch.device, out: Path, split: str,
                 batch_size: int = 64, on_batch: Callable[[int, int], None] | None = None,
                 hflip: bool = False) -> dict[str, Any]:
    """Write <split>_<store>.npy and <split>_labels.npy (memory-mapped, filled batch by batch); `hflip` encodes
    the horizontally flipped images (DiT's flip augmentation for a cached latent prior)."""
    if store not in STORES:
        raise ValueError(f"token cache store must be one of {STORES}, got '{store}'")
    model.eval().to(device)
    h, w, c = model.latent_shape
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=0, collate_fn=collate_skip_corrupt)
    n = len(data)
    if store == "indices":
        dtype = np.uint16 if model.codebook_size <= 65536 else np.int32
        shape = (n, h, w, c)
    else:
        dtype, shape = np.float16, None
    arr, labels, filled, corrupt = None, np.zeros(n, dtype=np.int64), 0, 0
    ch_sum = ch_sq = None  # per-channel float64 sums of the latents, accumulated while encoding
    for i, batch in enumerate(loader):
        batch = finish_batch(batch, device)
        corrupt += batch["n_corrupt"]
        if "image" in batch:
            x = batch["image"]
            enc = model.encode(x.flip(-1) if hflip else x)
            vals = enc.indices if store == "indices" else enc.latents
            vals = vals.cpu().numpy()
            if arr is None:
                arr = np.lib.format.open_memmap(out / f".{split}_{store}.npy", mode="w+", dtype=dtype,
                                                shape=shape or (n,) + vals.shape[1:])
            arr[filled:filled + len(vals)] = vals.astype(dtype)
            if store == "latents":
                v = vals.astype(dtype).astype(np.float64)  # the stored (float16) values
                ch_sum = (0 if ch_sum is None else ch_sum) + v.sum(axis=(0, 2, 3))
                ch_sq = (0 if ch_sq is None else ch_sq) + (v * v).sum(axis=(0, 2, 3))
            labels[filled:filled + len(vals)] = batch["label"].numpy()
            filled += len(vals)
        if on_batch:
            on_batch(i + 1, len(loader))
    arr.flush()
    shape = list(arr.shape)
    del arr
    tmp, final = out / f".{split}_{store}.npy", out / f"{split}_{store}.npy"
    if filled == n:
        tmp.replace(final)
    else:  # drop the rows of skipped corrupt images
        np.save(final, np.ascontiguousarray(np.load(tmp, mmap_mode="r")[:filled]))
        tmp.unlink()
        shape[0] = filled
    np.save(out / f"{split}_labels.npy", labels[:filled])
    info = {"split": split, "store": store, "hflip": hflip, "n": filled, "corrupt_skipped": corrupt,
            "dtype": np.dtype(dtype).name, "shape": shape}
    if store == "latents":  # per-channel statistics: latent priors train on standardised latents
        count = filled * shape[2] * shape[3]
        mean = ch_sum / count
        info["mean"] = mean.tolist()
        info["std"] = np.sqrt(np.maximum(ch_sq / count - mean * mean, 0.0)).tolist()
    (out / f"{split}_{store}.json").write_text(json.dumps(info))
    return info


class TokenCacheError(RuntimeError):
    """A token cache file cannot be read; the message names the file and how to rebuild it."""


def load_cache(folder: Path, split: str, store: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(values, labels, info) of a cached split. The files are outputs of an encode stage, verified against its
    done.json before a consumer runs (bench/stages/base.py), so a failure here is damage after that check: it is
    named in one line; the next run sets the stage aside and encodes again."""
    path = folder / f"{split}_{store}.json"
    try:
        info = json.loads(path.read_text())
        path = folder / f"{split}_{store}.npy"
        values = np.load(path, allow_pickle=False)
        path = folder / f"{split}_labels.npy"
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise TokenCacheError(f"token cache {path} is unreadable ({type(err).__name__}: {err}); re-run the suite: "
                              "the encode stage is then set aside and redone") from None
    if len(values) != info.get("n", len(values)) or len(labels) != len(values):
        raise TokenCacheError(f"token cache {folder}: {len(values)} values, {len(labels)} labels, info says "
                              f"{info.get('n')}; re-run the suite: the encode stage is then set aside and redone")
    return values, labels, info
