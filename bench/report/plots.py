"""Paper-figure plots from our records next to the published points (seaborn; PNG and PDF).

Each plot is a sweep: the x value is parsed from the row's setting ("K=16384", "dim=8", "alpha=0.5", "channels=4"),
one line per method, solid for the paper's points and dashed for ours (smoke-scale points say so in the legend).
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

# (paper, table) -> [(setting key, metrics, x label, log x, figure it reproduces)]
PLOTS: dict[tuple[str, str], list[tuple[str, tuple[str, ...], str, bool, str]]] = {
    ("vqganlc", "T1"): [("K", ("rfid",), "codebook size", True, "VQGAN-LC Fig. 1a / Table 1")],
    ("vqganlc", "T2"): [("K", ("usage", "rfid"), "codebook size", True, "VQGAN-LC Fig. 1a / Table 2")],
    ("vqganlc", "T7"): [("K", ("usage", "rfid"), "codebook size", True, "VQGAN-LC Table 7")],
    ("vqganlc", "T10"): [("dim", ("rfid", "usage"), "projected dimension D'", True, "VQGAN-LC Table 10")],
    ("movq", "F6b"): [("K", ("rfid",), "codebook size", True, "MoVQ Fig. 6b")],
    ("movq", "F6c"): [("channels", ("rfid", "fid"), "channels c", True, "MoVQ Fig. 6c")],
    ("seqgan", "F6b"): [("alpha", ("rfid", "fid"), "semantic ratio alpha", False, "SeQ-GAN Fig. 6b")],
    ("vqganlc", "F5"): [("M", ("psnr",), "M (M-th nearest code)", True, "VQGAN-LC Fig. 5")],
    ("vqganlc", "F3"): [("epoch", ("usage",), "training epoch", False, "VQGAN-LC Fig. 3")],
}


def sweep_points(cmp: pd.DataFrame, key: str) -> pd.DataFrame:
    """Long frame (method, x, metric, value, source) from a compare frame's paper and our values."""
    rows = []
    for r in cmp.itertuples():
        m = re.search(rf"(?:^| ){re.escape(key)}=([0-9.]+)", str(r.setting))
        if not m:
            continue
        x = float(m.group(1))
        if not pd.isna(r.paper_value):
            rows.append({"method": r.method, "x": x, "metric": r.metric, "value": r.paper_value, "source": "paper"})
        if not pd.isna(r.our_value):
            src = "vqbench" if r.status != "not-comparable" else "vqbench (smoke / random weights)"
            rows.append({"method": r.method, "x": x, "metric": r.metric, "value": r.our_value, "source": src})
    return pd.DataFrame(rows, columns=["method", "x", "metric", "value", "source"])


def draw(points: pd.DataFrame, metrics: tuple[str, ...], xlabel: str, logx: bool, title: str, out: Path) -> list[Path]:
    """One panel per metric; writes out.png and out.pdf; returns the paths (none when nothing to draw)."""
    points = points[points["metric"].isin(metrics)]
    if points.empty:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    present = [m for m in metrics if (points["metric"] == m).any()]
    smoke = points["source"].str.contains("smoke")
    # smoke-scale / random-weight points go on their own row of axes: they check the code and are never drawn
    # on the same axes as published numbers
    groups = [("paper vs vqbench", points[~smoke])] if (~smoke).any() else []
    if smoke.any():
        groups.append(("vqbench smoke / random weights (not comparable)", points[smoke]))
    fig, axes = plt.subplots(len(groups), len(present), figsize=(4.2 * len(present), 3.4 * len(groups)), squeeze=False)
    for row, (label, group) in zip(axes, groups, strict=True):
        for ax, metric in zip(row, present, strict=True):
            sub = group[group["metric"] == metric].sort_values("x")
            if not sub.empty:
                sns.lineplot(data=sub, x="x", y="value", hue="method", style="source", markers=True, dashes=True,
                             ax=ax, errorbar=None)
                ax.legend(fontsize=7)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(metric)
            ax.set_title(label, fontsize=8)
            if logx:
                ax.set_xscale("log")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=150)
    plt.close(fig)
    return paths


def plots_for(paper: str, table: str, cmp: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Every plot registered for a paper table, drawn from its compare frame."""
    written = []
    for key, metrics, xlabel, logx, figure in PLOTS.get((paper, table), []):
        pts = sweep_points(cmp, key)
        written += draw(pts, metrics, xlabel, logx, f"{figure}: paper vs vqbench", out_dir / f"{paper}_{table}_{key}")
    return written
