"""Stage runners of the downstream tasks: token cache, prior training, sampling, generation reference
statistics and metrics, classification on tokens, and the papers' analyses. Every runner writes records with
the same provenance and protocol columns as reconstruction."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from bench.core.artifacts import load_artifact, save_artifact
from bench.stages.base import (
    Runtime,
    Stage,
    metric_weights_label,
    runner,
    stage_dir,
    to_json,
    write_json_atomic,
    write_records,
)
from bench.stages.common import load_trained_tokenizer, metric_weights_spec, open_dataset, prior_entry_of
from bench.stages.specs import (
    Analysis,
    ClassifyTokens,
    EvalGeneration,
    GenReference,
    SamplePrior,
    TokenCache,
    TokenizerSpec,
    TrainPrior,
)
from bench.training.loop import write_progress
from models.priors.base import prior_for
from models.priors.registry import PriorEntry, build_prior, sample_count, sample_protocol
from tasks.analysis_runners import ANALYSES, AnalysisContext
from tasks.data.device_decode import finish_batch
from tasks.data.imagefolder import collate_skip_corrupt
from tasks.data.subset import draw_indices
from tasks.metrics.adm import REF_BATCH
from tasks.metrics.fid import FeatureStats, frechet_distance, sample_size_facts
from tasks.metrics.protocols import CLEAN_FID, get_protocol
from tasks.token_cache import encode_split, load_cache


def _tokenizer(rt: Runtime, train_key: str, tok_cfg: TokenizerSpec) -> torch.nn.Module:
    return load_trained_tokenizer(rt, train_key, tok_cfg).eval()


def prior_entry(c: Any) -> PriorEntry:
    """Rebuild the bound prior a stage was planned with (from its spec, or the spec's JSON form)."""
    return prior_entry_of(c["prior"] if isinstance(c, dict) else c.prior)


@runner("token_cache")
def run_token_cache(stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
    c: TokenCache = stage.spec  # type: ignore[assignment]
    model = _tokenizer(rt, c.train, c.tokenizer)
    data = open_dataset(c.dataset, c.split)
    return encode_split(model, data, c.store, device, out, c.split,
                        on_batch=lambda i, n: write_progress(out / "progress.json", i, n, f"encode {c.split}"),
                        hflip=c.hflip)


@runner("train_prior")
def run_train_prior(stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
    from bench.training.prior import prepare_inputs, train_prior

    c: TrainPrior = stage.spec  # type: ignore[assignment]
    entry = prior_entry(c)
    values, labels, info = load_cache(stage_dir(rt.work_dir, c.cache), "train", entry.inputs)
    inputs = prepare_inputs(entry, values, info)
    if c.flip_cache:  # (N, 2, d, h, w): the image's latents and its flipped image's, drawn per step
        fv, fl, _ = load_cache(stage_dir(rt.work_dir, c.flip_cache), "train", entry.inputs)
        if not np.array_equal(fl, labels):
            raise RuntimeError(f"the flipped latent cache {c.flip_cache} does not match the cache's images")
        inputs = torch.stack([inputs, prepare_inputs(entry, fv, info)], 1)
    summary = train_prior(entry, inputs, torch.from_numpy(labels), out, c.seed, device)
    return {**summary, "cache_images": int(len(values)), "hflip": bool(c.flip_cache)}


@runner("gen_reference")
def run_gen_reference(stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
    """Reference statistics of the real split (Inception mean/cov; VGG16 fc2 features for precision/recall)."""
    from tasks.generation import GenerationFeatures
    from tasks.metrics.image import to_uint8

    c: GenReference = stage.spec  # type: ignore[assignment]
    w = c.metric_weights
    seed = c.subset_seed
    data = open_dataset(c.dataset, c.split, c.max_images, subset_seed=seed)  # max_ref_images: a seeded draw
    # precision/recall reference features: a seeded random draw over the images read, not the first keep_vgg
    vgg_pick, vgg_draw = draw_indices(len(data), c.keep_vgg, seed)
    adm_protocol = c.protocol == "adm"
    if adm_protocol:  # the ADM evaluator's reference batch: a seeded random 10k (REF_BATCH) of the split
        vgg_pick, vgg_draw = draw_indices(len(data), c.ref_batch or REF_BATCH, seed)
    feats = GenerationFeatures(metric_weights_spec(w, rt), device, c.keep_vgg,
                               keep_pool=adm_protocol)
    loader = DataLoader(data, batch_size=feats.batch_size, shuffle=False, num_workers=0,
                        collate_fn=collate_skip_corrupt)
    keep = torch.zeros(len(data), dtype=torch.bool)
    keep[vgg_pick] = True
    for i, batch in enumerate(loader):
        batch = finish_batch(batch, torch.device("cpu"))  # the features take host uint8 arrays
        if "image" in batch:
            feats.update(to_uint8(batch["image"]).permute(0, 2, 3, 1).numpy(), vgg_mask=keep[batch["index"]])
        write_progress(out / "progress.json", i + 1, len(loader), "reference features")
    feats.stats.save(out / "inception_stats.npz")
    save_artifact(out / "vgg_fc2.safetensors", torch.cat(feats.vgg_feats))
    if adm_protocol:
        save_artifact(out / "inception_pool_ref.safetensors", torch.cat(feats.pool))
    write_json_atomic(out / "hashes.json", feats.hashes)
    subset = {**data.subset.facts("ref_subset"), **vgg_draw.facts("ref_prc_subset")}
    if c.protocol == CLEAN_FID:  # VQGAN-LC: clean-fid of the raw split folder(s) (tasks/metrics/fid_clean.py)
        subset.update(_clean_reference(c, data, feats.inception, device, out))
    write_json_atomic(out / "subset.json", subset)
    return {"images": feats.stats.n, "vgg_features": sum(len(v) for v in feats.vgg_feats), **feats.hashes, **subset}


def _clean_reference(c: GenReference, data: Any, inception: torch.nn.Module, device: torch.device,
                     out: Path) -> dict[str, Any]:
    """clean-fid statistics of every raw image of the reference split(s), saved as clean_stats.npz; their facts."""
    from tasks.metrics.fid_clean import clean_stats_of_files, reference_splits

    splits = reference_splits(c.dataset.name)
    paths = list(data.paths)
    for split in splits[1:]:  # FFHQ: train + val (VQGAN-LC Sec. 4.1)
        paths += list(open_dataset(c.dataset, split, c.max_images, subset_seed=c.subset_seed).paths)
    stats = clean_stats_of_files(inception, paths, device)
    stats.save(out / "clean_stats.npz")
    return {"fid_reference_splits": "+".join(splits), "fid_reference_files": stats.n}


@runner("sample_prior")
def run_sample_prior(stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
    from tasks.generation import class_plan, sample_images, save_samples

    c: SamplePrior = stage.spec  # type: ignore[assignment]
    from models.priors.ema import load_prior_weights

    entry = prior_entry(c)
    prior = build_prior(entry)
    weights, weight_facts = load_prior_weights(stage_dir(rt.work_dir, c.trained_prior) / "prior.safetensors",
                                               entry.sample.weights)
    prior.load_state_dict(weights)
    tokenizer = _tokenizer(rt, c.train, c.tokenizer)
    info = None
    if entry.inputs == "latents":
        _, _, info = load_cache(stage_dir(rt.work_dir, c.cache), "train", "latents")
    labels = class_plan(sample_count(entry), entry.model.n_classes, entry.sample.class_sampling, c.seed)
    images, speed = sample_images(entry, prior, tokenizer, labels, info, c.seed, device)
    save_samples(out / "samples.npz", images, labels)
    return {"samples": int(len(images)), **speed, **weight_facts}


@runner("eval_generation")
def run_eval_generation(stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
    from tasks.generation import GenerationFeatures, generation_metrics

    c: EvalGeneration = stage.spec  # type: ignore[assignment]
    w = c.metric_weights
    samples = np.load(stage_dir(rt.work_dir, c.samples) / "samples.npz")
    ref_dir = stage_dir(rt.work_dir, c.reference)
    protocol_name = get_protocol(c.protocol).name
    adm_protocol = protocol_name == "adm"
    feats = GenerationFeatures(metric_weights_spec(w, rt), device, c.keep_vgg,
                               keep_pool=adm_protocol)
    images = samples["images"]
    for i in range(0, len(images), feats.batch_size):  # tasks/generation.yaml batch_size
        feats.update(images[i:i + feats.batch_size])
    ref_stats = FeatureStats.load(ref_dir / "inception_stats.npz")
    ref_pool = load_artifact(ref_dir / "inception_pool_ref.safetensors") if adm_protocol else None
    ref_vgg = load_artifact(ref_dir / "vgg_fc2.safetensors")
    values = generation_metrics(feats, ref_stats, ref_vgg, protocol=protocol_name,
                                ref_pool=ref_pool)
    entry = prior_entry(c)
    clean = {}
    if protocol_name == CLEAN_FID:  # VQGAN-LC's FID: clean-fid of the sample files vs the raw split's files
        from tasks.metrics.fid_clean import clean_stats_of_samples, sample_file

        fake_clean = clean_stats_of_samples(feats.inception, images, prior_for(entry).sample_file, device)
        ref_stats = FeatureStats.load(ref_dir / "clean_stats.npz")
        values["fid"] = frechet_distance(fake_clean.statistics(), ref_stats.statistics())
        clean = {"fid_sample_files": sample_file(prior_for(entry).sample_file)}
    from bench.stages.base import done_summary  # verified done.json (the input was verified before this stage ran)

    sample_done = done_summary(rt.work_dir, c.samples)
    if sample_done is None:  # damaged since this stage's inputs were checked: set aside, redone by the next run
        raise RuntimeError(f"input {c.samples} is no longer done; re-run the suite to redo it")
    s, proc = entry.sample, entry.process
    protocol = {"split": f"{c.dataset.name}/{c.ref_split} (reference)", "image_count": int(len(images)),
                "sample_count": int(len(images)), "class_sampling": s.class_sampling, "prior": entry.name,
                "prior_kind": entry.kind, "guidance_scale": getattr(proc, "cfg_scale", s.cfg_scale),
                "guidance_channels": getattr(proc, "cfg_channels", "all" if s.cfg_scale != 1.0 else "none"),
                "sampling_steps": s.steps or getattr(proc, "sample_steps", None) or entry.model.positions,
                "top_k": s.top_k, "top_p": s.top_p, "temperature": s.temperature,
                "sampler": getattr(proc, "sampler", "ancestral" if proc is not None else entry.kind),
                **sample_protocol(entry), "prior_weights": sample_done.get("prior_weights", "raw"),
                "ema_decay": sample_done.get("ema_decay"),
                "forward_passes": sample_done["forward_passes"], "images_per_second": sample_done["images_per_second"],
                "metric_weights": metric_weights_label(w), "scale": c.prior.scale,
                "task": f"generation@v{c.task_version}", "tokens_per_image": c.tokens_per_image,
                "codebook_size": c.codebook_size, "eval_protocol": protocol_name}
    subset_file = ref_dir / "subset.json"  # which reference images (written by gen_reference)
    if subset_file.is_file():
        protocol.update(json.loads(subset_file.read_text()))
    fid_row = {"metric": "fid", "value": values["fid"], **sample_size_facts(feats.stats.n, ref_stats.n), **clean}
    n = write_records(out, stage, device, c.seed, feats.hashes, {k: v for k, v in values.items() if k != "fid"},
                      protocol, [fid_row])
    return {**values, "records": n}


@runner("classify_tokens")
def run_classify(stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
    from tasks.classification import CLASSIFIERS, build_classifier, train_and_evaluate

    c: ClassifyTokens = stage.spec  # type: ignore[assignment]
    tr, tr_y, _ = load_cache(stage_dir(rt.work_dir, c.train_cache), "train", "indices")
    va, va_y, _ = load_cache(stage_dir(rt.work_dir, c.val_cache), "val", "indices")
    cfg = CLASSIFIERS.get(c.classifier)[c.scale]
    model = build_classifier(cfg, c.codebook_size, tuple(c.latent_shape), c.n_classes, rt.weights_dir)
    res = train_and_evaluate(cfg, model, torch.from_numpy(tr.astype(np.int64)), torch.from_numpy(tr_y),
                             torch.from_numpy(va.astype(np.int64)), torch.from_numpy(va_y), c.seed, device)
    protocol = {"split": f"{c.dataset_name}/val", "image_count": int(len(va)), "train_images": int(len(tr)),
                "classifier": c.classifier, "recipe": "MAE finetune (layer decay, label smoothing, cosine)",
                "train_augment": cfg.augments(),
                "scale": c.scale, "metric_weights": "none (no metric network)",
                "task": f"classification@v{c.task_version}"}
    n = write_records(out, stage, device, c.seed, {}, {"top1": res["top1"]}, protocol)
    return {**res, "records": n}


def _load_prior(c: Analysis, rt: Runtime, device: torch.device) -> tuple[PriorEntry, torch.nn.Module]:
    """The analysis stage's trained prior (its `trained_prior` input), in eval mode on the device."""
    entry = prior_entry(c)
    prior = build_prior(entry)
    prior.load_state_dict(load_artifact(stage_dir(rt.work_dir, c.trained_prior) / "prior.safetensors")["state_dict"])
    return entry, prior.eval().to(device)


@runner("analysis")
def run_analysis(stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
    """One of the papers' analyses (spec `analysis`: a runner registered in tasks/analysis_runners.py): records
    with the analysis variable in 'setting'."""
    c: Analysis = stage.spec  # type: ignore[assignment]
    analysis = ANALYSES.get(c.analysis)
    tokenizer = _tokenizer(rt, c.train, c.tokenizer).to(device)
    ctx = AnalysisContext(to_json(c), tokenizer, device, out, metric_weights_spec(c.metric_weights, rt),
                          stage_dir(rt.work_dir, c.train) / "train_log.jsonl",
                          lambda split, *a, **kw: open_dataset(c.dataset, split, *a, **kw),
                          lambda: _load_prior(c, rt, device))
    res = analysis(ctx)
    base = {"scale": c.scale, "metric_weights": metric_weights_label(c.metric_weights),
            "task": f"{c.analysis}@v{c.task_version}", **res.protocol}
    n = write_records(out, stage, device, c.seed, res.hashes, {}, base, res.rows)
    return {"records": n, "analysis": c.analysis}
