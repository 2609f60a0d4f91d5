"""Fixtures from zh460045050/VQGAN-LC's GPT prior (vqgan-gpt-lc/models/models_gpt.py VQGANTransformer over
models/mingpt.py GPT), run unchanged on the CPU: one token table and one head over n_vision_words + n_class (class
c is token n_vision_words + c, training_gpt.py), the teacher-forced logits, the training loss over all logits in
eval mode and with the pkeep corruption (its bernoulli / randint_like draws recorded), top-k sampling that keeps
the code logits only (its multinomial inputs and draws recorded), and the paper configuration's parameter count.

Run from the repository root:  python -m tools.official_fixtures.vqganlc_priors [--mirror .../zh460045050+VQGAN-LC/repo]
Stubs: VQGANTransformer.__init__ loads a VQGAN checkpoint, so the object is built with __new__ and given the
attributes __init__ sets (transformer = GPT(...) as in __init__, pkeep, sos_token, args.n_vision_words,
args.label_smooth 0); encode_to_z, which runs the tokenizer, returns the fixture's codes. forward, sample and the
GPT are the official code. CUDA: forward moves its (unused, given c_indices) start tokens with .to("cuda"), so
Tensor.to maps "cuda" to the CPU while it runs (cuda_on_cpu)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from tools.official_fixtures.common import mirror_commit, save_fixture
from tools.official_fixtures.dit import checkout

REPO, DIR = "zh460045050/VQGAN-LC", "VQGAN-LC-priors"
N_CODES, N_CLASS = 40, 6
TINY = dict(vocab_size=N_CODES + N_CLASS, block_size=17, n_layer=2, n_head=2, n_embd=32)


class Record:
    """Wrap torch.<name>: call the original with a seeded generator where it takes one, keep inputs and outputs."""

    def __init__(self, name: str) -> None:
        self.name, self.orig, self.inputs, self.draws = name, getattr(torch, name), [], []

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        out = self.orig(*args, **kwargs)
        self.inputs.append(args[0].clone() if isinstance(args[0], torch.Tensor) else args[0])
        self.draws.append(out.clone())
        return out

    def __enter__(self) -> Record:
        setattr(torch, self.name, self)
        return self

    def __exit__(self, *exc) -> None:
        setattr(torch, self.name, self.orig)


class cuda_on_cpu:  # noqa: N801  a context manager used like a function
    """Tensor.to("cuda") returns the tensor itself (the official forward hard-codes the device)."""

    def __enter__(self) -> None:
        self.orig = torch.Tensor.to
        orig = self.orig
        torch.Tensor.to = lambda t, *a, **k: t if a and str(a[0]) == "cuda" else orig(t, *a, **k)

    def __exit__(self, *exc) -> None:
        torch.Tensor.to = self.orig


def transformer_wrapper(models_gpt, gpt_cls, codes: torch.Tensor) -> nn.Module:
    """A VQGANTransformer without its VQGAN (see the module docstring)."""
    vt = models_gpt.VQGANTransformer.__new__(models_gpt.VQGANTransformer)
    nn.Module.__init__(vt)
    vt.sos_token, vt.pkeep = 0, 0.8
    vt.args = SimpleNamespace(n_vision_words=N_CODES, label_smooth=0)
    vt.transformer = gpt_cls(**TINY)
    vt.encode_to_z = lambda x: (None, codes)
    return vt


def main(mirror: str) -> None:
    commit = mirror_commit(mirror)
    # vqgan-gpt-lc/models has no __init__.py: a namespace package, which vqbench's own `models` package would
    # shadow from anywhere on sys.path, so the repository root leaves sys.path (the fixture writer is loaded)
    root = Path(__file__).resolve().parents[2]
    sys.path[:] = [str(checkout(mirror) / "vqgan-gpt-lc")] + [p for p in sys.path if Path(p or ".").resolve() != root]
    from models import models_gpt
    from models.mingpt import GPT

    meta = dict(repo=REPO, commit=commit, source="vqgan-gpt-lc/models/models_gpt.py")
    with torch.device("meta"):
        full = GPT(vocab_size=100_000 + 1000, block_size=257, n_layer=24, n_head=16, n_embd=1024)
    n_params = sum(p.numel() for p in full.parameters())

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    codes = torch.randint(0, N_CODES, (4, 16), generator=g)
    labels = torch.tensor([0, 5, 2, 3])
    vt = transformer_wrapper(models_gpt, GPT, codes)
    with torch.no_grad():
        vt.transformer.pos_emb.normal_(0, 0.5)
        for block in vt.transformer.blocks:  # MLP inputs of order 1, where the GELU forms differ
            block.mlp[0].weight.normal_(0, 0.4)
    state = {f"state.{k}": v for k, v in vt.transformer.state_dict().items()}
    c_indices = labels[:, None] + N_CODES  # training_gpt.py: label_cls + n_vision_words
    vt.eval()
    with torch.no_grad():
        logits, _ = vt.transformer(torch.cat([c_indices, codes], 1)[:, :-1])
        with cuda_on_cpu():
            loss_eval = vt(torch.zeros(4, 3, 8, 8), c_indices)
    vt.train()
    torch.manual_seed(2)
    with torch.no_grad(), cuda_on_cpu(), Record("bernoulli") as bern, Record("randint_like") as rand:
        loss_train = vt(torch.zeros(4, 3, 8, 8), c_indices)
    save_fixture(DIR, "gpt_loss", {**state, "codes": codes, "labels": labels, "logits": logits,
                                   "loss_eval": loss_eval, "loss_train": loss_train, "keep": bern.draws[0],
                                   "random": rand.draws[0]},
                 function="VQGANTransformer.forward (mingpt.py GPT)",
                 notes=f"GPT({TINY}) with n_vision_words {N_CODES}, n_class {N_CLASS}; pos_emb N(0, 0.5), mlp.0 "
                       "weights N(0, 0.4); pkeep 0.8; "
                       "keep / random: the bernoulli mask and randint_like draws of the training forward",
                 extra={"n_vision_words": N_CODES, "n_class": N_CLASS,
                        "params_paper_config": n_params,
                        "params_paper_config_notes": "GPT(vocab_size=100000 + 1000, block_size=257, 24 layers, 16 "
                                                     "heads, 1024) as VQGANTransformer.__init__ builds it"}, **meta)

    vt.eval()
    torch.manual_seed(3)
    with torch.no_grad(), Record("multinomial") as mult:
        out = vt.sample(None, c_indices[:2], steps=3, temperature=1.0, top_k=5)
    save_fixture(DIR, "gpt_sample", {"labels": labels[:2], "probs": torch.stack(mult.inputs),
                                     "draws": torch.stack(mult.draws), "out": out},
                 function="VQGANTransformer.sample", notes="weights of gpt_loss; 3 steps, top_k 5, temperature 1; "
                 "probs[i] is the multinomial input of step i (over the n_vision_words code logits only)", **meta)
    print("VQGAN-LC GPT fixtures written at", commit, "paper-config params", n_params)
    unet(mirror, commit)


UNET = dict(image_size=8, in_channels=4, out_channels=4, model_channels=32, attention_resolutions=[2, 1],
            num_res_blocks=1, channel_mult=[1, 1], num_head_channels=16, use_spatial_transformer=True,
            transformer_depth=1, context_dim=16)


def unet(mirror: str, commit: str) -> None:
    """ldm-lc's UNetModel (ldm/modules/diffusionmodules/openaimodel.py) in a tiny form of imagenet-f16-vqgan-lc-100K
    .yaml's unet_config, conditioned as LatentDiffusion does (crossattn on ClassEmbedder(label)[:, None]).
    Stubs: `clip` and `kornia`, imported at the top of ldm/modules/encoders/modules.py for other encoders, are
    empty modules. Weights are rounded to float16 (stored so, half the size) before the official forward runs."""
    import types

    for name in ("clip", "kornia"):
        sys.modules.setdefault(name, types.ModuleType(name))
    for name in [m for m in sys.modules if m == "models" or m.startswith(("models.", "ldm"))]:
        del sys.modules[name]  # vqgan-gpt-lc's `models` namespace; ldm-lc has its own ldm/ and models/
    sys.path.insert(0, str(checkout(mirror) / "ldm-lc"))
    from ldm.modules.diffusionmodules.openaimodel import UNetModel
    from ldm.modules.encoders.modules import ClassEmbedder

    torch.manual_seed(4)
    model, embedder = UNetModel(**UNET).eval(), ClassEmbedder(embed_dim=16, n_classes=7, key="class_label")
    with torch.no_grad():  # zero-initialised out / proj_out convs and default norms perturbed, then rounded
        for p in list(model.parameters()) + list(embedder.parameters()):
            p.add_(0.1 * torch.randn_like(p)).copy_(p.half().float())
    g = torch.Generator().manual_seed(5)
    x, t, y = torch.randn(2, 4, 8, 8, generator=g), torch.tensor([3, 901]), torch.tensor([2, 6])
    with torch.no_grad():
        eps = model(x, t, context=embedder({"class_label": y}))
    state = {f"state.{k}": v.half() for k, v in model.state_dict().items()}
    state["state.cond_stage_model.embedding.weight"] = embedder.embedding.weight.half()
    save_fixture(DIR, "ldm_unet", {**state, "x": x, "t": t, "y": y, "eps": eps}, repo=REPO, commit=commit,
                 source="ldm-lc/ldm/modules/diffusionmodules/openaimodel.py",
                 function="UNetModel.forward (context = encoders/modules.py ClassEmbedder(label))",
                 notes=f"UNetModel({UNET}), ClassEmbedder(16, n_classes 7: 6 + the null row); seed 4, every weight "
                       "+ 0.1 N(0,1), rounded to float16 (stored as float16, the forward ran on the rounded values "
                       "in float32)")
    ddim(model, embedder, commit)
    print("VQGAN-LC LDM UNet and DDIM fixtures written")


class LatentDiffusionStub:
    """What ldm/models/diffusion/ddim.py DDIMSampler reads from LatentDiffusion (ddpm.py needs Lightning): the
    schedule as DDPM.register_schedule builds it from util.make_beta_schedule ('linear', linear_start 0.0015,
    linear_end 0.0195: imagenet-f16-vqgan-lc-100K.yaml), eps parameterisation, and apply_model with crossattn
    (the UNet with context = the class embedding)."""

    def __init__(self, unet_model: nn.Module) -> None:
        import numpy as np
        from ldm.modules.diffusionmodules.util import make_beta_schedule

        betas = make_beta_schedule("linear", 1000, linear_start=0.0015, linear_end=0.0195)
        betas = betas.numpy() if isinstance(betas, torch.Tensor) else betas
        ac = np.cumprod(1.0 - betas, axis=0)
        self.num_timesteps, self.parameterization, self.device = 1000, "eps", torch.device("cpu")
        self.betas = torch.tensor(betas, dtype=torch.float32)
        self.alphas_cumprod = torch.tensor(ac, dtype=torch.float32)
        self.alphas_cumprod_prev = torch.tensor(np.append(1.0, ac[:-1]), dtype=torch.float32)
        self.unet = unet_model

    def apply_model(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t, context=c)


def ddim(unet_model: nn.Module, embedder: nn.Module, commit: str) -> None:
    """DDIMSampler.sample as run_evaluations.py calls it (eta 1, guidance with the null class), 5 steps; the
    torch.randn draws of noise_like recorded."""
    from ldm.models.diffusion.ddim import DDIMSampler

    sampler = DDIMSampler(LatentDiffusionStub(unet_model))
    g = torch.Generator().manual_seed(6)
    z, y = torch.randn(2, 4, 8, 8, generator=g), torch.tensor([1, 4])
    with torch.no_grad():
        c, uc = embedder({"class_label": y}), embedder({"class_label": torch.full_like(y, 6)})
    torch.manual_seed(7)
    with torch.no_grad(), cuda_on_cpu(), Record("randn") as rec:
        out, _ = sampler.sample(S=5, conditioning=c, batch_size=2, shape=(4, 8, 8), verbose=False, x_T=z, eta=1.0,
                                unconditional_guidance_scale=1.6, unconditional_conditioning=uc)
    save_fixture(DIR, "ldm_ddim", {"z": z, "y": y, "draws": torch.stack(rec.draws), "out": out}, repo=REPO,
                 commit=commit, source="ldm-lc/ldm/models/diffusion/ddim.py", function="DDIMSampler.sample",
                 notes="weights of ldm_unet; S 5, eta 1, guidance 1.6 with the null class 6; draws[i]: step i's "
                       "noise_like; the schedule of LatentDiffusionStub (util.make_beta_schedule, as "
                       "DDPM.register_schedule)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", default="/work/.mirror/zh460045050+VQGAN-LC/repo")
    main(ap.parse_args().mirror)
