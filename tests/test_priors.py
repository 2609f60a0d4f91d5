"""Priors: tests generated from the prior registry (meta-device counts vs the papers, smoke forward/backward and
sampling), GPT KV-cache equivalence, top-k/top-p, MaskGIT decoding, guidance modes, M-th nearest search,
token cache, and DeepSpeed training with resume."""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch

from models.priors.gpt import GPT, GPTConfig, filter_logits
from models.priors.maskgit import MaskGIT, MaskGITConfig
from models.priors.registry import PRIORS, TOKEN_KINDS, bind, build_prior, count_prior_params, create_prior
from models.quantizers.search import mth_nearest_code


@pytest.mark.parametrize("name", PRIORS.names())
def test_every_prior_counts_against_the_paper(name):
    entry = create_prior(name, "paper")
    n = count_prior_params(entry) / 1e6 + entry.published_with_tokenizer
    if entry.published_params is None:
        assert n > 1
    elif entry.param_gap is None:
        assert round(n, entry.published_decimals) == entry.published_params, (name, n)
    else:  # a stated gap: the note gives our count, and the count differs at the printed precision
        stated = float(re.findall(r"counts (\d+\.\d)M", entry.param_gap)[0])
        assert abs(count_prior_params(entry) / 1e6 - stated) < 0.1 and round(n) != entry.published_params


@pytest.mark.parametrize("name", PRIORS.names())
def test_every_prior_trains_and_samples_at_smoke_scale(name):
    entry = bind(create_prior(name, "smoke"), 64, (4, 4, 2 if name.endswith("movq") else 1), 8, 3)
    model = build_prior(entry)
    y = torch.tensor([0, 2])
    if entry.kind in TOKEN_KINDS:
        x = torch.randint(0, 64, (2, 16, entry.model.channels))
        loss = model.loss(x, y)
        loss.backward()
        model.eval()
        args = dict(top_k=8) if entry.kind == "gpt" else dict(steps=3)
        out, passes = model.generate(2, y, **args)
        assert out.shape == x.shape and int(out.max()) < 64 and passes in (16, 3)
    else:
        from bench.training.prior import prior_objective

        x = torch.randn(2, 8, 4, 4)
        prior_objective(entry)(model, x, y).backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_kv_cache_gives_the_same_samples_with_fewer_operations():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=40, positions=12, channels=2, n_classes=3, n_layer=2, n_head=2, n_embd=32)).eval()
    y = torch.tensor([1, 2])
    a, _ = m.generate(2, y, top_k=5, use_cache=True, generator=torch.Generator().manual_seed(3))
    b, _ = m.generate(2, y, top_k=5, use_cache=False, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    # teacher forcing and cached decoding agree on the logits of a fixed sequence
    from models.priors.blocks import KVCache

    full = m(a, y)
    cache, seq = KVCache(), m.cls_emb(y)[:, None]
    for t in range(12):
        x = seq[:, -1:] + m.pos_emb[:, t:t + 1] if t else seq + m.pos_emb[:, :1]
        step = m._step(x, cache)
        assert torch.allclose(step, full[:, t], atol=1e-4)
        seq = torch.cat([seq, m._embed(a[:, t:t + 1])], 1)


def test_top_k_top_p():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)[0, 2:]).all()
    assert torch.isfinite(filter_logits(logits, 2)[0, :2]).all()
    p = logits.softmax(-1)[0]  # 0.636, 0.234, ...: top_p 0.7 keeps the first two
    kept = torch.isfinite(filter_logits(logits, top_p=0.7))[0]
    assert kept.tolist() == [True, True, False, False, False] and p[0] < 0.7


def test_maskgit_decodes_everything_in_the_given_steps_and_keeps_known_tokens():
    torch.manual_seed(0)
    m = MaskGIT(MaskGITConfig(vocab_size=30, positions=16, channels=2, n_layer=1, n_head=2, n_embd=32)).eval()
    out, passes = m.generate(3, steps=6)
    assert passes == 6 and not (out == m.mask_id).any()
    init = torch.randint(0, 30, (1, 16, 2))
    init[0, :8] = m.mask_id
    done, _ = m.generate(1, steps=4, init=init)
    assert torch.equal(done[0, 8:], init[0, 8:]) and not (done == m.mask_id).any()
    greedy, p = m.generate(1, steps=1, init=init, greedy=True)
    assert p == 1 and torch.equal(greedy[0, 8:], init[0, 8:])


@pytest.mark.parametrize("mode", ["first3", "all"])
def test_guidance_channels(mode):
    """DiT's code guides eps[:, :3] only; 'all' guides every channel."""
    class Net(torch.nn.Module):
        def forward(self, x, t, y):
            return torch.where(y.view(-1, 1, 1, 1) == 5, torch.ones_like(x), torch.zeros_like(x))

    from models.priors.diffusion import guided_output

    x = torch.zeros(1, 6, 2, 2)
    eps = guided_output(Net(), x, torch.tensor([10]), torch.tensor([0]), null=5, scale=3.0, channels=mode)
    expected_first = 1 + 3 * (0 - 1)
    assert torch.all(eps[:, :3] == expected_first)
    assert torch.all(eps[:, 3:] == (expected_first if mode == "all" else 0))


def test_mth_nearest_bounded_memory_matches_full_sort():
    z, cb = torch.randn(500, 8), torch.randn(3000, 8)
    order = torch.cdist(z, cb).argsort(1)
    for m in (1, 7, 100):
        assert torch.equal(mth_nearest_code(z, cb, m, chunk_elems=2048), order[:, m - 1])
    with pytest.raises(ValueError, match="m must be in"):
        mth_nearest_code(z, cb, 3001)


def test_token_cache_dtype_and_shapes(tmp_path):
    from models.registry import build_tokenizer, create_entry
    from tasks.token_cache import encode_split, load_cache

    tok = build_tokenizer(create_entry("movq_f16_1024", "smoke"))
    data = [{"image": torch.rand(3, 32, 32) * 2 - 1, "label": i % 3, "index": i} for i in range(5)]
    info = encode_split(tok, data, "indices", torch.device("cpu"), tmp_path, "train", batch_size=2)
    vals, labels, _ = load_cache(tmp_path, "train", "indices")
    assert vals.dtype == np.uint16 and vals.shape == (5, 8, 8, 4) and labels.tolist() == [0, 1, 2, 0, 1]
    lat = encode_split(tok, data, "latents", torch.device("cpu"), tmp_path, "train", batch_size=2)
    assert lat["shape"] == [5, 32, 8, 8] and len(lat["mean"]) == 32 and info["n"] == 5


def test_deepspeed_prior_trains_checkpoints_and_resumes(tmp_path):
    """ZeRO-2 in one CPU process (gloo): an interrupted run resumes from DeepSpeed's checkpoint, not from zero."""
    from bench.training.prior import train_prior

    entry = bind(create_prior("dit_xl2", "smoke"), 64, (4, 4, 1), 8, 0)
    entry = dataclasses.replace(entry, train=dataclasses.replace(entry.train, steps=4, ckpt_every=2, deepspeed="on",
                                                                 batch_size=4))
    x, y = torch.randn(16, 8, 4, 4), torch.zeros(16, dtype=torch.long)
    first = train_prior(dataclasses.replace(entry, train=dataclasses.replace(entry.train, steps=3)), x, y, tmp_path,
                        0, torch.device("cpu"))
    assert first["deepspeed"] and (tmp_path / "ds_ckpt" / "latest").is_file()
    second = train_prior(entry, x, y, tmp_path, 0, torch.device("cpu"))
    assert second["resumed_from"] == 2 and (tmp_path / "prior.safetensors").is_file()


def test_token_embedding_sits_in_layer_zero_of_layer_decay():
    """VQGAN-LC Fig. 1b classifier: the token-map embedding replaces the patch embedding and keeps its lr scale."""
    from timm.optim import param_groups_layer_decay

    from tasks.classification import CLASSIFIERS, build_classifier

    cfg = CLASSIFIERS.get("vit_b_tokens")["smoke"]
    model = build_classifier(cfg, 64, (4, 4, 2), 10)
    groups = param_groups_layer_decay(model, weight_decay=0.05, layer_decay=cfg.layer_decay,
                                      no_weight_decay_list=model.no_weight_decay())
    scale_of = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    emb = scale_of[id(model.patch_embed.embed.weight)]
    assert emb == pytest.approx(cfg.layer_decay ** (cfg.depth + 1))  # the smallest scale, like MAE's patch_embed
    assert emb == min(scale_of.values()) and scale_of[id(model.head.weight)] == 1.0
