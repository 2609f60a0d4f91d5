"""Registries: collisions, did-you-mean, and tests generated from every registered entry."""
from __future__ import annotations

import pytest
import torch

from bench.registry import Registry, RegistryError
from models.registry import SCALES, TOKENIZERS, build_tokenizer, count_params, create_entry
from tasks.data.registry import DATASETS
from tasks.metrics.registry import METRICS
from tasks.registry import TASKS


def test_collision_and_did_you_mean():
    reg: Registry[int] = Registry("thing")
    reg.add("alpha", 1)
    with pytest.raises(RegistryError, match="already registered"):
        reg.add("alpha", 2)
    with pytest.raises(RegistryError, match="Did you mean 'alpha'.*Valid thing names: alpha"):
        reg.get("alpah")
    assert reg.names("al*") == ["alpha"]


def test_unknown_override_field_is_named():
    with pytest.raises(RegistryError, match=r"unknown model field\(s\) \['chh'\].*valid"):
        create_entry("vqgan_f16_1024", "smoke", {"model": {"chh": 3}})


@pytest.mark.parametrize("name", TOKENIZERS.names())
@pytest.mark.parametrize("scale", SCALES)
def test_every_tokenizer_counts_on_meta(name, scale):
    entry = create_entry(name, scale)
    n = count_params(entry)
    assert n > 0
    if entry.published_params is not None:  # the paper's figure, to the digit it prints
        assert round(n / 1e6, 1) == entry.published_params, f"{name}: {n / 1e6:.3f}M vs paper {entry.published_params}M"


@pytest.mark.parametrize("name", TOKENIZERS.names())
def test_every_tokenizer_interface_at_smoke_scale(name):
    entry = create_entry(name, "smoke")
    model = build_tokenizer(entry)
    r = entry.model.resolution
    x = torch.rand(2, 3, r, r) * 2 - 1
    enc = model.encode(x)
    h, w, c = model.latent_shape
    assert enc.indices.shape == (2, h, w, c) and enc.indices.dtype == torch.long
    assert int(enc.indices.max()) < model.codebook_size
    assert model.tokens_per_image == h * w * c
    assert model.decode_indices(enc.indices).shape == x.shape
    out = model(x)
    assert out.recon.shape == x.shape and torch.isfinite(out.qloss)
    out.recon.mean().add(out.qloss).backward()
    assert model.encoder.conv_in.weight.grad is not None


def test_paper_vqgan_count_matches_movq_table2():
    """MoVQ Table 2: VQGAN 72.1M (encoder + quantizer + decoder, as taming f16 with 1024 codes)."""
    assert abs(count_params(create_entry("vqgan_f16_1024", "paper")) / 1e6 - 72.1) < 0.05


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_resolves_or_explains(name, monkeypatch):
    entry = DATASETS.get(name)
    if entry.builder is None:
        monkeypatch.delenv(entry.env_var, raising=False)
        with pytest.raises(FileNotFoundError, match=entry.env_var):
            entry.resolve_root(None)
    else:
        from tasks.data.imagefolder import Protocol
        ds = entry.open("val", Protocol(32))
        assert len(ds) > 0 and ds[0]["image"].shape == (3, 32, 32)


@pytest.mark.parametrize("name", TASKS.names())
def test_every_task_names_registered_metrics(name):
    spec = TASKS.get(name)
    assert spec.version >= 1 and all(m in METRICS for m in spec.metrics)


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_states_direction_and_protocol(name):
    m = METRICS.get(name)
    assert m.direction in ("higher", "lower") and m.protocol
