"""Each paper-scale entry: one train step at full width (every channel, block, codebook and loss network of the paper
model) on one photo.

CI time: the step runs at 64 px, with attention placed at the same level of the network (attn_resolutions scaled by
the same factor), and the test proves that every parameter tensor then has the 256 px model's name and shape (counted
on the meta device). SeQ-GAN's windowed attention needs the paper's 16x16 token grid, so its entries keep 256 px.
Entries that differ from an earlier one only in sizes (codebook, RQ-VAE's depth and grid) take the step once: every
entry's shapes are still checked at the step resolution, on the meta device."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import skimage.data
import torch
from PIL import Image

from bench.core.artifacts import load_artifact
from bench.core.weights import WeightsSpec
from bench.training.tokenizer import train_tokenizer
from models.registry import TOKENIZERS, build_tokenizer, create_entry
from tasks.data.imagefolder import ImageFolder, Protocol

STEP_RESOLUTION = 64


def _shapes(entry) -> dict[str, tuple[int, ...]]:
    """Every parameter and buffer of the tokenizer, name -> shape, built on the meta device (no memory, no init)."""
    with torch.device("meta"):
        model = build_tokenizer(entry)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _at_step_resolution(entry):
    """The entry at STEP_RESOLUTION px, attention at the same network level; SeQ-GAN's windowed attention stays 256."""
    m = entry.model
    if getattr(m, "decoder_extra", "none") == "attn" or m.resolution <= STEP_RESOLUTION:
        return entry
    factor = m.resolution // STEP_RESOLUTION
    changes = {"resolution": STEP_RESOLUTION}
    if hasattr(m, "attn_resolutions"):
        changes["attn_resolutions"] = tuple(r // factor for r in m.attn_resolutions)
    return dataclasses.replace(entry, model=dataclasses.replace(m, **changes))


def _one_per_architecture(names: list[str]) -> list[str]:
    """The first entry of each code path: model class, quantizer, decoder variant, loss and frozen parts (entries
    that differ only in sizes, such as RQ-VAE's depth, grid or codebook, take the same path)."""
    seen, keep = set(), []
    for name in names:
        entry = create_entry(name, "paper")
        m = entry.model
        sig = repr((type(m).__name__, getattr(m, "quantizer", None), getattr(m, "decoder_extra", None), entry.loss,
                    entry.train.freeze))
        if sig not in seen:
            seen.add(sig)
            keep.append(name)
    return keep


def test_every_entry_has_the_paper_shapes_at_step_resolution():
    """What the deduplicated step relies on: every entry's architecture survives the cut to STEP_RESOLUTION."""
    for name in TOKENIZERS.names():
        entry = create_entry(name, "paper")
        assert _shapes(_at_step_resolution(entry)) == _shapes(entry), name


@pytest.mark.parametrize("name", _one_per_architecture(TOKENIZERS.names()))
def test_one_train_step_at_full_width(name, tmp_path: Path):
    torch.set_num_threads(2)  # only shapes and finiteness are checked here, so use both cores
    entry = create_entry(name, "paper")
    # full architecture and loss; only the schedule is cut to one step, with the GAN term on from step 0
    entry = dataclasses.replace(entry, train=dataclasses.replace(entry.train, steps=1, batch_size=1, n_gpu=1,
                                                                       num_workers=0, warmup_steps=0),
                                loss=dataclasses.replace(entry.loss, disc_start=0))
    paper_shapes = _shapes(entry)
    entry = _at_step_resolution(entry)
    assert _shapes(entry) == paper_shapes  # same architecture, at full width, as the 256 px paper model
    (tmp_path / "train").mkdir()
    Image.fromarray(skimage.data.astronaut()).save(tmp_path / "train" / "astronaut.png")
    data = ImageFolder(tmp_path, "train", Protocol(entry.model.resolution))
    summary = train_tokenizer(entry, data, tmp_path, seed=0, device=torch.device("cpu"),
                              weights=WeightsSpec("random", 0))
    log = (tmp_path / "train_log.jsonl").read_text()
    assert summary["steps"] == 1 and '"g_loss"' in log and '"d_loss"' in log
    state = load_artifact(tmp_path / "tokenizer.safetensors")["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    torch.manual_seed(0)  # the trainer seeds the same way before building, so this is the step-0 model
    init = build_tokenizer(entry).state_dict()
    changed = [k for k in state if not torch.equal(state[k], init[k])]
    assert "decoder.conv_out.weight" in changed
    if entry.train.freeze:  # SeQ-GAN phase 2: encoder and codebook stay exactly as they were
        assert not [k for k in changed if k.startswith(tuple(entry.train.freeze))]
        assert summary["frozen_params"] > 0
    else:
        assert "encoder.conv_in.weight" in changed
    if getattr(entry.model, "quantizer", None) == "lc":  # VQGAN-LC: the codebook is frozen, the projector learns
        assert "quantize.codebook" not in changed and "quantize.projection.weight" in changed
