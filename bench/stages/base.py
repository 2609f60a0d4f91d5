"""Stages: units of work keyed by a hash of their typed spec (which names its inputs' keys); a finished key is never
redone. The key rule (StageSpec.key): fields at their default are left out, plus a KEY_VERSION per kind.

<work>/stages/<kind>/<key>/ holds a stage's outputs; done.json marks success, failed.json records an error.
done.json is written last and lists every output with its size and sha256 (bench/core/integrity.py); a stage counts
as done only when that list verifies. A damaged stage (an output changed or missing, done.json unreadable, or a
done.json from before outputs were listed) is moved aside to `<key>.corrupt-<UTC time>` with one line, and redone.
"""
from __future__ import annotations

import dataclasses
import json
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

import torch

from bench.core.atomic import write_json_atomic, write_text_atomic
from bench.core.claims import claim
from bench.core.integrity import DamagedArtifact, list_outputs, move_aside, read_manifest, verify_outputs, warn
from bench.core.provenance import provenance, stable_hash
from bench.core.registry import Registry
from bench.training import curves


def key_payload(obj: Any) -> Any:
    """The one hashing rule of every stage kind: a dataclass gives its fields that differ from their defaults
    (recursively, so nested configs follow the same rule); other values are their JSON form. A field added later
    with a default therefore leaves every existing key as it was, and no list of such fields is kept by hand."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.default is not dataclasses.MISSING and _same(value, f.default):
                continue
            if f.default_factory is not dataclasses.MISSING and _same(value, f.default_factory()):
                continue
            out[f.name] = key_payload(value)
        return out
    if isinstance(obj, dict):
        return {str(k): key_payload(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [key_payload(v) for v in obj]
    return obj


def _same(value: Any, default: Any) -> bool:
    """Equal as stored (a tuple default and a list value are the same field value in JSON)."""
    try:
        return bool(key_payload(value) == key_payload(default))
    except Exception:  # noqa: BLE001  (values that cannot be compared are never left out)
        return False


def to_json(obj: Any) -> Any:
    """The full JSON form of a spec or of any field value (every field, defaults included): plan.json, stage.json."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    return obj


@dataclass(frozen=True)
class StageSpec:
    """What a stage computes, typed: one frozen dataclass per stage kind (bench/stages/specs.py).

    Fields named in INPUTS hold the keys of upstream stages (None: not used). The key is
    f"{KIND}-{stable_hash({version: KEY_VERSION, every field not at its default})}": bump KEY_VERSION when a
    kind's meaning changes; a new field with a default needs nothing.
    """

    KIND: ClassVar[str] = ""
    KEY_VERSION: ClassVar[int] = 1
    INPUTS: ClassVar[tuple[str, ...]] = ()

    @property
    def inputs(self) -> tuple[str, ...]:
        """The upstream stage keys, in INPUTS order (an input field may hold one key, None, or a tuple of keys)."""
        out: list[str] = []
        for name in self.INPUTS:
            value = getattr(self, name)
            out += [] if value is None else [value] if isinstance(value, str) else list(value)
        return tuple(out)

    def key_payload(self) -> dict[str, Any]:
        """What the key hashes: the kind's KEY_VERSION and every field that is not at its default."""
        return {"version": self.KEY_VERSION, **key_payload(self)}

    @property
    def key(self) -> str:
        return f"{self.KIND}-{stable_hash(self.key_payload())}"

    def to_dict(self) -> dict[str, Any]:
        """Every field in JSON form (plan.json, stage.json); `spec_from_dict(KIND, d)` gives the spec back."""
        return to_json(self)

    def resources(self, per_node: int | None = None) -> dict[str, Any] | None:
        """What the stage asks every launcher for (a training stage's GPUs and batch split); None: its kind's."""
        return None

    def run(self, stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
        """Execute the stage into `out` (its registered runner); the summary goes into done.json."""
        return RUNNERS.get(self.KIND)(stage, out, rt, device)


SpecT = TypeVar("SpecT", bound=type[StageSpec])
SPECS: Registry[type[StageSpec]] = Registry("stage kind")  # the stage kind table: kind -> its spec class


def stage_kind(cls: SpecT) -> SpecT:
    """Class decorator: register a spec class under its KIND."""
    SPECS.add(cls.KIND, cls)
    return cls


def spec_from_dict(kind: str, d: dict[str, Any]) -> StageSpec:
    """A spec back from its JSON form (stage.json, plan.json), each field decoded by its type."""
    cls = SPECS.get(kind)
    hints = get_type_hints(cls)
    return cls(**{f.name: decode(hints[f.name], d[f.name]) for f in dataclasses.fields(cls) if f.name in d})


def decode(hint: Any, value: Any) -> Any:
    """A JSON value as the typed field `hint` holds it: nested dataclasses (their own `from_dict` where they have
    one), tuples from lists; Optional and unions try each member."""
    if value is None:
        return None
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(hint) if a is not type(None)]
        return decode(members[0], value) if len(members) == 1 else value
    if origin is tuple:
        args = get_args(hint)
        item = args[0] if args else Any
        return tuple(decode(item, v) for v in value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if hasattr(hint, "from_dict"):
            return hint.from_dict(value)
        sub = get_type_hints(hint)
        return hint(**{k: decode(sub[k], v) for k, v in value.items()})
    return value


@dataclass(frozen=True)
class Stage:
    """One node of a suite's graph: its typed spec (what it computes; the key), its name and `labels` (the record
    keys dataset, method, setting), which are not part of the key."""

    name: str
    spec: StageSpec
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.spec.KIND

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.spec.inputs

    @property
    def config(self) -> dict[str, Any]:
        """The spec's JSON form, for readers of plain configs (plan.json, preflight checks, reports)."""
        return self.spec.to_dict()


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
RUNNERS: Registry[Runner] = Registry("stage runner")  # kind -> the function a spec's run() calls


def runner(kind: str) -> Callable[[Runner], Runner]:
    """Register the function that executes stages of `kind` (StageSpec.run calls it)."""
    return RUNNERS.register(kind)


def run_stage(stage: Stage, rt: Runtime) -> dict[str, Any]:
    """Execute a stage unless already done; record success (done.json) or the error (failed.json)."""
    from bench.core.distributed import rank

    out = stage_dir(rt.work_dir, stage.key)
    curves.configure(rt.logging)
    if rank() != 0:  # other ranks of a multi-task stage compute; rank 0 alone records the outcome
        return stage.spec.run(stage, out, rt, resolve_device(rt.device))
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
    write_json_atomic(out / "stage.json", stage_record(stage))
    (out / "failed.json").unlink(missing_ok=True)
    torch.set_num_threads(rt.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = resolve_device(rt.device)
    t0 = time.time()
    try:
        summary = stage.spec.run(stage, out, rt, device)
    except BaseException as err:
        write_json_atomic(out / "failed.json", {"error": f"{type(err).__name__}: {err}",
                                               "traceback": traceback.format_exc(), "time": time.time()})
        raise
    summary = {**summary, "wall_seconds": round(time.time() - t0, 2), "key": stage.key, "name": stage.name,
               "started": round(t0, 3), "placement": _placement()}
    (out / "failed.json").unlink(missing_ok=True)  # a success clears any earlier failure
    return write_done(out, summary)


def stage_record(stage: Stage) -> dict[str, Any]:
    """stage.json: what the stage is (kind, key version, its spec in full), its inputs and labels."""
    return {"kind": stage.kind, "key_version": stage.spec.KEY_VERSION, "name": stage.name, "config": stage.config,
            "inputs": list(stage.inputs), "labels": stage.labels}


def stage_from_record(rec: dict[str, Any]) -> Stage:
    """The Stage a stage.json (or a plan.json entry) describes."""
    return Stage(rec["name"], spec_from_dict(rec["kind"], rec["config"]), dict(rec.get("labels") or {}))


def _placement() -> dict[str, Any]:
    """Where the stage ran: its process-group size and the GPUs its launcher gave it (launcher=local, SLURM)."""
    import os

    from bench.core.distributed import world_size

    return {"world_size": world_size(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


def record_provenance(stage: Stage, device: torch.device, seed: int, weight_hashes: dict[str, str]) -> dict[str, Any]:
    """Provenance columns for a stage's records (config hash = the stage key, which covers its inputs); weight_hashes:
    the metric networks' weights hashes, by network."""
    return provenance(stage.key.split("-", 1)[1], seed, device, weight_hashes)


def metric_weights_label(metric_weights: Any) -> str:
    """'pretrained', or 'random-seed<N>' for seeded random metric networks (the label every record carries), from a
    stage's metric_weights settings (specs.MetricWeights, or its JSON form {mode, seed})."""
    w = metric_weights if isinstance(metric_weights, dict) else to_json(metric_weights)
    return w["mode"] + ("" if w["mode"] == "pretrained" else f"-seed{w['seed']}")


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
        # a field at None (a full config: TokenizerEntry.to_dict) means the same as one left out: the default
        vals = [(who, str(default if train.get(field) is None else train[field]).lower()) for who, train in parts]
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
