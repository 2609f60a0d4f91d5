"""The Prior interface (models/priors/base.py), generated from the kind registry: every registered kind trains
(a finite scalar loss with gradients), samples the declared shape, and its latent transform in/out round-trips; no
kind name is switched on outside models/priors/; one lr schedule and one backward/optimiser step for both trainers."""
from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from models.priors.base import Prior
from models.priors.registry import PRIOR_KINDS, bind, create_prior, prior_for

ROOT = Path(__file__).resolve().parents[1]
GRID = (4, 4, 1)  # a tiny token / latent grid; latents: 8 channels


def _tiny(kind: str, latent_norm: str | None = None):
    """The kind's own smoke entry, bound to a 4x4 grid with 3 classes (8-d latents, 64 codes)."""
    cls = PRIOR_KINDS.get(kind)
    e = create_prior(cls.perf_entry, "smoke")
    channels = getattr(e.model, "channels", 1)
    e = bind(e, 64, (GRID[0], GRID[1], channels), 8, 3)
    if latent_norm is not None:
        e = dataclasses.replace(e, latent_norm=latent_norm)
    if e.process is not None and hasattr(e.process, "sampler") and e.process.sampler == "ode_dopri5":
        e = dataclasses.replace(e, process=dataclasses.replace(e.process, sampler="ode_euler", sample_steps=2))
    if e.process is not None:
        e = dataclasses.replace(e, process=dataclasses.replace(e.process, sample_steps=2))
    return e


@pytest.mark.parametrize("kind", PRIOR_KINDS.names())
def test_every_kind_implements_the_interface(kind):
    torch.manual_seed(0)
    entry = _tiny(kind)
    p = prior_for(entry)
    assert isinstance(p, Prior) and p.kind == kind == entry.kind and p.inputs in ("indices", "latents")
    assert p.decoding in ("autoregressive", "masked", "diffusion", "flow")
    tf32, source = p.tf32
    assert tf32 in (None, True, False) and source  # the TF32 policy names where it comes from
    net = p.build()
    shape = (GRID[0], GRID[1], getattr(entry.model, "channels", 1))
    x = p.example_inputs(3, shape, torch.device("cpu"), torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2])
    torch.manual_seed(4)  # dropout and class dropout draw from the global RNG
    loss = p.loss(net, x, y, torch.Generator().manual_seed(2))
    assert loss.dim() == 0 and torch.isfinite(loss) and loss.requires_grad
    loss.backward()
    assert any(q.grad is not None and q.grad.abs().sum() > 0 for q in net.parameters())
    # the same generator (and global RNG state) gives the same loss
    net.zero_grad()
    torch.manual_seed(4)
    again = p.loss(net, x, y, torch.Generator().manual_seed(2))
    assert torch.allclose(loss, again)
    net.eval()
    out, passes = p.sample(net, y, shape, torch.Generator().manual_seed(3))
    assert out.shape == x.shape and passes > 0
    if p.inputs == "indices":
        assert out.dtype == torch.long and int(out.min()) >= 0 and int(out.max()) < 64


@pytest.mark.parametrize("kind", PRIOR_KINDS.names())
def test_transform_in_and_out_round_trips(kind):
    rng = np.random.default_rng(0)
    entry = _tiny(kind, latent_norm="standardise")
    p = prior_for(entry)
    if p.inputs == "indices":
        values = rng.integers(0, 64, size=(5, GRID[0], GRID[1], 2)).astype(np.int16)
        x = p.to_inputs(values, None)
        assert x.dtype == torch.int64 and x.shape == (5, GRID[0] * GRID[1], 2)
        assert np.array_equal(x.view(5, GRID[0], GRID[1], 2).numpy(), values)
        return
    values = rng.normal(3.0, 2.0, size=(5, 8, 4, 4)).astype(np.float32)
    info = {"mean": values.mean((0, 2, 3)).tolist(), "std": values.std((0, 2, 3)).tolist()}
    x = p.to_inputs(values, info)
    ref = (values - values.mean((0, 2, 3))[None, :, None, None]) / values.std((0, 2, 3))[None, :, None, None]
    assert np.allclose(x.numpy(), ref, atol=1e-5)  # numpy's per-channel standardisation
    assert np.allclose(p.from_samples(x, info).numpy(), values, atol=1e-5)
    raw = prior_for(dataclasses.replace(entry, latent_norm="raw"))
    assert np.array_equal(raw.to_inputs(values, info).numpy(), values)
    # decode: the tokenizer's quantizer sees de-standardised latents, then its decoder the quantised ones
    seen = {}

    def quantize(z):
        seen["z"] = z
        return SimpleNamespace(z_q=z + 1)

    tok = SimpleNamespace(quantize=quantize, decode=lambda zq: zq * 2)
    img = p.decode(tok, x, info)
    assert torch.allclose(seen["z"], torch.from_numpy(values), atol=1e-5)
    assert torch.allclose(img, (torch.from_numpy(values) + 1) * 2, atol=1e-4)


def test_a_kind_bound_to_the_wrong_config_is_refused():
    e = _tiny("gpt")
    with pytest.raises(TypeError, match="takes a MaskGITConfig, got GPTConfig"):
        prior_for(dataclasses.replace(e, kind="maskgit")).build()


def test_losses_without_a_generator_draw_as_before():
    """generator=None draws the same numbers from the global RNG as the calls the losses made before the interface
    (torch.randint / rand / bernoulli without the keyword; randn_like and randint_like are still called as such), so
    trained weights and the official-code fixtures hold."""
    idx = torch.zeros(2, 16, 1, dtype=torch.long)
    torch.manual_seed(5)
    old = (torch.randint(0, 1000, (2,)), torch.rand(2), torch.rand(idx.shape),
           torch.bernoulli(torch.full(idx.shape, 0.8)))
    torch.manual_seed(5)
    new = (torch.randint(0, 1000, (2,), generator=None), torch.rand(2, generator=None),
           torch.rand(idx.shape, generator=None), torch.bernoulli(torch.full(idx.shape, 0.8), generator=None))
    assert all(torch.equal(a, b) for a, b in zip(old, new, strict=True))


_KIND_LITERAL = re.compile(r"""["'](gpt|maskgit|dit|sit|ldm)["']|TOKEN_KINDS""")


def test_no_prior_kind_is_switched_on_outside_models_priors():
    hits = [f"{f.relative_to(ROOT)}:{i}: {line.strip()}"
            for top in ("bench", "tasks") for f in sorted((ROOT / top).rglob("*.py"))
            for i, line in enumerate(f.read_text().splitlines(), 1) if _KIND_LITERAL.search(line)]
    assert not hits, "prior kind names outside models/priors/ (ask prior_for(entry) instead):\n" + "\n".join(hits)


def test_the_one_lr_schedule_keeps_both_trainers_numbers():
    """Hand-derived values: the tokenizer's MAE warm-up from 0 and half-cycle cosine (MAE util/lr_sched.py), the
    prior's inclusive warm-up and VQGAN-LC's linear decay."""
    from models.priors.lengths import prior_lr
    from models.registry import TrainConfig
    from models.schedule import lr_at

    tc = TrainConfig(steps=110, batch_size=1, base_lr=1.0, lr_scaling="none", warmup_steps=10, schedule="cosine")
    assert tc.lr_at(0) == 0.0 and tc.lr_at(5) == pytest.approx(0.5) and tc.lr_at(10) == pytest.approx(1.0)
    assert tc.lr_at(60) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert tc.lr_at(110) == pytest.approx(0.0, abs=1e-12)
    pt = SimpleNamespace(lr=1.0, steps=110, warmup_steps=10, lr_schedule="linear")
    assert prior_lr(pt, 0) == pytest.approx(0.1) and prior_lr(pt, 9) == pytest.approx(1.0)
    assert prior_lr(pt, 60) == pytest.approx(0.5)
    # the two are the one function with two warm-up rules
    for s in (0, 3, 9, 10, 57, 109):
        assert tc.lr_at(s) == lr_at(s, 1.0, 110, 10, "cosine", warmup="from_zero")
        assert prior_lr(pt, s) == lr_at(s, 1.0, 110, 10, "linear", warmup="inclusive")
    with pytest.raises(ValueError, match="train.lr_schedule must be"):
        prior_lr(dataclasses.replace(create_prior("maskgit", "smoke").train, lr_schedule="cosine"), 0)


def test_the_one_backward_step_accumulates_the_whole_batch_gradient():
    """backward over 4 micro-batches (each loss / 4) gives torch's gradient of the whole batch's mean loss;
    optimizer_step clips the unscaled gradient with a GradScaler as without one."""
    from bench.training.loop import backward, optimizer_step

    torch.manual_seed(0)
    lin, x = torch.nn.Linear(6, 1), torch.randn(16, 6)
    lin(x).pow(2).mean().backward()
    whole = lin.weight.grad.clone()
    lin.zero_grad()
    for xk in x.chunk(4):
        backward(lin(xk).pow(2).mean(), None, 4)
    assert torch.allclose(lin.weight.grad, whole, atol=1e-6)

    def stepped(scaler):
        torch.manual_seed(1)
        m = torch.nn.Linear(6, 1)
        opt = torch.optim.SGD(m.parameters(), lr=1.0)
        backward(m(x).pow(2).mean() * 100, scaler)
        optimizer_step(opt, scaler, clip=(m.parameters(), 0.5))
        return m.weight.detach().clone()

    plain, scaled = stepped(None), stepped(torch.amp.GradScaler("cpu", init_scale=1024.0))
    assert torch.allclose(plain, scaled, atol=1e-6)
    torch.manual_seed(1)
    ref = torch.nn.Linear(6, 1).weight.detach().clone()
    assert float((plain - ref).norm()) <= 0.5 + 1e-6  # the step is the clipped gradient (SGD, lr 1)


def test_generation_scores_the_metrics_its_task_yaml_lists(monkeypatch):
    """tasks/generation.yaml drives the metric list, the IS splits and the k of precision/recall (ADM protocol on
    random features: no network needed); the shipped YAML keeps the published protocol's values."""
    import yaml

    import tasks.generation as G
    from tasks.metrics.fid import FeatureStats

    shipped = yaml.safe_load((ROOT / "tasks" / "generation.yaml").read_text())
    assert shipped["metrics"] == ["fid", "is", "precision", "recall"] and shipped["batch_size"] == 64
    assert shipped["settings"] == {"isc_splits": 10, "prc_k": 3}
    rng = np.random.default_rng(2)
    pool_s, pool_r = torch.from_numpy(rng.normal(size=(60, 8))), torch.from_numpy(rng.normal(size=(80, 8)))
    fs, rs = FeatureStats(8), FeatureStats(8)
    fs.update(pool_s)
    rs.update(pool_r)
    fake = SimpleNamespace(stats=fs, logits=[torch.from_numpy(rng.normal(size=(60, 5)))], vgg_feats=[],
                           pool=[pool_s])
    full = G.generation_metrics(fake, rs, torch.zeros(0, 4096), protocol="adm", ref_pool=pool_r)
    assert list(full) == shipped["metrics"]
    task = G.generation_task()
    monkeypatch.setattr(G, "generation_task", lambda: dataclasses.replace(task, metrics=("fid", "precision"),
                                                                          settings={"isc_splits": 10, "prc_k": 5}))
    part = G.generation_metrics(fake, rs, torch.zeros(0, 4096), protocol="adm", ref_pool=pool_r)
    assert list(part) == ["fid", "precision"] and part["fid"] == full["fid"]
    assert part["precision"] >= full["precision"]  # a larger k gives each real manifold a larger radius
