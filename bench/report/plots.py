"""Paper-figure plots from our records next to the published points (matplotlib; PNG and PDF).

Each plot is a sweep: the x value is parsed from the row's setting ("K=16384", "dim=8", "alpha=0.5", "channels=4").
Nothing is aggregated: one line per (method, the rest of the setting, e.g. the token count, source), so every
plotted point is one row of compare.csv (seaborn's lineplot averaged rows sharing an x: VQGAN-LC at K=100,000 was
drawn at 1.95, the mean of its 256-token 2.62 and 1,024-token 1.29). Colour = method, the same in every panel and
figure of a suite; marker = the rest of the setting (token count); line style = source (paper solid, vqbench
dashed, smoke / random weights dotted, on their own row of axes).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class PlotSpec:
    """One figure of a paper table, as its suite YAML lists it under `plots:` (tools/make_paper_suites.py)."""

    key: str  # the setting key on the x axis ('K' of "K=16384")
    metrics: tuple[str, ...]  # paper metric names, one panel each
    xlabel: str
    logx: bool
    title: str  # the figure it reproduces


def plot_specs(suite: dict[str, Any]) -> list[PlotSpec]:
    """The figures a suite draws (its `plots:` list; none when absent)."""
    return [PlotSpec(p["key"], tuple(p["metrics"]), p["xlabel"], bool(p.get("logx", False)), p["title"])
            for p in suite.get("plots") or []]


SOURCE_STYLE = {"paper": "-", "vqbench": "--", "vqbench (smoke / random weights)": ":"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
POINT_COLUMNS = ["method", "x", "rest", "metric", "value", "source"]


def sweep_points(cmp: pd.DataFrame, key: str) -> pd.DataFrame:
    """Long frame (method, x, rest of the setting, metric, value, source) from a compare frame's paper and our
    values."""
    rows = []
    for r in cmp.itertuples():
        setting = str(r.setting)
        m = re.search(rf"(?:^| ){re.escape(key)}=([0-9.]+)", setting)
        if not m:
            continue
        x = float(m.group(1))
        rest = " ".join((setting[:m.start()] + " " + setting[m.end():]).split())
        base = {"method": r.method, "x": x, "rest": rest, "metric": r.metric}
        if not pd.isna(r.paper_value):
            rows.append({**base, "value": r.paper_value, "source": "paper"})
        if not pd.isna(r.our_value):
            src = "vqbench" if r.status != "not-comparable" else "vqbench (smoke / random weights)"
            rows.append({**base, "value": r.our_value, "source": src})
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def palette(methods: list[str]) -> dict[str, Any]:
    """One colour per method, fixed for a whole suite (every panel and figure)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(methods) <= 10 else "tab20"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(sorted(methods))}


def figure(points: pd.DataFrame, metrics: tuple[str, ...], xlabel: str, logx: bool, title: str,
           colours: dict[str, Any]) -> Any:
    """One panel per metric (and a second row for smoke points); None when nothing to draw."""
    points = points[points["metric"].isin(metrics)]
    if points.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [m for m in metrics if (points["metric"] == m).any()]
    smoke = points["source"].str.contains("smoke")
    # smoke-scale / random-weight points go on their own row of axes: they check the code and are never drawn
    # on the same axes as published numbers
    groups = [("paper vs vqbench", points[~smoke])] if (~smoke).any() else []
    if smoke.any():
        groups.append(("vqbench smoke / random weights (not comparable)", points[smoke]))
    markers = {r: MARKERS[i % len(MARKERS)] for i, r in enumerate(sorted(set(points["rest"])))}
    fig, axes = plt.subplots(len(groups), len(present), figsize=(4.2 * len(present), 3.4 * len(groups)), squeeze=False)
    for row, (label, group) in zip(axes, groups, strict=True):
        for ax, metric in zip(row, present, strict=True):
            sub = group[group["metric"] == metric]
            for (method, rest, source), line in sub.groupby(["method", "rest", "source"], sort=True):
                line = line.sort_values("x")
                ax.plot(line["x"], line["value"], color=colours[method], marker=markers[rest],
                        linestyle=SOURCE_STYLE.get(source, "-."), label=" ".join(f"{method} {rest} ({source})".split()))
            if not sub.empty:
                ax.legend(fontsize=6)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(metric)
            ax.set_title(label, fontsize=8)
            if logx:
                ax.set_xscale("log")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save(fig: Any, out: Path) -> list[Path]:
    """out.png and out.pdf."""
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=150)
    plt.close(fig)
    return paths


def plots_for(specs: list[PlotSpec], cmp: pd.DataFrame, out_dir: Path, stem: str) -> list[Path]:
    """Every figure of a suite (`plot_specs`), drawn from its compare frame, one colour per method throughout;
    files are named `<stem>_<key>`."""
    written: list[Path] = []
    if cmp.empty:
        return written
    colours = palette(sorted(set(map(str, cmp["method"]))))
    for p in specs:
        fig = figure(sweep_points(cmp, p.key), p.metrics, p.xlabel, p.logx, f"{p.title}: paper vs vqbench", colours)
        if fig is not None:
            written += save(fig, out_dir / f"{stem}_{p.key}")
    return written
