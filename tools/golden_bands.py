"""Measure the golden bands and bounds and write results/golden/smoke.csv + results/golden/bands.md.

    python tools/golden_bands.py [--seeds 1 2] [--work /tmp/golden_bands]     # everything (5 runs, ~30 min)
    python tools/golden_bands.py --end-of-run [--observed DIR/observed.csv ...]  # only the end_of_run bounds

The full mode runs the default suite (each run in a fresh work dir) under the machine's own torch CPU
capability and under ATEN_CPU_CAPABILITY=default (another kernel path: what another CPU would run), then
extra seeds. Golden values come from the native run. Each band is set from what was measured:
- fixed_weights and trajectory: FACTOR_TIGHT x the largest relative difference between the capability paths
  over that check's rows at that step (trajectories diverge step by step), with a floor of FLOOR_REL;
- end_of_run: a property of every correct run, not closeness to one chaotic run (3 runs of a 300-step GAN
  cannot bound it: on an AVX-512 machine SSIM and perplexity left bands made from them). Every trained run
  measured so far is kept in results/golden/end_of_run_runs.csv; the untrained model (the seed's initial
  weights, evaluated like the fixed weights: deterministic on any CPU) is evaluated here. Then
  - PSNR, SSIM, LPIPS, rFID: the run must improve on the untrained model by FACTOR_PROP x the smallest
    improvement any measured run made (a metric some measured run did not improve is left out, and listed);
  - usage, perplexity: at least FACTOR_PROP x the smallest value any measured run had (a collapse floor: a
    trained VQGAN uses fewer codes than a random one, so "above the untrained model" would be false).
`--end-of-run` keeps the shipped fixed_weights and trajectory rows, adds the runs in `--observed` (files written
by this tool's runs, `<work>/<run>/observed.csv`) to end_of_run_runs.csv, and re-derives the bounds.
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
FACTOR_PROP = 0.5
IMPROVES = ("psnr_rgb", "psnr_y", "ssim", "lpips_vgg", "lpips_alex", "rfid")  # over the untrained model
FLOORS = ("usage", "perplexity")  # above a collapse floor
GOLDEN_DIR = REPO / "results" / "golden"
RUNS_FILE = GOLDEN_DIR / "end_of_run_runs.csv"
RUNS_COLUMNS = ["run", "dataset", "method", "setting", "metric", "value"]


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


def untrained(work: Path, seed: int) -> pd.DataFrame:
    """The default suite's tokenizer at its initial weights (as train_tokenizer builds them from `seed`),
    evaluated on the main run's val splits like the fixed weights: (dataset, metric, value)."""
    import torch

    from bench.core.artifacts import save_artifact
    from bench.plan.planner import plan
    from bench.report.store import load_records, records_frame
    from bench.stages.base import Runtime, run_stage
    from bench.stages.common import entry_from_config
    from models.registry import build_tokenizer

    cfg = compose_config([f"seed={seed}", f"paths.work_dir={work}"])
    train = next(st for st in plan(cfg) if st.kind == "train_tokenizer")
    entry = entry_from_config(train.config["tokenizer"])
    torch.manual_seed(seed)  # bench/training/tokenizer.py: manual_seed(seed), then build_tokenizer(entry)
    model = build_tokenizer(entry)
    work.mkdir(parents=True, exist_ok=True)
    save_artifact(work / "untrained.safetensors", {"entry": entry.to_dict(), "state_dict": model.state_dict()})
    main = cfg["suite"]["runs"][0]
    cfg["suite"]["runs"] = [{"tokenizer": main["tokenizer"], "checkpoint": str(work / "untrained.safetensors"),
                             "datasets": main["datasets"], "tasks": ["reconstruction"], "row": {"method": "untrained"}}]
    stages = plan(cfg)
    for st in stages:
        run_stage(st, Runtime(work_dir=str(work)))
    return records_frame(cfg["suite"], load_records(stages, work))[["dataset", "metric", "value"]]


def compose_config(overrides: list[str]) -> dict:
    """The resolved default-suite config for these overrides."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from bench.plan.config import CONF_DIR, register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose(config_name="config", overrides=overrides), resolve=True)


def bound_rows(template: pd.DataFrame, runs: pd.DataFrame, base: pd.DataFrame) -> tuple[list[dict], list[str]]:
    """end_of_run bounds (at_least / at_most) per template row (the golden config's end_of_run rows), from the
    measured trained runs and the untrained model `base`; plus a line per metric left out, saying why."""
    from tasks.metrics.registry import METRICS

    rows, left_out = [], []
    for r in template.to_dict("records"):
        key, metric = (r["dataset"], r["method"], r["metric"]), r["metric"]
        vals = runs[(runs["dataset"] == key[0]) & (runs["method"] == key[1]) & (runs["metric"] == metric)]["value"]
        if vals.empty or metric not in IMPROVES + FLOORS:
            continue
        higher = METRICS.get(metric).direction == "higher"
        kind = "at_least" if higher else "at_most"
        n = f"{len(vals)} measured runs"
        if metric in FLOORS:
            bound = FACTOR_PROP * float(vals.min())
            src = f"floor: {FACTOR_PROP:g} x the smallest of {n} ({float(vals.min()):.4g})"
        else:
            ref = float(base[(base["dataset"] == key[0]) & (base["metric"] == metric)]["value"].iloc[0])
            gains = (vals - ref) if higher else (ref - vals)
            if float(gains.min()) <= 0:
                left_out.append(f"{key[0]} {metric}: a measured run ({float(vals.iloc[int(gains.argmin())]):.4g}) "
                                f"did not improve on the untrained model ({ref:.4g}), so it is no property of a "
                                "correct run")
                continue
            margin = FACTOR_PROP * float(gains.min())
            bound = ref + margin if higher else ref - margin
            src = (f"untrained model {ref:.4g} {'+' if higher else '-'} {FACTOR_PROP:g} x the smallest improvement "
                   f"over it in {n} ({float(gains.min()):.4g})")
        rows.append({**r, "value": bound, "tol_kind": kind, "tolerance": 0.0, "band_source": src})
    return rows, left_out


def tight_rows(runs: dict[str, pd.DataFrame], native_cap: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """fixed_weights and trajectory rows with their bands, and the capability-path spread per (check, method, step)."""
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
    for (_check, _method, _step), part in g[g["check"] != "end_of_run"].groupby(["check", "method", "step"]):
        worst = float(part["rel_diff"].max())
        tol = max(FACTOR_TIGHT * worst, FLOOR_REL)
        src = (f"rel {FACTOR_TIGHT:g} x max relative capability-path difference of this method's rows at this "
               f"step ({worst:.2g}; {native_cap} vs default), floor {FLOOR_REL:g}")
        rows += [{**r, "tol_kind": "rel", "tolerance": tol, "band_source": src} for r in part.to_dict("records")]
    spread = g.groupby(["check", "method", "step"])["rel_diff"].max().reset_index()
    return pd.DataFrame(rows), spread


def spread_section(spread: pd.DataFrame | None, native_cap: str) -> list[str]:
    """bands.md's capability-path table: from this measurement, or kept from the shipped bands.md."""
    if spread is None:
        old = (GOLDEN_DIR / "bands.md").read_text().split("\n## ")
        return ["## " + next(part for part in old if part.startswith("Largest relative")).rstrip("\n"), ""]
    md = [f"## Largest relative difference between torch capability paths ({native_cap} vs "
          "ATEN_CPU_CAPABILITY=default)", "", "| check | method | step | max relative difference |",
          "|---|---|---:|---:|"]
    return md + [f"| {r.check} | {r.method} | {'' if r.step < 0 else r.step} | {r.rel_diff:.3g} |"
                 for r in spread.itertuples()] + [""]


def write(out: pd.DataFrame, spread_md: list[str], base: pd.DataFrame, runs: pd.DataFrame, left_out: list[str],
          header: str) -> None:
    """smoke.csv, end_of_run_runs.csv and bands.md."""
    out = out[GOLDEN_COLUMNS].sort_values(["check", "dataset", "method", "metric", "step"])
    out.to_csv(GOLDEN_DIR / "smoke.csv", index=False)
    runs[RUNS_COLUMNS].to_csv(RUNS_FILE, index=False)
    md = ["# Golden bands for the default suite", "", header, "", *spread_md,
          "## End-of-run bounds", "",
          "Properties every correct run has (rule: the tool's docstring), from the untrained model and every trained "
          f"run in `end_of_run_runs.csv` ({runs['run'].nunique()} runs: {', '.join(sorted(runs['run'].unique()))}).",
          "", "Untrained model (initial weights of seed 0, deterministic on any CPU):", "",
          "| dataset | metric | untrained |", "|---|---|---:|"]
    md += [f"| {r.dataset} | {r.metric} | {r.value:.6g} |"
           for r in base.sort_values(["dataset", "metric"]).itertuples()]
    md += ["", "Left out (not a property of every measured run):", ""] + [f"- {line}" for line in left_out or ["none"]]
    md += ["", "## Bands", "", "| check | dataset | method | metric | step | golden / bound | band | source |",
           "|---|---|---|---|---:|---:|---|---|"]
    md += [f"| {r.check} | {r.dataset} | {r.method} | {r.metric} | {'' if r.step < 0 else r.step} | {r.value:.6g} | "
           f"{r.tol_kind}{'' if r.tol_kind in ('at_least', 'at_most') else f' {r.tolerance:.3g}'} | {r.band_source} |"
           for r in out.itertuples()]
    (GOLDEN_DIR / "bands.md").write_text("\n".join(md) + "\n")
    print(f"wrote {len(out)} golden rows, {RUNS_FILE.name} and results/golden/bands.md")


def end_of_run_table(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Trained runs' end_of_run values in end_of_run_runs.csv form, one `run` label per frame."""
    parts = [df[df["check"] == "end_of_run"].assign(run=name) for name, df in frames.items()]
    return pd.concat(parts, ignore_index=True)[RUNS_COLUMNS] if parts else pd.DataFrame(columns=RUNS_COLUMNS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--work", type=Path, default=Path("/tmp/golden_bands"))
    ap.add_argument("--native", default=None, help="capability to treat as this machine's own (default: torch's)")
    ap.add_argument("--end-of-run", action="store_true", help="re-derive only the end_of_run bounds")
    ap.add_argument("--observed", type=Path, nargs="*", default=[],
                    help="observed.csv files of extra trained runs (their folder name labels the run)")
    a = ap.parse_args()
    today, native_cap = datetime.date.today(), a.native or torch_capability()
    extra = {f"{today} {f.parent.name}": pd.read_csv(f, dtype={"config_hash": str}) for f in a.observed}
    base = untrained(a.work / "untrained", 0)
    if a.end_of_run:
        shipped = pd.read_csv(GOLDEN_DIR / "smoke.csv", dtype={"config_hash": str})
        runs = pd.concat([pd.read_csv(RUNS_FILE), end_of_run_table(extra)], ignore_index=True)
        runs = runs.drop_duplicates(["run", "dataset", "method", "metric"], keep="last")
        template = shipped[shipped["check"] == "end_of_run"]
        bounds, left_out = bound_rows(template, runs, base)
        out = pd.concat([shipped[shipped["check"] != "end_of_run"], pd.DataFrame(bounds)], ignore_index=True)
        write(out, spread_section(None, native_cap), base, runs, left_out,
              f"end_of_run bounds re-derived by `tools/golden_bands.py --end-of-run` on {today}; fixed_weights and "
              "trajectory bands as measured before (below).")
        return
    measured = {"native": run(a.work / "native", 0, a.native), "default": run(a.work / "default", 0, "default")}
    for s in a.seeds:
        measured[f"seed{s}"] = run(a.work / f"seed{s}", s, a.native)
    tight, spread = tight_rows(measured, native_cap)
    native = measured["native"]
    labels = {name: f"{today} {'default' if name == 'default' else native_cap} "
                    f"seed {0 if name in ('native', 'default') else name[4:]}" for name in measured}
    runs = end_of_run_table({**{labels[n]: df for n, df in measured.items()}, **extra})
    bounds, left_out = bound_rows(native[(native["check"] == "end_of_run")], runs, base)
    write(pd.concat([tight, pd.DataFrame(bounds)], ignore_index=True), spread_section(spread, native_cap), base, runs,
          left_out, f"Measured by `tools/golden_bands.py` on {today} ({native['device_type'].iloc[0]}, "
          f"torch {native['torch_version'].iloc[0]}). Method: see the tool's docstring.")


if __name__ == "__main__":
    main()
