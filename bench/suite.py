"""Run a suite end to end: plan -> skip finished stages -> execute -> consolidate -> golden diff."""
from __future__ import annotations

import errno
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.core.registry import Registry
from bench.core.resources import is_installed_copy, resolve
from bench.launch import slurm
from bench.launch.executors import EXECUTORS
from bench.plan.config import check_config, check_paths, listing
from bench.plan.planner import plan
from bench.report.golden import diff_golden, observed_frame, summarize, update_values, verdict, write_diff
from bench.report.store import consolidate, load_records
from bench.stages.base import Runtime, Stage, is_done


def preflight(stages: list, scale: dict[str, Any]) -> None:
    """Fail before launching anything when data folders or pretrained metric weights are missing."""
    from bench.core.weights import MissingWeightsError, find_weights
    from models.feature_encoders import FEATURE_ENCODERS, MissingEncoderWeightsError, encoder_weights_path
    from tasks.data.imagefolder import DatasetNotFoundError
    from tasks.data.registry import DATASETS

    try:
        for d in {json.dumps(st.config["dataset"], sort_keys=True) for st in stages if "dataset" in st.config}:
            d = json.loads(d)
            DATASETS.get(d["name"]).check(d["root"])
        needs_metric_nets = any(st.kind in ("train_tokenizer", "eval_reconstruction") for st in stages)
        if needs_metric_nets and scale["metrics"]["weights"] == "pretrained":
            for key in ("vgg", "alex", "inception"):
                find_weights(key, scale["metrics"]["weights_dir"])
        for st in stages:  # a stage whose config names a feature encoder with pretrained weights needs its file too
            w = st.config.get("encoder_weights")
            if "encoder" in st.config and isinstance(w, dict) and w.get("mode") == "pretrained":
                spec = FEATURE_ENCODERS.get(st.config["encoder"])
                if spec.weights_file:
                    encoder_weights_path(spec, scale["metrics"]["weights_dir"])
    except (DatasetNotFoundError, MissingWeightsError, MissingEncoderWeightsError) as err:
        raise SystemExit(f"error: {err}") from None


# Free-disk estimate per pending stage (bench/suite.py check_disk): a training stage keeps fp32 weights and Adam's two
# moments in ckpt.*, writes each checkpoint through a temp copy beside it (atomic save: two copies at once) and ends
# with the weights alone: 4 bytes x params x (3 x 2 + 1); a discriminator, when there is one, is within the 2x
# headroom below. Every other stage (records, token caches, samples, statistics) gets a floor.
CKPT_BYTES_PER_PARAM = 4 * (3 * 2 + 1)
STAGE_FLOOR_BYTES = 64 << 20
HEADROOM = 2.0


def stage_disk_bytes(st: Stage) -> int:
    """What a stage may write, by the rule above."""
    try:
        if st.kind == "train_tokenizer":
            from bench.stages.common import entry_from_config
            from models.registry import count_params

            params = count_params(entry_from_config(st.config["tokenizer"]))
            return max(STAGE_FLOOR_BYTES, params * CKPT_BYTES_PER_PARAM)
        if st.kind == "train_prior":
            from bench.stages.downstream import prior_entry
            from models.priors.registry import count_prior_params

            return max(STAGE_FLOOR_BYTES, count_prior_params(prior_entry(st.config), False) * CKPT_BYTES_PER_PARAM)
    except Exception:  # noqa: BLE001  an estimate: a config the counter cannot rebuild gets the floor
        pass
    return STAGE_FLOOR_BYTES


def check_disk(stages: list[Stage], work_dir: str) -> None:
    """SystemExit naming the folder and both numbers when the pending stages need more than the free space."""
    import shutil

    need = int(HEADROOM * sum(stage_disk_bytes(st) for st in stages))
    free = shutil.disk_usage(work_dir).free
    if need > free:
        raise SystemExit(f"error: not enough free disk space under {work_dir}: {free / 2**30:.2f} GiB free, the "
                         f"{len(stages)} pending stages need about {need / 2**30:.2f} GiB (checkpoints: 28 bytes per "
                         "trained parameter, 64 MiB per other stage, x2 headroom). Free space or set paths.work_dir "
                         "to a larger disk")


def check_batches(stages: list[Stage]) -> None:
    """A training batch larger than a split whose size is known at plan time (the registry's nominal train size,
    no file_list) is refused now; other splits are checked when the stage opens them, before training."""
    from tasks.data.registry import DATASETS
    from tasks.data.sampling import BatchLargerThanSplitError, check_batch_fits

    for st in stages:
        if st.kind != "train_tokenizer" or st.config["dataset"].get("file_list"):
            continue
        n = DATASETS.get(st.config["dataset"]["name"]).train_images
        train = st.config["tokenizer"]["train"]
        if n is not None:
            try:
                check_batch_fits(train["batch_size"], n, "train.batch_size", f"{st.config['dataset']['name']} "
                                 "training split", train.get("n_gpu", 1))
            except BatchLargerThanSplitError as err:
                raise SystemExit(f"error: {st.name}: {err}") from None


def check_stage_folders(stages: list[Stage], work_dir: str, out_dir: Path) -> None:
    """Every folder this run will write that already exists (stage folders, the suite's results folder) must be
    writable now, not after the stages ran (or inside a job, where only its log would say so)."""
    from bench.plan.config import check_writable
    from bench.stages.base import stage_dir

    for sub in ("stages", "submitit"):
        if (Path(work_dir) / sub).is_dir():
            check_writable("paths.work_dir", Path(work_dir) / sub, hint="make it writable or set paths.work_dir")
    for st in stages:
        folder = stage_dir(work_dir, st.key)
        if folder.is_dir():
            check_writable(f"stage folder of '{st.name}'", folder, hint="make it writable, or remove it to redo the "
                           "stage")
    if out_dir.is_dir():
        check_writable("results folder", out_dir, hint="make it writable or set paths.results_dir")


@dataclass(frozen=True)
class SuiteRun:
    """What every action works on: the resolved config, its planned stages and where they live."""

    cfg: dict[str, Any]
    stages: list[Stage]
    rt: Runtime
    out_dir: Path

    @property
    def suite(self) -> dict[str, Any]:
        return self.cfg["suite"]

    @property
    def work_dir(self) -> str:
        return self.cfg["paths"]["work_dir"]


def run_suite(cfg: dict[str, Any]) -> int:
    """Exit code: 0 when every stage finished and no golden number drifted."""
    if cfg.get("list"):
        print(listing(cfg["list"]))
        return 0
    check_config(cfg)  # bad types and ranges fail here, before any stage starts
    if not cfg["suite"].get("runs"):  # [] or null: nothing to plan (null used to end in a TypeError)
        raise SystemExit(f"error: suite {cfg['suite']['name']} has no runs (suite.runs is "
                         f"{'null' if cfg['suite'].get('runs') is None else '[]'}); give it at least one run, or "
                         "pick another suite (python bench/run.py list=suites)")
    check_paths(cfg)  # an unwritable work or results folder fails now, not after the stages ran
    if cfg.get("action") == "perf":  # times training steps; needs no suite plan
        return run_perf_action(cfg)
    scale = cfg["scale"]
    loader = scale.get("loader") or {}
    rt = Runtime(work_dir=str(Path(cfg["paths"]["work_dir"]).resolve()), threads=scale["threads"],
                 device=scale["device"], weights_dir=scale["metrics"]["weights_dir"],
                 loader_workers=loader.get("workers", 0), prefetch_factor=int(loader.get("prefetch_factor", 2)),
                 logging=cfg.get("logging"))
    run = SuiteRun(cfg, plan(cfg), rt, Path(cfg["paths"]["results_dir"]) / cfg["suite"]["name"])
    action = cfg.get("action", "run")
    if action not in ACTIONS:
        raise SystemExit(f"error: unknown action '{action}'; expected {', '.join([*ACTIONS, 'perf'])}")
    return ACTIONS.get(action)(run)


def plan_action(run: SuiteRun) -> int:
    """action=plan: the stage graph with what is done, and plan.json / plan.md."""
    from bench.core.launch_resources import per_node_cap
    from bench.plan.recipes import write_plan

    for st in run.stages:
        print(f"{'done   ' if is_done(run.work_dir, st.key) else 'pending'}  {st.key}  {st.name}  <- {list(st.inputs)}")
    write_plan(run.stages, run.cfg["scale"]["name"], run.out_dir, per_node_cap(run.cfg["launcher"], "train_tokenizer"))
    return 0


def status_action(run: SuiteRun) -> int:
    """action=status: SLURM job states and logs of the suite's stages."""
    slurm.print_status(run.stages, run.work_dir, run.suite["name"])
    return 0


def execute_action(run: SuiteRun) -> int:
    """action=run and action=update_golden: run the pending stages, then report (unless detached)."""
    cfg, suite = run.cfg, run.suite
    pending = [st for st in run.stages if not is_done(run.work_dir, st.key)]
    check_batches(pending)
    preflight(pending, cfg["scale"])
    check_stage_folders(pending, run.rt.work_dir, run.out_dir)
    check_disk(pending, run.rt.work_dir)
    print(f"suite {suite['name']}: {len(run.stages)} stages, {len(run.stages) - len(pending)} already done, "
          f"{len(pending)} to run (launcher={cfg['launcher']['name']}, work_dir={run.rt.work_dir})")
    t0 = time.time()
    report_ok = True
    if pending:
        executor = EXECUTORS.get(cfg["launcher"]["name"])(**cfg["launcher"], suite_name=suite["name"])
        report = executor.run(pending, run.rt)
        if cfg["launcher"].get("detach"):
            print(f"detached: jobs queued; python bench/run.py suite={suite['name']} action=status | action=collect")
            return 0
        report_ok = report.ok
        for key, err in {**report.failed, **report.skipped}.items():
            print(f"  NOT DONE {key}: {err}")
    print(f"stages finished in {time.time() - t0:.1f}s")
    return report_action(run, report_ok)


def report_action(run: SuiteRun, report_ok: bool = True) -> int:
    """action=collect and action=compare (and the end of a run): consolidate records, golden check, tables."""
    action, suite, out_dir = run.cfg.get("action", "run"), run.suite, run.out_dir
    try:
        return _report(run, action, suite, out_dir, report_ok)
    except OSError as err:  # disk full or permissions in the results folder: the finished stages are kept
        if err.errno not in WRITE_ERRNOS:
            raise
        where = err.filename or out_dir
        raise SystemExit(f"error: cannot write the results of suite {suite['name']} to {where}: "
                         f"{err.strerror or err}. The stages are done and kept: "
                         f"{advice_for(err)}, then run python bench/run.py suite={suite['name']} "
                         "action=collect") from None


WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


def advice_for(err: OSError) -> str:
    """What to do about an OSError while writing."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free disk space (or set paths.results_dir elsewhere)"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "make the folder writable (or set paths.results_dir elsewhere)"
    return "fix the folder (or set paths.results_dir elsewhere)"


def _report(run: SuiteRun, action: str, suite: dict[str, Any], out_dir: Path, report_ok: bool) -> int:
    """report_action's work: results.csv / results.md, the golden check, the paper comparison."""
    df = consolidate(suite, load_records(run.stages, run.work_dir), out_dir)
    print(f"wrote {out_dir / 'results.csv'} ({len(df)} records) and {out_dir / 'results.md'}")
    code = 0 if report_ok else 1
    golden = suite.get("golden")
    if df.empty and action in ("run", "update_golden"):  # a run that produced no record failed (compare and
        # collect still report: every paper row then shows as missing)
        print(f"error: no records: no stage of suite {suite['name']} wrote a result (see NOT DONE above and the "
              f"stages' failed.json under {run.rt.work_dir}/stages)")
        return 1
    if golden:
        code = max(code, golden_check(action, Path(resolve(golden)), df, run.stages, run.work_dir, out_dir,
                                      report_ok))
    if action == "compare":
        paper_compare(suite, df, out_dir)
    else:
        print((out_dir / "results.md").read_text())
    return code


ACTIONS: Registry[Callable[[SuiteRun], int]] = Registry("action")
for _name, _action in (("run", execute_action), ("update_golden", execute_action), ("collect", report_action),
                       ("compare", report_action), ("status", status_action), ("plan", plan_action)):
    ACTIONS.add(_name, _action)


def run_perf_action(cfg: dict[str, Any]) -> int:
    """action=perf: time training steps per numerics mode (bench/training/perf.py), write results/perf/perf.csv."""
    import torch

    from bench.stages.base import resolve_device
    from bench.training.perf import PerfOptions, run_perf

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
    print(f"golden check vs {path} -> {out_dir / 'golden_diff.md'}: {verdict(diff)}")
    print("\n".join(lines))
    return code


def paper_compare(suite: dict[str, Any], df: pd.DataFrame, out_dir: Path) -> None:
    """Join with results/paper_numbers.csv (paper suites): statuses, paper-style tables, plots. Never fails."""
    from bench.report.compare import compare, figure_rows, load_paper_numbers, params_compare, write_compare
    from bench.report.plots import plot_specs, plots_for

    paper, table = suite.get("paper"), suite.get("paper_table")
    if suite.get("compare") == "params" and "published_params_m" in df:  # the zoo's parameter counts (model_facts)
        cmp = params_compare(df, suite["table"])
        title = str(suite.get("description") or suite["name"]).split(":")[0]  # e.g. 'Unified Table 1'
        write_compare(cmp, out_dir, f"{title} (parameters vs the papers' figures)")
        print((out_dir / "compare.md").read_text())
        return
    if not paper:
        print(f"suite {suite['name']} reproduces no single paper table; compare reports its golden diff only")
        return
    numbers = load_paper_numbers()
    rows = numbers[(numbers["paper"] == paper) & (numbers["table"] == table)]
    cmp = compare(rows, df)
    if rows.empty:  # a figure the paper draws without printing numbers: our points, and the planned ones missing
        drawn = tuple(dict.fromkeys(m for p in plot_specs(suite) for m in p.metrics)) or None
        cmp = compare(figure_rows(df, paper, table, suite.get("runs"), drawn), df)
    write_compare(cmp, out_dir, f"{paper} {table}")
    plots = plots_for(plot_specs(suite), cmp, out_dir / "plots", f"{paper}_{table}")
    counts = cmp["status"].value_counts().to_dict() if len(cmp) else {}
    print(f"compare {paper} {table}: {counts} -> {out_dir / 'compare.md'}, {out_dir / 'compare.tex'}"
          + (f", {len(plots)} plot files in {out_dir / 'plots'}" if plots else ""))
    print((out_dir / "compare.md").read_text())
