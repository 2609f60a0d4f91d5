"""Hydra wiring: config-group options generated from the registries, friendly validation, and listings."""
from __future__ import annotations

import dataclasses
import difflib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from bench.core.registry import unknown_name_message
from bench.core.schema import ConfigValueError, check_fields, check_value, lookup
from bench.training.perf import PerfOptions
from models.plugins import PREFIX as PLUGIN_PREFIX
from models.plugins import PluginError
from models.registry import KNOBS, PLUGINS, SCALES, TOKENIZERS, TrainConfig, count_params, create_entry
from models.tokenizer import latent_shape
from tasks.data.options import DatasetOptions, dataset_defaults
from tasks.data.registry import DATASETS
from tasks.metrics.registry import METRICS
from tasks.registry import TASKS

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
GROUPS = ("suite", "scale", "launcher", "tokenizer", "dataset", "task")


# What the non-registry config groups accept; the tokenizer and train parts are typed on their own dataclasses, the
# dataset group on tasks/data/options.py DatasetOptions (the one home of its defaults).
@dataclass(frozen=True)
class MetricsOptions:
    weights: Literal["pretrained", "random"] = "random"
    seed: int = 0
    weights_dir: str | None = None


@dataclass(frozen=True)
class EvalOptions:
    max_images: Annotated[int, Ge(1)] | None = None
    max_ref_images: Annotated[int, Ge(2)] | None = None  # FID needs two images


@dataclass(frozen=True)
class LoaderOptions:
    """Speed only (bench/stages/base.py Runtime), never in a stage key: the DataLoader workers of every stage (the one
    worker knob; 'auto' = from the job's CPUs) and the batches each queues."""

    workers: Annotated[int, Ge(0)] | Literal["auto"] = 0
    prefetch_factor: Annotated[int, Ge(1)] = 2


@dataclass(frozen=True)
class ScaleOptions:
    threads: Annotated[int, Ge(1)] = 1
    device: str = "cpu"
    metrics: MetricsOptions = MetricsOptions()
    eval: EvalOptions = EvalOptions()
    loader: LoaderOptions = LoaderOptions()


@dataclass(frozen=True)
class LauncherOptions:
    max_parallel: Annotated[int, Ge(1)] = 1
    timeout_min: Annotated[int, Ge(0)] = 0
    detach: bool = False


@dataclass(frozen=True)
class BatchOptions:
    """train.batch_policy (bench/plan/recipes.py fit_batch): exact = the paper's global batch or refuse; rescale =
    the batch the GPUs give, lr by the paper's rule, recorded as a deviation."""

    batch_policy: Literal["exact", "rescale"] = "exact"


@dataclass(frozen=True)
class TopOptions:
    seed: Annotated[int, Ge(0)] = 0
    action: Literal["run", "status", "collect", "compare", "update_golden", "plan", "perf"] = "run"


def _schema(cfg: Any, key: str) -> tuple[Any, bool] | None:
    """(declared type, null means 'use the entry's value') of a dotted override key, or None if untyped."""
    parts = key.split(".")
    if parts[:2] == ["train", "batch_policy"]:
        return lookup(BatchOptions, parts[1:]), False
    if parts[0] == "train":
        return lookup(TrainConfig, parts[1:]), True
    if parts[0] == "tokenizer" and len(parts) > 2 and parts[1] in ("model", "loss"):
        return lookup(type(getattr(create_entry(cfg["tokenizer"]["name"], "paper"), parts[1])), parts[2:]), True
    roots = {"dataset": DatasetOptions, "scale": ScaleOptions, "launcher": LauncherOptions, "perf": PerfOptions}
    if parts[0] in roots:
        return lookup(roots[parts[0]], parts[1:]), False
    return lookup(TopOptions, parts), False


# Former worker knobs: workers change speed, never results, so one runtime setting outside the stage keys decides
RETIRED_KEYS = {"train.num_workers": "scale.loader.workers", "scale.eval.num_workers": "scale.loader.workers"}


def check_retired(key: str) -> None:
    """SystemExit naming the key that replaced a retired one."""
    if key in RETIRED_KEYS:
        raise SystemExit(f"error: {key} is no longer a setting: DataLoader workers never change results, so one "
                         f"knob outside the stage keys sets them; pass {RETIRED_KEYS[key]}=<n> (or auto) instead")


def check_value_of(cfg: Any, key: str, value: Any) -> None:
    """SystemExit naming key, value and what is allowed when `value` does not fit the key's declared type."""
    found = _schema(cfg, key)
    if found is None or found[0] is None or (found[1] and value is None):
        return
    try:
        check_value(key, found[0], value)
    except ConfigValueError as err:
        raise SystemExit(f"error: {err}") from None


def check_config(cfg: dict[str, Any]) -> None:
    """Check a composed config's typed sections (dataset, scale, launcher, train, tokenizer parts) up front."""
    if (cfg.get("train") or {}).get("num_workers") is not None:  # set in a config file or a composed dict
        check_retired("train.num_workers")
    try:
        check_fields("dataset", DatasetOptions, {k: v for k, v in cfg["dataset"].items() if k != "name"})
        check_fields("scale", ScaleOptions, cfg["scale"])
        check_fields("launcher", LauncherOptions, cfg["launcher"])
        check_fields("perf", PerfOptions, cfg.get("perf") or {}, null_ok=True)
        check_fields("train", TrainConfig, cfg.get("train") or {}, null_ok=True)
        check_fields("train", BatchOptions, {k: v for k, v in (cfg.get("train") or {}).items() if k == "batch_policy"})
        entry = create_entry(cfg["tokenizer"]["name"], "paper")
        for part in ("model", "loss"):
            check_fields(f"tokenizer.{part}", type(getattr(entry, part)), cfg["tokenizer"].get(part) or {},
                         null_ok=True)
        check_fields("", TopOptions, {k: cfg[k] for k in ("seed", "action") if k in cfg})
        for run in (cfg.get("suite") or {}).get("runs") or []:  # plugins: built and checked on one batch now
            if str(run.get("tokenizer")) in PLUGINS or str(run.get("tokenizer")).startswith(PLUGIN_PREFIX):
                create_entry(run["tokenizer"], "paper")
    except (ConfigValueError, PluginError) as err:
        raise SystemExit(f"error: {err}") from None


def _nulls(cfg: Any) -> dict[str, None]:
    """Every field of a dataclass as an overridable null ('use the entry's value')."""
    return {f.name: None for f in dataclasses.fields(cfg)}


def register_configs() -> None:
    """Put one `tokenizer/<name>`, `dataset/<name>`, `task/<name>` option per registry entry into Hydra."""
    # two runs started in the same second get their own Hydra run folders (config.yaml: hydra.run.dir)
    OmegaConf.register_new_resolver("vqbench_pid", os.getpid, replace=True)
    cs = ConfigStore.instance()
    for name in TOKENIZERS:
        if name in PLUGINS:  # built and checked when selected, not at every start (models/plugins.py)
            cs.store(group="tokenizer", name=name, node={"name": name, "checkpoint": None, "model": {}, "loss": {}})
            continue
        entry = create_entry(name, "paper")
        cs.store(group="tokenizer", name=name, node={"name": name, "checkpoint": None, "checkpoint_format": "auto",
                                                     "trust_checkpoint": False,
                                                     "model": _nulls(entry.model), "loss": _nulls(entry.loss)})
    # tokenizer=plugin tokenizer.target=my_pkg.module:build: code on the path, registered as 'plugin:<target>'
    cs.store(group="tokenizer", name="plugin", node={"name": "plugin:${tokenizer.target}", "target": None,
                                                     "checkpoint": None, "model": {}, "loss": {}})
    # tokenizer=diffusers_vq tokenizer.checkpoint=<VQModel folder>: through the diffusers library (a plugin)
    cs.store(group="tokenizer", name="diffusers_vq", node={"name": "diffusers_vq:${tokenizer.checkpoint}",
                                                           "checkpoint": None, "model": {}, "loss": {}})
    for name in DATASETS:
        cs.store(group="dataset", name=name, node={"name": name, **dataset_defaults()})
    for name in TASKS:
        cs.store(group="task", name=name, node={"name": name})
    # train.* overrides apply to every run; batch_policy is how planning fits the paper's batch to the GPUs
    cs.store(group="train", name="default", node={**_nulls(TrainConfig()), "batch_policy": "exact"})


def group_options(group: str) -> list[str]:
    """Valid choices of a config group (YAML files and registry-generated nodes)."""
    names = {str(p.relative_to(CONF_DIR / group).with_suffix("")) for p in (CONF_DIR / group).rglob("*.yaml")}
    if group in ConfigStore.instance().repo:
        names |= {n.removesuffix(".yaml") for n in ConfigStore.instance().list(group)}
    return sorted(names)


def check_overrides(overrides: list[str]) -> None:
    """Fail early, naming the bad key or option with the valid choices and did-you-mean hints.

    Group choices (suite=, launcher=, ...) are checked first and then composed, so the remaining keys are
    checked against the config the user actually selected; then each value against its key's declared type.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser

    groups, keys, values = [], [], []
    for ov in overrides:
        if "=" not in ov or ov.startswith(("+", "~", "hydra.", "hydra/", "-")):
            continue
        key, value = ov.split("=", 1)
        if key in GROUPS:
            options = group_options(key)
            if "," not in value and value not in options:
                raise SystemExit(f"error: {unknown_name_message(key, value, options)}")
            if "," not in value:
                groups.append(ov)
        else:
            check_retired(key)
            keys.append(key)
            values.append(ov)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        base = compose(config_name="config", overrides=groups)
    for key in keys:
        node, path = base, []
        for part in key.split("."):
            if not OmegaConf.is_dict(node) or part not in node:
                valid = sorted(node.keys()) if OmegaConf.is_dict(node) else []
                where = ".".join(path) or "the top level"
                close = difflib.get_close_matches(part, valid, n=3, cutoff=0.5)
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                raise SystemExit(f"error: unknown config key '{key}': '{part}' is not a key of {where}.{hint} "
                                 f"Valid keys there: {', '.join(valid)}")
            node, path = node[part], path + [part]
    given = {}
    for key, ov in zip(keys, values, strict=True):
        try:
            parsed = OverridesParser.create().parse_overrides([ov])[0]  # the value Hydra passes on: 3.5, 'abc', 5
        except Exception:  # noqa: BLE001  a syntax error: Hydra reports it in its own words
            continue
        if not parsed.is_sweep_override():
            check_value_of(base, key, parsed.value())
            given[key] = parsed.value()
    # before Hydra creates its run folder inside the work folder (a raw traceback if it cannot)
    paths = {k: given.get(f"paths.{k}", base.paths[k]) for k in ("work_dir", "results_dir")}
    check_paths({"paths": paths, "list": given.get("list", base.list), "action": given.get("action", base.action)})


MIN_FREE_BYTES = 64 << 20  # Hydra's run folder, logs, plan and results need little; below this nothing works


def check_writable(what: str, folder: str | Path, hint: str | None = None) -> None:
    """SystemExit unless `folder` is (or can be created as) a folder this process can write files in, on a disk
    with at least MIN_FREE_BYTES free."""
    path = Path(folder).expanduser()

    def fail(reason: str) -> SystemExit:
        return SystemExit(f"error: {what} '{folder}' is not a writable folder: {reason}. "
                          + (f"{hint[0].upper()}{hint[1:]}" if hint else f"Pass another one, e.g. {what}=/tmp/vqbench"))

    if path.exists() and not path.is_dir():
        raise fail("it exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
            pass
        free = shutil.disk_usage(path).free
    except OSError as err:
        raise fail(err.strerror or str(err)) from None
    if free < MIN_FREE_BYTES:
        raise fail(f"the disk is full ({free / 2**20:.1f} MiB free)")


def check_paths(cfg: Any) -> None:
    """Work folder (stages, Hydra logs) and, for actions that write results, the results folder: writable now."""
    check_writable("paths.work_dir", cfg["paths"]["work_dir"])
    hydra_dir = Path(cfg["paths"]["work_dir"]).expanduser() / "hydra"  # Hydra's run folders (config.yaml hydra.run)
    if hydra_dir.is_dir():
        check_writable("Hydra's run folder", hydra_dir, hint="make it writable or set paths.work_dir elsewhere")
    if not cfg.get("list") and cfg.get("action", "run") not in ("plan", "status"):
        check_writable("paths.results_dir", cfg["paths"]["results_dir"])


def listing(kind: str) -> str:
    """Text table of one registry with each entry's key facts."""
    if kind == "tokenizers":
        rows = [f"{'name':26s} scale   params     tokens(hxwxc) codebook  quant   source"]
        for name in TOKENIZERS:
            for scale in SCALES:
                try:
                    e = create_entry(name, scale)
                except PluginError as err:  # a broken installed plugin is listed with its error, not a traceback
                    rows.append(f"{name:26s} {scale:7s} error: {err}")
                    continue
                h, w, c = latent_shape(e.model)
                pub = f" (paper: {e.published_params}M)" if e.published_params else ""
                quant = e.model.quantizer
                if e.phase1 is not None:
                    pub += " [two-phase]"
                gap = "  [gap stated in its entry]" if e.param_gap else ""
                rows.append(f"{name:26s} {scale:7s} {count_params(e) / 1e6:8.2f}M  {h}x{w}x{c:<6d}  "
                            f"{e.model.n_embed:8d}  {quant:7s} {e.paper}{pub}{gap}")
        rows += ["", "knobs (tokenizer.<knob>=<value>):"] + [f"  {k:44s} {v}" for k, v in KNOBS.items()]
        return "\n".join(rows)
    if kind == "priors":
        from models.priors.registry import PRIORS, count_prior_params, create_prior

        rows = [f"{'name':18s} kind     paper-scale params  published  reads     source"]
        for name in PRIORS:
            e = create_prior(name, "paper")
            pub = "" if e.published_params is None else f"{e.published_params:g}M" + (
                f" (incl. {e.published_with_tokenizer}M tokenizer)" if e.published_with_tokenizer else "")
            gap = "  [gap stated in its entry]" if e.param_gap else ""
            rows.append(f"{name:18s} {e.kind:8s} {count_prior_params(e) / 1e6:10.2f}M  {pub:10s} {e.inputs:8s}  "
                        f"{e.paper}{gap}")
        return "\n".join(rows)
    if kind == "datasets":
        return "\n".join(f"{n:14s} {DATASETS.get(n).description}"
                         + (f"  [root: dataset.root or ${DATASETS.get(n).env_var}]" if DATASETS.get(n).env_var else "")
                         for n in DATASETS)
    if kind == "tasks":
        return "\n".join(f"{n:16s} v{TASKS.get(n).version}  split={TASKS.get(n).split}  metrics="
                         f"{','.join(TASKS.get(n).metrics)}  {TASKS.get(n).description}" for n in TASKS)
    if kind == "metrics":
        return "\n".join(f"{n:12s} {METRICS.get(n).direction:6s} {METRICS.get(n).unit:9s} {METRICS.get(n).description}"
                         for n in METRICS)
    if kind == "suites":
        out = []
        for p in sorted((CONF_DIR / "suite").rglob("*.yaml")):
            raw = OmegaConf.load(p)
            name = str(p.relative_to(CONF_DIR / "suite").with_suffix(""))
            out.append(f"{name:20s} table={raw.table}  golden={raw.golden}  {' '.join(str(raw.description).split())}")
        return "\n".join(out)
    if kind == "launchers":
        return "\n".join(f"{p.stem:8s} {p.read_text().splitlines()[0].lstrip('# ')}"
                         for p in sorted((CONF_DIR / "launcher").glob("*.yaml")))
    raise SystemExit("error: " + unknown_name_message("listing", kind,
                                                      ["tokenizers", "priors", "tasks", "suites", "datasets", "metrics",
                                                       "launchers"]))
