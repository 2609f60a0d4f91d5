"""Measure the golden bands and write results/golden/smoke.csv + results/golden/bands.md.

    python tools/golden_bands.py [--seeds 1 2] [--work /tmp/golden_bands]

Runs the default suite (launcher=debug, each run in a fresh work dir) under the machine's own torch CPU
capability and under ATEN_CPU_CAPABILITY=default (another kernel path: what another CPU would run), then
extra seeds. Golden values come from the native run. Each band is set from what was measured:
- fixed_weights and trajectory: FACTOR_TIGHT x the largest relative difference between the capability paths
  over that check's rows at that step (trajectories diverge step by step), with a floor of FLOOR_REL;
- end_of_run: FACTOR_WIDE x the largest |difference| from the golden value over capability paths and seeds
  (another seed is as far as a chaotic run on another CPU can land), with a floor per metric.
"""
from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.report.golden import GOLDEN_COLUMNS, JOIN  # noqa: E402
from bench.training.tokenizer import TRAJECTORY_STEPS  # noqa: E402

FACTOR_TIGHT, FLOOR_REL = 20.0, 2e-5
FACTOR_WIDE = 2.0
# end_of_run floors (absolute, in each metric's unit): below these a band would be tighter than the seeds show
WIDE_FLOOR = {"psnr_rgb": 0.1, "psnr_y": 0.1, "ssim": 0.005, "lpips_vgg": 0.005, "lpips_alex": 0.005,
              "rfid": 0.05, "usage": 0.02, "perplexity": 0.5}


def run(work: Path, seed: int, capability: str | None) -> pd.DataFrame:
    """One default-suite run; returns its observed golden frame (values only). A finished run in `work` is reused."""
    if (work / "observed.csv").is_file():
        return pd.read_csv(work / "observed.csv", dtype={"config_hash": str})
    env = {**os.environ}
    env.pop("ATEN_CPU_CAPABILITY", None)
    if capability:
        env["ATEN_CPU_CAPABILITY"] = capability
    args = [sys.executable, str(REPO / "bench" / "run.py"), f"seed={seed}", f"paths.work_dir={work / 'outputs'}",
            f"paths.results_dir={work / 'results'}", "suite.golden=null"]
    subprocess.run(args, cwd=REPO, env=env, check=True)
    observed = observe(work / "outputs", seed)
    observed.to_csv(work / "observed.csv", index=False)
    return observed


def observe(work_dir: Path, seed: int) -> pd.DataFrame:
    """The golden-form frame of a finished default-suite run in `work_dir`."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from bench.plan.config import CONF_DIR, register_configs
    from bench.plan.planner import plan
    from bench.report.golden import observed_frame
    from bench.report.store import load_records, records_frame

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name="config", overrides=[f"seed={seed}"]), resolve=True)
    stages = plan(cfg)
    return observed_frame(records_frame(cfg["suite"], load_records(stages, work_dir)), stages, work_dir)


def torch_capability() -> str:
    """This machine's own torch CPU capability (what the golden values are made under)."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability()).lower()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--work", type=Path, default=Path("/tmp/golden_bands"))
    ap.add_argument("--native", default=None, help="capability to treat as this machine's own (default: torch's)")
    a = ap.parse_args()
    runs = {"native": run(a.work / "native", 0, a.native), "default": run(a.work / "default", 0, "default")}
    for s in a.seeds:
        runs[f"seed{s}"] = run(a.work / f"seed{s}", s, a.native)
    native_cap = a.native or torch_capability()
    gold = runs["native"].copy()
    other = runs["default"].set_index(JOIN)["value"]
    g = gold.set_index(JOIN)
    g["cap_diff"] = (other.reindex(g.index) - g["value"]).abs()
    g["rel_diff"] = g["cap_diff"] / g["value"].abs().clip(lower=1e-12)
    g = g.reset_index()
    # trajectories: only the steps logged one by one, and only while the paths still agree to 1e-3; later
    # steps have diverged (Adam's first updates are sign-sensitive) and are left to end_of_run
    worst_at = g[g["check"] == "trajectory"].groupby(["method", "step"])["rel_diff"].max()
    keep = {ms for ms, w in worst_at.items() if ms[1] < TRAJECTORY_STEPS and w <= 1e-3}
    g = g[(g["check"] != "trajectory")
          | pd.Series([ms in keep for ms in zip(g["method"], g["step"], strict=True)], index=g.index)]
    rows = []
    for (check, _method, _step), part in g.groupby(["check", "method", "step"]):
        if check in ("fixed_weights", "trajectory"):
            worst = float(part["rel_diff"].max())
            tol = max(FACTOR_TIGHT * worst, FLOOR_REL)
            src = (f"rel {FACTOR_TIGHT:g} x max relative capability-path difference of this method's rows at this "
                   f"step ({worst:.2g}; {native_cap} vs default), floor {FLOOR_REL:g}")
            rows += [{**r, "tol_kind": "rel", "tolerance": tol, "band_source": src} for r in part.to_dict("records")]
            continue
        for r in part.to_dict("records"):  # end_of_run: per metric, across capability paths and seeds
            key = (r["dataset"], r["metric"])
            vals = [float(df[(df["check"] == "end_of_run") & (df["dataset"] == key[0]) & (df["metric"] == key[1])
                             & (df["method"] == r["method"])]["value"].iloc[0]) for df in runs.values()]
            spread = max(abs(v - r["value"]) for v in vals)
            tol = max(FACTOR_WIDE * spread, WIDE_FLOOR.get(r["metric"], 0.0))
            src = (f"abs {FACTOR_WIDE:g} x max |difference| over {len(vals)} runs (seeds {[0] + a.seeds}, capability "
                   f"{native_cap}/default) = {spread:.3g}, floor {WIDE_FLOOR.get(r['metric'], 0.0):g}")
            rows.append({**r, "tol_kind": "abs", "tolerance": tol, "band_source": src})
    out = pd.DataFrame(rows)[GOLDEN_COLUMNS].sort_values(["check", "dataset", "method", "metric", "step"])
    out.to_csv(REPO / "results" / "golden" / "smoke.csv", index=False)
    spread = g.groupby(["check", "method", "step"])["rel_diff"].max().reset_index()
    md = ["# Golden bands for the default suite", "",
          f"Measured by `tools/golden_bands.py` on {datetime.date.today()} ({runs['native']['device_type'].iloc[0]}, "
          f"torch {runs['native']['torch_version'].iloc[0]}). Method: see the tool's docstring.", "",
          f"## Largest relative difference between torch capability paths "
          f"({native_cap} vs ATEN_CPU_CAPABILITY=default)",
          "",
          "| check | method | step | max relative difference |", "|---|---|---:|---:|"]
    md += [f"| {r.check} | {r.method} | {'' if r.step < 0 else r.step} | {r.rel_diff:.3g} |"
           for r in spread.itertuples()]
    md += ["", "## Bands", "", "| check | dataset | method | metric | step | golden | band | source |",
           "|---|---|---|---|---:|---:|---|---|"]
    md += [f"| {r.check} | {r.dataset} | {r.method} | {r.metric} | {'' if r.step < 0 else r.step} | {r.value:.6g} | "
           f"{r.tol_kind} {r.tolerance:.3g} | {r.band_source} |" for r in out.itertuples()]
    (REPO / "results" / "golden" / "bands.md").write_text("\n".join(md) + "\n")
    print(f"wrote {len(out)} golden rows and results/golden/bands.md")


if __name__ == "__main__":
    main()
