"""Downstream stage graphs (token cache -> prior -> samples -> metrics; classification; analyses), planned per
(tokenizer, dataset) after its training stage. Shared stages (the same cache, the same reference statistics)
are keyed identically and therefore planned, run and stored once."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.core.registry import RegistryError
from bench.stages.base import Stage
from models.priors.registry import PRIOR_KINDS, PRIORS, bind, create_prior
from models.registry import NUMERICS_FIELDS, TokenizerEntry
from models.tokenizer import latent_shape
from tasks.data.registry import DATASETS
from tasks.metrics.protocols import eval_stage_options

# token_replacement: VQGAN-LC Fig. 5 draws the images of 100 random categories (all their val images; at smoke
# scale capped at 32); PSNR on Y (VQGAN-LC's) and RGB
ANALYSIS_DEFAULTS = {"token_replacement": {"ms": [1, 50, 100, 1000], "images": None, "categories": 100,
                                           "per_category": None},
                     "ar_visualization": {"images": 8}, "masked_reconstruction": {"ratios": [1.0, 0.8, 0.6, 0.4, 0.2],
                                                                                 "images": 8},
                     "usage_over_training": {}}
# the analyses that sample need a prior that decodes this way (SeQ-GAN Fig. 4: autoregressive; MoVQ App. A: masked)
ANALYSIS_DECODING = {"ar_visualization": "autoregressive", "masked_reconstruction": "masked"}


def _facts(entry: TokenizerEntry) -> dict[str, Any]:
    m = entry.model
    return {"codebook_size": m.n_embed, "latent_shape": list(latent_shape(m)),
            "latent_dim": getattr(m, "latent_dim", m.embed_dim)}


def _prior_cfg(cfg: dict[str, Any], run: dict[str, Any], name: str, entry: TokenizerEntry, n_classes: int,
               d: dict[str, Any] | None = None) -> dict:
    if name not in PRIORS:
        PRIORS.get(name)  # raises with the valid names
    scale = cfg["scale"]["name"]
    overrides = (run.get("prior_overrides") or {}).get(name) or {}
    # train.precision / tf32 / ... apply to priors too; set only when given, so default stage keys stay unchanged
    numerics = {k: v for k, v in (cfg.get("train") or {}).items() if k in NUMERICS_FIELDS and v is not None}
    if numerics:
        overrides = {**overrides, "train": {**numerics, **(overrides.get("train") or {})}}
    f = _facts(entry)
    p = create_prior(name, scale, overrides)
    p = bind(p, f["codebook_size"], tuple(f["latent_shape"]), f["latent_dim"], n_classes)  # validates now
    out = {"name": name, "scale": scale, "overrides": overrides, "kind": p.kind, "bind": {**f, "n_classes": n_classes}}
    if p.hflip and p.inputs == "latents":
        out["hflip"] = True
    if p.train.length is not None and d is not None:  # the paper's length in its units -> steps on this dataset
        from bench.plan.prior_lengths import derive_prior_length

        out["derived"] = derive_prior_length(p, d, overrides)
    return out


def _cache(cfg: dict, tok_cfg: dict, d: dict, split: str, store: str, train_key: str, labels: dict,
           stages: dict[str, Stage], hflip: bool = False) -> str:
    extra = {"hflip": True} if hflip else {}  # flipped images (DiT's augmentation); absent otherwise, keys hold
    st = Stage("token_cache",
               f"cache {store} of {tok_cfg['name']} on {d['name']}/{split}{' (flipped)' if hflip else ''}",
               {"tokenizer": tok_cfg, "dataset": d, "split": split, "store": store, **extra}, inputs=(train_key,),
               labels=labels)
    stages.setdefault(st.key, st)
    return st.key


@dataclass(frozen=True)
class TaskPlan:
    """What a task kind's planner gets: the run, the trained tokenizer's entry and stage, and the shared facts."""

    cfg: dict[str, Any]
    run: dict[str, Any]
    entry: TokenizerEntry
    task: Any  # tasks.registry.TaskSpec
    d: dict[str, Any]  # the dataset's config
    train_key: str
    labels: dict[str, str]
    weights: dict[str, Any]  # the metric networks' settings (stage config key metric_weights)
    stages: dict[str, Stage]
    tok_cfg: dict[str, Any]
    seed: int
    scale: str
    n_classes: int
    priors: list[dict[str, Any]]
    common: dict[str, Any]  # config keys every downstream stage carries


# task kind -> the function that adds its stages; a new kind registers one with @task_planner("kind")
TASK_PLANNERS: dict[str, Callable[[TaskPlan], None]] = {}


def task_planner(*kinds: str) -> Callable[[Callable[[TaskPlan], None]], Callable[[TaskPlan], None]]:
    """Register the planner of one or more task kinds (the `task` field of tasks/*.yaml)."""
    def deco(fn: Callable[[TaskPlan], None]) -> Callable[[TaskPlan], None]:
        for kind in kinds:
            TASK_PLANNERS[kind] = fn
        return fn
    return deco


def plan_downstream(cfg: dict[str, Any], run: dict[str, Any], entry: TokenizerEntry, task, d: dict[str, Any],
                    train_key: str, labels: dict[str, str], weights: dict[str, Any], stages: dict[str, Stage]) -> None:
    """Add the stages of one downstream task for a trained tokenizer, through its kind's planner."""
    tok_cfg = entry.to_dict()
    seed = cfg["seed"]
    scale = cfg["scale"]["name"]
    n_cls = DATASETS.get(d["name"]).num_classes
    n_classes = n_cls if n_cls > 1 else 0
    priors = [_prior_cfg(cfg, run, p, entry, n_classes, d) for p in (run.get("priors") or [])]
    common = {"tokenizer": tok_cfg, "seed": seed, "task_version": task.version}
    TASK_PLANNERS[task.task](TaskPlan(cfg, run, entry, task, d, train_key, labels, weights, stages, tok_cfg, seed,
                                      scale, n_classes, priors, common))


@task_planner("generation")
def plan_generation(ctx: TaskPlan) -> None:
    """Reference statistics, then per prior: token cache -> train prior -> sample -> generation metrics."""
    cfg, run, entry, d, train_key, labels = ctx.cfg, ctx.run, ctx.entry, ctx.d, ctx.train_key, ctx.labels
    weights, stages = ctx.weights, ctx.stages
    tok_cfg, priors, common = ctx.tok_cfg, ctx.priors, ctx.common
    if not priors:
        raise RegistryError(f"task 'generation' needs priors: [...] in the suite run; registered: {PRIORS.names()}")
    ref = Stage("gen_reference", f"reference statistics of {d['name']}/train",
                {"dataset": d, "split": "train", "max_images": cfg["scale"]["eval"].get("max_ref_images"),
                 "metric_weights": weights, "keep_vgg": 50_000, **_gen_options(cfg)}, labels=labels)
    stages.setdefault(ref.key, ref)
    for p in priors:
        store = PRIOR_KINDS.get(p["kind"]).inputs
        cache = _cache(cfg, tok_cfg, d, "train", store, train_key, labels, stages)
        plab = {**labels, **_prior_row(run, labels, p["name"])}
        flip = {}
        if p.get("hflip"):  # DiT / VQGAN-LC flip images before encoding: a second cache of the flipped split
            flip = {"flip_cache": _cache(cfg, tok_cfg, d, "train", store, train_key, labels, stages, hflip=True)}
        tp = Stage("train_prior", f"train {p['name']} on {entry.name} tokens of {d['name']}",
                   {**common, "prior": p, **flip}, inputs=(cache, train_key, *flip.values()), labels=plab)
        stages.setdefault(tp.key, tp)
        sp = Stage("sample_prior", f"sample {p['name']} + {entry.name}", {**common, "prior": p},
                   inputs=(tp.key, train_key, cache), labels=plab)
        stages.setdefault(sp.key, sp)
        ev = Stage("eval_generation", f"generation metrics {p['name']} + {entry.name}",
                   {**common, "prior": p, "dataset": d, "ref_split": "train", "metric_weights": weights,
                    "keep_vgg": 50_000, "tokens_per_image": _tokens(entry),
                    "codebook_size": entry.model.n_embed, **_gen_options(cfg)}, inputs=(sp.key, ref.key),
                   labels=plab)
        stages.setdefault(ev.key, ev)


@task_planner("classification")
def plan_classification(ctx: TaskPlan) -> None:
    """Token caches of train and val, then a ViT on the tokens."""
    cfg, entry, d, train_key, labels, stages = ctx.cfg, ctx.entry, ctx.d, ctx.train_key, ctx.labels, ctx.stages
    tok_cfg, scale, n_classes, common = ctx.tok_cfg, ctx.scale, ctx.n_classes, ctx.common
    if n_classes == 0:
        raise RegistryError(f"classification needs a labelled dataset; '{d['name']}' has one class "
                            "(use mini_digits at smoke scale, imagenet at paper scale)")
    tr = _cache(cfg, tok_cfg, d, "train", "indices", train_key, labels, stages)
    va = _cache(cfg, tok_cfg, d, "val", "indices", train_key, labels, stages)
    f = _facts(entry)
    st = Stage("classify_tokens", f"ViT on {entry.name} tokens of {d['name']}",
               {**common, "classifier": "vit_b_tokens", "scale": scale, "dataset_name": d["name"],
                "codebook_size": f["codebook_size"], "latent_shape": f["latent_shape"], "n_classes": n_classes},
               inputs=(tr, va), labels=labels)
    stages.setdefault(st.key, st)


@task_planner("token_replacement", "ar_visualization", "masked_reconstruction", "usage_over_training")
def plan_analysis(ctx: TaskPlan) -> None:
    """The papers' analyses: one analysis stage (after a prior for the two that sample)."""
    cfg, run, entry, task, d, train_key = ctx.cfg, ctx.run, ctx.entry, ctx.task, ctx.d, ctx.train_key
    labels, weights, stages = ctx.labels, ctx.weights, ctx.stages
    tok_cfg, scale, priors, common = ctx.tok_cfg, ctx.scale, ctx.priors, ctx.common
    extra = dict(ANALYSIS_DEFAULTS[task.task])
    if task.task == "token_replacement" and scale != "paper":
        extra["images"] = 32
    inputs = [train_key]
    alab = dict(labels)
    if task.task in ("ar_visualization", "masked_reconstruction"):
        want = ANALYSIS_DECODING[task.task]  # what the analysis samples with (models/priors: Prior.decoding)
        chosen = next((p for p in priors if PRIOR_KINDS.get(p["kind"]).decoding == want), None)
        if chosen is None:
            kinds = [k for k in PRIOR_KINDS if PRIOR_KINDS.get(k).decoding == want]
            raise RegistryError(f"task '{task.task}' needs a {'/'.join(kinds)} prior in the run's priors: [...]")
        cache = _cache(cfg, tok_cfg, d, "train", "indices", train_key, labels, stages)
        plab = {**labels, **_prior_row(run, labels, chosen["name"])}
        tp = Stage("train_prior", f"train {chosen['name']} on {entry.name} tokens of {d['name']}",
                   {**common, "prior": chosen}, inputs=(cache, train_key), labels=plab)
        stages.setdefault(tp.key, tp)
        inputs.append(tp.key)
        extra["prior"] = chosen
        alab = plab
    st = Stage("analysis", f"{task.task} {entry.name} on {d['name']}",
               {**common, **extra, "analysis": task.task, "dataset": d, "scale": scale, "metric_weights": weights},
               inputs=tuple(inputs), labels=alab)
    stages.setdefault(st.key, st)


def _gen_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """Generation-protocol config (scale.eval.protocol=adm, or =paper in a paper's suite); {} otherwise, so existing
    stage keys hold."""
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
