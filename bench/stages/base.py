"""Stages: units of work keyed by a hash of their config and their inputs' keys; a finished key is never redone.

<work>/stages/<kind>/<key>/ holds a stage's outputs; done.json marks success, failed.json records an error.
done.json is written last and lists every output with its size and sha256 (bench/core/integrity.py); a stage counts
as done only when that list verifies. A damaged stage (an output changed or missing, done.json unreadable, or a
done.json from before outputs were listed) is moved aside to `<key>.corrupt-<UTC time>` with one line, and redone.
"""
from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.core.atomic import write_json_atomic, write_text_atomic
from bench.core.claims import claim
from bench.core.integrity import DamagedArtifact, list_outputs, move_aside, read_manifest, verify_outputs, warn
from bench.core.provenance import provenance, stable_hash
from bench.training import curves


@dataclass(frozen=True)
class Stage:
    """One node of a suite's graph. `labels` are the record keys (dataset, method, setting)."""

    kind: str
    name: str
    config: dict[str, Any]
    inputs: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind}-{stable_hash({'kind': self.kind, 'config': self.config, 'inputs': sorted(self.inputs)})}"


@dataclass(frozen=True)
class Runtime:
    """Settings that change how fast a stage runs, never what it computes (so not part of its key)."""

    work_dir: str
    threads: int = 1
    device: str = "auto"
    weights_dir: str | None = None
    # DataLoader workers of every stage's loaders (scale.loader.workers, the one worker knob): an int, or 'auto'
    # sized from the job's CPUs (tasks/data/loader.py)
    loader_workers: int | str = 0
    prefetch_factor: int = 2
    logging: dict[str, Any] | None = None  # {tensorboard, wandb}: curves mirrored by bench/training/curves.py


def stage_dir(work_dir: str | Path, key: str) -> Path:
    return Path(work_dir) / "stages" / key


def is_done(work_dir: str | Path, key: str) -> bool:
    """Whether the stage finished and its outputs verify; a damaged stage is moved aside (one line) and is not."""
    return done_summary(work_dir, key) is not None


def done_summary(work_dir: str | Path, key: str) -> dict[str, Any] | None:
    """The verified done.json summary (without its list of outputs), or None when the stage is not done. A damaged
    stage is moved aside under its claim; while another process holds the claim it is left alone (not done)."""
    out = stage_dir(work_dir, key)
    if not (out / "done.json").is_file():
        return None
    try:
        return _verified(out)
    except DamagedArtifact:
        pass
    with claim(out, wait=False) as held:
        if not held:
            return None
        try:
            return _verified(out)  # verified again under the claim: another process may have redone it
        except DamagedArtifact as err:
            _set_aside(out, err)
    return None


def _verified(out: Path) -> dict[str, Any] | None:
    """done.json's summary once every listed output verifies (DamagedArtifact otherwise); None without done.json."""
    if not (out / "done.json").is_file():
        return None
    summary = read_manifest(out / "done.json")
    verify_outputs(out, summary["outputs"])
    return {k: v for k, v in summary.items() if k != "outputs"}


def _set_aside(out: Path, err: DamagedArtifact) -> None:
    """Move a damaged stage folder aside (never deleted) and say so in one line; the caller holds its claim."""
    if not out.is_dir():
        return
    aside = move_aside(out)
    warn(f"stage {out.name} is damaged: {err}; moved to {aside.name}, it will be redone")


def write_done(out: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """done.json, written last: the summary plus every output file with its size and sha256."""
    write_json_atomic(out / "done.json", {**summary, "outputs": list_outputs(out)})
    return summary


def resolve_device(name: str) -> torch.device:
    """'auto': this rank's GPU (LOCAL_RANK, among the GPUs the job was given) or the CPU; a bare 'cuda' too."""
    import os

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":  # one process per GPU: rank r of a node drives the r-th visible GPU
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device(name)


Runner = Callable[[Stage, Path, Runtime, torch.device], dict[str, Any]]
RUNNERS: dict[str, Runner] = {}  # the stage kind table: kind -> the function that executes it


def runner(kind: str) -> Callable[[Runner], Runner]:
    """Register the function that executes stages of `kind`."""
    def deco(fn: Runner) -> Runner:
        RUNNERS[kind] = fn
        return fn
    return deco


def run_stage(stage: Stage, rt: Runtime) -> dict[str, Any]:
    """Execute a stage unless already done; record success (done.json) or the error (failed.json)."""
    from bench.core.distributed import rank

    out = stage_dir(rt.work_dir, stage.key)
    curves.configure(rt.logging)
    if rank() != 0:  # other ranks of a multi-task stage compute; rank 0 alone records the outcome
        return RUNNERS[stage.kind](stage, out, rt, resolve_device(rt.device))
    if (summary := done_summary(rt.work_dir, stage.key)) is not None:
        return summary
    missing = [k for k in stage.inputs if not is_done(rt.work_dir, k)]
    if missing:
        raise RuntimeError(f"stage {stage.name} cannot start: inputs not finished (or damaged and moved aside): "
                           f"{missing}; re-run the suite to (re)do them")
    while True:
        with claim(out, on_wait=lambda owner: print(f"stage {stage.name} ({stage.key}) is being run by pid "
                                                     f"{owner.get('pid')} on {owner.get('host')}; waiting for it",
                                                     flush=True)):
            try:
                if (summary := _verified(out)) is not None:  # the other runner finished it while we waited
                    return summary
            except DamagedArtifact as err:
                _set_aside(out, err)
                continue  # claim the fresh folder at this path
            return _run_claimed(stage, out, rt)


def _run_claimed(stage: Stage, out: Path, rt: Runtime) -> dict[str, Any]:
    """Run a stage whose folder this process has claimed; done.json and failed.json never coexist."""
    write_json_atomic(out / "stage.json", {"kind": stage.kind, "name": stage.name, "config": stage.config,
                                          "inputs": stage.inputs, "labels": stage.labels})
    (out / "failed.json").unlink(missing_ok=True)
    torch.set_num_threads(rt.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = resolve_device(rt.device)
    t0 = time.time()
    try:
        summary = RUNNERS[stage.kind](stage, out, rt, device)
    except BaseException as err:
        write_json_atomic(out / "failed.json", {"error": f"{type(err).__name__}: {err}",
                                               "traceback": traceback.format_exc(), "time": time.time()})
        raise
    summary = {**summary, "wall_seconds": round(time.time() - t0, 2), "key": stage.key, "name": stage.name,
               "started": round(t0, 3), "placement": _placement()}
    (out / "failed.json").unlink(missing_ok=True)  # a success clears any earlier failure
    return write_done(out, summary)


def _placement() -> dict[str, Any]:
    """Where the stage ran: its process-group size and the GPUs its launcher gave it (launcher=local, SLURM)."""
    import os

    from bench.core.distributed import world_size

    return {"world_size": world_size(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


def record_provenance(stage: Stage, device: torch.device, seed: int, weight_hashes: dict[str, str]) -> dict[str, Any]:
    """Provenance columns for a stage's records (config hash = the stage key, which covers its inputs); weight_hashes:
    the metric networks' weights hashes, by network."""
    return provenance(stage.key.split("-", 1)[1], seed, device, weight_hashes)


def metric_weights_label(metric_weights: dict[str, Any]) -> str:
    """'pretrained', or 'random-seed<N>' for seeded random metric networks (the label every record carries), from a
    stage's metric_weights settings ({mode, seed})."""
    mode = metric_weights["mode"]
    return mode + ("" if mode == "pretrained" else f"-seed{metric_weights['seed']}")


def plugin_columns(config: dict[str, Any]) -> dict[str, str]:
    """A plugin tokenizer's provenance (models/plugins.py): name, version, source sha256, builder; else nothing."""
    tok = config.get("tokenizer")
    model = tok.get("model") if isinstance(tok, dict) else None
    if not isinstance(model, dict) or model.get("quantizer") != "plugin":
        return {}
    out = {"plugin": model["plugin"], "plugin_version": model["version"], "plugin_sha256": model["source_sha256"],
           "plugin_target": model["target"]}
    if model.get("arg"):  # diffusers_vq: the weights folder and its files' sha256
        out.update(plugin_arg=model["arg"], plugin_arg_sha256=str(model.get("arg_sha256")))
    return out


def numerics_columns(config: dict[str, Any]) -> dict[str, str]:
    """The training numerics behind a record (issue #16.1): the tokenizer's and, downstream, the prior's
    train.precision and train.tf32 ('source' = the source script's choice, bench/training/numerics.py)."""
    parts = []
    tok = config.get("tokenizer")
    if isinstance(tok, dict) and isinstance(tok.get("train"), dict):
        parts.append(("tokenizer", tok["train"]))
    prior = config.get("prior")
    if isinstance(prior, dict):
        parts.append(("prior", (prior.get("overrides") or {}).get("train") or {}))
    if not parts:
        return {}

    def show(field: str, default: str) -> str:
        vals = [(who, str(train.get(field, default)).lower()) for who, train in parts]
        return vals[0][1] if len(vals) == 1 else " ".join(f"{who}={v}" for who, v in vals)
    return {"train_precision": show("precision", "fp32"), "train_tf32": show("tf32", "source")}


def write_records_file(out: Path, rows: list[dict[str, Any]]) -> None:
    """records.jsonl, replaced atomically so a reader never sees half a file."""
    write_text_atomic(out / "records.jsonl", "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows))


def write_records(out: Path, stage: Stage, device: torch.device, seed: int, weight_hashes: dict[str, str],
                  values: dict[str, float], protocol: dict[str, Any], extra_rows: list[dict] | None = None) -> int:
    """One row per metric (or per analysis row), with provenance, protocol and the metric's own facts."""
    from tasks.metrics.protocols import protocol_facts
    from tasks.metrics.registry import METRICS

    base = {**stage.labels, **record_provenance(stage, device, seed, weight_hashes), **numerics_columns(stage.config),
            **plugin_columns(stage.config), **protocol}
    rows = [{**base, "metric": m, "value": v} for m, v in values.items()]
    rows += [{**base, **r} for r in extra_rows or []]
    for r in rows:  # an analysis variable (epoch, M, mask ratio) extends the row's setting
        r["setting"] = str(stage.labels.get("setting", "")) + r.get("setting_suffix", "")
        meta = METRICS.get(r["metric"])
        r.update(unit=meta.unit, direction=meta.direction, **protocol_facts(r["metric"], r.get("eval_protocol")))
    write_records_file(out, rows)
    curves.mirror_records(out, rows)
    return len(rows)
