"""The priors against their official forms (issue #15, findings 5-11): DiT's learned-range variance and VLB
against formulas written out in numpy, SiT's path conventions on Gaussian data with a known velocity (dopri5
ODE, Euler-Maruyama SDE), EMA update math and resume, LDM's config count, MaskGIT's tied head, and the
sampling protocols (top-k 10% of the vocabulary, 50 per class, MoVQ's step counts, plan-time lengths)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from models.priors.diffusion import (
    Diffusion,
    DiffusionConfig,
    Schedule,
    ddim_timesteps,
    respaced_timesteps,
)
from models.priors.ema import EMA
from models.priors.flow import Flow, FlowConfig, interpolate
from models.priors.registry import (
    bind,
    build_prior,
    count_prior_params,
    create_prior,
    decode_steps,
    sample_count,
    sample_protocol,
    top_k_for,
)

# --- DiT: learned-range variance and the VLB, against guided-diffusion's math in numpy ---------------------------

def _np_schedule(betas: np.ndarray) -> dict[str, np.ndarray]:
    alphas = 1.0 - betas
    ac = np.cumprod(alphas)
    ac_prev = np.append(1.0, ac[:-1])
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    return {"ac": ac, "ac_prev": ac_prev, "betas": betas, "post_var": post_var,
            "post_log_var": np.log(np.append(post_var[1], post_var[1:])),
            "c1": betas * np.sqrt(ac_prev) / (1.0 - ac), "c2": (1.0 - ac_prev) * np.sqrt(alphas) / (1.0 - ac)}


def _np_cdf(x):
    return 0.5 * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def _np_vb(x0, xt, t, eps, v, s):
    """Per-sample VLB (bits) of guided-diffusion _vb_terms_bpd with the learned-range variance."""
    out = []
    for i, ti in enumerate(t):
        true_mean = s["c1"][ti] * x0[i] + s["c2"][ti] * xt[i]
        true_lv = s["post_log_var"][ti]
        pred_x0 = np.sqrt(1.0 / s["ac"][ti]) * xt[i] - np.sqrt(1.0 / s["ac"][ti] - 1) * eps[i]
        mean = s["c1"][ti] * pred_x0 + s["c2"][ti] * xt[i]
        frac = (v[i] + 1) / 2
        lv = frac * np.log(s["betas"][ti]) + (1 - frac) * s["post_log_var"][ti]
        if ti == 0:
            inv = np.exp(-0.5 * lv)
            c = x0[i] - mean
            plus, minus = _np_cdf(inv * (c + 1 / 255)), _np_cdf(inv * (c - 1 / 255))
            logp = np.where(x0[i] < -0.999, np.log(np.maximum(plus, 1e-12)),
                            np.where(x0[i] > 0.999, np.log(np.maximum(1 - minus, 1e-12)),
                                     np.log(np.maximum(plus - minus, 1e-12))))
            out.append(-logp.mean() / np.log(2.0))
        else:
            kl = 0.5 * (-1.0 + lv - true_lv + np.exp(true_lv - lv) + (true_mean - mean) ** 2 * np.exp(-lv))
            out.append(kl.mean() / np.log(2.0))
    return np.array(out)


def test_learned_range_variance_and_vlb_match_numpy():
    cfg = DiffusionConfig(learn_sigma=True, loss="hybrid")
    d = Diffusion(cfg)
    s = _np_schedule(np.linspace(1e-4, 0.02, 1000, dtype=np.float64))
    rng = np.random.default_rng(0)
    t = np.array([0, 1, 7, 500, 999])
    x0 = rng.uniform(-1.2, 1.2, (5, 3, 2, 2))
    eps, v = rng.standard_normal((5, 3, 2, 2)), rng.uniform(-1, 1, (5, 3, 2, 2))
    xt = np.sqrt(s["ac"][t])[:, None, None, None] * x0 + np.sqrt(1 - s["ac"][t])[:, None, None, None] * eps * 0.9
    ours = d.vb_terms(*(torch.from_numpy(a) for a in (x0, xt)), torch.from_numpy(t), torch.from_numpy(eps),
                      torch.from_numpy(v)).numpy()
    np.testing.assert_allclose(ours, _np_vb(x0, xt, t, eps, v, s), rtol=1e-6, atol=1e-9)
    # the interpolation's end points: v = -1 gives the clipped posterior variance, v = +1 log beta_t
    ti = torch.tensor([3])
    lo = d.full.learned_log_var(-torch.ones(1, 1), ti)
    hi = d.full.learned_log_var(torch.ones(1, 1), ti)
    assert float(lo) == pytest.approx(s["post_log_var"][3]) and float(hi) == pytest.approx(np.log(s["betas"][3]))


def test_hybrid_loss_detaches_the_mean_for_the_vlb():
    """The VLB term trains only the variance channels: its gradient w.r.t. the eps channels is zero."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.eps = torch.nn.Parameter(torch.zeros(1, 2, 1, 1))
            self.v = torch.nn.Parameter(torch.zeros(1, 2, 1, 1))

        def forward(self, x, t, y):
            return torch.cat([self.eps.expand_as(x), self.v.expand_as(x)], 1)

    d = Diffusion(DiffusionConfig(learn_sigma=True, loss="hybrid"))
    torch.manual_seed(0)
    x0, net = torch.randn(8, 2, 3, 3) * 0.5, Net()
    torch.manual_seed(1)
    d.loss(net, x0, torch.zeros(8, dtype=torch.long)).backward()
    g_hybrid = net.eps.grad.clone()
    assert net.v.grad.abs().sum() > 0
    net.eps.grad = None
    torch.manual_seed(1)
    Diffusion(DiffusionConfig()).loss(net, x0, torch.zeros(8, dtype=torch.long)).backward()
    torch.testing.assert_close(g_hybrid, net.eps.grad)  # same draws: the eps gradient is the MSE's alone


def test_respaced_chain_and_ddim_timesteps():
    use = respaced_timesteps(1000, 250)
    assert len(use) == 250 and use[0] == 0 and use[-1] == 999
    sched = Schedule(Diffusion(DiffusionConfig()).alphas_cumprod[use])
    assert float(sched.betas[0]) == pytest.approx(1e-4) and float(sched.betas.max()) < 0.1
    ts = ddim_timesteps(1000, 200)
    assert len(ts) == 200 and ts[0] == 1 and ts[-1] == 996 and int((ts[1:] - ts[:-1]).unique()) == 5


def test_ddim_eta0_recovers_a_point_mass():
    """Data at a single point c: eps_hat(x, t) = (x - sqrt(a) c) / sqrt(1 - a) is exact, so DDIM (eta 0) keeps eps
    and ends, as LDM's sampler does, at alphas_cumprod[0]: sqrt(a0) c + sqrt(1 - a0) eps_T."""
    d = Diffusion(DiffusionConfig(schedule="ldm", beta_start=0.0015, beta_end=0.0195, sampler="ddim", ddim_eta=0.0,
                                  cfg_channels="all"))
    c = 0.7

    class Net(torch.nn.Module):
        def forward(self, x, t, y):
            a = d.alphas_cumprod[t].float().view(-1, 1, 1, 1)
            return (x - a.sqrt() * c) / (1 - a).sqrt()

    x, passes = d.sample(Net(), (4, 2, 2, 2), torch.zeros(4, dtype=torch.long), 0, torch.Generator().manual_seed(0),
                         steps=20, scale=1.0)
    ac = d.alphas_cumprod
    z = torch.randn((4, 2, 2, 2), generator=torch.Generator().manual_seed(0)).double()
    a_t = ac[int(ddim_timesteps(1000, 20)[-1])]
    eps = (z - a_t.sqrt() * c) / (1 - a_t).sqrt()
    expected = ac[0].sqrt() * c + (1 - ac[0]).sqrt() * eps
    assert passes == 20 and torch.allclose(x.double(), expected, atol=1e-4)
    assert float((x - c).abs().max()) < 0.2


def test_dit_initialize_weights_follows_dit():
    entry = create_prior("dit_xl2", "smoke")
    m = build_prior(entry)
    assert all(float(b.ada[1].weight.abs().sum()) == 0 for b in m.blocks)
    assert float(m.final.weight.abs().sum()) == 0 and float(m.final_ada[1].weight.abs().sum()) == 0
    assert float(m.t_embed[0].weight.std()) == pytest.approx(0.02, rel=0.1)
    assert float(m.blocks[0].attn.qkv.bias.abs().sum()) == 0  # xavier weights, zero biases
    fan = m.blocks[0].mlp[0].weight.shape
    assert float(m.blocks[0].mlp[0].weight.abs().max()) <= math.sqrt(6 / (fan[0] + fan[1])) + 1e-6
    assert m.out_channels == 2 * entry.model.in_channels


# --- SiT: path conventions on Gaussian data with the exact velocity ---------------------------------------------

MU, SIG = 1.5, 0.5


class GaussVelocity(torch.nn.Module):
    """The marginal velocity of the linear path x_t = t x1 + (1 - t) x0 for x1 ~ N(MU, SIG^2), x0 ~ N(0, 1):
    v = MU + (s_t' / s_t)(x - t MU), s_t^2 = t^2 SIG^2 + (1 - t)^2. Checks the network gets raw t in [0, 1]."""

    def forward(self, x, t, y):
        assert float(t.min()) >= 0.0 and float(t.max()) < 1.5  # raw t (dopri5's first-step probe may pass 1)
        tt = t.view(-1, 1, 1, 1).double()
        var = tt**2 * SIG**2 + (1 - tt) ** 2
        dvar = tt * SIG**2 - (1 - tt)
        return (MU + dvar / var * (x.double() - tt * MU)).to(x.dtype)


def test_sit_interpolant_puts_data_at_t1():
    x1, x0 = torch.randn(3, 2, 2, 2), torch.randn(3, 2, 2, 2)
    xt, ut = interpolate(x1, x0, torch.tensor([1.0, 0.0, 0.25]))
    assert torch.equal(xt[0], x1[0]) and torch.equal(xt[1], x0[1]) and torch.allclose(ut, x1 - x0)


def test_sit_dopri5_ode_maps_noise_to_the_data_gaussian():
    flow = Flow(FlowConfig(sampler="ode_dopri5", cfg_scale=1.0, cfg_channels="all"))
    shape = (64, 1, 2, 2)
    x, nfe = flow.sample(GaussVelocity(), shape, torch.zeros(64, dtype=torch.long), 0,
                         torch.Generator().manual_seed(0))
    z = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x, MU + SIG * z, atol=5e-2) and 6 <= nfe < 100  # SiT's tolerances: ~20 evaluations
    tight = Flow(FlowConfig(sampler="ode_dopri5", cfg_scale=1.0, cfg_channels="all", atol=1e-9, rtol=1e-7))
    x, _ = tight.sample(GaussVelocity(), shape, torch.zeros(64, dtype=torch.long), 0, torch.Generator().manual_seed(0))
    assert torch.allclose(x, MU + SIG * z, atol=1e-4)  # the exact Gaussian flow map: noise at t=0, data at t=1


def test_sit_sde_sample_statistics_match_the_data():
    flow = Flow(FlowConfig(sampler="sde", sample_steps=250, cfg_scale=1.0, cfg_channels="all"))
    x, nfe = flow.sample(GaussVelocity(), (2000, 1, 2, 2), torch.zeros(2000, dtype=torch.long), 0,
                         torch.Generator().manual_seed(1))
    assert nfe == 250  # 249 Euler-Maruyama steps + SiT's Mean last step
    assert float(x.mean()) == pytest.approx(MU, abs=0.03) and float(x.std()) == pytest.approx(SIG, abs=0.03)
    # diffusion_norm 0.5 (the old noise term) draws from a different chain: the two differ
    half = Flow(FlowConfig(sampler="sde", sample_steps=250, cfg_scale=1.0, cfg_channels="all", diffusion_norm=0.5))
    y, _ = half.sample(GaussVelocity(), (2000, 1, 2, 2), torch.zeros(2000, dtype=torch.long), 0,
                       torch.Generator().manual_seed(1))
    assert not torch.allclose(x, y, atol=1e-2)


def test_sit_loss_target_is_x1_minus_x0():
    class Oracle(torch.nn.Module):  # returns what Flow.loss must regress to: zero loss only for u = x1 - x0
        def forward(self, x, t, y):
            return self.u

    torch.manual_seed(0)
    x1 = torch.randn(4, 2, 2, 2)
    torch.manual_seed(5)
    torch.rand(4)  # Flow.loss draws t first
    x0 = torch.randn_like(x1)
    net = Oracle()
    net.u = x1 - x0
    torch.manual_seed(5)
    assert float(Flow(FlowConfig()).loss(net, x1, torch.zeros(4, dtype=torch.long))) == pytest.approx(0.0, abs=1e-12)


# --- EMA --------------------------------------------------------------------------------------------------------

def test_ema_update_math_and_litema_warmup():
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    ema = EMA(lin, 0.9)
    with torch.no_grad():
        lin.weight.fill_(3.0)
    ema.update(lin)
    assert torch.allclose(ema.shadow["weight"], torch.full((1, 2), 0.9 * 1 + 0.1 * 3))
    lit = EMA(lin, 0.9999, warmup=True)
    assert lit.current_decay() == pytest.approx(2 / 11)  # LitEma: min(decay, (1 + n) / (10 + n)), n = 1
    for _ in range(100_000):
        lit.updates += 1
    assert lit.current_decay() == 0.9999


def _smoke_dit(steps: int):
    entry = bind(create_prior("dit_xl2", "smoke"), 64, (4, 4, 1), 8, 3)
    return dataclasses.replace(entry, train=dataclasses.replace(entry.train, steps=steps, ckpt_every=3, batch_size=4))


def test_trainer_keeps_the_ema_resumes_it_and_sampling_uses_it(tmp_path, monkeypatch):
    from bench.training.prior import train_prior
    from models.priors.ema import load_prior_weights

    x, y = torch.randn(16, 8, 4, 4), torch.randint(0, 3, (16,))
    (tmp_path / "a").mkdir()
    full = train_prior(_smoke_dit(6), x, y, tmp_path / "a", 0, torch.device("cpu"))
    assert full["ema_decay"] == 0.9 and full["ema_updates"] == 6
    (tmp_path / "b").mkdir()
    from bench.training import loop as tp  # the trainer skeleton writes every checkpoint through atomic_save

    real = tp.atomic_save

    def crash_after_ckpt(obj, path):  # a kill right after the step-3 checkpoint
        real(obj, path)
        if path.name == "ckpt.safetensors":
            raise KeyboardInterrupt

    monkeypatch.setattr(tp, "atomic_save", crash_after_ckpt)
    with pytest.raises(KeyboardInterrupt):
        train_prior(_smoke_dit(6), x, y, tmp_path / "b", 0, torch.device("cpu"))
    monkeypatch.setattr(tp, "atomic_save", real)
    resumed = train_prior(_smoke_dit(6), x, y, tmp_path / "b", 0, torch.device("cpu"))
    assert resumed["resumed_from"] == 3 and resumed["ema_updates"] == 6
    wa, fa = load_prior_weights(tmp_path / "a" / "prior.safetensors", "ema")
    wb, _ = load_prior_weights(tmp_path / "b" / "prior.safetensors", "ema")
    raw, fr = load_prior_weights(tmp_path / "a" / "prior.safetensors", "raw")
    assert fa["prior_weights"] == "ema" and fa["ema_decay"] == 0.9 and fr["prior_weights"] == "raw"
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k])
    assert any(not torch.equal(wa[k], raw[k]) for k in wa)


# --- LDM, MaskGIT, sampling protocols -----------------------------------------------------------------------------

def test_ldm_f16_config_counts_270_3m():
    entry = create_prior("ldm_cin", "paper")
    n = count_prior_params(entry) / 1e6
    assert abs(n - 270.3) / 270.3 < 1e-3, n
    assert count_prior_params(entry, published_form=False) - count_prior_params(entry) == 1001 * 512
    assert entry.process.sampler == "ddim" and entry.process.sample_steps == 200 and entry.process.ddim_eta == 1.0
    assert entry.process.cfg_scale == 1.6 and entry.latent_norm == "raw" and entry.model.class_dropout == 0.0
    paper = create_prior("ldm_cin", "paper", {"sample": {"source": "paper"}})
    assert paper.process.cfg_scale == 1.4 and sample_protocol(paper)["sample_source"] == "paper"
    assert entry.train.ema_decay == 0.9999 and entry.train.ema_warmup


def test_maskgit_official_form_ties_the_head_to_the_embedding():
    entry = bind(create_prior("maskgit", "smoke"), 32, (4, 4, 1), 8, 3)
    m = build_prior(entry)
    assert entry.model.arch == "bert" and not hasattr(m, "head")
    idx = torch.full((2, 16, 1), m.mask_id)
    m(idx, torch.tensor([0, 1])).sum().backward()
    # every input is [MASK] or a class: code rows get gradient only through the tied output layer
    assert float(m.tok_emb.weight.grad[:32].abs().sum()) > 0
    paper = create_prior("maskgit", "paper")
    assert round(count_prior_params(paper) / 1e6 + 54.5) == 227
    assert m.tok_emb.num_embeddings == 32 + 3 + 1


def test_gpt_top_k_is_10_percent_of_the_vocabulary_or_the_scripts_100k():
    paper = bind(create_prior("gpt_vqganlc", "paper", {"sample": {"source": "paper"}}), 16384, (16, 16, 1), 8, 1000)
    assert top_k_for(paper) == 1638
    code = bind(create_prior("gpt_vqganlc", "paper"), 100_000, (16, 16, 1), 8, 1000)
    assert top_k_for(code) == 100_000 and sample_protocol(code)["sample_source"] == "code"
    m = code.model
    assert m.pkeep == 0.8 and m.label_smoothing == 0.0 and m.class_dropout == 0.0


def test_class_plans_50_per_class_on_imagenet_60k_unconditional():
    from tasks.generation import class_plan

    for name in ("gpt_movq", "maskgit_movq"):
        inet = bind(create_prior(name, "paper"), 1024, (16, 16, 4), 64, 1000)
        ffhq = bind(create_prior(name, "paper"), 1024, (16, 16, 4), 64, 0)
        assert sample_count(inet) == 50_000 and sample_count(ffhq) == 60_000
        labels = class_plan(sample_count(inet), 1000, inet.sample.class_sampling, 0)
        assert torch.bincount(labels, minlength=1000).tolist() == [50] * 1000
    assert decode_steps(bind(create_prior("maskgit_movq", "paper"), 1024, (16, 16, 4), 64, 1000)) == 12
    assert decode_steps(bind(create_prior("maskgit_movq", "paper"), 1024, (16, 16, 4), 64, 0)) == 8


def test_no_label_dropout_by_default_for_gpt_and_maskgit():
    for name in ("gpt_vqganlc", "gpt_movq", "maskgit", "maskgit_movq", "gpt_seqgan", "maskgit_seqgan"):
        assert create_prior(name, "paper").model.class_dropout == 0.0, name


def test_prior_lengths_are_derived_from_the_dataset_they_train_on():
    from bench.plan.prior_lengths import derive_prior_length
    from tasks.data.registry import DATASETS

    e = create_prior("gpt_movq", "paper")
    ffhq = derive_prior_length(e, {"name": "ffhq"})
    inet = derive_prior_length(e, {"name": "imagenet"})
    n_ff, n_in = DATASETS.get("ffhq").train_images, DATASETS.get("imagenet").train_images
    assert ffhq["train"]["steps"] == math.ceil(200 * n_ff / 64) and ffhq["epochs"] == pytest.approx(200, abs=0.01)
    assert inet["train"]["steps"] == math.ceil(200 * n_in / 64)
    lc = derive_prior_length(create_prior("gpt_vqganlc", "paper"), {"name": "ffhq"})
    assert lc["train"]["steps"] == math.ceil(100 * n_ff / 1024)
    assert lc["train"]["warmup_steps"] == math.ceil(5 * n_ff / 1024)
    dit = derive_prior_length(create_prior("dit_xl2", "paper"), {"name": "ffhq"})
    assert dit["train"]["steps"] == 400_000  # iterations stay iterations
    kept = derive_prior_length(e, {"name": "ffhq"}, {"train": {"steps": 10}})
    assert "steps" not in kept["train"]


# --- analyses (finding 12) ----------------------------------------------------------------------------------------

def test_token_replacement_draws_100_random_categories_and_scores_y():
    from models.registry import build_tokenizer, create_entry
    from tasks.analyses import category_draw, token_replacement

    labels = [i // 5 for i in range(1000)]  # 200 classes x 5 images, in sorted order
    idx, facts = category_draw(labels, 100, None, 0)
    cats = {labels[i] for i in idx}
    assert facts["categories"] == 100 and len(idx) == 500 and len(cats) == 100 and cats != set(range(100))
    assert category_draw(labels, 100, 2, 0, max_images=50)[1]["image_count"] == 50
    tok = build_tokenizer(create_entry("vqgan_f16_1024", "smoke")).eval()
    rows = token_replacement(tok, [torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1], [1, 50, 5000])
    assert [r["M"] for r in rows] == [1, 50] and all(np.isfinite(r["psnr_y"]) and np.isfinite(r["psnr_rgb"])
                                                      for r in rows)


def test_ldm_f8_latents_get_the_official_f8_config():
    e = bind(create_prior("ldm_cin", "paper"), 100_000, (32, 32, 4), 4, 1000)
    m = e.model
    assert (m.channel_mult, m.num_res_blocks, m.attention_resolutions, m.in_channels) == ((1, 2, 4), 2, (4, 2, 1), 4)
    assert e.process.cfg_scale == 1.4 and e.train.batch_size == 256
    assert round(count_prior_params(e) / 1e6) == 395
    smoke = bind(create_prior("ldm_cin", "smoke"), 64, (32, 32, 1), 8, 3)
    assert smoke.model.model_channels == 32  # smoke keeps its tiny UNet at any latent size


def test_flip_cache_encodes_flipped_images_and_the_trainer_draws_both(tmp_path):
    from bench.training.prior import train_prior
    from models.registry import build_tokenizer, create_entry
    from tasks.token_cache import encode_split, load_cache

    tok = build_tokenizer(create_entry("vqgan_f16_1024", "smoke")).eval()
    imgs = torch.rand(3, 3, 32, 32) * 2 - 1
    data = [{"image": imgs[i], "label": i, "index": i} for i in range(3)]
    (tmp_path / "f").mkdir()
    info = encode_split(tok, data, "latents", torch.device("cpu"), tmp_path / "f", "train", hflip=True)
    flipped, _, _ = load_cache(tmp_path / "f", "train", "latents")
    with torch.no_grad():
        want = tok.encode(imgs.flip(-1)).latents.numpy().astype(np.float16)
    assert info["hflip"] and np.array_equal(flipped, want)
    entry = bind(create_prior("dit_xl2", "smoke"), 64, (4, 4, 1), 8, 3)
    assert entry.hflip and entry.latent_norm == "raw"
    entry = dataclasses.replace(entry, train=dataclasses.replace(entry.train, steps=2, batch_size=4))
    (tmp_path / "t").mkdir()
    pair = torch.randn(8, 2, 8, 4, 4)
    out = train_prior(entry, pair, torch.randint(0, 3, (8,)), tmp_path / "t", 0, torch.device("cpu"))
    assert out["steps"] == 2


def test_explicit_overrides_win_over_the_f8_config():
    e = bind(create_prior("ldm_cin", "paper", {"process": {"cfg_scale": 2.0}}), 100_000, (32, 32, 4), 4, 1000)
    assert e.process.cfg_scale == 2.0 and e.model.channel_mult == (1, 2, 4)


def test_vqganlc_gpt_lr_warms_up_then_decays_linearly():
    from models.priors.lengths import prior_lr

    t = dataclasses.replace(create_prior("gpt_vqganlc", "paper").train, steps=100, warmup_steps=10)
    assert t.lr_schedule == "linear"
    assert prior_lr(t, 0) == pytest.approx(t.lr / 10) and prior_lr(t, 9) == pytest.approx(t.lr)
    assert prior_lr(t, 10) == pytest.approx(t.lr) and prior_lr(t, 55) == pytest.approx(t.lr * 0.5)
    assert prior_lr(t, 99) == pytest.approx(t.lr / 90)
    const = create_prior("dit_xl2", "paper").train
    assert prior_lr(const, 123_456) == const.lr
