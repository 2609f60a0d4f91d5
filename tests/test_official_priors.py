"""The priors against fixtures written by the official code (tools/official_fixtures/: dit.py, sit.py,
taming_gpt.py, vqganlc_priors.py, maskgit.py): the official weights are loaded into vqbench's modules (through
models/converters/dit.py for DiT / SiT) and the outputs compared on the saved inputs and noise draws. Mutation
tests put the old behaviour back (a transposed position embedding, the wrong GELU, batch-wide MaskGIT counts) and
check that the comparison fails."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from official import load_fixture

from models.converters.base import load_into
from models.converters.dit import convert_dit
from models.priors import dit as dit_module
from models.priors.diffusion import Diffusion, DiffusionConfig
from models.priors.dit import DiT, DiTConfig
from models.priors.flow import Flow, FlowConfig

_RIGHT_SINCOS = dit_module.sincos_2d
QKV = ("query", "key", "value")  # vqbench's fused qkv rows, in this order
TINY_DIT = DiTConfig(in_channels=4, input_size=8, patch_size=2, hidden=32, depth=2, heads=2, n_classes=10,
                     class_dropout=0.1, learn_sigma=True)


def _official_dit(repo_dir: str, cfg: DiTConfig = TINY_DIT) -> tuple[DiT, dict[str, torch.Tensor]]:
    """vqbench's DiT with the fixture's official weights, converted; and the fixture's tensors."""
    t, _ = load_fixture(repo_dir, "forward")
    net = DiT(cfg).eval()
    load_into(net, convert_dit({k.removeprefix("state."): v for k, v in t.items() if k.startswith("state.")}, net),
              repo_dir)
    return net, t


class Draws:
    """Stands in for torch.randn / randn_like / rand / randint: hands out the official code's recorded draws."""

    def __init__(self, *draws: torch.Tensor) -> None:
        self.queue = list(draws)

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        return self.queue.pop(0).clone()


# --- DiT (facebookresearch/DiT) -----------------------------------------------------------------------------------

def test_dit_position_embedding_is_the_official_one():
    t, meta = load_fixture("DiT", "pos_embed")
    assert meta["function"] == "get_2d_sincos_pos_embed"
    torch.testing.assert_close(dit_module.sincos_2d(16, 4), t["pos_embed"], atol=1e-6, rtol=0)


def test_dit_forward_matches_the_official_network():
    net, t = _official_dit("DiT")
    with torch.no_grad():
        torch.testing.assert_close(net(t["x"], t["t"], t["y"]), t["out"], atol=1e-5, rtol=1e-5)


def test_dit_training_loss_matches_the_official_one(monkeypatch):
    net, _ = _official_dit("DiT")
    t, _ = load_fixture("DiT", "loss")
    monkeypatch.setattr(torch, "randint", Draws(t["t"]))
    monkeypatch.setattr(torch, "randn_like", Draws(t["noise"]))
    with torch.no_grad():
        loss = Diffusion(DiffusionConfig(learn_sigma=True, loss="hybrid")).loss(net, t["x0"], t["y"])
    torch.testing.assert_close(loss, t["loss"].mean(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("guided", [False, True])
def test_dit_ancestral_sampler_matches_the_official_one(monkeypatch, guided):
    net, _ = _official_dit("DiT")
    t, _ = load_fixture("DiT", "sample")
    draws = t["cfg_draws"][:, :2] if guided else t["draws"]  # the conditional half of the doubled batch
    monkeypatch.setattr(torch, "randn", Draws(t["z"], *draws[:-1]))  # the last draw is masked out at t = 0
    cfg = DiffusionConfig(learn_sigma=True, loss="hybrid", sample_steps=4, cfg_scale=4.0 if guided else 1.0,
                          cfg_channels="first3")
    with torch.no_grad():
        x, passes = Diffusion(cfg).sample(net, (2, 4, 8, 8), t["y"], null_class=10)
    assert passes == 4
    torch.testing.assert_close(x, t["cfg_out" if guided else "out"], atol=1e-4, rtol=1e-4)


def test_dit_fixture_catches_a_transposed_position_embedding(monkeypatch):
    """The old sincos_2d (row encoding first) through the same weights: the outputs differ by O(1)."""
    def transposed(dim: int, side: int) -> torch.Tensor:
        return _RIGHT_SINCOS(dim, side).view(side, side, dim).transpose(0, 1).reshape(side * side, dim)

    monkeypatch.setattr(dit_module, "sincos_2d", transposed)
    t, _ = load_fixture("DiT", "forward")
    net = DiT(TINY_DIT).eval()
    state = {k.removeprefix("state."): v for k, v in t.items() if k.startswith("state.")}
    with pytest.raises(ValueError, match="transposed"):  # the converter refuses the official pos_embed
        convert_dit(state, net)
    state.pop("pos_embed")
    load_into(net, convert_dit(state, net), "DiT")
    with torch.no_grad():
        assert (net(t["x"], t["t"], t["y"]) - t["out"]).abs().max() > 1e-2


def test_dit_fixture_catches_exact_gelu():
    net, t = _official_dit("DiT", dataclasses.replace(TINY_DIT, gelu="none"))
    with torch.no_grad():
        assert (net(t["x"], t["t"], t["y"]) - t["out"]).abs().max() > 1e-5


def test_dit_converter_reads_an_official_pt_file_safely(tmp_path):
    from models.converters.dit import load_dit_checkpoint

    t, _ = load_fixture("DiT", "forward")
    state = {k.removeprefix("state."): v for k, v in t.items() if k.startswith("state.")}
    torch.save({"model": state, "ema": state, "opt": {}}, tmp_path / "0001000.pt")  # train.py's layout
    net = DiT(TINY_DIT).eval()
    load_dit_checkpoint(tmp_path / "0001000.pt", net)
    with torch.no_grad():
        torch.testing.assert_close(net(t["x"], t["t"], t["y"]), t["out"], atol=1e-5, rtol=1e-5)


# --- SiT (willisma/SiT) -------------------------------------------------------------------------------------------

def test_sit_forward_matches_the_official_network():
    net, t = _official_dit("SiT")
    with torch.no_grad():  # SiT.forward returns the first C channels of its learn_sigma output
        torch.testing.assert_close(net(t["x"], t["t"], t["y"])[:, :4], t["out"], atol=1e-5, rtol=1e-5)


def test_sit_loss_matches_the_official_one(monkeypatch):
    net, _ = _official_dit("SiT")
    t, _ = load_fixture("SiT", "loss")
    monkeypatch.setattr(torch, "rand", Draws(t["t"]))
    monkeypatch.setattr(torch, "randn_like", Draws(t["x0"]))
    with torch.no_grad():
        loss = Flow(FlowConfig()).loss(net, t["x1"], t["y"])
    torch.testing.assert_close(loss, t["loss"].mean(), atol=1e-6, rtol=1e-5)


def test_sit_dopri5_ode_matches_the_official_sampler(monkeypatch):
    net, _ = _official_dit("SiT")
    t, _ = load_fixture("SiT", "ode")
    monkeypatch.setattr(torch, "randn", Draws(t["z"]))
    with torch.no_grad():
        x, _ = Flow(FlowConfig(cfg_scale=1.0)).sample(net, (2, 4, 8, 8), t["y"], null_class=10)
    torch.testing.assert_close(x, t["out"], atol=2e-4, rtol=1e-3)  # adaptive solver: its own error, rtol 1e-3


def test_sit_sde_matches_the_official_sampler(monkeypatch):
    net, _ = _official_dit("SiT")
    t, _ = load_fixture("SiT", "sde")
    monkeypatch.setattr(torch, "randn", Draws(t["z"], *t["draws"]))
    cfg = FlowConfig(sampler="sde", sample_steps=6, cfg_scale=1.0, diffusion_norm=1.0, last_step_size=0.04)
    with torch.no_grad():
        x, passes = Flow(cfg).sample(net, (2, 4, 8, 8), t["y"], null_class=10)
    assert passes == 6
    torch.testing.assert_close(x, t["out"], atol=1e-4, rtol=1e-4)


# --- minGPT priors: taming-transformers and VQGAN-LC ----------------------------------------------------------------

def _mingpt_state(t: dict[str, torch.Tensor], start_row: int | None = None) -> dict[str, torch.Tensor]:
    """minGPT (key / query / value, causal mask buffer) -> vqbench GPT (fused qkv); start_row: the token whose
    embedding is the start token of an unconditional taming model (SOSProvider, sos_token 0) -> cls_emb."""
    s = {k.removeprefix("state."): v for k, v in t.items() if k.startswith("state.")}
    out = {k: v for k, v in s.items() if not k.endswith(("attn.mask", "attn.key.weight", "attn.key.bias",
                                                         "attn.query.weight", "attn.query.bias",
                                                         "attn.value.weight", "attn.value.bias"))}
    for i in range(len({k.split(".")[1] for k in s if k.startswith("blocks.")})):
        for p in ("weight", "bias"):
            out[f"blocks.{i}.attn.qkv.{p}"] = torch.cat([s[f"blocks.{i}.attn.{n}.{p}"] for n in QKV])
    if start_row is not None:
        out["cls_emb.weight"] = s["tok_emb.weight"][start_row:start_row + 1]
    return out


def _taming_gpt(gelu: str = "none"):
    from models.priors.gpt import GPT, GPTConfig

    t, _ = load_fixture("taming-transformers-gpt", "logits")
    net = GPT(GPTConfig(vocab_size=48, positions=16, n_layer=2, n_head=2, n_embd=32, extra_positions=1,
                        gelu=gelu)).eval()
    load_into(net, _mingpt_state(t, start_row=0), "taming minGPT")
    return net, t


def test_taming_gpt_logits_match_the_official_mingpt():
    net, t = _taming_gpt()
    with torch.no_grad():
        torch.testing.assert_close(net(t["z"][..., None])[:, :, 0], t["logits"], atol=2e-6, rtol=1e-6)


def test_taming_gpt_fixture_catches_tanh_gelu():
    """The old MLP of every prior (tanh GELU) misses the official logits by 3.6e-5, 18x the tolerance above."""
    net, t = _taming_gpt(gelu="tanh")
    with torch.no_grad():
        assert (net(t["z"][..., None])[:, :, 0] - t["logits"]).abs().max() > 1e-5


def _vqganlc_gpt(gelu: str = "none"):
    from models.priors.gpt import GPT, GPTConfig

    t, meta = load_fixture("VQGAN-LC-priors", "gpt_loss")
    cfg = GPTConfig(vocab_size=meta["n_vision_words"], positions=16, n_classes=meta["n_class"], n_layer=2, n_head=2,
                    n_embd=32, pkeep=0.8, joint_vocab=True, extra_positions=1, gelu=gelu)
    net = GPT(cfg).eval()
    load_into(net, _mingpt_state(t), "VQGAN-LC GPT")
    return net, t, meta


def test_vqganlc_gpt_logits_and_loss_run_over_the_joint_vocabulary():
    net, t, meta = _vqganlc_gpt()
    assert meta["function"].startswith("VQGANTransformer.forward")
    with torch.no_grad():
        logits = net(t["codes"][..., None], t["labels"])
        torch.testing.assert_close(logits[:, :, 0], t["logits"], atol=2e-6, rtol=1e-6)
        torch.testing.assert_close(net.loss(t["codes"][..., None], t["labels"]), t["loss_eval"], atol=1e-5, rtol=1e-5)


def test_vqganlc_gpt_pkeep_draws_over_the_joint_vocabulary(monkeypatch):
    net, t, meta = _vqganlc_gpt()
    net.train()
    calls = []

    def randint_like(x, high, *a, **k):
        calls.append(high)
        return t["random"][..., None].clone()

    monkeypatch.setattr(torch, "bernoulli", Draws(t["keep"][..., None]))
    monkeypatch.setattr(torch, "randint_like", randint_like)
    with torch.no_grad():
        loss = net.loss(t["codes"][..., None], t["labels"])
    assert calls == [meta["n_vision_words"] + meta["n_class"]]
    torch.testing.assert_close(loss, t["loss_train"], atol=1e-5, rtol=1e-5)


def test_vqganlc_gpt_samples_from_the_code_logits_only(monkeypatch):
    net, _, meta = _vqganlc_gpt()
    t, _ = load_fixture("VQGAN-LC-priors", "gpt_sample")
    official = list(zip(t["probs"], t["draws"], strict=True))

    def multinomial(probs, n, generator=None):
        if not official:  # past the fixture's steps: any valid draw
            return probs.argmax(-1, keepdim=True)
        want, draw = official.pop(0)
        torch.testing.assert_close(probs, want, atol=1e-5, rtol=1e-4)  # width n_vision_words, top-5 filtered
        return draw.clone()

    monkeypatch.setattr(torch, "multinomial", multinomial)
    out, _ = net.generate(2, t["labels"], top_k=5)
    assert t["probs"].shape[-1] == meta["n_vision_words"]
    assert torch.equal(out[:, :3, 0], t["out"])


def test_vqganlc_gpt_parameter_count_is_the_official_modules():
    from models.priors.registry import count_prior_params, create_prior

    _, meta = load_fixture("VQGAN-LC-priors", "gpt_loss")
    assert count_prior_params(create_prior("gpt_vqganlc", "paper")) == meta["params_paper_config"] == 509_422_592


# --- MaskGIT (google-research/maskgit, JAX) ---------------------------------------------------------------------------

def test_maskgit_cosine_schedule_matches_the_official_one():
    from models.priors.maskgit import cosine_schedule

    t, _ = load_fixture("maskgit", "schedule")
    ours = cosine_schedule(t["ratio"].double()).clamp(1e-6, 1.0).float()  # mask_schedule.py clips to [1e-6, 1]
    torch.testing.assert_close(ours[:, None].expand_as(t["mask_ratio"]), t["mask_ratio"], atol=1e-7, rtol=1e-6)


def _official_decode(monkeypatch, name: str):
    """vqbench's MaskGIT.generate on the fixture's inputs, with the official logits function and draws; returns
    (out, passes, masked tokens entering each pass (passes, batch)) and the fixture."""
    from models.priors.maskgit import MaskGIT, MaskGITConfig

    t, meta = load_fixture("maskgit", name)
    n, length = t["inputs"].shape
    k = meta["mask_token_id"]
    net = MaskGIT(MaskGITConfig(vocab_size=k, positions=length, n_layer=1, n_head=1, n_embd=8, dropout=0.0)).eval()
    assert net.mask_id == k
    masked = []

    def logits(idx: torch.Tensor, labels=None) -> torch.Tensor:
        masked.append((idx[..., 0] == k).sum(1))
        return (t["base"] + t["emb"][idx[..., 0]])[:, :, None]

    monkeypatch.setattr(net, "forward", logits)
    monkeypatch.setattr(torch, "multinomial", Draws(*[c.reshape(-1, 1).long() for c in t["categorical"]]))
    monkeypatch.setattr(torch, "rand", Draws(*[u[..., None] for u in t["uniforms"]]))
    passes = t["categorical"].shape[0]
    out, count = net.generate(n, steps=passes, choice_temperature=4.5, init=t["inputs"][..., None].long())
    return out[..., 0], count, torch.stack(masked), t


@pytest.mark.parametrize("name", ["decode_partial", "decode_small", "decode_full"])
def test_maskgit_decoding_matches_the_official_parallel_decode(monkeypatch, name):
    """Partial masks of 5, 9 and 14 tokens in one batch follow their own schedules; a 2-token map keeps one token
    masked until the last of 8 passes; a full map decodes as before."""
    out, passes, masked, t = _official_decode(monkeypatch, name)
    assert passes == t["categorical"].shape[0]
    assert torch.equal(masked, t["masked_per_pass"].long())
    assert torch.equal(out, t["out"].long())


def _flax_to_bert(p: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """nets/maskgit_transformer.py params (flax kernels are (in, out)) -> vqbench's MaskGIT arch='bert'."""
    def dense(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
        return p[f"{prefix}.kernel"].reshape(-1, p[f"{prefix}.kernel"].shape[-1]).t(), p[f"{prefix}.bias"]

    def ln(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
        return p[f"{prefix}.scale"], p[f"{prefix}.bias"]

    out = {"tok_emb.weight": p["Embed_0.word_embeddings.embedding"],
           "pos_emb": p["Embed_0.position_embeddings.embedding"][None],
           "mlm_bias": p["MlmLayer_0.mlm_bias.bias"]}
    pairs = {"emb_ln": ln("Embed_0.embeddings_ln"), "mlm_dense": dense("MlmLayer_0.mlm_dense"),
             "mlm_ln": ln("MlmLayer_0.mlm_ln")}
    for i in range(layers):
        pre = f"TransformerLayer_{i}"
        att = f"{pre}.Attention_0.self_attention"
        qkv = [p[f"{att}.{n}.kernel"].flatten(1).t() for n in QKV]
        out[f"blocks.{i}.attn.qkv.weight"] = torch.cat(qkv)
        out[f"blocks.{i}.attn.qkv.bias"] = torch.cat([p[f"{att}.{n}.bias"].flatten() for n in QKV])
        out[f"blocks.{i}.attn.proj.weight"] = p[f"{att}.out.kernel"].flatten(0, 1).t()
        out[f"blocks.{i}.attn.proj.bias"] = p[f"{att}.out.bias"]
        pairs.update({f"blocks.{i}.ln1": ln(f"{pre}.Attention_0.attention_output_ln"),
                      f"blocks.{i}.mlp.0": dense(f"{pre}.Mlp_0.intermediate_output"),
                      f"blocks.{i}.mlp.2": dense(f"{pre}.Mlp_0.layer_output"),
                      f"blocks.{i}.ln2": ln(f"{pre}.Mlp_0.layer_output_ln")})
    for name, (w, b) in pairs.items():
        out[f"{name}.weight"], out[f"{name}.bias"] = w, b
    return out


def _maskgit_bert(gelu: str = "tanh"):
    from models.priors.maskgit import MaskGIT, MaskGITConfig

    t, meta = load_fixture("maskgit", "network")
    k = meta["mask_token_id"]
    net = MaskGIT(MaskGITConfig(vocab_size=k, positions=16, n_classes=3, n_layer=2, n_head=2, n_embd=16, dropout=0.0,
                                arch="bert", gelu=gelu)).eval()
    load_into(net, _flax_to_bert({n.removeprefix("params."): v for n, v in t.items() if n.startswith("params.")}, 2),
              "maskgit")
    ids = t["ids"].long()
    with torch.no_grad():
        logits = net(ids[:, 1:, None], ids[:, 0] - k)[:, :, 0]
    return logits, t["logits"][:, 1:, :k]


def test_maskgit_bert_logits_match_the_official_flax_transformer():
    ours, official = _maskgit_bert()
    torch.testing.assert_close(ours, official, atol=2e-5, rtol=1e-5)


def test_maskgit_fixture_catches_exact_gelu():
    """vqbench's old BERT MLP and MLM head used the exact GELU; jax.nn.gelu defaults to the tanh form."""
    ours, official = _maskgit_bert(gelu="none")
    assert (ours - official).abs().max() > 1e-4


# --- VQGAN-LC ldm-lc UNet (latent-diffusion openaimodel.UNetModel) ----------------------------------------------------

_LDM_RENAMES = (  # openaimodel / attention.py names -> models/priors/unet.py names
    (r"^time_embed\.", "t_embed."), (r"^cond_stage_model\.embedding\.", "y_embed."),
    (r"^input_blocks\.", "down."), (r"^middle_block\.", "mid."), (r"^output_blocks\.", "up."),
    (r"\.in_layers\.0\.", ".n1."), (r"\.in_layers\.2\.", ".c1."), (r"\.emb_layers\.1\.", ".t."),
    (r"\.out_layers\.0\.", ".n2."), (r"\.out_layers\.3\.", ".c2."), (r"\.skip_connection\.", ".skip."),
    (r"\.op\.", "."), (r"\.transformer_blocks\.", ".blocks."), (r"\.to_([qkv])\.", r".\1."),
    (r"\.to_out\.0\.", ".out."), (r"\.ff\.net\.0\.proj\.", ".ff.proj."), (r"\.ff\.net\.2\.", ".ff.out."),
    (r"\.norm([123])\.", r".ln\1."),
)


def _ldm_name(key: str) -> str:
    import re

    for pattern, new in _LDM_RENAMES:
        key = re.sub(pattern, new, key)
    return key


def _ldm_unet():
    from models.priors.unet import UNet, UNetConfig

    t, meta = load_fixture("VQGAN-LC-priors", "ldm_unet")
    assert meta["file"].endswith("openaimodel.py")
    net = UNet(UNetConfig(in_channels=4, model_channels=32, channel_mult=(1, 1), num_res_blocks=1,
                          attention_resolutions=(2, 1), num_head_channels=16, context_dim=16, n_classes=6)).eval()
    state = {_ldm_name(k.removeprefix("state.")): v.float() for k, v in t.items() if k.startswith("state.")}
    load_into(net, state, "ldm-lc")  # strict: every official tensor has its place
    return net, t


def test_ldm_unet_eps_matches_the_official_unet_model():
    net, t = _ldm_unet()
    with torch.no_grad():
        torch.testing.assert_close(net(t["x"], t["t"], t["y"]), t["eps"], atol=2e-5, rtol=1e-5)


def test_ldm_ddim_with_guidance_matches_the_official_sampler(monkeypatch):
    net, _ = _ldm_unet()
    t, _ = load_fixture("VQGAN-LC-priors", "ldm_ddim")
    monkeypatch.setattr(torch, "randn", Draws(t["z"], *t["draws"]))
    cfg = DiffusionConfig(schedule="ldm", beta_start=0.0015, beta_end=0.0195, sampler="ddim", ddim_eta=1.0,
                          cfg_scale=1.6, cfg_channels="all")
    with torch.no_grad():
        x, passes = Diffusion(cfg).sample(net, (2, 4, 8, 8), t["y"], null_class=6, steps=5)
    assert passes == 5
    torch.testing.assert_close(x, t["out"], atol=1e-3, rtol=1e-4)  # |out| up to 97: float32 over 5 steps


def test_vqganlc_gpt_unconditional_starts_from_code_zero():
    """models_gpt.py without c_indices: the start token is sos_token 0, a code; the softmax covers the codes."""
    from models.priors.gpt import GPT, GPTConfig

    net = GPT(GPTConfig(vocab_size=40, positions=16, n_layer=1, n_head=2, n_embd=32, joint_vocab=True)).eval()
    assert net.n_out == 40 and not hasattr(net, "cls_emb")
    codes = torch.randint(0, 40, (2, 16, 1))
    with torch.no_grad():
        x = net.tok_emb(torch.cat([torch.zeros(2, 1, dtype=torch.long), codes[:, :-1, 0]], 1)) + net.pos_emb
        for block in net.blocks:
            x = block(x, causal=True)
        torch.testing.assert_close(net(codes)[:, :, 0], net.head(net.ln_f(x)))
