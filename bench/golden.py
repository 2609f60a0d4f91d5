"""Golden smoke numbers: diff a suite's results against results/golden/<suite>.csv with per-metric tolerances."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

# Why these widths: a CPU run is bit-for-bit repeatable on one machine; across CPUs and BLAS builds a
# 300-step training run drifts a little, so each metric gets a band that such noise stays inside while a
# real regression (a changed loss, quantizer or protocol) moves it out.
DEFAULT_TOLERANCES = {
    "psnr_rgb": ("abs", 0.3), "psnr_y": ("abs", 0.3), "ssim": ("abs", 0.015),
    "lpips_vgg": ("abs", 0.015), "lpips_alex": ("abs", 0.015), "rfid": ("rel", 0.10),
    "usage": ("abs", 0.05), "perplexity": ("rel", 0.10),
}
JOIN = ["dataset", "method", "setting", "metric"]
# Golden numbers hold for one platform: 300 GAN steps amplify kernel-level differences (seen: the same
# suite on an H100 with another torch moved PSNR by 0.5 dB and rFID by 2x). Rows from another device
# type or torch version are reported as not-comparable instead of being checked against the wrong bands.
MUST_AGREE = ["config_hash", "metric_weights", "device_type", "torch_version"]


def platform_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Add device_type (cpu / cuda) and torch_version, parsed from the provenance columns."""
    df = df.copy()
    df["device_type"] = df["device"].astype(str).str.split(":").str[0]
    df["torch_version"] = df["packages"].astype(str).str.extract(r"(?:^|;)torch==([^;]+)", expand=False)
    return df


def golden_frame(results: pd.DataFrame) -> pd.DataFrame:
    """The golden file's rows for a results frame: values plus the tolerances they will be held to."""
    g = platform_columns(results)[JOIN + ["value"] + MUST_AGREE].copy()
    g["tol_kind"] = [DEFAULT_TOLERANCES.get(m, ("rel", 0.05))[0] for m in g["metric"]]
    g["tolerance"] = [DEFAULT_TOLERANCES.get(m, ("rel", 0.05))[1] for m in g["metric"]]
    return g


def diff_golden(results: pd.DataFrame, golden_path: Path) -> pd.DataFrame:
    """Per row: match / drift / missing (no result yet) / new (no golden) / not-comparable (config, metric
    weights, device type or torch version differ from the golden run's)."""
    golden = pd.read_csv(golden_path, dtype={c: str for c in MUST_AGREE})
    lacking = [c for c in JOIN + ["value", "tol_kind", "tolerance"] + MUST_AGREE if c not in golden.columns]
    if lacking:
        raise SystemExit(f"error: golden file {golden_path} lacks columns {lacking}; regenerate it with "
                         "action=update_golden on a trusted run")
    ours = platform_columns(results)[JOIN + ["value"] + MUST_AGREE]
    m = golden.merge(ours, on=JOIN, how="outer", suffixes=("_golden", "_ours"), indicator=True)
    statuses, deltas = [], []
    for _, r in m.iterrows():
        if r["_merge"] == "left_only":
            statuses.append("missing"); deltas.append(float("nan")); continue
        if r["_merge"] == "right_only":
            statuses.append("new"); deltas.append(float("nan")); continue
        delta = r["value_ours"] - r["value_golden"]
        deltas.append(delta)
        if any(str(r[f"{c}_golden"]) != str(r[f"{c}_ours"]) for c in MUST_AGREE):
            statuses.append("not-comparable")
            continue
        bound = r["tolerance"] * (abs(r["value_golden"]) if r["tol_kind"] == "rel" else 1.0)
        statuses.append("match" if abs(delta) <= bound + 1e-12 else "drift")
    m["delta"], m["status"] = deltas, statuses
    return m.drop(columns="_merge")


def write_diff(diff: pd.DataFrame, out_dir: Path) -> None:
    """golden_diff.csv and a markdown view of it."""
    diff.to_csv(out_dir / "golden_diff.csv", index=False)
    lines = ["# Golden diff", "", "| dataset | method | metric | golden | ours | delta | tolerance | status |",
             "|---|---|---|---:|---:|---:|---|---|"]
    for _, r in diff.iterrows():
        tol = "" if pd.isna(r.get("tolerance")) else f"{r['tol_kind']} {r['tolerance']:g}"
        lines.append(f"| {r['dataset']} | {r['method']} | {r['metric']} | {_f(r.get('value_golden'))} | "
                     f"{_f(r.get('value_ours'))} | {_f(r['delta'])} | {tol} | **{r['status']}** |")
    (out_dir / "golden_diff.md").write_text("\n".join(lines) + "\n")


def _f(v) -> str:
    return "" if v is None or pd.isna(v) else f"{v:.4g}"
