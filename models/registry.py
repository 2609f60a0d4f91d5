"""Tokenizer registry: one named function per published configuration, each with a paper and a smoke form.

`entry = create_entry("vqgan_f16_1024", scale="smoke", overrides)` gives the architecture, loss and
training recipe; `build_tokenizer(entry)` the module. At paper scale the training length, batch, optimiser and GAN
values written here are the family's fallbacks: a planned stage takes them from its paper's recipe in
`models/recipes.py` (source units, per dataset), resolved by `bench/plan/recipes.py`. Every field's source is
in `entry.sources`; a field marked 'unpublished default' is a documented guess that a user may override.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from annotated_types import Ge, Gt, Lt

from bench.core.registry import Registry, RegistryError
from bench.core.schema import check_fields
from models.losses import LossConfig
from models.movq import MoVQ, MoVQConfig
from models.plugins import PREFIX, PluginConfig, PluginError, PluginTokenizer, entry_points, probe
from models.schedule import lr_at
from models.seqgan import SeQGAN, SeQGANConfig
from models.tokenizer import Tokenizer
from models.vqgan import VQGAN, VQGANConfig, VQGANLCConfig

SCALES = ("smoke", "paper")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule. lr = accumulate * n_gpu * batch_size * base_lr when lr_scaling='taming'."""

    steps: Annotated[int, Ge(1)] = 1000
    batch_size: Annotated[int, Ge(1)] = 12
    n_gpu: Annotated[int, Ge(1)] = 1
    accumulate: Annotated[int, Ge(1)] = 1
    base_lr: Annotated[float, Gt(0)] = 4.5e-6
    lr_scaling: Literal["taming", "none"] = "taming"  # 'taming' (scaled by batch) or 'none' (base_lr used as-is)
    betas: tuple[Annotated[float, Ge(0), Lt(1)], Annotated[float, Ge(0), Lt(1)]] = (0.5, 0.9)
    eps: Annotated[float, Gt(0)] = 1e-8
    ckpt_every: Annotated[int, Ge(1)] = 5000
    num_workers: Annotated[int, Ge(0)] = 4
    warmup_steps: Annotated[int, Ge(0)] = 0  # linear warm-up from 0 (VQGAN-LC: 5 epochs)
    # constant (taming) | cosine (half-cycle to 0 after warm-up; VQGAN-LC, MAE lr_sched)
    schedule: Literal["constant", "cosine"] = "constant"
    freeze: tuple[str, ...] = ()  # parameter-name prefixes kept fixed (SeQ-GAN phase 2: encoder, quant_conv, quantize)
    augment: str = "center"  # training crop: center | random_crop (taming, VQGAN-LC) | random_crop_flip (RQ-VAE)
    # numerics and speed (bench/training/numerics.py); the defaults are the papers' fp32 eager training
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # bf16/fp16: torch.autocast (fp16 with a GradScaler)
    tf32: bool | None = None  # None: the source script's choice (taming, VQGAN-LC: not set, torch default)
    channels_last: bool = False  # memory format of the tokenizer and discriminator
    fused_optim: bool = False  # Adam fused (CUDA) / foreach (CPU)
    compile: bool = False  # torch.compile of the tokenizer and the discriminator
    cudnn_benchmark: bool = False  # cuDNN autotuning for the fixed training shapes (CUDA)

    @property
    def lr(self) -> float:
        if self.lr_scaling == "none":
            return self.base_lr
        return self.accumulate * self.n_gpu * self.batch_size * self.base_lr

    def lr_at(self, step: int) -> float:
        """Learning rate at a step: the one schedule (models/schedule.py) with MAE's warm-up from 0."""
        return lr_at(step, self.lr, self.steps, self.warmup_steps, self.schedule, warmup="from_zero")


@dataclass(frozen=True)
class TokenizerEntry:
    """A registered configuration at one scale: architecture, loss, training recipe, and sources."""

    name: str
    scale: str
    family: str
    paper: str
    model: Any
    loss: LossConfig
    train: TrainConfig
    sources: dict[str, str] = field(default_factory=dict)
    published_params: float | None = None  # millions, where a paper prints the figure
    published_decimals: int = 1  # the precision the paper prints it at ("72.1M" -> 1, "100M" -> 0)
    param_gap: str | None = None  # where no faithful reading reaches the published figure: why
    # Two-phase training (SeQ-GAN): the entry is phase 2; `phase1` holds the {'model'|'loss'|'train': {...}}
    # changes that give phase 1, whose weights phase 2 starts from. `phase` says which one this entry is.
    phase1: dict[str, dict[str, Any]] | None = None
    phase: int | None = None
    # Paper scale, once planned: the paper recipe in its source's units plus the dataset size the steps came
    # from (bench/plan/recipes.py). None at smoke scale, whose short recipes stay in steps.
    recipe: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (run manifests, checkpoints); stage keys come from bench/stages/specs.py TokenizerSpec."""
        d = {"name": self.name, "scale": self.scale, "family": self.family, "model": dataclasses.asdict(self.model),
             "loss": dataclasses.asdict(self.loss), "train": dataclasses.asdict(self.train)}
        if self.phase is not None:
            d["phase"] = self.phase
        if self.recipe is not None:
            d["recipe"] = self.recipe
        return d


NUMERICS_FIELDS = ("precision", "tf32", "channels_last", "fused_optim", "compile", "cudnn_benchmark")


TOKENIZERS: Registry[Callable[[str], TokenizerEntry]] = Registry("tokenizer")
# model config class name -> the module it builds
BUILDERS: Registry[Callable[[Any], Tokenizer]] = Registry("tokenizer builder")
for _config, _module in ((VQGANConfig, VQGAN), (VQGANLCConfig, VQGAN), (MoVQConfig, MoVQ), (SeQGANConfig, SeQGAN),
                         (PluginConfig, PluginTokenizer)):
    BUILDERS.add(_config.__name__, _module)


def register_tokenizer(fn: Callable[[str], TokenizerEntry]) -> Callable[[str], TokenizerEntry]:
    """Decorator for entry functions `fn(scale) -> TokenizerEntry`."""
    return TOKENIZERS.register()(fn)


def create_entry(name: str, scale: str = "paper", overrides: dict[str, dict[str, Any]] | None = None) -> TokenizerEntry:
    """Resolve a registry entry at a scale and apply {'model'|'loss'|'train': {field: value}} overrides."""
    if scale not in SCALES:
        raise RegistryError(f"unknown scale '{scale}'; expected one of {SCALES}")
    if name.startswith(PREFIX) and name not in TOKENIZERS:  # tokenizer=plugin tokenizer.target=module:function
        if name.removeprefix(PREFIX) in ("", "None"):
            raise PluginError("tokenizer plugin: tokenizer=plugin needs tokenizer.target=<module>:<function> (a "
                              "builder returning the tokenizer module)")
        TOKENIZERS.add(name, _plugin_entry(name, name.removeprefix(PREFIX)))
        PLUGINS.add(name)
    if name.startswith(DIFFUSERS_PREFIX) and name not in TOKENIZERS:  # tokenizer=diffusers_vq tokenizer.checkpoint=D
        folder = name.removeprefix(DIFFUSERS_PREFIX)
        if folder in ("", "None"):
            raise RegistryError("tokenizer=diffusers_vq needs tokenizer.checkpoint=<folder> (a diffusers VQModel "
                                "folder: config.json + weights)")
        TOKENIZERS.add(name, _plugin_entry(name, DIFFUSERS_TARGET, arg=str(Path(folder).resolve()), dist="diffusers"))
        PLUGINS.add(name)
    return apply_overrides(TOKENIZERS.get(name)(scale), overrides)


def apply_overrides(entry: Any, overrides: dict[str, dict[str, Any]] | None) -> Any:
    """Replace fields of an entry's config parts ({'model'|'loss'|'train'|...: {field: value}}), for tokenizer and
    prior entries alike; unknown fields fail naming the valid ones."""
    name = entry.name
    for part, values in (overrides or {}).items():
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            continue
        cfg = getattr(entry, part)
        valid = {f.name for f in dataclasses.fields(cfg)}
        unknown = sorted(set(values) - valid)
        if unknown:
            raise RegistryError(f"unknown {part} field(s) {unknown} for '{name}'; valid: {sorted(valid)}")
        check_fields(part, type(cfg), values)  # wrong types and ranges fail here, before any stage starts
        values = {k: tuple(v) if isinstance(getattr(cfg, k), tuple) else v for k, v in values.items()}
        entry = dataclasses.replace(entry, **{part: dataclasses.replace(cfg, **values)})
    return entry


def phase1_entry(entry: TokenizerEntry) -> TokenizerEntry:
    """The first-phase entry of a two-phase recipe (SeQ-GAN), derived from the (possibly overridden) phase 2."""
    if entry.phase1 is None:
        raise ValueError(f"tokenizer '{entry.name}' has a single training phase")
    first = apply_overrides(entry, entry.phase1)
    return dataclasses.replace(first, phase1=None, phase=1, published_params=None, param_gap=None)


def build_tokenizer(entry: TokenizerEntry) -> Tokenizer:
    """Instantiate the tokenizer module for an entry (use `torch.device('meta')` to count without memory)."""
    return BUILDERS.get(type(entry.model).__name__)(entry.model)


def count_params(entry: TokenizerEntry) -> int:
    """Parameters of encoder + quantizer + decoder (no discriminator, no LPIPS), counted on the meta device."""
    if isinstance(entry.model, PluginConfig):  # counted by the plan-time probe (a plugin may load weights when built)
        return entry.model.params
    with torch.device("meta"):
        model = build_tokenizer(entry)
    return sum(p.numel() for p in model.parameters())


# --- plugins (models/plugins.py): installed packages' entry points and tokenizer=plugin tokenizer.target=... ----
DIFFUSERS_PREFIX, DIFFUSERS_TARGET = "diffusers_vq:", "models.converters.diffusers_vq:build"


def _plugin_entry(name: str, target: str, arg: str | None = None,
                  dist: str | None = None) -> Callable[[str], TokenizerEntry]:
    """An entry function for a plugin builder; the plugin is imported, built and checked when it is called."""
    def make(scale: str) -> TokenizerEntry:
        cfg = probe(target, name, arg, dist)
        return TokenizerEntry(name=name, scale=scale, family="plugin", model=cfg, loss=LossConfig(),
                              train=TrainConfig(steps=1), sources={"model": f"plugin {target}"},
                              paper=f"plugin {cfg.plugin} {cfg.version} ({target}, sha256 {cfg.source_sha256[:12]})")
    return make


def register_plugins() -> None:
    """Register every installed `vqbench.tokenizers` entry point under its name (a built-in name wins)."""
    import sys

    for ep in entry_points():
        if ep.name in TOKENIZERS:
            print(f"warning: tokenizer plugin '{ep.name}' ({ep.value}) is shadowed by vqbench's own entry of that name",
                  file=sys.stderr)
            continue
        TOKENIZERS.add(ep.name, _plugin_entry(ep.name, ep.value))
        PLUGINS.add(ep.name)


PLUGINS: set[str] = set()  # names of the registered plugin entries (built only when used)


# --- taming-transformers VQGAN (Esser et al. 2021) -------------------------------------------------------

_TAMING = "taming-transformers configs/imagenet_vqgan.yaml + taming/modules/losses/vqperceptual.py"


def _vqgan(name: str, scale: str, n_embed: int, published: float | None) -> TokenizerEntry:
    """taming f16 VQGAN at paper scale; at smoke scale the same code with tiny widths at 32 px."""
    if scale == "paper":
        model = VQGANConfig(resolution=256, ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2,
                            attn_resolutions=(16,), z_channels=256, embed_dim=256, n_embed=n_embed)
        loss = LossConfig(disc_start=250001, codebook_weight=1.0, perceptual_weight=1.0, disc_weight=0.8,
                          disc_ndf=64, disc_layers=3)
        train = TrainConfig(steps=500_000, batch_size=12, n_gpu=8, base_lr=4.5e-6, ckpt_every=5000, num_workers=8)
        sources = {"model": _TAMING, "loss": _TAMING, "train.base_lr": _TAMING, "train.betas": _TAMING,
                   "train.batch_size": _TAMING, "train.n_gpu": "unpublished default",
                   "train": "models/recipes.py taming/<dataset> (derived at plan time)"}
    else:
        model = VQGANConfig(resolution=32, ch=32, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(8,),
                            z_channels=32, embed_dim=32, n_embed=max(64, n_embed // 16))
        loss = LossConfig(disc_start=150, codebook_weight=1.0, perceptual_weight=1.0, disc_weight=0.8,
                          disc_ndf=16, disc_layers=2)
        train = TrainConfig(steps=300, batch_size=8, n_gpu=1, base_lr=1e-4, lr_scaling="none",
                            ckpt_every=100, num_workers=0)
        sources = {"all": "smoke scale: tiny widths, 32 px, codebook size / 16 (min 64); same code paths"}
    return TokenizerEntry(name, scale, "vqgan", "Esser et al. 2021 (taming-transformers)", model, loss, train,
                          sources, published if scale == "paper" else None)


@register_tokenizer
def vqgan_f16_1024(scale: str) -> TokenizerEntry:
    """taming VQGAN, f16, 1024 codes (MoVQ Table 2 prints 72.1M parameters)."""
    return _vqgan("vqgan_f16_1024", scale, 1024, 72.1)


@register_tokenizer
def vqgan_f16_16384(scale: str) -> TokenizerEntry:
    """taming VQGAN, f16, 16384 codes (the released ImageNet model; rFID 4.98 on val)."""
    return _vqgan("vqgan_f16_16384", scale, 16384, None)


# --- VQGAN-EMA and VQGAN-FC: the taming f16 backbone with another quantizer (VQGAN-LC Tables 1-2 baselines) ---

_VQGANLC = "VQGAN-LC paper (Zhu et al. 2024) baselines, taming f16 backbone"


def _variant(name: str, scale: str, n_embed: int, **model_changes) -> TokenizerEntry:
    """taming f16 VQGAN with a different quantizer; smoke form shrinks like the baseline's."""
    base = _vqgan(name, scale, n_embed, None)
    changes = dict(model_changes)
    if scale == "smoke" and "embed_dim" in changes:
        changes["embed_dim"] = min(changes["embed_dim"], base.model.embed_dim)
    # these entries exist only as VQGAN-LC's baselines: their quantizer follows its models_vq.py (issue 22 item 14)
    changes.setdefault("quantizer_source", "vqganlc")
    sources = {**base.sources, "quantizer": _VQGANLC,
               "model.quantizer_source": "zh460045050/VQGAN-LC vqgan-gpt-lc/models/models_vq.py VQModel.quantize"}
    return dataclasses.replace(base, family="vqgan-" + changes["quantizer"], paper=_VQGANLC,
                               model=dataclasses.replace(base.model, **changes), sources=sources)


@register_tokenizer
def vqgan_ema_f16_16384(scale: str) -> TokenizerEntry:
    """VQGAN-EMA: EMA codebook (decay 0.99, eps 1e-5, Laplace smoothing), 16384 codes."""
    return _variant("vqgan_ema_f16_16384", scale, 16384, quantizer="ema")


@register_tokenizer
def vqgan_fc_f16_16384(scale: str) -> TokenizerEntry:
    """VQGAN-FC: factorized code dim 8 with l2-normalised (cosine) lookup, 16384 codes (LlamaGen recipe)."""
    return _variant("vqgan_fc_f16_16384", scale, 16384, quantizer="fc", embed_dim=8)


# --- RQ-VAE (Lee et al. 2022; kakaobrain configs/imagenet256/stage1/in256-rqvae-8x8x4.yaml) ----------------

_RQ = "kakaobrain/rq-vae-transformer configs/*/stage1 (RQ-VAE, Lee et al. 2022)"


def _rqvae(name: str, scale: str, side: int, depth: int, n_embed: int, attn: int | None = None) -> TokenizerEntry:
    """f32 (8x8) or f16 (16x16) RQ-VAE: shared EMA codebook, restarts, MSE + LPIPS, adaptive weight 0.75."""
    if scale == "paper":
        ch_mult = (1, 1, 2, 2, 4, 4) if side == 8 else (1, 1, 2, 2, 4)
        model = VQGANConfig(resolution=256, ch=128, ch_mult=ch_mult, num_res_blocks=2,
                            attn_resolutions=(attn or side,), z_channels=256, embed_dim=256, n_embed=n_embed,
                            quantizer="rq", depth=depth)
        loss = LossConfig(disc_start=0, pixel_loss="mse", perceptual_weight=1.0, disc_weight=0.75,
                          codebook_weight=1.0, disc_ndf=64, disc_layers=2)
        train = TrainConfig(steps=10 * 5005, batch_size=16, n_gpu=8, base_lr=4e-5, lr_scaling="none",
                            ckpt_every=5000, num_workers=8)
        sources = {"model": _RQ, "loss": _RQ, "train.base_lr": _RQ,
                   "train": "models/recipes.py rqvae/<dataset> (10 ImageNet / 150 FFHQ epochs, derived at plan time)",
                   "loss.disc_start": "unpublished default (the released config starts the GAN loss late in "
                                      "training; set loss.disc_start to match)"}
    else:
        model = VQGANConfig(resolution=32, ch=32, ch_mult=(1, 2, 2) if side == 16 else (1, 2, 2, 2),
                            num_res_blocks=1, attn_resolutions=(8 if side == 16 else 4,), z_channels=32,
                            embed_dim=32, n_embed=max(64, n_embed // 16), quantizer="rq", depth=depth)
        loss = LossConfig(disc_start=150, pixel_loss="mse", disc_weight=0.75, disc_ndf=16, disc_layers=2)
        train = TrainConfig(steps=300, batch_size=8, base_lr=1e-4, lr_scaling="none", ckpt_every=100, num_workers=0)
        sources = {"all": "smoke scale: tiny widths, 32 px, codebook size / 16 (min 64); same code paths"}
    return TokenizerEntry(name, scale, "rqvae", "Lee et al. 2022 (RQ-VAE)", model, loss, train, sources)


@register_tokenizer
def rqvae_8x8x4_16384(scale: str) -> TokenizerEntry:
    """RQ-VAE 8x8x4, 16384 shared codes (ImageNet; VQGAN-LC Table 2 '256 tokens')."""
    return _rqvae("rqvae_8x8x4_16384", scale, 8, 4, 16384)


@register_tokenizer
def rqvae_8x8x8_16384(scale: str) -> TokenizerEntry:
    """RQ-VAE 8x8x8, 16384 codes (VQGAN-LC Table 2 '512 tokens')."""
    return _rqvae("rqvae_8x8x8_16384", scale, 8, 8, 16384)


@register_tokenizer
def rqvae_8x8x16_16384(scale: str) -> TokenizerEntry:
    """RQ-VAE 8x8x16, 16384 codes (MoVQ Table 1, VQGAN-LC Table 2 '1,024 tokens')."""
    return _rqvae("rqvae_8x8x16_16384", scale, 8, 16, 16384)


@register_tokenizer
def rqvae_8x8x4_2048(scale: str) -> TokenizerEntry:
    """RQ-VAE 8x8x4, 2048 codes (FFHQ; MoVQ Table 1)."""
    entry = _rqvae("rqvae_8x8x4_2048", scale, 8, 4, 2048, attn=16)  # ffhq256-rqvae-8x8x4.yaml attn_resolutions [16]
    if scale == "paper":  # MoVQ Table 2 prints "RQVAE 100M + 355M" for FFHQ (EMA codebook buffers not counted)
        entry = dataclasses.replace(entry, published_params=100.0, published_decimals=0)
    return entry


@register_tokenizer
def rqvae_16x16x4_2048(scale: str) -> TokenizerEntry:
    """RQ-VAE 16x16x4, 2048 codes (FFHQ; MoVQ Table 1, marked * there)."""
    return _rqvae("rqvae_16x16x4_2048", scale, 16, 4, 2048)


# --- MoVQ (Zheng et al. 2022): 16x16x4 tokens, 1024 x 64 shared codebook, SpatialNorm decoder ----------------

_MOVQ = "MoVQ paper Sec. 4 (taming backbone and hyper-parameters; batch 48 on 4 GPUs, 40 epochs)"
_MOVQ_GAP = ("MoVQ Table 2 prints 82.7M. The paper's reading (SpatialNorm in the first three decoder blocks, "
             "1x1 modulation convs, Fourier F0) counts 73.2M; ai-forever's code reading (SpatialNorm in every "
             "decoder norm, tokenizer.model.spatial_norm=all) counts 78.2M. Neither reaches 82.7M, and the "
             "remaining layers are unpublished.")


def _movq(name: str, scale: str, n_embed: int) -> TokenizerEntry:
    """MoVQ at paper scale (Fig. 6 knobs: model.f0, model.channels, model.spatial_norm); smoke: 32 px."""
    if scale == "paper":
        model = MoVQConfig(resolution=256, ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2, attn_resolutions=(16,),
                           z_channels=256, embed_dim=256, n_embed=n_embed, channels=4, f0="fourier",
                           spatial_norm="first3")
        loss = LossConfig(disc_start=250001, codebook_weight=1.0, perceptual_weight=1.0, disc_weight=0.8)
        train = TrainConfig(steps=40 * 1250, batch_size=12, n_gpu=4, base_lr=4.5e-6, ckpt_every=5000, num_workers=8)
        sources = {"model": _MOVQ, "train.batch_size": "MoVQ: batch 48 over 4 V100s",
                   "train": "models/recipes.py movq/<dataset> (40 epochs at batch 48, derived at plan time)",
                   "loss": "MoVQ follows VQGAN's hyper-parameters (taming lossconfig)",
                   "model.f0": "MoVQ Fig. 6a best (Fourier features)",
                   "model.fourier_scale": "unpublished default"}
    else:
        model = MoVQConfig(resolution=32, ch=32, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(8,),
                           z_channels=32, embed_dim=32, n_embed=max(64, n_embed // 16), channels=4)
        loss = LossConfig(disc_start=150, disc_ndf=16, disc_layers=2)
        train = TrainConfig(steps=300, batch_size=8, base_lr=1e-4, lr_scaling="none", ckpt_every=100, num_workers=0)
        sources = {"all": "smoke scale: tiny widths, 32 px, codebook size / 16 (min 64); same code paths"}
    return TokenizerEntry(name, scale, "movq", "Zheng et al. 2022 (MoVQ)", model, loss, train, sources,
                          82.7 if scale == "paper" and n_embed == 1024 else None, 1,
                          _MOVQ_GAP if scale == "paper" and n_embed == 1024 else None)


@register_tokenizer
def movq_f16_1024(scale: str) -> TokenizerEntry:
    """MoVQ 16x16x4 with 1024 x 64 codes (MoVQ Tables 1-2)."""
    return _movq("movq_f16_1024", scale, 1024)


@register_tokenizer
def movq_f16_16384(scale: str) -> TokenizerEntry:
    """MoVQ 16x16x4 with 16384 x 64 codes (MoVQ Fig. 6b)."""
    return _movq("movq_f16_16384", scale, 16384)


# --- VQGAN-LC (Zhu et al. 2024): frozen 100k x 768 CLIP codebook + linear projector to D'=8 --------------

_LC = "VQGAN-LC paper Sec. 4.1 + zh460045050/VQGAN-LC vqgan-gpt-lc (models_vq.py, runTrainVQ.sh)"
_IMAGENET_STEPS_PER_EPOCH = 5005  # ceil(1,281,167 / 256)


def _vqganlc(name: str, scale: str, n_embed: int) -> TokenizerEntry:
    """VQGAN-LC on the taming f16 backbone; the codebook comes from a build_codebook stage (k-means on CLIP)."""
    if scale == "paper":
        model = VQGANLCConfig(resolution=256, ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2,
                              attn_resolutions=(16,), z_channels=256, embed_dim=8, n_embed=n_embed)
        loss = LossConfig(disc_start=50_000, codebook_weight=0.1, perceptual_weight=1.0, disc_weight=0.1,
                          disc_ndf=64, disc_layers=2)
        train = TrainConfig(steps=20 * _IMAGENET_STEPS_PER_EPOCH, batch_size=8, n_gpu=32, base_lr=5e-4,
                            lr_scaling="none", eps=1e-7, warmup_steps=5 * _IMAGENET_STEPS_PER_EPOCH,
                            schedule="cosine", ckpt_every=5000, num_workers=8)
        sources = {"model": _LC + " (vq-f16.yaml backbone; quant_conv 256 -> 8; Linear(768 -> 8) with bias)",
                   "loss.codebook_weight": "code: rate_q 0.1 on mse(sg(zq), z) + 0.33 mse(zq, sg(z))",
                   "loss.disc_weight": "code: rate_d 0.1 times the adaptive weight", "loss.disc_start": "code: 50,000",
                   "loss.disc_layers": "code: NLayerDiscriminator(n_layers=2)",
                   "train.base_lr": "paper: 5e-4 (the released script uses --lr 1e-4; override train.base_lr)",
                   "train": "models/recipes.py vqganlc/<dataset> (20 ImageNet / 800 FFHQ epochs, derived at plan time)",
                   "train.schedule": "paper: 5-epoch linear warm-up, then half-cycle cosine",
                   "train.batch_size": "paper: 32 V100s; the script's batch 256 in total",
                   "train.eps": "code: Adam eps 1e-7", "model.codebook_max_features": "unpublished default "
                   "(the code runs k-means per class, 100 centres x 1000 classes; we cluster a seeded subset)"}
    else:
        model = VQGANLCConfig(resolution=32, ch=32, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(8,),
                              z_channels=32, embed_dim=8, n_embed=512, feature_encoder="smoke_vit")
        loss = LossConfig(disc_start=150, codebook_weight=0.1, perceptual_weight=1.0, disc_weight=0.1,
                          disc_ndf=16, disc_layers=2)
        train = TrainConfig(steps=300, batch_size=8, base_lr=1e-4, lr_scaling="none", eps=1e-7, warmup_steps=15,
                            schedule="cosine", ckpt_every=100, num_workers=0)
        sources = {"all": "smoke scale: tiny widths, 32 px, K=512 (k-means needs several features per centre: "
                          "420 images x 16 features), seeded tiny ViT encoder; same code paths"}
    return TokenizerEntry(name, scale, "vqgan-lc", "Zhu et al. 2024 (VQGAN-LC)", model, loss, train, sources)


@register_tokenizer
def vqganlc_f16_100k(scale: str) -> TokenizerEntry:
    """VQGAN-LC, f16, 100,000 frozen CLIP ViT-L/14 codes projected to D'=8 (VQGAN-LC Tables 1-2 main row)."""
    return _vqganlc("vqganlc_f16_100k", scale, 100_000)


# --- SeQ-GAN (Gu et al. 2024): MaskGIT backbone, entropy-regularised codebook, semantic perceptual loss -----

_SEQ = "SeQ-GAN paper (Gu et al. 2024) Sec. 3-4; MaskGIT vqgan_tokenizer.py backbone (Table 1 baseline 54.5M)"
_SEQ_CONV_GAP = ("SeQ-GAN Table 1 prints 70.0M for +Conv x2. Two extra residual blocks (MaskGIT's, bias-free) after "
                 "every decoder level counts 69.9M; the remaining 0.1M is an unpublished detail of the block.")


def _seqgan(name: str, scale: str, extra: str, mlp_ratio: float, published: float | None,
            gap: str | None = None) -> TokenizerEntry:
    """A one-phase SeQ-GAN tokenizer with L_low (alpha=0), as Tables 1, 5, 6 train their baselines."""
    if scale == "paper":
        model = SeQGANConfig(decoder_extra=extra, attn_mlp_ratio=mlp_ratio)
        loss = LossConfig(disc_start=20_000, perceptual="semantic", semantic_alpha=0.0, perceptual_weight=1.0,
                          codebook_weight=1.0, disc_weight=0.8)
        train = TrainConfig(steps=500_000, batch_size=8, n_gpu=8, base_lr=1e-4, lr_scaling="none",
                            ckpt_every=5000, num_workers=8)
        sources = {"model": _SEQ, "model.entropy_gamma": "SeQ-GAN Sec. 3.4: gamma = 0.01",
                   "train.base_lr": "SeQ-GAN Sec. 4.1: Adam, lr 1e-4, 500,000 iterations",
                   "train.batch_size": "unpublished default (supplementary not available)",
                   "loss.disc_start": "unpublished default", "loss.disc_weight": "unpublished default (taming)",
                   "model.attn_window": "unpublished default (HiT-style 8 x 8 regions)",
                   "model.attn_mlp_ratio": "our reading: Table 1's attention blocks carry a 2x MLP (61.4M); "
                                           "the final SeQ-GAN decoder's do not (57.9M)"}
    else:
        model = SeQGANConfig(resolution=32, ch=32, ch_mult=(1, 2, 2), num_res_blocks=1, embed_dim=32, n_embed=64,
                             decoder_extra=extra, attn_mlp_ratio=mlp_ratio)
        loss = LossConfig(disc_start=150, perceptual="semantic", semantic_alpha=0.0, disc_ndf=16, disc_layers=2)
        train = TrainConfig(steps=300, batch_size=8, base_lr=1e-4, lr_scaling="none", ckpt_every=100, num_workers=0)
        sources = {"all": "smoke scale: tiny widths, 32 px, codebook size / 16; seeded random VGG16; same code paths"}
    return TokenizerEntry(name, scale, "seqgan", "Gu et al. 2024 (SeQ-GAN)", model, loss, train, sources,
                          published if scale == "paper" else None, 1, gap if scale == "paper" else None)


@register_tokenizer
def seqgan_baseline_f16_1024(scale: str) -> TokenizerEntry:
    """SeQ-GAN Table 1 'baseline VQ' (= Table 5 '+H(D)', Table 6 L_low): 16x16, 1024 codes, 54.5M."""
    return _seqgan("seqgan_baseline_f16_1024", scale, "none", 0.0, 54.5)


@register_tokenizer
def seqgan_conv_f16_1024(scale: str) -> TokenizerEntry:
    """SeQ-GAN Table 1 '+Conv x2': two extra residual blocks per decoder level (70.0M)."""
    return _seqgan("seqgan_conv_f16_1024", scale, "conv", 0.0, 70.0, _SEQ_CONV_GAP)


@register_tokenizer
def seqgan_attn_f16_1024(scale: str) -> TokenizerEntry:
    """SeQ-GAN Table 1 '+Attention x2': regional + dilated attention blocks per decoder level (61.4M)."""
    return _seqgan("seqgan_attn_f16_1024", scale, "attn", 2.0, 61.4)


@register_tokenizer
def seqgan_f16_1024(scale: str) -> TokenizerEntry:
    """SeQ-GAN (Tables 2-4): phase 1 alpha=1 with the baseline decoder, phase 2 freezes encoder + codebook and
    finetunes an attention-enhanced decoder with alpha=0 (57.9M, Table 3)."""
    base = _seqgan("seqgan_f16_1024", scale, "attn", 0.0, 57.9)
    paper = scale == "paper"
    train2 = dataclasses.replace(base.train, steps=200_000 if paper else 150, base_lr=5e-5 if paper else 5e-5,
                                 freeze=("encoder", "quantize"))
    phase1 = {"model": {"decoder_extra": "none"}, "loss": {"semantic_alpha": 1.0},
              "train": {"steps": base.train.steps, "base_lr": base.train.base_lr, "freeze": ()}}
    sources = {**base.sources, "train (phase 2)": "SeQ-GAN Sec. 4.1: 200,000 iterations at lr 5e-5",
               "phase 2 decoder": "unpublished: initialised from phase 1 where layers coincide; the attention "
                                  "blocks and a fresh discriminator start from scratch"}
    return dataclasses.replace(base, loss=dataclasses.replace(base.loss, semantic_alpha=0.0), train=train2,
                               sources=sources, phase1=phase1, phase=2)


# Ablation knobs the tables sweep, as config fields (python bench/run.py tokenizer.model.<knob>=<value>).
KNOBS: dict[str, str] = {
    "model.beta_placement": "legacy | corrected (taming quantizer; VQ, MoVQ)",
    "model.quantizer": "vq | fc | ema | rq | lc, or any registered quantizer (VQGAN family; lc needs a VQGAN-LC entry)",
    "model.depth": "RQ depth (code channels per position)",
    "model.f0": "fourier | sinusoid | constant | quantized (MoVQ Fig. 6a; 'quantized' = ai-forever code)",
    "model.channels": "1 | 2 | 4 | 8 | 16 (MoVQ Fig. 6c; must divide embed_dim)",
    "model.spatial_norm": "first3 (paper) | all (ai-forever code) | none (MoVQ Fig. 6a row B: multichannel only)",
    "model.n_embed": "codebook size",
    "loss.pixel_loss": "l1 (taming) | mse (RQ-VAE)",
    "model.codebook_init": "kmeans | random_selection | random (VQGAN-LC Table 6)",
    "model.kmeans_scope": "all (paper Sec. 3.2) | per_class (released code: n_embed / classes centres per class)",
    "model.feature_encoder": "clip_vit_l14 | clip_vit_b16 | clip_rn50 | smoke_vit (VQGAN-LC Table 6 codebook source)",
    "model.projector / model.codebook_trainable": "VQGAN-LC Table 9 (static codebook with/without projector)",
    "model.embed_dim": "projected code dimension D' (VQGAN-LC Table 10: 8..512)",
    "model.codebook_dataset": "dataset the codebook is built on (VQGAN-LC Table 8 transfer)",
    "model.codebook_reg": "entropy | kmeans | fn | none (SeQ-GAN Table 5)",
    "model.decoder_extra": "none | conv | attn (SeQ-GAN Table 1 decoders)",
    "loss.perceptual": "lpips | semantic (SeQ-GAN Eq. 3)",
    "loss.semantic_alpha": "SeQ-GAN semantic ratio alpha (Fig. 6b)",
    "loss.low_layers / loss.sem_layers": "VGG16 layer sets (SeQ-GAN Table 6 variants A-E)",
    "train.schedule / train.warmup_steps": "constant (taming) | cosine with linear warm-up (VQGAN-LC)",
}


register_plugins()
