"""Numerics modes and fast paths (issue #16.1, #16.2): fp32 islands under autocast, and speed options that compute
the same fp32 step as the plain path."""
from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from bench.core.artifacts import load_artifact
from bench.training.loop import TorchCheckpoint, TrainLoop
from bench.training.numerics import Numerics
from models.losses import VQLPIPSWithDiscriminator
from models.registry import TOKENIZERS, build_tokenizer, create_entry


def _quantizers():
    """(tokenizer, quantizer, latent width) for one tokenizer per quantizer class (vq, fc, ema, rq, lc,
    multichannel, entropy_vq)."""
    seen = {}
    for name in TOKENIZERS:
        torch.manual_seed(0)
        entry = create_entry(name, "smoke")
        model = build_tokenizer(entry)
        conv = getattr(model, "quant_conv", None)  # SeQ-GAN quantises the encoder output directly
        width = conv.out_channels if conv is not None else entry.model.embed_dim
        seen.setdefault(type(model.quantize).__name__, (name, model.quantize, width))
    return sorted(seen.values(), key=lambda t: t[0])


@pytest.mark.parametrize("name,quantizer,width", _quantizers(), ids=lambda v: v if isinstance(v, str) else "")
def test_quantizer_codes_under_bf16_autocast_equal_fp32_codes(name, quantizer, width):
    """The same latents pick the same codes with and without bf16 autocast; codebook and EMA state stay fp32."""
    torch.manual_seed(1)
    quantizer.train()
    z = torch.randn(4, width, 8, 8)
    a, b = copy.deepcopy(quantizer), copy.deepcopy(quantizer)
    torch.manual_seed(2)  # code restarts (RQ-VAE) and k-means inits draw random numbers: the same ones for both
    ref = a(z)
    torch.manual_seed(2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = b(z)
    assert torch.equal(ref.indices, got.indices), name
    assert got.z_q.dtype == torch.float32 and got.loss.dtype == torch.float32
    assert torch.allclose(ref.z_q, got.z_q, atol=1e-6) and torch.allclose(ref.loss, got.loss, rtol=1e-6)
    for key, tensor in b.state_dict().items():  # codebook, EMA cluster sizes and sums
        if tensor.is_floating_point():
            assert tensor.dtype == torch.float32, key
            assert torch.allclose(tensor, a.state_dict()[key], atol=1e-6), key


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_adaptive_weight_is_computed_in_fp32(dtype):
    """Esser Eq. 7 under autocast: an fp32 result equal to the float64 formula on the same gradients; with an fp16
    loss scale it is the same number (the norms are divided by the scale again)."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 3, 3, padding=1)
    x = torch.randn(2, 4, 8, 8)
    fake = SimpleNamespace(cfg=SimpleNamespace(disc_weight=0.8), grad_scale=1.0)
    with torch.autocast("cpu", dtype=dtype):
        out = conv(x)
        assert out.dtype == dtype  # the graph really is low precision
        nll, g = out.abs().mean(), -(out * out).mean()
        w = VQLPIPSWithDiscriminator.adaptive_weight(fake, nll, g, conv.weight)
        fake.grad_scale = 1024.0
        w_scaled = VQLPIPSWithDiscriminator.adaptive_weight(fake, nll, g, conv.weight)
    gn = torch.autograd.grad(nll, conv.weight, retain_graph=True)[0].double()
    gg = torch.autograd.grad(g, conv.weight, retain_graph=True)[0].double()
    expect = float(torch.clamp(gn.norm() / (gg.norm() + 1e-4), 0, 1e4) * 0.8)
    assert w.dtype == torch.float32 and w_scaled.dtype == torch.float32
    assert math.isclose(float(w), expect, rel_tol=1e-6)
    assert math.isclose(float(w_scaled), expect, rel_tol=1e-4)


def _taming_attention(block, x):
    """taming AttnBlock.forward as written there: bmm, scale c^-0.5, softmax over keys, bmm."""
    h = block.norm(x, None)
    q, k, v = block.q(h), block.k(h), block.v(h)
    b, c, hh, ww = q.shape
    q = q.reshape(b, c, hh * ww).permute(0, 2, 1)
    w_ = torch.einsum("bic,bcj->bij", q, k.reshape(b, c, hh * ww)) * (int(c) ** (-0.5))
    w_ = F.softmax(w_, dim=2)
    out = torch.einsum("bcj,bij->bci", v.reshape(b, c, hh * ww), w_).reshape(b, c, hh, ww)
    return x + block.proj_out(out)


def test_sdpa_attention_blocks_equal_the_explicit_math():
    """The SDPA attention of the tokenizer (AttnBlock) and of the priors (blocks.Attention) vs einsum attention."""
    from models.priors.blocks import Attention
    from models.taming_modules import AttnBlock

    torch.manual_seed(0)
    block = AttnBlock(64)
    x = torch.randn(2, 64, 8, 8)
    assert torch.allclose(block(x), _taming_attention(block, x), atol=1e-6, rtol=1e-6)
    attn = Attention(64, 4).eval()
    t = torch.randn(2, 10, 64)
    q, k, v = attn.qkv(t).view(2, 10, 3, 4, 16).permute(2, 0, 3, 1, 4)
    for causal in (False, True):
        s = torch.einsum("bhid,bhjd->bhij", q, k) / math.sqrt(16)
        if causal:
            s = s.masked_fill(~torch.ones(10, 10, dtype=torch.bool).tril(), float("-inf"))
        y = torch.einsum("bhij,bhjd->bhid", s.softmax(-1), v).transpose(1, 2).reshape(2, 10, 64)
        assert torch.allclose(attn(t, causal=causal), attn.proj(y), atol=1e-6, rtol=1e-6), causal


def _setup(**numerics):
    """A smoke VQGAN, its loss (GAN on from step 0) and the trainer's step object with these numerics options."""
    from bench.core.weights import WeightsSpec
    from bench.training.tokenizer import _TokenizerStep
    from models.semantic_loss import build_perceptual

    e = create_entry("vqgan_f16_1024", "smoke")
    e = dataclasses.replace(e, train=dataclasses.replace(e.train, **numerics),
                            loss=dataclasses.replace(e.loss, disc_start=0))
    torch.manual_seed(0)
    model = build_tokenizer(e)
    perceptual, _ = build_perceptual(e.loss, WeightsSpec("random", 0))
    crit = VQLPIPSWithDiscriminator(e.loss, perceptual, e.model.resolution)
    dev = torch.device("cpu")
    torch.manual_seed(1)
    x = torch.rand(2, 3, e.model.resolution, e.model.resolution) * 2 - 1
    return _TokenizerStep(e, e.train, model, crit, dev, 1, 100, Numerics.from_train(e.train, dev)), x


def _two_steps(tmp: Path, **numerics) -> dict[str, torch.Tensor]:
    """Two tokenizer training steps (generator then discriminator each); the weights after them."""
    t, x = _setup(**numerics)
    loop = TrainLoop(tmp, 2, 10, "t", TorchCheckpoint(tmp / "ckpt.safetensors", torch.device("cpu")), t.state)
    with open(tmp / "log", "w") as loop._log:
        for step in (0, 1):
            t.step(loop, step, {"image": x, "n_corrupt": 0})
    return {**{f"g.{k}": v for k, v in t.model.state_dict().items()},
            **{f"d.{k}": v for k, v in t.disc.state_dict().items()}}


def _generator_grads(**numerics) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The generator loss (adaptive GAN weight included) and its gradients, before any optimiser step."""
    t, x = _setup(**numerics)
    out = t.net(t.num.images(x))
    loss, _ = t.criterion.generator_loss(x, out.recon, out.qloss, 0, t.model.last_layer())
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in t.model.named_parameters() if p.grad is not None}


def test_foreach_adam_gives_the_plain_step(tmp_path: Path):
    """Two G+D steps with foreach Adam (train.fused_optim on CPU) equal the plain loop implementation."""
    plain, fast = _two_steps(tmp_path), _two_steps(tmp_path, fused_optim=True)
    assert max(float((plain[k] - fast[k]).abs().max()) for k in plain) < 1e-6
    bf16 = _two_steps(tmp_path, precision="bf16")
    assert any(not torch.equal(plain[k], v) for k, v in bf16.items()), "bf16 must change the numbers"


def test_channels_last_gives_the_plain_loss_and_gradients():
    """channels_last changes only the convolutions' summation order: loss and gradients equal to float tolerance.
    (Weights after Adam steps differ more: Adam's first updates are ~lr*sign(g), so tiny gradients flip.)"""
    loss_a, grads_a = _generator_grads()
    loss_b, grads_b = _generator_grads(channels_last=True)
    assert torch.allclose(loss_a, loss_b, rtol=1e-6)
    a = torch.cat([g.flatten() for g in grads_a.values()])
    b = torch.cat([grads_b[n].flatten() for n in grads_a])
    # relative to the whole gradient (measured 1.2e-5): parameters whose true gradient is 0 (attention key biases,
    # biases before a GroupNorm) carry only rounding noise, so a per-parameter relative error means nothing there
    assert float((a - b).norm() / a.norm()) < 1e-4


def test_numerics_fields_stay_out_of_default_keys_and_reach_priors():
    """Defaults stay out of the stage key's payload (bench/stages/base.py key_payload: the one rule); a non-default
    precision enters the tokenizer and prior configs; train.* numerics overrides reach priors through the planner."""
    from bench.stages.base import key_payload
    from bench.stages.specs import TokenizerSpec
    from models.priors.registry import create_prior

    e = create_entry("vqgan_f16_1024", "smoke")
    train = key_payload(TokenizerSpec.of(e))["train"]
    assert "precision" not in train and "tf32" not in train
    bf = create_entry("vqgan_f16_1024", "smoke", {"train": {"precision": "bf16", "tf32": False}})
    assert key_payload(TokenizerSpec.of(bf))["train"]["precision"] == "bf16"
    assert bf.to_dict()["train"]["precision"] == "bf16" and bf.to_dict()["train"]["tf32"] is False
    p = create_prior("dit_xl2", "smoke")
    assert "precision" not in key_payload(p.train)
    assert create_prior("dit_xl2", "smoke", {"train": {"precision": "fp16"}}).to_dict()["train"]["precision"] == "fp16"
    from bench.core.registry import RegistryError
    from bench.core.schema import ConfigValueError

    with pytest.raises((ConfigValueError, RegistryError, SystemExit)):
        create_entry("vqgan_f16_1024", "smoke", {"train": {"precision": "fp8"}})
    assert Numerics.from_train(p.train, torch.device("cpu"), "dit").tf32 is True  # DiT train.py
    assert Numerics.from_train(e.train, torch.device("cpu")).tf32 is None  # taming: not set


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_prior_trains_in_low_precision_and_records_it(tmp_path: Path, precision: str):
    """A DiT prior trains two steps under autocast (fp16 through a GradScaler) and its summary names the mode."""
    from bench.training.prior import train_prior
    from models.priors.registry import bind, create_prior

    entry = bind(create_prior("dit_xl2", "smoke", {"train": {"precision": precision}}), 64, (4, 4, 1), 8, 0)
    entry = dataclasses.replace(entry, train=dataclasses.replace(entry.train, steps=2, batch_size=4))
    summary = train_prior(entry, torch.randn(8, 8, 4, 4), torch.zeros(8, dtype=torch.long), tmp_path, 0,
                          torch.device("cpu"))
    assert summary["precision"] == precision and summary["tf32_source"].startswith("DiT")
    state = load_artifact(tmp_path / "prior.safetensors")["state_dict"]
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())  # fp32 master weights


def test_compile_option_compiles_in_place_and_reports_its_time(tmp_path: Path, monkeypatch):
    """compile=true wraps the prior's forward (eager backend here: no C++ toolchain needed) and reports
    compile_seconds; the checkpoint keys stay the plain module's."""
    from bench.training import numerics
    from bench.training.prior import train_prior
    from models.priors.registry import bind, create_prior

    monkeypatch.setattr(numerics, "COMPILE_BACKEND", "eager")
    entry = bind(create_prior("gpt_movq", "smoke", {"train": {"compile": True}}), 32, (2, 2, 4), 8, 0)
    entry = dataclasses.replace(entry, train=dataclasses.replace(entry.train, steps=3, batch_size=4))
    summary = train_prior(entry, torch.randint(0, 32, (8, 4, 4)), torch.zeros(8, dtype=torch.long), tmp_path, 0,
                          torch.device("cpu"))
    assert summary["compile"] is True and summary["compile_seconds"] is not None
    keys = load_artifact(tmp_path / "prior.safetensors")["state_dict"].keys()
    assert not any(k.startswith("_orig_mod") for k in keys)


def test_records_carry_the_training_numerics():
    """Every record names the training precision and TF32 choice of the tokenizer (and prior) behind it."""
    from bench.stages.base import numerics_columns

    tok = create_entry("vqgan_f16_1024", "smoke").to_dict()
    assert numerics_columns({"tokenizer": tok}) == {"train_precision": "fp32", "train_tf32": "source"}
    prior = {"name": "dit_xl2", "overrides": {"train": {"precision": "bf16", "tf32": False}}}
    assert numerics_columns({"tokenizer": tok, "prior": prior}) == {
        "train_precision": "tokenizer=fp32 prior=bf16", "train_tf32": "tokenizer=source prior=false"}
    assert numerics_columns({"dataset": {}}) == {}


@pytest.mark.slow
def test_bf16_runs_the_default_suite_end_to_end(tmp_path: Path):
    """train.precision=bf16 through the default suite's whole graph (both training stages, their evaluations, the
    fixed-weights check and the GAN probe), shortened to 2 steps: it finishes, the trained tokenizers' records say
    bf16 and hold finite numbers, and the golden check neither drifts nor misses a row. (2 steps:
    this CPU has no native bf16, so torch's CPU autocast takes the slow im2col convolution, ~10x fp32's step.)"""
    import math

    import pandas as pd

    from bench.suite import run_suite
    from conftest import compose

    over = ["train.precision=bf16", "train.steps=2", "scale.eval.max_images=8", "launcher=debug",
            f"paths.work_dir={tmp_path / 'o'}", f"paths.results_dir={tmp_path / 'r'}"]
    assert run_suite(compose(over)) == 0
    df = pd.read_csv(tmp_path / "r" / "smoke" / "results.csv")
    trained = df[df["train_precision"] == "bf16"]
    assert set(trained["dataset"]) == {"mini_natural", "mini_faces"} and len(trained) >= 2 * 8
    assert all(math.isfinite(v) for v in trained["value"])
    diff = pd.read_csv(tmp_path / "r" / "smoke" / "golden_diff.csv")
    assert diff["status"].isin(["match", "not-comparable"]).all(), diff[~diff["status"].isin(["match",
                                                                                            "not-comparable"])]
