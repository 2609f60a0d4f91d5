"""vqbench's tokenizer modules against outputs of the official code (fixtures in tests/data/official/, written by
tools/official_fixtures/*.py, which import the official repositories unchanged): weights are ported with vqbench's
converters and outputs compared on the same inputs. No network, no official code at test time."""
from __future__ import annotations

import pytest
import torch
from official import load_fixture

from models.converters.base import CONVERTERS, load_into
from models.quantizers.rq import ResidualQuantizer
from models.registry import build_tokenizer, create_entry


def _state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official state dict a fixture stores under `state.`."""
    return {k.removeprefix("state."): v for k, v in tensors.items() if k.startswith("state.")}


# --- RQ-VAE (kakaobrain/rq-vae-transformer) --------------------------------------------------------------------

def test_rqvae_converter_reproduces_the_official_forward():
    """RQVAE.forward (eval) vs vqbench's RQ-VAE with the converted weights: codes at every depth, recon, latent loss."""
    t, meta = load_fixture("rq-vae-transformer", "rqvae_model")
    from models.converters import rqvae  # noqa: F401  registers the converter

    entry = create_entry("rqvae_16x16x4_2048", "smoke", {"model": {
        "resolution": 16, "ch_mult": (1,), "attn_resolutions": (16,), "z_channels": 16, "embed_dim": 16,
        "n_embed": 64, "depth": 4}})
    model = build_tokenizer(entry).eval()
    load_into(model, CONVERTERS.get("rqvae")(_state(t), model), "rqvae")
    with torch.no_grad():
        out = model(t["x"])
    assert torch.equal(out.indices, t["codes"]), f"codes differ from {meta['file']} at commit {meta['commit']}"
    assert torch.allclose(out.recon, t["recon"], atol=1e-5)
    assert torch.allclose(out.terms["commit"], t["latent_loss"], rtol=1e-5)  # compute_commitment_loss, unweighted


def _rq_from(t: dict[str, torch.Tensor]) -> ResidualQuantizer:
    rq = ResidualQuantizer(64, 8, depth=3, beta=0.25, decay=0.99, eps=1e-5, restart_threshold=1.0).train()
    rq.codebook.embed.copy_(t["weight0"][:-1])  # the official weight carries a padding row
    rq.codebook.embed_avg.copy_(t["embed_ema0"])
    rq.codebook.cluster_size.copy_(t["cluster_size_ema0"])
    return rq


def test_rqvae_ema_step_with_restarts_matches_the_official_step():
    """Two seeded training steps of RQBottleneck (32 vectors < 64 codes: tiled with noise, randperm draws)."""
    t, _ = load_fixture("rq-vae-transformer", "rq_ema_restart")
    rq = _rq_from(t)
    for step in range(2):
        torch.manual_seed(100 + step)  # as the fixture script, before each forward
        q = rq(t[f"x{step}"].permute(0, 3, 1, 2))
        assert torch.equal(q.indices, t[f"codes{step}"])
        assert torch.allclose(q.z_q.permute(0, 2, 3, 1), t[f"quant{step}"], atol=1e-6)
        assert torch.allclose(q.terms["commit"], t[f"loss{step}"], rtol=1e-5)
        assert torch.allclose(rq.codebook.cluster_size, t[f"cluster_size_ema{step + 1}"], atol=1e-6)
        assert torch.allclose(rq.codebook.embed_avg, t[f"embed_ema{step + 1}"], atol=1e-6)
        assert torch.allclose(rq.codebook.embed, t[f"weight{step + 1}"][:-1], atol=1e-6)
    restarted = t["cluster_size_ema2"] == 1.0
    assert restarted.any() and len(torch.unique(rq.codebook.embed, dim=0)) == 64  # restarted codes are distinct


def test_rqvae_restarts_never_duplicate_codes_in_the_paper_regime():
    """K/8 vectors per batch (RQ-VAE's regime): every restarted code is a distinct vector (item 8: 102/134 were
    copies with randint draws)."""
    torch.manual_seed(0)
    rq = ResidualQuantizer(1024, 16, depth=1, restart_threshold=1.0).train()
    rq(torch.randn(2, 16, 8, 8))  # 128 vectors, 1024 codes: most codes restart
    assert len(torch.unique(rq.codebook.embed, dim=0)) == 1024


# --- VQGAN-LC (zh460045050/VQGAN-LC vqgan-gpt-lc/models/models_vq.py) ---------------------------------------------

def _lc_model():
    entry = create_entry("vqganlc_f16_100k", "smoke", {"model": {
        "resolution": 16, "ch_mult": (1,), "attn_resolutions": (16,), "z_channels": 16, "n_embed": 32}})
    return build_tokenizer(entry).eval()


@pytest.mark.parametrize("form", ["training", "first_stage"])
def test_vqganlc_converter_reproduces_the_official_forward(form):
    """VQModel.encode/decode vs vqbench's VQGAN-LC, on both checkpoint forms: vqgan-gpt-lc's training checkpoint
    (discriminator + LPIPS copies inside) and the bare first stage ldm-lc loads (models_vq.py without them)."""
    t, meta = load_fixture("VQGAN-LC", "vqganlc_model")
    from models.converters import vqganlc  # noqa: F401  registers the converter

    state = _state(t)
    if form == "training":  # the discriminator's weights are not stored in the fixture: names and shapes are
        state |= {k: torch.zeros(shape) for k, shape in meta["dropped"].items()}
    model = _lc_model()
    load_into(model, CONVERTERS.get("vqganlc")(state, model), "vqganlc")
    with torch.no_grad():
        out = model(t["x"])
    assert torch.equal(out.indices[..., 0], t["indices"])
    assert torch.allclose(out.recon, t["recon"], atol=1e-5)
    assert torch.allclose(out.qloss, t["qloss"], rtol=1e-5)  # commit + 0.33 * codebook


def _vq_config(quantizer: str, source: str):
    return create_entry("vqgan_f16_16384", "smoke", {"model": {
        "quantizer": quantizer, "quantizer_source": source, "n_embed": 16, "embed_dim": 8}}).model


def test_vqganlc_org_quantizer_loss_and_gradients_match():
    """models_vq.py 'org' branch: mean((sg(z_q) - z)^2) + 0.33 * mean((z_q - sg(z))^2), with its gradients."""
    from models.quantizers import build_quantizer

    t, _ = load_fixture("VQGAN-LC", "quantize_org")
    q = build_quantizer(_vq_config("vq", "vqganlc")).train()
    with torch.no_grad():
        q.embedding.weight.copy_(t["codes0"])
    z = t["z"].clone().requires_grad_(True)
    out = q(z)
    out.loss.backward()
    assert torch.equal(out.indices[..., 0], t["indices"])
    assert torch.allclose(out.loss, t["loss"], rtol=1e-6)
    assert torch.allclose(z.grad, t["z_grad"], atol=1e-7)
    assert torch.allclose(q.embedding.weight.grad, t["codes_grad"], atol=1e-7)


def test_vqganlc_ema_quantizer_step_matches_without_beta():
    """models_vq.py 'ema' branch: one EMA step, loss mse(sg(z_q), z) with no beta (item 7)."""
    from models.quantizers import build_quantizer

    t, _ = load_fixture("VQGAN-LC", "quantize_ema")
    q = build_quantizer(_vq_config("ema", "vqganlc")).train()
    q.codebook.embed.copy_(t["codes0"])
    q.codebook.embed_avg.copy_(t["codes0"])
    z = t["z"].clone().requires_grad_(True)
    out = q(z)
    out.loss.backward()
    assert torch.equal(out.indices[..., 0], t["indices"])
    assert torch.allclose(out.loss, t["loss"], rtol=1e-6)
    assert torch.allclose(z.grad, t["z_grad"], atol=1e-7)
    assert torch.allclose(q.codebook.cluster_size, t["cluster_size"], atol=1e-6)
    assert torch.allclose(q.codebook.embed_avg, t["embed_avg"], atol=1e-6)
    assert torch.allclose(q.codebook.embed, t["codes1"], atol=1e-6)


@pytest.mark.parametrize("name", ["quantize_org", "quantize_ema"])
def test_vqganlc_random_init_is_uniform_in_one_over_k(name):
    """tok_embeddings.weight.data.uniform_(-1/K, 1/K) as shipped; vqbench's VQGAN-LC-sourced baselines draw the same."""
    from models.quantizers import build_quantizer

    t, _ = load_fixture("VQGAN-LC", name)
    bound = 1.0 / t["init_example"].shape[0]
    assert t["init_example"].abs().max() <= bound and t["init_example"].abs().max() > 0.8 * bound
    q = build_quantizer(_vq_config("ema" if name.endswith("ema") else "vq", "vqganlc"))
    codes = q.codebook.embed if name.endswith("ema") else q.embedding.weight
    assert codes.abs().max() <= bound and codes.abs().max() > 0.8 * bound


def test_fixture_catches_a_missing_or_extra_beta():
    """Mutation: taming's beta (0.25) on the VQGAN-LC EMA loss, or the legacy 0.25 on the org codebook term, is
    caught by the official fixtures (item 7 / 14)."""
    from models.quantizers import build_quantizer

    for quantizer, name in (("ema", "quantize_ema"), ("vq", "quantize_org")):
        t, _ = load_fixture("VQGAN-LC", name)
        q = build_quantizer(_vq_config(quantizer, "taming")).train()  # the mutant: taming's weighting
        with torch.no_grad():
            (q.codebook.embed if quantizer == "ema" else q.embedding.weight).copy_(t["codes0"])
            if quantizer == "ema":
                q.codebook.embed_avg.copy_(t["codes0"])
        out = q(t["z"])
        assert not torch.allclose(out.loss, t["loss"], rtol=1e-3), f"{name}: the fixture misses a wrong beta"


# --- taming-transformers (CompVis/taming-transformers) ------------------------------------------------------------

def test_taming_modules_and_converter_reproduce_the_official_forward():
    """Encoder, VectorQuantizer2 (legacy beta) and Decoder as VQModel runs them, through the taming converter."""
    t, meta = load_fixture("taming-transformers", "vqgan_model")
    from models.converters import taming  # noqa: F401  registers the converter

    entry = create_entry("vqgan_f16_1024", "smoke", {"model": {
        "resolution": 16, "ch_mult": (1,), "attn_resolutions": (16,), "z_channels": 16, "embed_dim": 16,
        "n_embed": 64}})
    model = build_tokenizer(entry).eval()
    load_into(model, CONVERTERS.get("taming")(_state(t), model), "taming")
    with torch.no_grad():
        out = model(t["x"])
    assert torch.equal(out.indices[..., 0], t["indices"]), f"vs {meta['file']} @ {meta['commit']}"
    assert torch.allclose(out.recon, t["recon"], atol=1e-5)
    assert torch.allclose(out.qloss, t["emb_loss"], rtol=1e-5)  # mse(sg(zq), z) + 0.25 * mse(zq, sg(z))


def test_taming_ema_quantizer_step_keeps_taming_beta():
    """taming EMAVectorQuantizer (its NameError stubbed in the fixture script): one step, loss beta * mse."""
    from models.quantizers import build_quantizer

    t, _ = load_fixture("taming-transformers", "ema_quantizer")
    q = build_quantizer(_vq_config("ema", "taming")).train()
    q.codebook.embed.copy_(t["weight0"])
    q.codebook.embed_avg.copy_(t["embed_avg0"])
    z = t["z"].clone().requires_grad_(True)
    out = q(z)
    out.loss.backward()
    assert torch.equal(out.indices[..., 0], t["indices"])
    assert torch.allclose(out.loss, t["loss"], rtol=1e-6)
    assert torch.allclose(z.grad, t["z_grad"], atol=1e-7)
    assert torch.allclose(q.codebook.cluster_size, t["cluster_size1"], atol=1e-6)
    assert torch.allclose(q.codebook.embed, t["weight1"], atol=1e-6)
    mutant = build_quantizer(_vq_config("ema", "vqganlc")).train()  # VQGAN-LC's rule (no beta) on taming's step
    mutant.codebook.embed.copy_(t["weight0"])
    mutant.codebook.embed_avg.copy_(t["embed_avg0"])
    assert not torch.allclose(mutant(t["z"]).loss, t["loss"], rtol=1e-3)


# --- MoVQGAN (ai-forever/MoVQGAN) ------------------------------------------------------------------------------

def test_movq_decoder_with_spatial_norm_matches_the_official_decoder():
    """MOVQDecoder (SpatialNorm in every norm, zq nearest-resized) vs vqbench's Decoder(spatial_norm='all'), same
    parameter names."""
    from models.taming_modules import Decoder

    t, meta = load_fixture("MoVQGAN", "movq_decoder")
    dec = Decoder(ch=32, ch_mult=(1,), num_res_blocks=1, attn_resolutions=(), out_ch=3, resolution=8, z_channels=8,
                  zq_ch=4, spatial_norm="all").eval()
    dec.load_state_dict(_state(t), strict=True)
    with torch.no_grad():
        out = dec(t["z"], t["zq"])
    assert torch.allclose(out, t["out"], atol=1e-5), f"vs {meta['file']} @ {meta['commit']}"


def test_taming_vqperceptual_loss_matches_the_official_loss():
    """VQLPIPSWithDiscriminator's generator pass (L1 + perceptual, adaptive weight at the last layer, hinge G term,
    codebook term) and discriminator pass, with the fixture's stand-in perceptual net and discriminator weights."""
    from models.losses import LossConfig, VQLPIPSWithDiscriminator

    t, meta = load_fixture("taming-transformers", "vqperceptual_loss")

    class StandIn(torch.nn.Module):  # the fixture script's StandInLPIPS
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x, y):
            return (self.conv(x) - self.conv(y)).pow(2).mean((1, 2, 3), keepdim=True)

    lpips = StandIn()
    lpips.load_state_dict({k.removeprefix("lpips."): v for k, v in t.items() if k.startswith("lpips.")})
    cfg = LossConfig(disc_start=0, codebook_weight=1.0, disc_weight=0.8, disc_layers=2, disc_ndf=8)
    loss = VQLPIPSWithDiscriminator(cfg, lpips, image_size=16).train()
    loss.discriminator.load_state_dict({k.removeprefix("disc."): v for k, v in t.items() if k.startswith("disc.")})
    last = t["last_layer"].clone().requires_grad_(True)
    recon = torch.nn.functional.conv2d(t["h"], last, padding=1)
    g, terms = loss.generator_loss(t["x"], recon, t["qloss"], step=5, last_layer=last)
    d, _ = loss.discriminator_loss(t["x"], recon, step=5)
    assert torch.allclose(terms["lpips"], t["p_loss"], rtol=1e-6), f"vs {meta['file']} @ {meta['commit']}"
    assert torch.allclose(terms["d_weight"], t["d_weight"], rtol=1e-5)
    assert torch.allclose(terms["g_loss"], t["g_loss"], rtol=1e-5)
    assert torch.allclose(g, t["g_total"], rtol=1e-5)
    assert torch.allclose(d, t["d_loss"], rtol=1e-5)
