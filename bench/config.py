"""Hydra wiring: config-group options generated from the registries, friendly validation, and listings."""
from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from bench.registry import unknown_name_message
from models.registry import KNOBS, SCALES, TOKENIZERS, TrainConfig, count_params, create_entry, latent_channels
from tasks.data.registry import DATASETS
from tasks.metrics.registry import METRICS
from tasks.registry import TASKS

CONF_DIR = Path(__file__).parent / "conf"
GROUPS = ("suite", "scale", "launcher", "tokenizer", "dataset", "task")


def _nulls(cfg: Any) -> dict[str, None]:
    """Every field of a dataclass as an overridable null ('use the entry's value')."""
    return {f.name: None for f in dataclasses.fields(cfg)}


def register_configs() -> None:
    """Put one `tokenizer/<name>`, `dataset/<name>`, `task/<name>` option per registry entry into Hydra."""
    cs = ConfigStore.instance()
    for name in TOKENIZERS:
        entry = create_entry(name, "paper")
        cs.store(group="tokenizer", name=name, node={"name": name, "checkpoint": None, "checkpoint_format": "auto",
                                                     "model": _nulls(entry.model), "loss": _nulls(entry.loss)})
    for name in DATASETS:
        cs.store(group="dataset", name=name, node={"name": name, "root": None, "file_list": None,
                                                   "on_corrupt": "skip", "interpolation": "bicubic"})
    for name in TASKS:
        cs.store(group="task", name=name, node={"name": name})
    cs.store(group="train", name="default", node=_nulls(TrainConfig()))  # train.* overrides apply to every run


def group_options(group: str) -> list[str]:
    """Valid choices of a config group (YAML files and registry-generated nodes)."""
    names = {str(p.relative_to(CONF_DIR / group).with_suffix("")) for p in (CONF_DIR / group).rglob("*.yaml")}
    if group in ConfigStore.instance().repo:
        names |= {n.removesuffix(".yaml") for n in ConfigStore.instance().list(group)}
    return sorted(names)


def check_overrides(overrides: list[str]) -> None:
    """Fail early, naming the bad key or option with the valid choices and did-you-mean hints.

    Group choices (suite=, launcher=, ...) are checked first and then composed, so the remaining keys are
    checked against the config the user actually selected.
    """
    from hydra import compose, initialize_config_dir

    groups, keys = [], []
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
            keys.append(key)
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


def listing(kind: str) -> str:
    """Text table of one registry with each entry's key facts."""
    if kind == "tokenizers":
        rows = [f"{'name':26s} scale   params     tokens(hxwxc) codebook  quant   source"]
        for name in TOKENIZERS:
            for scale in SCALES:
                e = create_entry(name, scale)
                h = e.model.resolution // e.model.downsample
                c = latent_channels(e)
                pub = f" (paper: {e.published_params}M)" if e.published_params else ""
                quant = getattr(e.model, "quantizer", None) or (f"vq+{e.model.codebook_reg}"
                                                                if hasattr(e.model, "codebook_reg") else "mc")
                if e.phase1 is not None:
                    pub += " [two-phase]"
                gap = "  [gap stated in its entry]" if e.param_gap else ""
                rows.append(f"{name:26s} {scale:7s} {count_params(e) / 1e6:8.2f}M  {h}x{h}x{c:<6d}  "
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
