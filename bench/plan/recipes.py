"""Plan-time recipe resolution: a paper-scale entry gets its paper's recipe for the dataset it trains on, with
steps derived from the train-split size and the global batch; impossible recipes are refused here, naming the
entry, the fields and their values. Also writes `results/<suite>/plan.json` with each stage's derived numbers.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

from bench.stages.specs import stage_resources
from models.quantizers import QUANTIZERS
from models.recipes import LR_RULES, Recipe, RecipeError, recipe_for, recipe_paper, to_steps
from models.registry import TokenizerEntry, TrainConfig, apply_overrides, create_entry
from tasks.data.imagefolder import DatasetNotFoundError, list_images
from tasks.data.registry import DATASETS

SECONDS_PER_TRAIN_IMAGE = 0.016  # REPRODUCE.md basis: H100 fp32, taming f16 at batch 12: 0.19 s/step
SECONDS_PER_EVAL_IMAGE = 240 / 50_000  # REPRODUCE.md: 50k-image reconstruction ~4 min
_EXPLICIT = {("train", "steps"), ("train", "warmup_steps"), ("train", "ckpt_every"), ("loss", "disc_start")}


@functools.cache
def _count(name: str, root: str | None, file_list: str | None) -> tuple[int, str]:
    entry = DATASETS.get(name)
    try:
        path = entry.resolve_root(root)
        return len(list_images(path, entry.train_split, file_list)), "counted"
    except DatasetNotFoundError:
        if entry.train_images is None:
            raise RecipeError(f"dataset '{name}': no data to count and no nominal train size "
                              "(tasks/data/registry.py train_images)") from None
        return entry.train_images, "nominal"


def train_images(dataset: dict[str, Any]) -> tuple[int, str]:
    """Train-split size: counted when the data is present, else the registry's nominal size."""
    return _count(dataset["name"], dataset.get("root"), dataset.get("file_list"))


def _with_recipe(entry: TokenizerEntry, recipe: Recipe) -> TokenizerEntry:
    """The recipe's optimiser, batch and loss values on the architecture entry (before user overrides)."""
    if recipe.global_batch % recipe.n_gpu:
        raise RecipeError(f"{entry.name}: recipe {recipe.name} global_batch={recipe.global_batch} is not divisible "
                          f"by n_gpu={recipe.n_gpu}")
    train = {**recipe.train, "batch_size": recipe.global_batch // recipe.n_gpu, "n_gpu": recipe.n_gpu,
             **(recipe.phase2_train if entry.phase == 2 else {})}
    return apply_overrides(entry, {"train": train, "loss": dict(recipe.loss), "model": dict(recipe.model)})


def _check(entry: TokenizerEntry, recipe: Recipe, what: str = "") -> None:
    """Refuse a GAN that never starts and a warm-up that outlasts training."""
    t, loss = entry.train, entry.loss
    where = f"{entry.name}{what} (recipe {recipe.name})"
    if loss.disc_weight > 0 and loss.disc_factor > 0 and loss.disc_start >= t.steps:
        raise RecipeError(f"{where}: loss.disc_start={loss.disc_start} >= train.steps={t.steps}: the discriminator "
                          f"would never train (recipe disc_start={list(recipe.disc_start)}, "
                          f"length={list(recipe.length)})")
    if t.warmup_steps > t.steps:
        raise RecipeError(f"{where}: train.warmup_steps={t.warmup_steps} > train.steps={t.steps} "
                          f"(recipe warmup={list(recipe.warmup)}, length={list(recipe.length)})")
    if t.batch_size < 1 or t.n_gpu < 1:
        raise RecipeError(f"{where}: train.batch_size={t.batch_size}, train.n_gpu={t.n_gpu} must be >= 1")


BATCH_POLICIES = ("exact", "rescale")


class BatchError(RecipeError):
    """The GPUs cannot give the recipe's global batch exactly (the message names the numbers and the fix)."""


def _fits(b: int, n: int, a: int, gb: int) -> bool:
    return n >= 1 and a >= 1 and n * b * a == gb


def _refusal(entry: TokenizerEntry, recipe: Recipe, b: int, a: int | None, have: int, where: str) -> BatchError:
    """The one message of a batch the GPUs cannot give: the numbers, and the overrides that fix it."""
    gb, a1 = recipe.global_batch, a or 1
    need = gb // (b * a1) if gb % (b * a1) == 0 else None
    fixes = [f"launcher.gpus={need}" + (f" ({need} x {b} per GPU)" if a1 == 1 else "")] if need else []
    fewer = next((m for m in range(min(have, need or have), 0, -1) if gb % (b * m) == 0), None) if a is None else None
    if fewer and fewer != need:
        fixes.append(f"launcher.gpus={fewer} ({fewer} x {b} per GPU x accumulation {gb // (b * fewer)})")
    if have >= 1:
        fixes.append(f"train.batch_policy=rescale (global batch {min(have, need or have) * b * a1}, lr "
                     f"{LR_RULES[recipe.name.split('/')[0]].split(':')[0]})")
    pinned = f", train.accumulate={a}" if a is not None else ""
    return BatchError(f"{entry.name} (recipe {recipe.name}): global batch {gb} = per-GPU batch {b} x GPUs x "
                       f"accumulation{pinned} needs {need if need else 'a whole number of'} GPUs; {have} available "
                       f"({where}). Pass {', or '.join(fixes)}")


def fit_batch(entry: TokenizerEntry, recipe: Recipe, explicit: set[tuple[str, str]], budget: tuple[int, str] | None,
              policy: str = "exact") -> TokenizerEntry:
    """GPUs and accumulation so that per-GPU batch x GPUs x accumulation = the recipe's global batch, exactly.

    The per-GPU batch is the recipe's (or train.batch_size). With `budget` GPUs fewer than the paper's, the
    accumulation makes up the difference when they divide it; otherwise planning refuses, naming the fix.
    train.batch_policy=rescale instead runs on the GPUs there are at the per-GPU batch: the global batch changes,
    the lr follows the paper's rule (models/recipes.py LR_RULES) and the change is recorded (entry.recipe
    'deviation', a label on every row). `budget` None: as many GPUs as the paper's layout needs.
    """
    if policy not in BATCH_POLICIES:
        raise BatchError(f"train.batch_policy={policy!r}: expected one of {BATCH_POLICIES}")
    t, gb = entry.train, recipe.global_batch
    b = t.batch_size
    have, where = budget if budget is not None else (None, "")
    a_pin = t.accumulate if ("train", "accumulate") in explicit else None
    if ("train", "n_gpu") in explicit:
        n = t.n_gpu
    else:
        n = gb // (b * (a_pin or 1)) if gb % (b * (a_pin or 1)) == 0 else 0  # the paper's GPU count
        n = min(n, have) if have is not None else n
    a = a_pin if a_pin is not None else (gb // (b * n) if n and gb % (b * n) == 0 else 0)
    if _fits(b, n, a, gb) and (have is None or n <= have):
        return apply_overrides(entry, {"train": {"n_gpu": n, "accumulate": a}})
    if policy != "rescale" or not have:
        raise _refusal(entry, recipe, b, a_pin, have or 0, where)
    n_paper = gb // (b * (a_pin or 1)) or 1
    n = min(have, t.n_gpu if ("train", "n_gpu") in explicit else n_paper)
    before = dataclasses.replace(t, n_gpu=max(1, gb // (b * (a_pin or 1))), accumulate=a_pin or 1).lr
    out = apply_overrides(entry, {"train": {"n_gpu": n, "accumulate": a_pin or 1}})
    rule = LR_RULES[recipe.name.split("/")[0]]
    dev = {"batch_policy": "rescale", "global_batch": [gb, n * b * (a_pin or 1)], "lr": [before, out.train.lr],
           "lr_rule": rule}
    return dataclasses.replace(out, recipe={**(out.recipe or {}), "deviation": dev})


def deviation_label(entry: TokenizerEntry) -> str | None:
    """The record label of a rescaled batch ('global batch 256 -> 64, lr ...'), None when the recipe's holds."""
    dev = (entry.recipe or {}).get("deviation")
    if not dev:
        return None
    (g0, g1), (l0, l1) = dev["global_batch"], dev["lr"]
    return f"batch_policy=rescale: global batch {g0} -> {g1}, lr {l0:.3g} -> {l1:.3g} ({dev['lr_rule'].split(':')[0]})"


def resolve_entry(name: str, scale: str, overrides: dict[str, dict[str, Any]], dataset: dict[str, Any],
                  suite_paper: str | None = None, budget: tuple[int, str] | None = None,
                  policy: str = "exact") -> TokenizerEntry:
    """The entry a training stage runs: smoke as registered; paper with its recipe's steps for this dataset and
    its GPUs, per-GPU batch and accumulation fitted to the `budget` of GPUs (fit_batch)."""
    if scale != "paper":
        return create_entry(name, scale, overrides)
    raw = create_entry(name, "paper")
    recipe = recipe_for(recipe_paper(raw.family, suite_paper), dataset["name"])
    n, how = train_images(dataset)
    entry = apply_overrides(_with_recipe(raw, recipe), overrides)
    explicit = {(part, k) for part, vals in overrides.items() for k, v in (vals or {}).items() if v is not None}
    entry = fit_batch(entry, recipe, explicit, budget, policy)
    deviation = (entry.recipe or {}).get("deviation")
    gb = entry.train.batch_size * entry.train.n_gpu * entry.train.accumulate

    basis = DATASETS.get(recipe.fallback).train_images if recipe.fallback else n

    def steps(q) -> int:
        return to_steps(q, basis, gb)

    # a two-phase entry's stage is phase 2 (its own length); a one-phase entry trains the recipe's phase 1 length
    # (SeQ-GAN Sec. 4.1: 500,000 iterations), never phase2_length (issue 22 item 9)
    length = recipe.phase2_length if entry.phase1 is not None and recipe.phase2_length else recipe.length
    train = {"steps": steps(length), "warmup_steps": steps(recipe.warmup),
             "ckpt_every": max(1, steps(recipe.ckpt_every))}
    train = {k: v for k, v in train.items() if ("train", k) not in explicit}
    loss = {} if ("loss", "disc_start") in explicit else {"disc_start": steps(recipe.disc_start)}
    entry = apply_overrides(entry, {"train": train, "loss": loss})
    if entry.phase1 is not None:  # two-phase: phase 1 runs the recipe's first length at its own lr
        p1 = {**entry.phase1, "train": {**entry.phase1.get("train", {}), "steps": steps(recipe.length),
                                        "base_lr": recipe.train.get("base_lr", raw.train.base_lr)}}
        entry = dataclasses.replace(entry, phase1=p1)
    entry = dataclasses.replace(entry, recipe={**recipe.to_dict(), "dataset_images": n, "dataset_images_from": how,
                                               **({"deviation": deviation} if deviation else {})})
    _check(entry, recipe)
    if entry.phase1 is not None:
        from models.registry import phase1_entry
        _check(phase1_entry(entry), recipe, " phase 1")
    return entry


def derived(tok: dict[str, Any], n_images: int | None, per_node: int | None = None) -> dict[str, Any]:
    """What a training stage's config implies: resources, steps, epochs, images seen, warm-up, GAN start, peak lr."""
    t, loss, model = tok["train"], tok["loss"], tok["model"]
    tc = TrainConfig(**{**t, "betas": tuple(t["betas"]), "freeze": tuple(t["freeze"])})
    gb = tc.batch_size * tc.n_gpu * tc.accumulate
    recipe = tok.get("recipe")
    res = stage_resources(tc.n_gpu, tc.batch_size, tc.accumulate, per_node)
    d: dict[str, Any] = {"resources": res, "per_gpu_batch": tc.batch_size, "accumulate": tc.accumulate,
                         "dataset_images": n_images, "global_batch": gb, "steps": tc.steps,
                         "epochs": round(tc.steps * gb / n_images, 3) if n_images else None,
                         "images_seen": tc.steps * gb, "warmup_steps": tc.warmup_steps,
                         "disc_start_step": loss["disc_start"], "lr_peak": tc.lr, "schedule": tc.schedule}
    if model.get("quantizer") in QUANTIZERS:  # the quantizer's own schedule facts (the EMA decay)
        d.update({f: model.get(f) for f in QUANTIZERS.get(model["quantizer"]).recipe_fields})
    if recipe:
        paper, ds = recipe["name"].split("/", 1)
        d["lr_rule"] = LR_RULES[paper] if tc.lr_scaling == "none" or paper in ("taming", "movq") else tc.lr_scaling
        if recipe.get("deviation"):
            d["deviation"] = recipe["deviation"]
        d["recipe"] = recipe["name"]
        d["dataset_images_from"] = recipe.get("dataset_images_from")
        d["sources"] = recipe_for(paper, ds).sources
    else:
        d["sources"] = {"all": "smoke scale: the registry's short recipe, in steps"}
    return d


def plan_records(stages: list, scale: str, per_node: int | None = None) -> list[dict[str, Any]]:
    """One JSON object per stage: key, kind, name, inputs, the full resolved config, and derived numbers
    (`per_node`: the launcher's GPUs per node, which lays a stage's processes out on nodes)."""
    out = []
    for st in stages:
        rec = {"key": st.key, "kind": st.kind, "key_version": st.spec.KEY_VERSION, "name": st.name,
               "inputs": list(st.inputs), "labels": st.labels, "config": st.config, "derived": {}}
        if st.kind == "train_tokenizer":
            tok = st.config["tokenizer"]
            r = tok.get("recipe")
            n = r["dataset_images"] if r else _smoke_images(st.config["dataset"])
            rec["derived"] = derived(tok, n, per_node)
            rec["derived"]["gpu_hours"] = round(rec["derived"]["images_seen"] * SECONDS_PER_TRAIN_IMAGE / 3600, 2)
        elif st.kind == "train_prior":  # one process; its global batch in micro-batches (train.accumulate)
            t = st.spec.prior.entry(derived=False).train
            res = st.spec.resources(per_node)
            rec["derived"] = {**(st.spec.prior.derived or {}), "resources": res,
                              "per_gpu_batch": res["per_gpu_batch"], "accumulate": res["accumulate"], "lr_peak": t.lr}
        elif st.kind == "eval_reconstruction":
            n = st.config.get("max_images") or (50_000 if scale == "paper" else None)
            rec["derived"] = {"gpu_hours": round(n * SECONDS_PER_EVAL_IMAGE / 3600, 2) if n else None}
        out.append(rec)
    return out


def _smoke_images(dataset: dict[str, Any]) -> int | None:
    try:
        return train_images(dataset)[0]
    except (RecipeError, DatasetNotFoundError):
        return None


def write_plan(stages: list, scale: str, out_dir: Path, per_node: int | None = None) -> Path:
    """results/<suite>/plan.json, and a short per-stage summary with the GPU-hour estimate on stdout."""
    records = plan_records(stages, scale, per_node)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "plan.json"
    path.write_text(json.dumps(records, indent=1, default=str))
    total = 0.0
    for r in records:
        d = r["derived"]
        if r["kind"] == "train_tokenizer":
            total += d["gpu_hours"]
            ep = f"{d['epochs']:g} ep" if d["epochs"] is not None else "? ep"
            res = d["resources"]
            print(f"  {r['key']}  {d['steps']:>9,d} steps  {ep:>10s}  batch {d['global_batch']:4d} = "
                  f"{res['processes']} x {res['per_gpu_batch']} x {res['accumulate']} ({res['nodes']} node(s))  "
                  f"lr {d['lr_peak']:.3g}  GAN from {d['disc_start_step']:,}  ~{d['gpu_hours']:g} GPU-h  "
                  f"[{d.get('recipe', 'smoke')}]")
        elif r["kind"] == "train_prior" and d.get("steps"):
            print(f"  {r['key']}  {d['steps']:>9,d} steps  {d['epochs']:>7g} ep  batch {d['global_batch']:4d}  "
                  f"[{r['config']['prior']['name']}: {d['length'][0]:g} {d['length'][1]} on {d['dataset']}]")
        elif d.get("gpu_hours"):
            total += d["gpu_hours"]
    print(f"wrote {path} ({len(records)} stages; training + reconstruction ~{total:,.0f} H100 GPU-hours)")
    return path
