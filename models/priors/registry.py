"""Prior registry: one named function per published prior, each with a paper and a smoke form.

Token-map priors (GPT, MaskGIT) read the tokenizer's indices; latent priors (DiT, SiT, LDM) its pre-quantisation
latents, which are quantised and decoded after sampling (VQGAN-LC Sec. 3.3). Fields that depend on the tokenizer
(vocabulary, positions, channels, latent shape) are filled in by `bind(entry, tokenizer facts)`; the paper form's
defaults are the paper's own tokenizer, so parameter counts match the published figures.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import torch
from torch import nn

from bench.core.registry import Registry
from models.priors.diffusion import DiffusionConfig
from models.priors.dit import DiT, DiTConfig
from models.priors.flow import FlowConfig
from models.priors.gpt import GPT, GPTConfig
from models.priors.maskgit import MaskGIT, MaskGITConfig
from models.priors.unet import UNet, UNetConfig
from models.registry import _asdict_stable, apply_overrides

KINDS = ("gpt", "maskgit", "dit", "sit", "ldm")
TOKEN_KINDS = ("gpt", "maskgit")


@dataclass(frozen=True)
class PriorTrain:
    """Optimiser and schedule of a prior."""

    steps: int = 100_000
    batch_size: int = 256
    lr: float = 4.5e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.01
    warmup_steps: int = 0
    grad_clip: float = 1.0
    deepspeed: str = "auto"  # auto (above deepspeed_min_params) | on | off
    deepspeed_min_params: float = 300e6
    zero_stage: int = 2
    ckpt_every: int = 5000
    # numerics and speed, as TrainConfig's (bench/training/numerics.py); fp32 eager by default
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    tf32: bool | None = None  # None: the source script's choice (DiT/SiT train.py: True; others: torch default)
    channels_last: bool = False  # the UNet (LDM); the transformers have no convolutions to speak of
    fused_optim: bool = False
    compile: bool = False
    cudnn_benchmark: bool = False


@dataclass(frozen=True)
class PriorSample:
    """How samples are drawn and how many (the protocol of the generation numbers)."""

    n_samples: int = 50_000
    class_sampling: str = "per_class"  # per_class (50 per class) | random
    batch_size: int = 64
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    cfg_scale: float = 1.0
    steps: int | None = None  # MaskGIT decoding steps / diffusion or flow sampling steps
    choice_temperature: float = 4.5


@dataclass(frozen=True)
class PriorEntry:
    name: str
    scale: str
    kind: str
    paper: str
    model: Any
    train: PriorTrain
    sample: PriorSample
    process: Any = None  # DiffusionConfig / FlowConfig for latent priors
    sources: dict[str, str] = field(default_factory=dict)
    published_params: float | None = None  # millions
    published_decimals: int = 0
    param_gap: str | None = None
    published_with_tokenizer: float = 0.0  # the figure is printed as prior + tokenizer (this many M): add it

    @property
    def inputs(self) -> str:
        return "indices" if self.kind in TOKEN_KINDS else "latents"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scale": self.scale, "kind": self.kind, "model": dataclasses.asdict(self.model),
                "train": _asdict_stable(self.train), "sample": dataclasses.asdict(self.sample),
                "process": dataclasses.asdict(self.process) if self.process is not None else None}


PRIORS: Registry[Callable[[str], PriorEntry]] = Registry("prior")


def register_prior(fn: Callable[[str], PriorEntry]) -> Callable[[str], PriorEntry]:
    return PRIORS.register()(fn)


def create_prior(name: str, scale: str = "paper", overrides: dict[str, dict[str, Any]] | None = None) -> PriorEntry:
    """Resolve a prior at a scale; overrides {'model'|'train'|'sample'|'process': {field: value}}."""
    return apply_overrides(PRIORS.get(name)(scale), overrides)


def bind(entry: PriorEntry, codebook_size: int, latent_shape: tuple[int, int, int], latent_dim: int,
         n_classes: int) -> PriorEntry:
    """Fit a prior to a tokenizer: vocabulary, positions and channels (tokens) or the latent shape (latents)."""
    h, w, c = latent_shape
    m = entry.model
    if entry.kind in TOKEN_KINDS:
        m = dataclasses.replace(m, vocab_size=codebook_size, positions=h * w, channels=c, n_classes=n_classes)
    elif entry.kind in ("dit", "sit"):
        m = dataclasses.replace(m, in_channels=latent_dim, input_size=h, n_classes=n_classes)
    else:
        m = dataclasses.replace(m, in_channels=latent_dim, n_classes=n_classes)
    return dataclasses.replace(entry, model=m)


def build_prior(entry: PriorEntry) -> nn.Module:
    return {GPTConfig: GPT, MaskGITConfig: MaskGIT, DiTConfig: DiT, UNetConfig: UNet}[type(entry.model)](entry.model)


def count_prior_params(entry: PriorEntry) -> int:
    with torch.device("meta"):
        model = build_prior(entry)
    return sum(p.numel() for p in model.parameters())


# --- token-map priors ------------------------------------------------------------------------------------------

_SMOKE_T = dict(n_layer=2, n_head=2, n_embd=64)
_SMOKE_TRAIN = PriorTrain(steps=60, batch_size=16, lr=1e-3, warmup_steps=0, ckpt_every=30, deepspeed="off")


def _smoke(entry: PriorEntry, **sample) -> PriorEntry:
    """Tiny widths, few steps, few samples; the same code paths."""
    model = dataclasses.replace(entry.model, **({k: v for k, v in _SMOKE_T.items() if hasattr(entry.model, k)}))
    smp = dataclasses.replace(entry.sample, n_samples=32, batch_size=16, class_sampling="random", **sample)
    return dataclasses.replace(entry, scale="smoke", model=model, train=_SMOKE_TRAIN, sample=smp,
                               published_params=None, param_gap=None,
                               sources={"all": "smoke scale: 2 layers, width 64, 60 steps, 32 samples"})


@register_prior
def gpt_vqganlc(scale: str) -> PriorEntry:
    """VQGAN-LC GPT (Sec. 4.1 / App. A): 24 layers, 16 heads, width 1024, class-conditional over 100,000 codes."""
    e = PriorEntry("gpt_vqganlc", "paper", "gpt", "Zhu et al. 2024 (VQGAN-LC) App. A",
                   GPTConfig(vocab_size=100_000, positions=256, n_classes=1000, n_layer=24, n_head=16, n_embd=1024),
                   PriorTrain(steps=100 * 1251, batch_size=1024, lr=4.5e-4, warmup_steps=5 * 1251),
                   PriorSample(top_k=10_000, class_sampling="per_class"),
                   sources={"sample.top_k": "10% of the vocabulary (App. A)", "train": "App. A: 100 epochs, batch 1024, "
                            "lr 4.5e-4, 5-epoch warm-up, linear decay (vqbench: constant after warm-up)"},
                   published_params=404.0, published_decimals=0,
                   param_gap=("VQGAN-LC prints 404M. minGPT with a 101,000-entry vocabulary and an untied output head "
                              "counts 508.4M (the blocks plus one embedding table give 405M, so the figure most likely "
                              "leaves out the output head)."))
    return e if scale == "paper" else _smoke(e, top_k=10)


@register_prior
def gpt_movq(scale: str) -> PriorEntry:
    """MoVQ 'auto' prior (Sec. 4.3): 24 layers, 16 heads, width 1024, MLP 4096, 16x16x4 indices (FFHQ: 307M)."""
    e = PriorEntry("gpt_movq", "paper", "gpt", "Zheng et al. 2022 (MoVQ) Sec. 4.3",
                   GPTConfig(vocab_size=1024, positions=256, channels=4, n_classes=0, n_layer=24, n_head=16,
                             n_embd=1024, class_dropout=0.0),
                   PriorTrain(steps=200 * 938, batch_size=64, lr=4.5e-6 * 64, betas=(0.9, 0.95)),
                   PriorSample(n_samples=60_000, class_sampling="random"),
                   sources={"train": "MoVQ: batch 64 on 4 V100s, 200 epochs; VQGAN's lr scaling",
                            "sample.n_samples": "MoVQ: 60,000 samples for FFHQ"},
                   published_params=307.0)
    return e if scale == "paper" else _smoke(e)


@register_prior
def maskgit_movq(scale: str) -> PriorEntry:
    """MoVQ 'mask' prior: the same transformer, bidirectional, MaskGIT decoding (Table 2: 8 steps)."""
    e = PriorEntry("maskgit_movq", "paper", "maskgit", "Zheng et al. 2022 (MoVQ) Sec. 4.3",
                   MaskGITConfig(vocab_size=1024, positions=256, channels=4, n_classes=0, n_layer=24, n_head=16,
                                 n_embd=1024),
                   PriorTrain(steps=200 * 938, batch_size=64, lr=1e-4, betas=(0.9, 0.96)),
                   PriorSample(n_samples=60_000, class_sampling="random", steps=8),
                   published_params=307.0)
    return e if scale == "paper" else _smoke(e, steps=4)


@register_prior
def maskgit(scale: str) -> PriorEntry:
    """MaskGIT (Chang et al. 2022): 24 layers, 16 heads, width 768, class-conditional, 8 steps (172M + tokenizer)."""
    e = PriorEntry("maskgit", "paper", "maskgit", "Chang et al. 2022 (MaskGIT)",
                   MaskGITConfig(vocab_size=1024, positions=256, n_classes=1000, n_layer=24, n_head=16, n_embd=768),
                   PriorTrain(steps=300 * 5005, batch_size=256, lr=1e-4, betas=(0.9, 0.96), weight_decay=0.045,
                              warmup_steps=5000),
                   PriorSample(steps=8, class_sampling="per_class"),
                   sources={"model": "google-research/maskgit: 24 layers, 16 heads, 768, MLP 3072",
                            "published_params": "MoVQ Table 3 prints 227M with the 54.5M tokenizer"},
                   published_params=227.0, published_decimals=0, published_with_tokenizer=54.5)
    return e if scale == "paper" else _smoke(e, steps=4)


_SEQ_PRIOR_GAP = ("SeQ-GAN prints 57.9M + 171M. A MaskGIT-size transformer (24 layers, width 768, MLP 3072) with its "
                  "class, token and position embeddings and an untied output head counts 172.6M; the 1.6M difference "
                  "is how SeQ-GAN ties or counts the embeddings, which it does not publish.")


def _seqgan_prior(name: str, kind: str, width: int, published: float, scale: str) -> PriorEntry:
    cfg_cls = GPTConfig if kind == "gpt" else MaskGITConfig
    e = PriorEntry(name, "paper", kind, "Gu et al. 2024 (SeQ-GAN) Tables 3-4",
                   cfg_cls(vocab_size=1024, positions=256, n_classes=1000, n_layer=24, n_head=16, n_embd=width),
                   PriorTrain(steps=500_000, batch_size=256, lr=1e-4, betas=(0.9, 0.96)),
                   PriorSample(steps=12 if kind == "maskgit" else None, class_sampling="per_class"),
                   sources={"train": "SeQ-GAN Sec. 4.2: 500,000 iterations, Adam, lr 1e-4 (batch unpublished)",
                            "published_params": "Tables 3-4: total minus the 57.9M tokenizer"},
                   published_params=published, published_decimals=0,
                   param_gap=_SEQ_PRIOR_GAP if width == 768 else None)
    return e if scale == "paper" else _smoke(e, **({"steps": 4} if kind == "maskgit" else {}))


@register_prior
def gpt_seqgan(scale: str) -> PriorEntry:
    """SeQ-GAN AR (171M): MaskGIT-size transformer (24 x 768), causal."""
    return _seqgan_prior("gpt_seqgan", "gpt", 768, 171.0, scale)


@register_prior
def gpt_seqgan_l(scale: str) -> PriorEntry:
    """SeQ-GAN AR-L (364M - 57.9M = 306M): 24 x 1024, causal."""
    return _seqgan_prior("gpt_seqgan_l", "gpt", 1024, 306.0, scale)


@register_prior
def maskgit_seqgan(scale: str) -> PriorEntry:
    """SeQ-GAN NAR (171M): 24 x 768, bidirectional, 12 decoding steps."""
    return _seqgan_prior("maskgit_seqgan", "maskgit", 768, 171.0, scale)


@register_prior
def maskgit_seqgan_l(scale: str) -> PriorEntry:
    """SeQ-GAN NAR-L (306M): 24 x 1024, bidirectional, 12 decoding steps."""
    return _seqgan_prior("maskgit_seqgan_l", "maskgit", 1024, 306.0, scale)


# --- latent priors ---------------------------------------------------------------------------------------------

_SMOKE_LATENT_TRAIN = PriorTrain(steps=60, batch_size=16, lr=1e-3, ckpt_every=30, deepspeed="off")


def _latent_smoke(e: PriorEntry, model: Any) -> PriorEntry:
    proc = dataclasses.replace(e.process, sample_steps=10)
    return dataclasses.replace(e, scale="smoke", model=model, train=_SMOKE_LATENT_TRAIN, process=proc,
                               sample=dataclasses.replace(e.sample, n_samples=32, batch_size=16, class_sampling="random"),
                               published_params=None, param_gap=None, sources={"all": "smoke scale: tiny widths"})


@register_prior
def dit_xl2(scale: str) -> PriorEntry:
    """DiT-XL/2 on the tokenizer's pre-quantisation latents (VQGAN-LC App. A: 675M, 400k steps, batch 256, cfg 8)."""
    e = PriorEntry("dit_xl2", "paper", "dit", "Peebles & Xie 2023 (DiT); VQGAN-LC App. A",
                   DiTConfig(in_channels=8, input_size=16, patch_size=2, hidden=1152, depth=28, heads=16),
                   PriorTrain(steps=400_000, batch_size=256, lr=4.5e-4, betas=(0.9, 0.999), weight_decay=0.0),
                   PriorSample(cfg_scale=8.0, class_sampling="per_class"),
                   process=DiffusionConfig(steps=1000, schedule="linear", beta_start=1e-4, beta_end=0.02,
                                           sample_steps=250, cfg_scale=8.0, cfg_channels="first3"),
                   sources={"process.cfg_channels": "DiT sample.py guides the first 3 channels; 'all' guides every one",
                            "train.lr": "VQGAN-LC App. A: Adam 4.5e-4 (DiT's own recipe: AdamW 1e-4)"},
                   published_params=675.0)
    if scale == "paper":
        return e
    return _latent_smoke(e, DiTConfig(in_channels=8, input_size=8, patch_size=2, hidden=64, depth=2, heads=2))


@register_prior
def sit_xl2(scale: str) -> PriorEntry:
    """SiT-XL/2: the DiT-XL/2 network, linear interpolant, velocity prediction, SDE or ODE sampling."""
    e = PriorEntry("sit_xl2", "paper", "sit", "Ma et al. 2024 (SiT); VQGAN-LC App. A",
                   DiTConfig(in_channels=8, input_size=16, patch_size=2, hidden=1152, depth=28, heads=16,
                             learn_sigma=False),
                   PriorTrain(steps=400_000, batch_size=256, lr=4.5e-4, betas=(0.9, 0.999), weight_decay=0.0),
                   PriorSample(cfg_scale=8.0, class_sampling="per_class"),
                   process=FlowConfig(sample_steps=250, sampler="sde", cfg_scale=8.0, cfg_channels="first3"),
                   sources={"process.sampler": "SiT: SDE Euler-Maruyama 250 steps; ODE: dopri5 (here fixed-step Heun)"},
                   published_params=675.0, param_gap=None)
    if scale == "paper":
        return e
    return _latent_smoke(e, DiTConfig(in_channels=8, input_size=8, patch_size=2, hidden=64, depth=2, heads=2,
                                      learn_sigma=False))


@register_prior
def ldm_cin(scale: str) -> PriorEntry:
    """LDM class-conditional UNet with cross-attention (VQGAN-LC App. A: levels {256, 1024, 1024, 256}, cfg 1.4)."""
    e = PriorEntry("ldm_cin", "paper", "ldm", "Rombach et al. 2022 (LDM); VQGAN-LC App. A",
                   UNetConfig(in_channels=8),
                   PriorTrain(steps=100 * 2860, batch_size=448, lr=4.5e-4, betas=(0.9, 0.999), weight_decay=0.0),
                   PriorSample(cfg_scale=1.4, class_sampling="per_class"),
                   process=DiffusionConfig(steps=1000, schedule="ldm", beta_start=0.0015, beta_end=0.0195,
                                           sample_steps=250, cfg_scale=1.4, cfg_channels="all"),
                   sources={"model.ch_mult": "our reading of 'four UNet layers with channel dimensions {256, 1024, "
                            "1024, 256}'", "process": "CompVis cin-ldm-vq-f8.yaml: 1000 steps, linear 0.0015-0.0195"})
    if scale == "paper":
        return e
    return _latent_smoke(e, UNetConfig(in_channels=8, ch=32, ch_mult=(1, 2), num_res_blocks=1, attn_levels=(1,),
                                       heads=2, context_dim=32))
