"""Downstream stage graphs (token cache -> prior -> samples -> metrics; classification; analyses), planned per
(tokenizer, dataset) after its training stage. Shared stages (the same cache, the same reference statistics)
are keyed identically and therefore planned, run and stored once."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.core.registry import Registry, RegistryError
from bench.stages.base import Stage, to_json
from bench.stages.specs import (
    Analysis,
    ClassifyTokens,
    DatasetSpec,
    EvalGeneration,
    GenReference,
    MetricWeights,
    PriorSpec,
    SamplePrior,
    TokenCache,
    TokenizerSpec,
    TrainPrior,
)
from models.priors.registry import PRIOR_KINDS, PRIORS, bind, create_prior
from models.registry import NUMERICS_FIELDS, TokenizerEntry
from models.tokenizer import latent_shape
from tasks.analysis_runners import ANALYSES
from tasks.data.registry import DATASETS
from tasks.metrics.protocols import eval_stage_options

# An analysis's counts and sizes are its task YAML's `settings` (tasks/<analysis>.yaml); two of them are for planning:
# `smoke_images` caps `images` below paper scale, and `prior_decoding` names the prior an analysis samples with
# (models/priors: Prior.decoding). The rest become fields of the Analysis spec.
PLANNING_SETTINGS = ("smoke_images", "prior_decoding")


def _facts(entry: TokenizerEntry) -> dict[str, Any]:
    m = entry.model
    return {"codebook_size": m.n_embed, "latent_shape": list(latent_shape(m)),
            "latent_dim": getattr(m, "latent_dim", m.embed_dim)}


def _prior_cfg(cfg: dict[str, Any], run: dict[str, Any], name: str, entry: TokenizerEntry, n_classes: int,
               d: DatasetSpec | None = None) -> PriorSpec:
    if name not in PRIORS:
        PRIORS.get(name)  # raises with the valid names
    scale = cfg["scale"]["name"]
    overrides = (run.get("prior_overrides") or {}).get(name) or {}
    # train.precision / tf32 / ... apply to priors too, where given
    numerics = {k: v for k, v in (cfg.get("train") or {}).items() if k in NUMERICS_FIELDS and v is not None}
    if numerics:
        overrides = {**overrides, "train": {**numerics, **(overrides.get("train") or {})}}
    f = _facts(entry)
    p = create_prior(name, scale, overrides)
    p = bind(p, f["codebook_size"], tuple(f["latent_shape"]), f["latent_dim"], n_classes)  # validates now
    derived = None
    if p.train.length is not None and d is not None:  # the paper's length in its units -> steps on this dataset
        from bench.plan.prior_lengths import derive_prior_length

        derived = derive_prior_length(p, to_json(d), overrides)
    # DiT's flip augmentation applies to latents only (a token prior never sees flipped images)
    return PriorSpec(name, scale, overrides, p.kind, {**f, "n_classes": n_classes},
                     hflip=bool(p.hflip and p.inputs == "latents"), derived=derived)


def _cache(cfg: dict, tok_cfg: TokenizerSpec, d: DatasetSpec, split: str, store: str, train_key: str, labels: dict,
           stages: dict[str, Stage], hflip: bool = False) -> str:
    st = Stage(f"cache {store} of {tok_cfg.name} on {d.name}/{split}{' (flipped)' if hflip else ''}",
               TokenCache(tok_cfg, d, split, store, train_key, hflip=hflip), labels)
    stages.setdefault(st.key, st)
    return st.key


@dataclass(frozen=True)
class TaskPlan:
    """What a task kind's planner gets: the run, the trained tokenizer's entry and stage, and the shared facts."""

    cfg: dict[str, Any]
    run: dict[str, Any]
    entry: TokenizerEntry
    task: Any  # tasks.registry.TaskSpec
    d: DatasetSpec  # the dataset's config
    train_key: str
    labels: dict[str, str]
    weights: MetricWeights  # the metric networks' settings (stage config key metric_weights)
    stages: dict[str, Stage]
    tok_cfg: TokenizerSpec
    seed: int
    scale: str
    n_classes: int
    priors: list[PriorSpec]
    common: dict[str, Any]  # spec fields every downstream stage carries (tokenizer, seed, task_version)


# task kind -> the function that adds its stages; a new kind registers one with @task_planner("kind")
TASK_PLANNERS: Registry[Callable[[TaskPlan], None]] = Registry("task planner")


def task_planner(*kinds: str) -> Callable[[Callable[[TaskPlan], None]], Callable[[TaskPlan], None]]:
    """Register the planner of one or more task kinds (the `task` field of tasks/*.yaml)."""
    def deco(fn: Callable[[TaskPlan], None]) -> Callable[[TaskPlan], None]:
        for kind in kinds:
            TASK_PLANNERS.add(kind, fn)
        return fn
    return deco


def planner_for(kind: str) -> Callable[[TaskPlan], None] | None:
    """The planner of a downstream task kind: its registered one, or the analysis planner for a registered analysis
    (tasks/analysis_runners.py ANALYSES), so a new analysis needs no planner line; None for a stage-free kind."""
    if kind in TASK_PLANNERS:
        return TASK_PLANNERS.get(kind)
    return plan_analysis if kind in ANALYSES else None


def plan_downstream(cfg: dict[str, Any], run: dict[str, Any], entry: TokenizerEntry, task, d: DatasetSpec,
                    train_key: str, labels: dict[str, str], weights: MetricWeights, stages: dict[str, Stage]) -> None:
    """Add the stages of one downstream task for a trained tokenizer, through its kind's planner."""
    tok_cfg = TokenizerSpec.of(entry)
    seed = cfg["seed"]
    scale = cfg["scale"]["name"]
    n_cls = DATASETS.get(d.name).num_classes
    n_classes = n_cls if n_cls > 1 else 0
    priors = [_prior_cfg(cfg, run, p, entry, n_classes, d) for p in (run.get("priors") or [])]
    common = {"tokenizer": tok_cfg, "seed": seed, "task_version": task.version}
    planner = planner_for(task.task)
    if planner is None:
        raise RegistryError(f"task '{task.task}' has no planner: register one with @task_planner('{task.task}')")
    planner(TaskPlan(cfg, run, entry, task, d, train_key, labels, weights, stages, tok_cfg, seed,
                                      scale, n_classes, priors, common))


@task_planner("generation")
def plan_generation(ctx: TaskPlan) -> None:
    """Reference statistics, then per prior: token cache -> train prior -> sample -> generation metrics."""
    cfg, run, entry, d, train_key, labels = ctx.cfg, ctx.run, ctx.entry, ctx.d, ctx.train_key, ctx.labels
    weights, stages = ctx.weights, ctx.stages
    tok_cfg, priors, common = ctx.tok_cfg, ctx.priors, ctx.common
    if not priors:
        raise RegistryError(f"task 'generation' needs priors: [...] in the suite run; registered: {PRIORS.names()}")
    ref = Stage(f"reference statistics of {d.name}/train",
                GenReference(d, "train", cfg["scale"]["eval"].get("max_ref_images"), weights, **_gen_options(cfg)),
                labels)
    stages.setdefault(ref.key, ref)
    for p in priors:
        store = PRIOR_KINDS.get(p.kind).inputs
        cache = _cache(cfg, tok_cfg, d, "train", store, train_key, labels, stages)
        plab = {**labels, **_prior_row(run, labels, p.name)}
        flip = None
        if p.hflip:  # DiT / VQGAN-LC flip images before encoding: a second cache of the flipped split
            flip = _cache(cfg, tok_cfg, d, "train", store, train_key, labels, stages, hflip=True)
        tp = Stage(f"train {p.name} on {entry.name} tokens of {d.name}",
                   TrainPrior(**common, prior=p, cache=cache, train=train_key, flip_cache=flip), plab)
        stages.setdefault(tp.key, tp)
        sp = Stage(f"sample {p.name} + {entry.name}",
                   SamplePrior(**common, prior=p, trained_prior=tp.key, train=train_key, cache=cache), plab)
        stages.setdefault(sp.key, sp)
        ev = Stage(f"generation metrics {p.name} + {entry.name}",
                   EvalGeneration(**common, metrics=tuple(ctx.task.metrics), prior=p, dataset=d, ref_split="train",
                                  metric_weights=weights, tokens_per_image=_tokens(entry),
                                  codebook_size=entry.model.n_embed, samples=sp.key, reference=ref.key,
                                  **_gen_options(cfg)), plab)
        stages.setdefault(ev.key, ev)


@task_planner("classification")
def plan_classification(ctx: TaskPlan) -> None:
    """Token caches of train and val, then a ViT on the tokens."""
    cfg, entry, d, train_key, labels, stages = ctx.cfg, ctx.entry, ctx.d, ctx.train_key, ctx.labels, ctx.stages
    tok_cfg, scale, n_classes, common = ctx.tok_cfg, ctx.scale, ctx.n_classes, ctx.common
    if n_classes == 0:
        raise RegistryError(f"classification needs a labelled dataset; '{d.name}' has one class "
                            "(use mini_digits at smoke scale, imagenet at paper scale)")
    tr = _cache(cfg, tok_cfg, d, "train", "indices", train_key, labels, stages)
    va = _cache(cfg, tok_cfg, d, "val", "indices", train_key, labels, stages)
    f = _facts(entry)
    st = Stage(f"ViT on {entry.name} tokens of {d.name}",
               ClassifyTokens(**common, metrics=tuple(ctx.task.metrics), classifier="vit_b_tokens", scale=scale,
                              dataset_name=d.name, codebook_size=f["codebook_size"],
                              latent_shape=tuple(f["latent_shape"]), n_classes=n_classes, train_cache=tr,
                              val_cache=va), labels)
    stages.setdefault(st.key, st)


def plan_analysis(ctx: TaskPlan) -> None:
    """The papers' analyses: one analysis stage (after a prior for the two that sample)."""
    cfg, run, entry, task, d, train_key = ctx.cfg, ctx.run, ctx.entry, ctx.task, ctx.d, ctx.train_key
    labels, weights, stages = ctx.labels, ctx.weights, ctx.stages
    tok_cfg, scale, priors, common = ctx.tok_cfg, ctx.scale, ctx.priors, ctx.common
    extra = {k: v for k, v in task.settings.items() if k not in PLANNING_SETTINGS}
    if task.settings.get("smoke_images") is not None and scale != "paper":
        extra["images"] = task.settings["smoke_images"]
    trained_prior = None
    alab = dict(labels)
    want = task.settings.get("prior_decoding")  # what the analysis samples with (models/priors: Prior.decoding)
    if want is not None:
        chosen = next((p for p in priors if PRIOR_KINDS.get(p.kind).decoding == want), None)
        if chosen is None:
            kinds = [k for k in PRIOR_KINDS if PRIOR_KINDS.get(k).decoding == want]
            raise RegistryError(f"task '{task.task}' needs a {'/'.join(kinds)} prior in the run's priors: [...]")
        cache = _cache(cfg, tok_cfg, d, "train", "indices", train_key, labels, stages)
        plab = {**labels, **_prior_row(run, labels, chosen.name)}
        tp = Stage(f"train {chosen.name} on {entry.name} tokens of {d.name}",
                   TrainPrior(**common, prior=chosen, cache=cache, train=train_key), plab)
        stages.setdefault(tp.key, tp)
        trained_prior = tp.key
        extra["prior"] = chosen
        alab = plab
    for k in ("ms", "ratios"):
        if extra.get(k) is not None:
            extra[k] = tuple(extra[k])
    st = Stage(f"{task.task} {entry.name} on {d.name}",
               Analysis(**common, **extra, analysis=task.task, dataset=d, scale=scale, metric_weights=weights,
                        train=train_key, trained_prior=trained_prior), alab)
    stages.setdefault(st.key, st)


def _gen_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """Generation-protocol config (scale.eval.protocol=adm, or =paper in a paper's suite)."""
    return eval_stage_options(cfg["scale"]["eval"], "generation", cfg["suite"].get("paper"))


def _tokens(entry: TokenizerEntry) -> int:
    h, w, c = latent_shape(entry.model)
    return h * w * c


def _prior_row(run: dict[str, Any], labels: dict[str, str], prior: str) -> dict[str, str]:
    """Record labels of tokenizer + prior rows: the paper's (method, setting) where the suite gives them."""
    row = (run.get("prior_rows") or {}).get(prior) or {}
    out = {"method": row.get("method") or f"{labels['method']} + {prior}"}
    if row.get("setting"):
        base = labels["setting"]
        smoke = base[base.index(" ["):] if " [" in base else ""
        out["setting"] = row["setting"] + smoke
    return out
