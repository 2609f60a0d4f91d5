"""Run a suite end to end: plan -> skip finished stages -> execute -> consolidate -> golden diff."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bench.launch import slurm

from bench.stages import runners as stage_runners  # noqa: F401  (registers the slurm executor and the stage runners)
from bench.plan.config import check_config, check_paths, listing
from bench.launch.executors import EXECUTORS
from bench.report.golden import diff_golden, observed_frame, summarize, update_values, write_diff
from bench.plan.planner import plan
from bench.core.resources import is_installed_copy, resolve
from bench.stages.base import Runtime, is_done
from bench.report.store import consolidate, load_records


def preflight(stages: list, scale: dict[str, Any]) -> None:
    """Fail before launching anything when data folders or pretrained metric weights are missing."""
    from tasks.data.imagefolder import DatasetNotFoundError
    from tasks.data.registry import DATASETS
    from models.feature_encoders import FEATURE_ENCODERS, MissingEncoderWeightsError, encoder_weights_path
    from bench.core.weights import MissingWeightsError, find_weights

    try:
        for d in {json.dumps(st.config["dataset"], sort_keys=True) for st in stages if "dataset" in st.config}:
            d = json.loads(d)
            DATASETS.get(d["name"]).check(d["root"])
        needs_metric_nets = any(st.kind in ("train_tokenizer", "eval_reconstruction") for st in stages)
        if needs_metric_nets and scale["metrics"]["weights"] == "pretrained":
            for key in ("vgg", "alex", "inception"):
                find_weights(key, scale["metrics"]["weights_dir"])
        for st in stages:  # VQGAN-LC codebook encoders (CLIP) need their local weights file too
            if st.kind == "build_codebook" and st.config["encoder_weights"]["mode"] == "pretrained":
                spec = FEATURE_ENCODERS.get(st.config["encoder"])
                if spec.weights_file:
                    encoder_weights_path(spec, scale["metrics"]["weights_dir"])
    except (DatasetNotFoundError, MissingWeightsError, MissingEncoderWeightsError) as err:
        raise SystemExit(f"error: {err}") from None


def run_suite(cfg: dict[str, Any]) -> int:
    """Exit code: 0 when every stage finished and no golden number drifted."""
    if cfg.get("list"):
        print(listing(cfg["list"]))
        return 0
    check_config(cfg)  # bad types and ranges fail here, before any stage starts
    check_paths(cfg)  # an unwritable work or results folder fails now, not after the stages ran
    if cfg.get("action") == "perf":
        return run_perf_action(cfg)
    suite, scale = cfg["suite"], cfg["scale"]
    work_dir = cfg["paths"]["work_dir"]
    out_dir = Path(cfg["paths"]["results_dir"]) / suite["name"]
    stages = plan(cfg)
    rt = Runtime(work_dir=str(Path(work_dir).resolve()), threads=scale["threads"], device=scale["device"],
                 weights_dir=scale["metrics"]["weights_dir"])
    action = cfg.get("action", "run")
    if action == "plan":
        from bench.plan.recipes import write_plan
        for st in stages:
            print(f"{'done   ' if is_done(work_dir, st.key) else 'pending'}  {st.key}  {st.name}  <- {list(st.inputs)}")
        write_plan(stages, scale["name"], out_dir)
        return 0
    if action == "status":
        slurm.print_status(stages, work_dir, suite["name"])
        return 0
    if action not in ("run", "collect", "update_golden", "compare"):
        raise SystemExit(f"error: unknown action '{action}'; expected run, status, collect, compare, update_golden "
                         "or plan")
    report_ok = True
    if action in ("run", "update_golden"):
        pending = [st for st in stages if not is_done(work_dir, st.key)]
        preflight(pending, scale)
        print(f"suite {suite['name']}: {len(stages)} stages, {len(stages) - len(pending)} already done, "
              f"{len(pending)} to run (launcher={cfg['launcher']['name']}, work_dir={rt.work_dir})")
        t0 = time.time()
        if pending:
            executor = EXECUTORS.get(cfg["launcher"]["name"])(**cfg["launcher"], suite_name=suite["name"])
            report = executor.run(pending, rt)
            if cfg["launcher"].get("detach"):
                print(f"detached: jobs queued; python bench/run.py suite={suite['name']} action=status | action=collect")
                return 0
            report_ok = report.ok
            for key, err in {**report.failed, **report.skipped}.items():
                print(f"  NOT DONE {key}: {err}")
        print(f"stages finished in {time.time() - t0:.1f}s")
    df = consolidate(suite, load_records(stages, work_dir), out_dir)
    print(f"wrote {out_dir / 'results.csv'} ({len(df)} records) and {out_dir / 'results.md'}")
    code = 0 if report_ok else 1
    golden = suite.get("golden")
    if df.empty and action in ("run", "update_golden"):  # a run that produced no record failed (compare and
        # collect still report: every paper row then shows as missing)
        print(f"error: no records: no stage of suite {suite['name']} wrote a result (see NOT DONE above and the "
              f"stages' failed.json under {rt.work_dir}/stages)")
        return 1
    if golden:
        code = max(code, golden_check(action, Path(resolve(golden)), df, stages, work_dir, out_dir, report_ok))
    if action == "compare":
        paper_compare(suite, df, out_dir)
    else:
        print((out_dir / "results.md").read_text())
    return code


def run_perf_action(cfg: dict[str, Any]) -> int:
    """action=perf: time training steps per numerics mode (bench/training/perf.py), write results/perf/perf.csv."""
    from bench.stages.base import resolve_device
    from bench.training.perf import PerfOptions, run_perf

    import torch

    torch.set_num_threads(cfg["scale"]["threads"])
    opts = {k: tuple(v) if isinstance(v, list) else v for k, v in (cfg.get("perf") or {}).items()}
    out = Path(cfg["paths"]["results_dir"]) / "perf" / "perf.csv"
    rows = run_perf(PerfOptions(**opts), resolve_device(cfg["scale"]["device"]), out,
                    Path(cfg["paths"]["work_dir"]) / "perf_tmp")
    print(pd.DataFrame(rows)[["component", "mode", "img_per_s", "ratio_to_reference", "peak_mem_mb", "compile_s"]]
          .to_string(index=False))
    print(f"wrote {out}")
    return 0


def golden_check(action: str, path: Path, df: pd.DataFrame, stages: list, work_dir: str, out_dir: Path,
                 report_ok: bool) -> int:
    """Diff against the golden file (exit code 1 on drift or missing rows), or rewrite its values (update_golden)."""
    observed = observed_frame(df, stages, work_dir)
    if action == "update_golden":
        if not report_ok or not path.is_file():
            raise SystemExit("error: update_golden needs a fully finished run and an existing golden file with bands "
                             f"({path}); new golden files come from tools/golden_bands.py")
        target = path
        if is_installed_copy(path):  # never write into site-packages: a copy beside the results instead
            target = out_dir / "golden" / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
        update_values(observed, path, target)
        print(f"wrote golden values to {target} (bands kept; re-measure them with tools/golden_bands.py)")
        return 0
    if not path.is_file():
        print(f"no golden file at {path}; tools/golden_bands.py creates one")
        return 0
    diff = diff_golden(observed, path)
    write_diff(diff, out_dir)
    code, lines = summarize(diff)
    print(f"golden check vs {path} -> {out_dir / 'golden_diff.md'}: {'FAILED' if code else 'passed'}")
    print("\n".join(lines))
    return code


def paper_compare(suite: dict[str, Any], df: pd.DataFrame, out_dir: Path) -> None:
    """Join with results/paper_numbers.csv (paper suites): statuses, paper-style tables, plots. Never fails."""
    from bench.report.compare import compare, load_paper_numbers, write_compare
    from bench.report.plots import plots_for

    paper, table = suite.get("paper"), suite.get("paper_table")
    if suite["name"] == "table1" and "published_params_m" in df:
        cmp = _params_compare(df)
        write_compare(cmp, out_dir, "Unified Table 1 (parameters vs the papers' figures)")
        print((out_dir / "compare.md").read_text())
        return
    if not paper:
        print(f"suite {suite['name']} reproduces no single paper table; compare reports its golden diff only")
        return
    numbers = load_paper_numbers()
    rows = numbers[(numbers["paper"] == paper) & (numbers["table"] == table)]
    cmp = compare(rows, df)
    if rows.empty:  # a figure the paper draws without printing numbers: our points only
        cmp = compare(_own_rows(df, paper, table), df)
    write_compare(cmp, out_dir, f"{paper} {table}")
    plots = plots_for(paper, table, cmp, out_dir / "plots")
    counts = cmp["status"].value_counts().to_dict() if len(cmp) else {}
    print(f"compare {paper} {table}: {counts} -> {out_dir / 'compare.md'}, {out_dir / 'compare.tex'}"
          + (f", {len(plots)} plot files in {out_dir / 'plots'}" if plots else ""))
    print((out_dir / "compare.md").read_text())


def _own_rows(df: pd.DataFrame, paper: str, table: str) -> pd.DataFrame:
    """Paper-row skeletons (no published value) for our records, so a figure without numbers still plots."""
    from bench.report.compare import _ours_long

    ours = _ours_long(df).drop_duplicates(["dataset", "method", "setting", "metric"])
    return pd.DataFrame({"paper": paper, "table": table, "dataset": ours["dataset"], "method": ours["method"],
                         "setting": ours["setting"], "metric": ours["metric"], "value": float("nan"),
                         "paper_value": float("nan"), "unit": "", "ours": True, "tokenizer_implemented": True})


def _params_compare(df: pd.DataFrame) -> pd.DataFrame:
    """Unified Table 1: our meta-device parameter counts against every figure a paper prints for that entry."""
    rows = []
    for _, r in df[df["metric"] == "params_m"].iterrows():
        pub = r.get("published_params_m")
        base = {"paper": "", "table": "table1", "dataset": r["dataset"], "method": r["method"], "setting": r["setting"],
                "metric": "params_m", "unit": "M", "is_paper_method": True, "our_value": r["value"],
                "our_metric": "params_m", "paper_value": pub}
        if pub is None or pd.isna(pub):
            rows.append({**base, "delta": float("nan"), "status": "not-comparable",
                         "why": "the papers print no parameter figure for this entry"})
            continue
        decimals = int(r.get("published_decimals", 1))
        same = round(r["value"], decimals) == pub
        rows.append({**base, "delta": r["value"] - pub, "status": "match" if same else "protocol-mismatch",
                     "why": "" if same else str(r.get("param_gap") or "count differs from the published figure")})
    return pd.DataFrame(rows)
