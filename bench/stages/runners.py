"""What each stage kind does: train a tokenizer; evaluate its reconstructions into metric records."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from bench.core.artifacts import load_artifact, save_artifact
from bench.core.paths import cache_dir
from bench.core.provenance import device_string, kernel_path, package_versions, stable_hash, state_dict_hash
from bench.core.resources import resolve
from bench.stages.base import (
    Runtime,
    Stage,
    key_payload,
    metric_weights_label,
    runner,
    stage_dir,
    write_json_atomic,
    write_records,
)
from bench.stages.common import entry_from_config, load_trained_tokenizer, metric_weights_spec, open_dataset
from bench.stages.specs import BuildCodebook, EvalReconstruction, ModelFacts, TrainTokenizer
from bench.training.loop import write_progress
from bench.training.tokenizer import train_tokenizer
from models.converters import convert_checkpoint
from models.plugins import PluginConfig
from models.registry import TokenizerEntry, build_tokenizer
from tasks.data.imagefolder import Protocol, collate_skip_corrupt
from tasks.data.loader import loader_options, resolve_workers
from tasks.metrics.protocols import get_protocol, protocol_dataset
from tasks.reconstruction import evaluate_reconstruction
from tasks.registry import TASKS


def stage_loader_options(rt: Runtime, device: torch.device) -> dict[str, Any]:
    """DataLoader settings from the runtime (speed only): workers, pinned memory on CUDA, prefetch."""
    return loader_options(resolve_workers(rt.loader_workers), device, rt.prefetch_factor)


@runner("build_codebook")
def run_build_codebook(stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
    """VQGAN-LC: encoder patch features of the training split -> k-means / random selection -> codebook.safetensors."""
    from models.feature_encoders import build_feature_encoder
    from tasks.codebook import cluster, extract_features, per_class_codebook

    c: BuildCodebook = stage.spec  # type: ignore[assignment]
    w = c.encoder_weights
    encoder = build_feature_encoder(c.encoder, w.mode, w.seed, rt.weights_dir)
    data = open_dataset(c.dataset, "train")
    scope = c.kmeans_scope
    if scope == "per_class":  # the released code's codebook; max_features then caps each class
        centres, info = per_class_codebook(encoder, data, c.n_embed, c.init, c.seed, c.kmeans_iters,
                                           device, c.max_features, on_class=lambda i, n: write_progress(
                                               out / "progress.json", i, n, f"per-class k-means {c.encoder}"))
        used, n_feats = info.pop("images"), -1
    else:  # the paper's: one K-means over (a seeded subset of) all features
        feats, used = extract_features(encoder, data, c.max_features, c.seed, device, on_batch=lambda i, n:
                                       write_progress(out / "progress.json", i, n, f"features {c.encoder}"))
        centres, info = cluster(feats, c.n_embed, c.init, c.seed, c.kmeans_iters)
        n_feats = int(feats.shape[0])
    info["kmeans_scope"] = scope
    if centres.shape[1] != c.dim:
        raise ValueError(f"encoder '{c.encoder}' gives {centres.shape[1]}-d features, the model expects {c.dim}")
    codebook = torch.from_numpy(centres)
    encoder_hash = state_dict_hash(encoder.visual)
    save_artifact(out / "codebook.safetensors", {"codebook": codebook, "encoder": c.encoder,
                                                 "encoder_weights": w.mode, "encoder_hash": encoder_hash})
    return {"features": n_feats, "images": used, "n_embed": c.n_embed, "dim": int(codebook.shape[1]),
            "encoder": c.encoder, "encoder_weights": metric_weights_label(w),
            "encoder_hash": encoder_hash, **info}


def _train_init(stage: Stage, rt: Runtime, entry: TokenizerEntry):
    """What a train stage starts from: its quantizer's precomputed stage (VQGAN-LC's codebook) and/or the previous
    phase's weights."""
    c: TrainTokenizer = stage.spec  # type: ignore[assignment]

    def init(model: torch.nn.Module) -> dict[str, Any]:
        info: dict[str, Any] = {}
        if c.precomputed:  # the stage the quantizer asked for (models.quantizers.base.Precompute)
            info.update(model.quantize.load_precomputed(c.precomputed, stage_dir(rt.work_dir, c.precomputed)))
        if c.phase1:
            path = stage_dir(rt.work_dir, c.phase1)
            state = load_artifact(path / "tokenizer.safetensors")["state_dict"]
            info.update(load_previous_phase(model, state), init_from=c.phase1)
        return info

    return init


def load_previous_phase(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Load phase-1 weights into a phase-2 model: every phase-1 tensor must fit; only new decoder layers may be left."""
    own = model.state_dict()
    unexpected = sorted(k for k in state if k not in own)
    mismatched = sorted(k for k in state if k in own and own[k].shape != state[k].shape)
    missing = sorted(k for k in own if k not in state)
    bad_missing = [k for k in missing if not k.startswith("decoder.")]
    if unexpected or mismatched or bad_missing:
        raise ValueError(f"phase-1 weights do not fit the phase-2 model: unexpected {unexpected[:10]}, shape "
                         f"mismatch {mismatched[:10]}, missing outside the decoder {bad_missing[:10]}")
    model.load_state_dict(state, strict=False)
    return {"new_params_from_scratch": len(missing)}


@runner("train_tokenizer")
def run_train(stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
    c: TrainTokenizer = stage.spec  # type: ignore[assignment]
    entry = entry_from_config(c.tokenizer)
    if isinstance(entry.model, PluginConfig):  # a plugin's weights are its builder's: kept as they are
        save_artifact(out / "tokenizer.safetensors", {"entry": entry.to_dict(),
                                                      "state_dict": build_tokenizer(entry).state_dict()})
        return {"trained": False, **entry.model.provenance(), "device": device_string(device)}
    data = open_dataset(c.dataset, "train", augment=entry.train.augment)
    summary = train_tokenizer(entry, data, out, c.seed, device, metric_weights_spec(c.metric_weights, rt),
                              init=_train_init(stage, rt, entry) if stage.inputs else None,
                              loader_opts=stage_loader_options(rt, device))
    # the platform the training ran on: the golden trajectory check compares only like with like
    return {**summary, "device": device_string(device), "packages": package_versions(),
            "metric_weights": metric_weights_label(c.metric_weights)}


@runner("eval_reconstruction")
def run_eval(stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
    c: EvalReconstruction = stage.spec  # type: ignore[assignment]
    task = TASKS.get(c.task)
    entry = entry_from_config(c.tokenizer)
    released = c.checkpoint
    if released:  # released weights through their converter (tokenizer.checkpoint=PATH)
        model = build_tokenizer(entry)
        fmt = convert_checkpoint(resolve(released.path), model, released.format, released.trust)
    else:
        model = load_trained_tokenizer(rt, c.train, c.tokenizer)
    model.to(device)
    d = protocol_dataset(c.dataset, c.protocol)  # vqganlc: eval_reconstruction.py's cv2 resize
    data = open_dataset(d, task.split, c.max_images)
    loader = DataLoader(data, batch_size=task.batch_size, shuffle=False, collate_fn=collate_skip_corrupt,
                        **stage_loader_options(rt, device))
    spec = metric_weights_spec(c.metric_weights, rt)
    # the real-image statistics' cache key: what names the images and their preprocessing (the stage key's rule),
    # and the kernels that compute the features (a simulated CPU gives other last digits: never mixed in one cache)
    key_parts = [key_payload(d), str(data.root), len(data), task.split, c.max_images, key_payload(c.metric_weights),
                 rt.weights_dir, package_versions(), data.subset.facts(), get_protocol(c.protocol).name,
                 kernel_path(device)]
    ref_key = stable_hash(key_parts)
    ref_path = cache_dir("refstats") / f"{d.name}-{ref_key}.npz"  # real-image FID statistics, reused
    result = evaluate_reconstruction(model, loader, c.metrics, spec, device, ref_path, total=len(loader),
                                     on_batch=lambda i: write_progress(out / "progress.json", i, len(loader),
                                                                       f"eval {entry.name} on {d.name}"),
                                     protocol=c.protocol, raw_paths=list(data.paths))
    protocol = {
        "split": f"{d.name}/{task.split}", "image_count": result.n_images, "corrupt_skipped": result.n_corrupt,
        "resolution": d.resolution,
        "crop": Protocol(d.resolution, d.interpolation, decoder=d.decoder).describe(),
        "metric_weights": metric_weights_label(c.metric_weights),
        "scale": entry.scale, "task": f"{task.task}@v{task.version}",
        "weights_source": f"released {fmt} sha256:{released.sha256}" if released else (
            f"plugin {entry.model.plugin} {entry.model.version}" if isinstance(entry.model, PluginConfig)
            else "trained by vqbench"),
        "tokens_per_image": model.tokens_per_image, "codebook_size": model.codebook_size,
        "eval_protocol": get_protocol(c.protocol).name, **data.subset.facts(),
    }
    # the one record writer: each row gets its own metric's protocol facts (bench/stages/base.py write_records)
    plain = {m: v for m, v in result.values.items() if m not in result.metric_facts}
    own = [{"metric": m, "value": result.values[m], **f} for m, f in result.metric_facts.items()]  # e.g. rfid's n
    n_records = write_records(out, stage, device, c.seed, result.weights, plain, protocol, own)
    write_json_atomic(out / "values.json", result.values)
    return {"images": result.n_images, "corrupt_skipped": result.n_corrupt, "records": n_records}


@runner("model_facts")
def run_model_facts(stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
    """Unified Table 1: parameter count (meta device), tokens per image and codebook size, as records."""
    from models.registry import count_params
    from models.tokenizer import latent_shape

    spec: ModelFacts = stage.spec  # type: ignore[assignment]
    entry = entry_from_config(spec.tokenizer)
    h, w, c = latent_shape(entry.model)
    values = {"params_m": count_params(entry) / 1e6, "tokens_per_image": h * w * c,
              "codebook_size": entry.model.n_embed}
    protocol = {"scale": entry.scale, "task": f"model_facts@v{spec.task_version}",
                "published_params_m": entry.published_params, "published_decimals": entry.published_decimals,
                "param_gap": entry.param_gap or "",
                "metric_weights": "none (no metric network)", "split": "none", "image_count": 0}
    n = write_records(out, stage, torch.device("meta"), 0, {}, values, protocol)
    return {"records": n, **values}
