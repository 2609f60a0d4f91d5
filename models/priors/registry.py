"""Prior registry: one named function per published prior, each with a paper and a smoke form.

Token-map priors (GPT, MaskGIT) read the tokenizer's indices; latent priors (DiT, SiT, LDM) its pre-quantisation
latents, which are quantised and decoded after sampling (VQGAN-LC Sec. 3.3). Fields that depend on the tokenizer
(vocabulary, positions, channels, latent shape) are filled in by `bind(entry, tokenizer facts)`; the paper form's
defaults are the paper's own tokenizer, so parameter counts match the published figures.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from bench.core.registry import Registry
from models.priors.base import PRIOR_KINDS as PRIOR_KINDS
from models.priors.base import prior_for as prior_for
from models.priors.diffusion import DiffusionConfig
from models.priors.dit import DiTConfig
from models.priors.flow import FlowConfig
from models.priors.gpt import GPTConfig
from models.priors.gpt import top_k_for as top_k_for  # re-exported: its home is the kind's module
from models.priors.maskgit import MaskGITConfig
from models.priors.maskgit import decode_steps as decode_steps
from models.priors.unet import UNetConfig
from models.registry import apply_overrides

# the kinds that read index maps (kept for callers of the old constant; new code asks prior_for(entry).inputs)
TOKEN_KINDS = tuple(k for k in PRIOR_KINDS if PRIOR_KINDS.get(k).inputs == "indices")


@dataclass(frozen=True)
class PriorTrain:
    """Optimiser and schedule of a prior."""

    steps: int = 100_000
    batch_size: int = 256  # the global batch (the prior trainer runs one process)
    accumulate: int = 1  # micro-batches of batch_size / accumulate per optimiser step (bench/training/prior.py)
    lr: float = 4.5e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.01
    warmup_steps: int = 0
    grad_clip: float = 1.0
    deepspeed: str = "auto"  # auto (above deepspeed_min_params) | on | off
    deepspeed_min_params: float = 300e6
    zero_stage: int = 2
    ckpt_every: int = 5000
    # the paper's length in its own units, (value, 'epochs' | 'iters'); paper entries derive `steps` (and the
    # warm-up) from it at plan time with the dataset's train size (bench/plan/downstream.py); None: `steps`
    length: tuple[float, str] | None = None
    warmup: tuple[float, str] | None = None
    lr_schedule: str = "constant"  # after the warm-up: constant | linear (decay to 0 at the last step)
    ema_decay: float | None = None  # EMA of the weights (DiT / SiT / LDM: 0.9999); None: no EMA
    ema_warmup: bool = False  # LDM's LitEma: decay min(decay, (1 + n) / (10 + n))
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
    steps_conditional: int | None = None  # decoding steps for a class-conditional binding (MoVQ Table 3: 12)
    per_class: int | None = None  # class-conditional: this many samples per class (50 x 1000) instead of n_samples
    top_k_fraction: float | None = None  # top-k as a fraction of the vocabulary (VQGAN-LC App. A: 10%)
    source: str = "code"  # code | paper: which of `choices` applies where the two disagree
    choices: dict[str, dict[str, Any]] = field(default_factory=dict)  # {source: {sample/process field: value}}
    weights: str = "ema"  # ema (when the trainer kept one) | raw


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
    count_excludes: tuple[str, ...] = ()  # module prefixes the published figure leaves out
    # official per-resolution configs: {latent side: overrides} applied by bind (ldm-lc: f16 -> 16, f8 -> 32)
    by_latent_side: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    hflip: bool = False  # DiT / SiT train.py: RandomHorizontalFlip (latents: a second cache of flipped images)
    latent_norm: str = "standardise"  # latent priors: standardise per channel | raw (VQGAN-LC: scale_factor 1.0)

    @property
    def inputs(self) -> str:
        return PRIOR_KINDS.get(self.kind).inputs

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scale": self.scale, "kind": self.kind, "model": dataclasses.asdict(self.model),
                "train": dataclasses.asdict(self.train), "sample": dataclasses.asdict(self.sample),
                "process": dataclasses.asdict(self.process) if self.process is not None else None}


PRIORS: Registry[Callable[[str], PriorEntry]] = Registry("prior")


def register_prior(fn: Callable[[str], PriorEntry]) -> Callable[[str], PriorEntry]:
    return PRIORS.register()(fn)


def create_prior(name: str, scale: str = "paper", overrides: dict[str, dict[str, Any]] | None = None) -> PriorEntry:
    """Resolve a prior at a scale; overrides {'model'|'train'|'sample'|'process': {field: value}}. The
    sampling values of `sample.source` (code | paper) apply first; explicit overrides win over them."""
    entry = PRIORS.get(name)(scale)
    src = ((overrides or {}).get("sample") or {}).get("source") or entry.sample.source
    chosen = entry.sample.choices.get(src) if entry.sample.choices else None
    if entry.sample.choices and chosen is None:
        raise ValueError(f"prior '{name}': sample.source must be one of {sorted(entry.sample.choices)}, got '{src}'")
    if chosen:
        split: dict[str, dict[str, Any]] = {}
        for k, v in chosen.items():
            part, _, fld = k.partition(".")
            split.setdefault(part, {})[fld] = v
        entry = apply_overrides(entry, split)
    return apply_overrides(entry, overrides)


def sample_count(entry: PriorEntry) -> int:
    """How many samples: per_class x classes for a class-conditional prior with per_class set, else n_samples
    (unconditional FFHQ: MoVQ Table 2's 60,000)."""
    if entry.sample.per_class and entry.model.n_classes > 1:
        return entry.sample.per_class * entry.model.n_classes
    return entry.sample.n_samples


def sample_protocol(entry: PriorEntry) -> dict[str, Any]:
    """The sampling facts records carry: count, top-k, sources, latent normalisation, sampler settings."""
    s = entry.sample
    out: dict[str, Any] = {"sample_count_planned": sample_count(entry), "samples_per_class": s.per_class,
                           "sample_source": s.source if s.choices else None}
    return {**out, **prior_for(entry).protocol()}


def bind(entry: PriorEntry, codebook_size: int, latent_shape: tuple[int, int, int], latent_dim: int,
         n_classes: int) -> PriorEntry:
    """Fit a prior to a tokenizer: vocabulary, positions and channels (tokens) or the latent shape (latents)."""
    h, w, c = latent_shape
    if h in entry.by_latent_side:  # the official config for this latent size, except fields the user overrode
        base = PRIORS.get(entry.name)(entry.scale)
        keep = {part: {k: v for k, v in vals.items()
                       if getattr(getattr(entry, part), k) == getattr(getattr(base, part), k)}
                for part, vals in entry.by_latent_side[h].items()}
        entry = apply_overrides(entry, keep)
    return dataclasses.replace(entry, model=prior_for(entry).bind_model(codebook_size, latent_shape, latent_dim,
                                                                         n_classes))


def build_prior(entry: PriorEntry) -> nn.Module:
    """The network of an entry, built by its kind (models/priors/base.py)."""
    return prior_for(entry).build()


def count_prior_params(entry: PriorEntry, published_form: bool = True) -> int:
    """Parameters on the meta device; published_form leaves out entry.count_excludes (LDM's figure is the
    DiffusionWrapper's, i.e. the UNet without the ClassEmbedder)."""
    with torch.device("meta"):
        model = build_prior(entry)
    skip = entry.count_excludes if published_form else ()
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith(skip))


# --- token-map priors ------------------------------------------------------------------------------------------

_SMOKE_T = dict(n_layer=2, n_head=2, n_embd=64)
_SMOKE_TRAIN = PriorTrain(steps=60, batch_size=16, lr=1e-3, warmup_steps=0, ckpt_every=30, deepspeed="off")


def _smoke(entry: PriorEntry, **sample) -> PriorEntry:
    """Tiny widths, few steps, few samples; the same code paths."""
    model = dataclasses.replace(entry.model, **({k: v for k, v in _SMOKE_T.items() if hasattr(entry.model, k)}))
    smp = dataclasses.replace(entry.sample, n_samples=32, batch_size=16, class_sampling="random", per_class=None,
                              **sample)
    return dataclasses.replace(entry, scale="smoke", model=model, train=_SMOKE_TRAIN, sample=smp,
                               published_params=None, param_gap=None,
                               sources={"all": "smoke scale: 2 layers, width 64, 60 steps, 32 samples"})


@register_prior
def gpt_vqganlc(scale: str) -> PriorEntry:
    """VQGAN-LC GPT (Sec. 4.1 / App. A): 24 layers, 16 heads, width 1024, class-conditional over 100,000 codes."""
    e = PriorEntry("gpt_vqganlc", "paper", "gpt", "Zhu et al. 2024 (VQGAN-LC) App. A",
                   GPTConfig(vocab_size=100_000, positions=256, n_classes=1000, n_layer=24, n_head=16, n_embd=1024,
                             class_dropout=0.0, label_smoothing=0.0, pkeep=0.8, joint_vocab=True,
                             extra_positions=1),
                   PriorTrain(steps=100 * 1251, batch_size=1024, lr=4.5e-4, warmup_steps=5 * 1251,
                              length=(100, "epochs"), warmup=(5, "epochs"), lr_schedule="linear"),
                   PriorSample(class_sampling="per_class", per_class=50, source="code",
                               choices={"code": {"sample.top_k": 100_000}, "paper": {"sample.top_k_fraction": 0.1}}),
                   sources={"sample.top_k": "code: vqgan-gpt-lc/runTestGPT.sh --top_k 100000 (no filtering over 100K "
                                            "codes); paper: App. A, 10% of the vocabulary (sample.source=paper)",
                            "sample.per_class": "eval_generation_imagenet.py: 50 per class, 1000 classes",
                            "train.length": "App. A / runTrainGPT.sh: 100 epochs, batch 1024 (32 x 32), lr 4.5e-4",
                            "train.lr_schedule": "App. A: 5-epoch linear warm-up, then a linear decay",
                            "model.pkeep": "vqgan-gpt-lc training_gpt.py: pkeep 0.8 (taming's token corruption)",
                            "model.label_smoothing": "vqgan-gpt-lc: label smoothing 0 by default",
                            "model.class_dropout": "vqgan-gpt-lc: the class token is never dropped (no guidance)",
                            "model.joint_vocab": "vqgan-gpt-lc models_gpt.py: GPT(vocab_size=n_vision_words + n_class, "
                                                 "block_size=257); class c is token n_vision_words + c",
                            "model.gelu": "vqgan-gpt-lc models/mingpt.py: nn.GELU() (exact)"},
                   published_params=404.0, published_decimals=0,
                   param_gap=("VQGAN-LC prints 404M. Its models_gpt.py GPT (one 101,000-entry token table for codes "
                              "and classes, an untied 101,000-way head, 257 positions) counts 509.4M (509.42M on the "
                              "official module, tools/official_fixtures/vqganlc_priors.py); the blocks plus one "
                              "embedding table give 406M, so the printed "
                              "figure most likely leaves out the output head."))
    return e if scale == "paper" else _smoke(e, top_k=10)


@register_prior
def gpt_movq(scale: str) -> PriorEntry:
    """MoVQ 'auto' prior (Sec. 4.3): 24 layers, 16 heads, width 1024, MLP 4096, 16x16x4 indices (FFHQ: 307M)."""
    e = PriorEntry("gpt_movq", "paper", "gpt", "Zheng et al. 2022 (MoVQ) Sec. 4.3",
                   GPTConfig(vocab_size=1024, positions=256, channels=4, n_classes=0, n_layer=24, n_head=16,
                             n_embd=1024, class_dropout=0.0, label_smoothing=0.0),
                   PriorTrain(steps=200 * 938, batch_size=64, lr=4.5e-6 * 64, betas=(0.9, 0.95),
                              length=(200, "epochs")),
                   PriorSample(n_samples=60_000, class_sampling="per_class", per_class=50),
                   sources={"train.length": "MoVQ Sec. 4.3: batch 64 on 4 V100s, 200 epochs of the dataset trained on",
                            "train.lr": "VQGAN's lr scaling (4.5e-6 x batch)",
                            "model.label_smoothing": "taming minGPT (VQGAN's transformer): plain cross-entropy",
                            "sample.n_samples": "MoVQ Sec. 4.3: 60,000 samples (FFHQ Table 2, unconditional)",
                            "sample.per_class": "MoVQ Sec. 4.3: 50 samples per category, 50,000 (ImageNet Table 3)"},
                   published_params=307.0)
    return e if scale == "paper" else _smoke(e)


@register_prior
def maskgit_movq(scale: str) -> PriorEntry:
    """MoVQ 'mask' prior: the same transformer, bidirectional, MaskGIT decoding (Table 2: 8 steps, Table 3: 12)."""
    e = PriorEntry("maskgit_movq", "paper", "maskgit", "Zheng et al. 2022 (MoVQ) Sec. 4.3",
                   MaskGITConfig(vocab_size=1024, positions=256, channels=4, n_classes=0, n_layer=24, n_head=16,
                                 n_embd=1024),
                   PriorTrain(steps=200 * 938, batch_size=64, lr=4.5e-6 * 64, betas=(0.9, 0.95),
                              length=(200, "epochs")),
                   PriorSample(n_samples=60_000, class_sampling="per_class", per_class=50, steps=8,
                               steps_conditional=12),
                   sources={"train.length": "MoVQ Sec. 4.3: batch 64, 200 epochs of the dataset trained on",
                            "train.lr": "MoVQ Sec. 4.3 'follow the defaults setting as in VQGAN': taming "
                                        "cond_transformer.py configure_optimizers AdamW betas (0.9, 0.95), lr "
                                        "4.5e-6 x batch (taming main.py scaling), as gpt_movq",
                            "sample.steps": "MoVQ Table 2 (FFHQ): 8 steps; Table 3 (ImageNet): 12 steps",
                            "sample.per_class": "MoVQ Sec. 4.3: 60,000 FFHQ samples; 50 per ImageNet class"},
                   published_params=307.0)
    return e if scale == "paper" else _smoke(e, steps=4, steps_conditional=4)


@register_prior
def maskgit(scale: str) -> PriorEntry:
    """MaskGIT (Chang et al. 2022): 24 layers, 16 heads, width 768, class-conditional, 8 steps (172M + tokenizer)."""
    e = PriorEntry("maskgit", "paper", "maskgit", "Chang et al. 2022 (MaskGIT)",
                   MaskGITConfig(vocab_size=1024, positions=256, n_classes=1000, n_layer=24, n_head=16, n_embd=768,
                                 arch="bert"),
                   PriorTrain(steps=300 * 5005, batch_size=256, lr=1e-4, betas=(0.9, 0.96), weight_decay=0.045,
                              warmup_steps=5000, length=(300, "epochs")),
                   PriorSample(steps=8, class_sampling="per_class", per_class=50),
                   sources={"model": "google-research/maskgit nets/maskgit_transformer.py: BERT-style post-LN, 24 "
                                     "layers, 16 heads, 768, MLP 3072, output tied to the token embedding + bias; "
                                     "class ids share the token table",
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
                   PriorTrain(steps=300 * 5005, batch_size=256, lr=1e-4, betas=(0.9, 0.96), length=(300, "epochs")),
                   PriorSample(steps=12 if kind == "maskgit" else None, class_sampling="per_class", per_class=50),
                   sources={"train": "SeQ-GAN Sec. 4.2: Adam, lr 1e-4 (batch unpublished: MaskGIT's 256)",
                            "train.length": "SeQ-GAN Sec. 4.3: the ImageNet priors train 300 epochs (the 500,000 "
                                            "iterations of Sec. 4.1 are the tokenizer's phase 1)",
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
_SMOKE_EMA_DECAY = 0.9  # smoke: a short EMA so 60 steps move it; the paper entries use 0.9999


def _latent_smoke(e: PriorEntry, model: Any, **process: Any) -> PriorEntry:
    proc = dataclasses.replace(e.process, sample_steps=10, **process)
    train = dataclasses.replace(_SMOKE_LATENT_TRAIN, ema_decay=_SMOKE_EMA_DECAY if e.train.ema_decay else None,
                                ema_warmup=e.train.ema_warmup)
    return dataclasses.replace(e, scale="smoke", model=model, train=train, process=proc, by_latent_side={},
                               sample=dataclasses.replace(e.sample, n_samples=32, batch_size=16,
                                                          class_sampling="random", per_class=None),
                               published_params=None, param_gap=None,
                               sources={"all": f"smoke scale: tiny widths, 60 steps, EMA decay {_SMOKE_EMA_DECAY}"})


_LATENT_400K = {"steps": 400_000, "batch_size": 256, "lr": 4.5e-4, "betas": (0.9, 0.999), "weight_decay": 0.0,
                "length": (400_000, "iters"), "ema_decay": 0.9999}


@register_prior
def dit_xl2(scale: str) -> PriorEntry:
    """DiT-XL/2 on the tokenizer's pre-quantisation latents (VQGAN-LC App. A: 675M, 400k steps, batch 256, cfg 8):
    learned sigma, hybrid loss, EMA 0.9999, 250 respaced DDPM steps, raw latents (scale_factor 1.0)."""
    e = PriorEntry("dit_xl2", "paper", "dit", "Peebles & Xie 2023 (DiT); VQGAN-LC App. A",
                   DiTConfig(in_channels=8, input_size=16, patch_size=2, hidden=1152, depth=28, heads=16,
                             learn_sigma=True),
                   PriorTrain(**_LATENT_400K),
                   PriorSample(cfg_scale=8.0, class_sampling="per_class", per_class=50),
                   process=DiffusionConfig(steps=1000, schedule="linear", beta_start=1e-4, beta_end=0.02,
                                           sample_steps=250, cfg_scale=8.0, cfg_channels="first3", learn_sigma=True,
                                           loss="hybrid", sampler="ancestral"),
                   sources={"process.cfg_channels": "DiT sample.py guides the first 3 channels; 'all' guides every one",
                            "process.learn_sigma": "DiT create_diffusion: learn_sigma=True, learned range, "
                                                   "RESCALED_MSE (MSE + VLB)",
                            "train.lr": "VQGAN-LC App. A: Adam 4.5e-4 (DiT's own recipe: AdamW 1e-4)",
                            "train.length": "VQGAN-LC App. A: 400k iterations at batch 256",
                            "train.ema_decay": "DiT train.py update_ema 0.9999; samples from the EMA",
                            "latent_norm": "VQGAN-LC dit-lc: the raw quant_conv features (no scaling)",
                            "hflip": "DiT / dit-lc train.py: RandomHorizontalFlip before encoding; here a second "
                                     "latent cache of the flipped images, one of the two drawn per sample per step"},
                   published_params=675.0, latent_norm="raw", hflip=True)
    if scale == "paper":
        return e
    return _latent_smoke(e, DiTConfig(in_channels=8, input_size=8, patch_size=2, hidden=64, depth=2, heads=2))


@register_prior
def sit_xl2(scale: str) -> PriorEntry:
    """SiT-XL/2: the DiT-XL/2 network, linear interpolant, velocity prediction; evaluated with the dopri5 ODE."""
    e = PriorEntry("sit_xl2", "paper", "sit", "Ma et al. 2024 (SiT); VQGAN-LC App. A",
                   DiTConfig(in_channels=8, input_size=16, patch_size=2, hidden=1152, depth=28, heads=16,
                             learn_sigma=False),
                   PriorTrain(**_LATENT_400K),
                   PriorSample(cfg_scale=8.0, class_sampling="per_class", per_class=50),
                   process=FlowConfig(sample_steps=250, sampler="ode_dopri5", cfg_scale=8.0, cfg_channels="first3",
                                      atol=1e-6, rtol=1e-3),
                   sources={"process.sampler": "VQGAN-LC sit-lc evaluation / SiT sample.py ODE: dopri5, atol 1e-6, "
                                               "rtol 1e-3 (SDE: Euler-Maruyama 250, sigma form, norm 1, Mean 0.04)",
                            "train.length": "VQGAN-LC App. A: 400k iterations at batch 256",
                            "train.ema_decay": "SiT train.py update_ema 0.9999; samples from the EMA",
                            "latent_norm": "VQGAN-LC sit-lc: the raw quant_conv features (no scaling)"},
                   published_params=675.0, param_gap=None, latent_norm="raw", hflip=True)
    if scale == "paper":
        return e
    return _latent_smoke(e, DiTConfig(in_channels=8, input_size=8, patch_size=2, hidden=64, depth=2, heads=2,
                                      learn_sigma=False))


# ldm-lc/configs/imagenet-f8-vqgan-lc-100K.yaml (32x32 latents, 1024 tokens) and runTestLDM.sh's f8 --scale 1.4;
# batch 32 x 8 GPUs in the config
_LDM_F8 = {"model": {"channel_mult": (1, 2, 4), "num_res_blocks": 2, "attention_resolutions": (4, 2, 1)},
           "process": {"cfg_scale": 1.4}, "train": {"batch_size": 256}}


@register_prior
def ldm_cin(scale: str) -> PriorEntry:
    """LDM as ldm-lc/configs/imagenet-f16-vqgan-lc-100K.yaml (270.3M): openaimodel UNet, model_channels 256,
    channel_mult [1, 4], 3 res blocks, transformers at factors [4, 1], 32 channels per head, class embedder with a
    null row; DDIM 200 steps, eta 1, guidance 1.6 (run script) or 1.4 (paper); EMA (LitEma 0.9999)."""
    e = PriorEntry("ldm_cin", "paper", "ldm", "Rombach et al. 2022 (LDM); VQGAN-LC App. A and ldm-lc",
                   UNetConfig(in_channels=8, model_channels=256, channel_mult=(1, 4), num_res_blocks=3,
                              attention_resolutions=(4, 1), num_head_channels=32, context_dim=512),
                   PriorTrain(steps=100 * 2860, batch_size=448, lr=4.5e-4, betas=(0.9, 0.999), weight_decay=0.0,
                              length=(100, "epochs"), ema_decay=0.9999, ema_warmup=True),
                   PriorSample(cfg_scale=1.6, class_sampling="per_class", per_class=50, source="code",
                               choices={"code": {"process.cfg_scale": 1.6}, "paper": {"process.cfg_scale": 1.4}}),
                   process=DiffusionConfig(steps=1000, schedule="ldm", beta_start=0.0015, beta_end=0.0195,
                                           sample_steps=200, cfg_scale=1.6, cfg_channels="all", sampler="ddim",
                                           ddim_eta=1.0),
                   sources={"model": "ldm-lc/configs/imagenet-f16-vqgan-lc-100K.yaml unet_config + ClassEmbedder "
                                     "(n_classes 1001, embed_dim 512)",
                            "process": "ldm-lc config: 1000 steps, linear 0.0015-0.0195; run_evaluations.py: DDIM "
                                       "200 steps, eta 1.0, unconditional class 1000",
                            "process.cfg_scale": "code: runTestLDM.sh --scale 1.6 (f16); paper App. A: 1.4 "
                                                 "(sample.source=paper)",
                            "train.length": "VQGAN-LC App. A: 100 epochs (batch 448 = 8 x 56 in the config)",
                            "train.lr": "lr rule: paper (VQGAN-LC App. A: Adam 4.5e-4); the code's rule (ldm-lc "
                                        "main.py scale_lr: 8 x 56 x base 4.5e-5 = 2.016e-2; f8 8 x 32 x 1e-5) is "
                                        "listed in the deviations table",
                            "train.ema_decay": "LatentDiffusion use_ema (LitEma 0.9999 with its num_updates warm-up); "
                                               "run_evaluations.py samples in ema_scope",
                            "model.class_dropout": "ldm-lc trains with every label (no classifier-free dropout)",
                            "latent_norm": "ldm-lc: scale_factor 1.0, no scale_by_std (raw quant_conv features)",
                            "by_latent_side": "32x32 latents (f8, 1024 tokens): imagenet-f8-vqgan-lc-100K.yaml "
                                              "(mult [1, 2, 4], 2 res blocks, attention [4, 2, 1]), --scale 1.4, "
                                              "batch 32 x 8",
                            "published_params": "LDM's count_params(self.model): the UNet (DiffusionWrapper) "
                                                "without the 0.5M ClassEmbedder"},
                   published_params=270.3, published_decimals=1, latent_norm="raw", count_excludes=("y_embed",),
                   by_latent_side={32: _LDM_F8})
    if scale == "paper":
        return e
    return _latent_smoke(e, UNetConfig(in_channels=8, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                                       attention_resolutions=(1,), num_head_channels=16, context_dim=32))
