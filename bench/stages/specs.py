"""One typed, frozen spec per stage kind: what a stage computes, with its upstream stages as named fields.

Planners (bench/plan) build these; runners (runners.py, downstream.py) read their fields. Every kind is keyed by
the one rule of bench/stages/base.py StageSpec.key: the kind's KEY_VERSION plus every field (recursively) that is
not at its default. A new field therefore gets a default equal to the old behaviour, and no key changes; a change
of meaning bumps the kind's KEY_VERSION. To add a stage kind: a spec here (or in a plugin module) decorated with
@stage_kind, a runner with @runner(KIND), and the planner that builds it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, get_type_hints

from bench.core.launch_resources import layout
from bench.stages.base import StageSpec, decode, stage_kind, to_json
from models.losses import LossConfig
from models.priors.registry import PriorEntry, bind, create_prior
from models.registry import TokenizerEntry, TrainConfig, apply_overrides, create_entry
from tasks.data.options import DEFAULTS
from tasks.metrics.protocols import DEFAULT_PROTOCOL

# --- pieces several kinds share ------------------------------------------------------------------------------


def stage_resources(processes: int, per_gpu_batch: int, accumulate: int, per_node: int | None = None) -> dict[str, Any]:
    """What a training stage asks every launcher for: nodes x processes per node (one per GPU), and its batch split."""
    nodes, per = layout(processes, per_node)
    return {"nodes": nodes, "gpus_per_node": per, "processes": processes, "per_gpu_batch": per_gpu_batch,
            "accumulate": accumulate, "global_batch": processes * per_gpu_batch * accumulate}


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset as a stage reads it: registry entry (and its data version), root, protocol, corrupt policy."""

    name: str
    version: str
    resolution: int
    # the options' defaults have one home: tasks/data/options.py DatasetOptions
    root: str | None = DEFAULTS.root
    file_list: str | None = DEFAULTS.file_list
    on_corrupt: str = DEFAULTS.on_corrupt
    interpolation: str = DEFAULTS.interpolation
    decoder: str = DEFAULTS.decoder


@dataclass(frozen=True)
class MetricWeights:
    """The metric (or feature-encoder) networks' weights: 'pretrained', or 'random' with a seed."""

    mode: str
    seed: int


@dataclass(frozen=True)
class CheckpointSpec:
    """Fixed weights to evaluate instead of training: the file (a pkg:// reference or an absolute path), its
    sha256 and format; trust: the user allowed a pickle load of it."""

    path: str
    sha256: str
    format: str = "auto"
    trust: bool = False


@dataclass(frozen=True)
class TokenizerSpec:
    """The tokenizer entry a stage was planned with: its registry name and scale, and its model, loss and train
    configs as resolved (overrides and paper recipe applied); `recipe`: the paper recipe behind a paper-scale entry."""

    name: str
    scale: str
    family: str
    model: Any  # the entry's model config dataclass (VQGANConfig, VQGANLCConfig, ..., PluginConfig)
    loss: LossConfig
    train: TrainConfig
    phase: int | None = None  # 1: the first phase of a two-phase recipe (SeQ-GAN)
    recipe: dict[str, Any] | None = None

    @classmethod
    def of(cls, entry: TokenizerEntry) -> TokenizerSpec:
        return cls(entry.name, entry.scale, entry.family, entry.model, entry.loss, entry.train, entry.phase,
                   to_json(entry.recipe))  # as stored: a spec read back from plan.json / stage.json is equal

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TokenizerSpec:
        """From its JSON form; the model config's class comes from the registry entry of that name."""
        base = create_entry(d["name"], d["scale"])
        parts = {part: _typed(type(getattr(base, part)), d[part]) for part in ("model", "loss", "train")}
        return cls(d["name"], d["scale"], d["family"], phase=d.get("phase"), recipe=d.get("recipe"), **parts)

    def entry(self) -> TokenizerEntry:
        """The full registry entry (sources, published figures) with this spec's configs."""
        base = create_entry(self.name, self.scale)
        out = dataclasses.replace(base, model=self.model, loss=self.loss, train=self.train, recipe=self.recipe)
        return dataclasses.replace(out, phase1=None, phase=1) if self.phase == 1 else out


def _typed(cls: type, values: dict[str, Any]) -> Any:
    """A config dataclass from its JSON form, each field decoded by its type."""
    hints = get_type_hints(cls)
    return cls(**{k: decode(hints[k], v) for k, v in values.items()})


@dataclass(frozen=True)
class PriorSpec:
    """The prior a downstream stage uses: registry name and scale, the run's overrides, its kind, what it is bound to
    (codebook size, latent shape and dim, classes), DiT's flip augmentation, and the steps derived from a paper's
    length (bench/plan/prior_lengths.py)."""

    name: str
    scale: str
    overrides: dict[str, Any]
    kind: str
    bind: dict[str, Any]
    hflip: bool = False
    derived: dict[str, Any] | None = None

    def entry(self, derived: bool = True) -> PriorEntry:
        """The bound prior entry the stage was planned with (with the steps derived from a paper's length)."""
        entry = create_prior(self.name, self.scale, self.overrides)
        if derived and self.derived:  # steps derived at plan time from the paper's length (models/priors/lengths.py)
            entry = apply_overrides(entry, {"train": self.derived["train"]})
        b = self.bind
        return bind(entry, b["codebook_size"], tuple(b["latent_shape"]), b["latent_dim"], b["n_classes"])


# --- the stage kinds -----------------------------------------------------------------------------------------


@stage_kind
@dataclass(frozen=True)
class BuildCodebook(StageSpec):
    """VQGAN-LC's codebook (Sec. 3.2): feature-encoder patch features of a training split -> k-means / selection."""

    KIND = "build_codebook"
    KEY_VERSION = 2
    encoder: str
    init: str
    n_embed: int
    dim: int
    max_features: int | None
    kmeans_iters: int
    dataset: DatasetSpec
    seed: int
    encoder_weights: MetricWeights
    kmeans_scope: str = "all"  # 'per_class': the released code's per-class k-means


@stage_kind
@dataclass(frozen=True)
class TrainTokenizer(StageSpec):
    """Train a tokenizer; `precomputed`: the stage its quantizer asked for (VQGAN-LC's codebook), `phase1`: the
    first phase whose weights a two-phase recipe's second phase starts from."""

    KIND = "train_tokenizer"
    KEY_VERSION = 2
    INPUTS = ("precomputed", "phase1")
    tokenizer: TokenizerSpec
    dataset: DatasetSpec
    seed: int
    metric_weights: MetricWeights
    precomputed: str | None = None
    phase1: str | None = None

    def resources(self, per_node: int | None = None) -> dict[str, Any]:
        t = self.tokenizer.train
        return stage_resources(t.n_gpu, t.batch_size, t.accumulate, per_node)


@stage_kind
@dataclass(frozen=True)
class EvalReconstruction(StageSpec):
    """Reconstruction metrics of a trained tokenizer (`train`) or of fixed weights (`checkpoint`)."""

    KIND = "eval_reconstruction"
    KEY_VERSION = 2
    INPUTS = ("train",)
    tokenizer: TokenizerSpec
    dataset: DatasetSpec
    task: str
    task_version: int
    metrics: tuple[str, ...]  # the task's metric list: a metric added to the task gives new keys
    seed: int
    metric_weights: MetricWeights
    max_images: int | None
    train: str | None = None
    checkpoint: CheckpointSpec | None = None
    protocol: str = DEFAULT_PROTOCOL


@stage_kind
@dataclass(frozen=True)
class ModelFacts(StageSpec):
    """Unified Table 1: parameters, tokens per image, codebook size of an entry (no training)."""

    KIND = "model_facts"
    KEY_VERSION = 2
    tokenizer: TokenizerSpec
    task: str
    task_version: int


@stage_kind
@dataclass(frozen=True)
class TokenCache(StageSpec):
    """A split encoded by a trained tokenizer: token indices or latents (flipped images with hflip)."""

    KIND = "token_cache"
    KEY_VERSION = 2
    INPUTS = ("train",)
    tokenizer: TokenizerSpec
    dataset: DatasetSpec
    split: str
    store: str  # 'indices' | 'latents'
    train: str
    hflip: bool = False


@stage_kind
@dataclass(frozen=True)
class TrainPrior(StageSpec):
    """Train a prior on a token cache (and, for DiT's flip augmentation, the flipped cache)."""

    KIND = "train_prior"
    KEY_VERSION = 2
    INPUTS = ("cache", "train", "flip_cache")
    tokenizer: TokenizerSpec
    seed: int
    task_version: int
    prior: PriorSpec
    cache: str
    train: str
    flip_cache: str | None = None

    def resources(self, per_node: int | None = None) -> dict[str, Any]:
        t = self.prior.entry(derived=False).train  # one process; its global batch in micro-batches (accumulate)
        return stage_resources(1, t.batch_size // t.accumulate, t.accumulate, per_node)


@stage_kind
@dataclass(frozen=True)
class GenReference(StageSpec):
    """Reference statistics of a real split for generation metrics (Inception; VGG16 fc2 for precision/recall)."""

    KIND = "gen_reference"
    KEY_VERSION = 2
    dataset: DatasetSpec
    split: str
    max_images: int | None
    metric_weights: MetricWeights
    keep_vgg: int = 50_000
    protocol: str = DEFAULT_PROTOCOL
    subset_seed: int = 0
    ref_batch: int | None = None  # ADM protocol: the reference batch size (None: the evaluator's 10k)


@stage_kind
@dataclass(frozen=True)
class SamplePrior(StageSpec):
    """Samples of a trained prior, decoded by the tokenizer."""

    KIND = "sample_prior"
    KEY_VERSION = 2
    INPUTS = ("trained_prior", "train", "cache")
    tokenizer: TokenizerSpec
    seed: int
    task_version: int
    prior: PriorSpec
    trained_prior: str
    train: str
    cache: str


@stage_kind
@dataclass(frozen=True)
class EvalGeneration(StageSpec):
    """Generation metrics of a prior's samples against a reference split's statistics."""

    KIND = "eval_generation"
    KEY_VERSION = 2
    INPUTS = ("samples", "reference")
    tokenizer: TokenizerSpec
    seed: int
    task_version: int
    metrics: tuple[str, ...]
    prior: PriorSpec
    dataset: DatasetSpec
    ref_split: str
    metric_weights: MetricWeights
    tokens_per_image: int
    codebook_size: int
    samples: str
    reference: str
    keep_vgg: int = 50_000
    protocol: str = DEFAULT_PROTOCOL


@stage_kind
@dataclass(frozen=True)
class ClassifyTokens(StageSpec):
    """A ViT trained on the train split's token maps, scored on the val split's (VQGAN-LC Fig. 1b)."""

    KIND = "classify_tokens"
    KEY_VERSION = 2
    INPUTS = ("train_cache", "val_cache")
    tokenizer: TokenizerSpec
    seed: int
    task_version: int
    metrics: tuple[str, ...]
    classifier: str
    scale: str
    dataset_name: str
    codebook_size: int
    latent_shape: tuple[int, ...]
    n_classes: int
    train_cache: str
    val_cache: str


@stage_kind
@dataclass(frozen=True)
class Analysis(StageSpec):
    """One of the papers' analyses (`analysis`: a task name); `trained_prior` for the two that sample a prior."""

    KIND = "analysis"
    KEY_VERSION = 2
    INPUTS = ("train", "trained_prior")
    tokenizer: TokenizerSpec
    seed: int
    task_version: int
    analysis: str
    dataset: DatasetSpec
    scale: str
    metric_weights: MetricWeights
    train: str
    trained_prior: str | None = None
    prior: PriorSpec | None = None
    ms: tuple[int, ...] | None = None  # token replacement: the M-th nearest codes
    images: int | None = None
    categories: int | None = None  # token replacement as VQGAN-LC Fig. 5: images of this many random classes
    per_category: int | None = None
    ratios: tuple[float, ...] | None = None  # masked reconstruction: mask ratios
    subset_seed: int = 0
