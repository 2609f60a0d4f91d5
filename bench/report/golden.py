"""Golden smoke numbers that hold on every CPU: three checks, each with bands measured rather than guessed.

A 300-step GAN run amplifies kernel-level float differences (another CPU's vector width, or
`ATEN_CPU_CAPABILITY=default`) until rFID moves by a quarter. So the default suite is checked three ways
(results/golden/bands.md lists each band and how it was measured):

- `fixed_weights`: a committed checkpoint evaluated on each val split. No training, so every metric is
  deterministic to ~1e-5 across CPUs: catches any change to a metric's definition (PSNR colour space, SSIM
  window, usage definition, LPIPS, FID) with tight bands.
- `trajectory`: every loss term the trainer logs over the run's first steps and its first GAN steps, before
  chaos sets in: catches a changed loss, quantizer, optimiser or data order (beta, the LPIPS weight, the
  adaptive GAN weight) with tight bands.
- `end_of_run`: not closeness to one chaotic run, but properties every correct run has (tol_kind `at_least` /
  `at_most`, the row's value is the bound): PSNR, SSIM and LPIPS improve on the untrained model's by a stated
  margin, usage and perplexity stay above a floor: catches a run that no longer trains, on any CPU.

Rows from another device type, torch version, config or metric weights are `not-comparable`, and the run says
so with the reason: a platform whose numbers cannot be checked is reported, never silently passed or failed.
The verdict is `passed` only when at least one row was compared and none drifted or was missing; a run where
no row could be compared (`train.steps=20`, another torch) is `NOT CHECKED`, with exit code 0.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from bench.report.numbers import fmt_number
from bench.stages.base import Stage, done_summary, stage_dir

CHECKS = ("fixed_weights", "trajectory", "end_of_run")
JOIN = ["check", "dataset", "method", "setting", "metric", "step"]
# What must agree for a golden row to be checked at all (the why is printed for each that does not).
MUST_AGREE = ["config_hash", "metric_weights", "device_type", "torch_version"]
GOLDEN_COLUMNS = JOIN + ["value", "tol_kind", "tolerance", "band_source"] + MUST_AGREE
# Loss terms the tokenizer trainer logs (bench/training/tokenizer.py); the trajectory check holds each of them.
TRAJECTORY_TERMS = ("l1", "lpips", "qloss", "g_loss", "d_weight", "d_loss")
# tol_kind: closeness (abs / rel: |ours - value| <= band) or a one-sided property (the value is the bound)
CLOSENESS, BOUNDS = ("abs", "rel"), ("at_least", "at_most")


def platform_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Add device_type (cpu / cuda) and torch_version, parsed from the provenance columns."""
    df = df.copy()
    df["device_type"] = df["device"].astype(str).str.split(":").str[0]
    df["torch_version"] = df["packages"].astype(str).str.extract(r"(?:^|;)torch==([^;+]+)", expand=False)
    return df


def _eval_check(stages: list[Stage]) -> dict[str, str]:
    """config hash of each evaluation stage -> its check (a released/committed checkpoint is fixed_weights)."""
    return {st.key.split("-", 1)[1]: "fixed_weights" if st.config.get("checkpoint") else "end_of_run"
            for st in stages if st.kind == "eval_reconstruction"}


def trajectory_rows(stages: list[Stage], work_dir: str | Path) -> list[dict[str, Any]]:
    """One row per (finished train stage, logged step, loss term) from its train_log.jsonl, with the platform
    its done.json says it ran on."""
    rows = []
    for st in stages:
        log = stage_dir(work_dir, st.key) / "train_log.jsonl"
        # done_summary verifies done.json and the log's hash: a damaged stage is moved aside, not read
        if st.kind != "train_tokenizer" or (summary := done_summary(work_dir, st.key)) is None or not log.is_file():
            continue
        prov = {k: summary.get(k, "unknown") for k in ("device", "packages", "metric_weights")}
        for line in log.read_text().splitlines():
            rec = json.loads(line) if line.strip() else {}
            for term in TRAJECTORY_TERMS:
                if term in rec:
                    labels = {k: st.labels.get(k, "") for k in ("dataset", "method", "setting")}
                    rows.append({"check": "trajectory", **labels,
                                 "metric": term, "step": int(rec["step"]), "value": float(rec[term]),
                                 "config_hash": st.key.split("-", 1)[1], **prov})
    return rows


def observed_frame(results: pd.DataFrame, stages: list[Stage], work_dir: str | Path) -> pd.DataFrame:
    """This run's numbers in golden form: evaluation records (fixed_weights / end_of_run) plus trajectories."""
    checks = _eval_check(stages)
    cols = ["dataset", "method", "setting", "metric", "value", "config_hash", "metric_weights", "device", "packages"]
    ev = results[[c for c in cols if c in results.columns]].copy() if len(results) else pd.DataFrame(columns=cols)
    ev["check"] = [checks.get(str(h), "end_of_run") for h in ev["config_hash"]]
    ev["step"] = -1
    traj = pd.DataFrame(trajectory_rows(stages, work_dir))
    out = pd.concat([d for d in (ev, traj) if len(d)], ignore_index=True) if len(ev) or len(traj) else ev
    if out.empty:
        return pd.DataFrame(columns=JOIN + ["value"] + MUST_AGREE)
    out = platform_columns(out)
    out["step"] = out["step"].astype(int)
    out["config_hash"] = out["config_hash"].astype(str)
    return out[JOIN + ["value"] + MUST_AGREE]


def diff_golden(observed: pd.DataFrame, golden_path: Path) -> pd.DataFrame:
    """Per golden row: match / drift / missing (not produced) / not-comparable (with a `why`). Observed rows the
    golden file does not hold (later trajectory steps, say) are not checked and not listed."""
    golden = read_golden(golden_path)
    m = golden.merge(observed, on=JOIN, how="left", suffixes=("_golden", "_ours"), indicator=True)
    # the config hashes this run produced per (check, dataset, method, setting): a golden row this run lacks is
    # 'missing' only if the run had the golden config there; under another config (fewer steps, say) it could
    # never have been compared, so it is not-comparable like the rows that were produced
    unit = ["check", "dataset", "method", "setting"]
    ran = observed.groupby(unit)["config_hash"].agg(lambda h: sorted(set(map(str, h)))).to_dict() if len(observed) \
        else {}
    statuses, deltas, whys = [], [], []
    for _, r in m.iterrows():
        if r["_merge"] == "left_only":
            hashes = ran.get(tuple(r[c] for c in unit), [])
            other = bool(hashes) and str(r["config_hash_golden"]) not in hashes
            statuses.append("not-comparable" if other else "missing")
            deltas.append(float("nan"))
            whys.append(f"config_hash: golden {r['config_hash_golden']} vs this run {', '.join(hashes)}; this run did "
                        "not produce it" if other else "this run did not produce it")
            continue
        delta = float(r["value_ours"]) - float(r["value_golden"])
        deltas.append(delta)
        differ = [c for c in MUST_AGREE if str(r[f"{c}_golden"]) != str(r[f"{c}_ours"])]
        if differ:
            statuses.append("not-comparable")
            whys.append("; ".join(f"{c}: golden {r[f'{c}_golden']} vs this run {r[f'{c}_ours']}" for c in differ))
            continue
        ok, why = within(r["tol_kind"], float(r["tolerance"]), float(r["value_golden"]), float(r["value_ours"]))
        statuses.append("match" if ok else "drift")
        whys.append("" if ok else f"{why} ({r['band_source']})")
    m["delta"], m["status"], m["why"] = deltas, statuses, whys
    return m.drop(columns="_merge")


def within(kind: str, tolerance: float, golden: float, ours: float) -> tuple[bool, str]:
    """Whether `ours` satisfies the row, and if not why: closeness within the band, or the one-sided bound."""
    if kind == "at_least":
        return ours >= golden, f"{ours:.4g} < bound {golden:.4g}"
    if kind == "at_most":
        return ours <= golden, f"{ours:.4g} > bound {golden:.4g}"
    bound = band(kind, tolerance, golden)
    return abs(ours - golden) <= bound, f"|delta| {abs(ours - golden):.3g} > band {bound:.3g}"


def band(kind: str, tolerance: float, golden_value: float) -> float:
    """The allowed |ours - golden|: absolute, or relative to the golden value; a tiny floor absorbs rounding."""
    return tolerance * (abs(golden_value) if kind == "rel" else 1.0) + 1e-12


def read_golden(path: Path) -> pd.DataFrame:
    """The golden file, checked for the columns this version needs."""
    golden = pd.read_csv(path, dtype={c: str for c in MUST_AGREE + ["band_source"]})
    lacking = [c for c in GOLDEN_COLUMNS if c not in golden.columns]
    if lacking:
        raise SystemExit(f"error: golden file {path} lacks columns {lacking}; regenerate it with "
                         "tools/golden_bands.py (results/golden/bands.md)")
    unknown = sorted(set(golden["check"]) - set(CHECKS))
    if unknown:
        raise SystemExit(f"error: golden file {path} has unknown checks {unknown}; expected {list(CHECKS)}")
    kinds = sorted(set(golden["tol_kind"]) - set(CLOSENESS + BOUNDS))
    if kinds:
        raise SystemExit(f"error: golden file {path} has unknown tol_kind {kinds}; expected {list(CLOSENESS + BOUNDS)}")
    golden["step"] = golden["step"].astype(int)
    return golden


def verdict(diff: pd.DataFrame) -> str:
    """FAILED (a row drifted or is missing), passed (at least one row compared, none failed), or NOT CHECKED
    (no row could be compared: nothing was checked, which is not a pass)."""
    if diff["status"].isin(["drift", "missing"]).any():
        return "FAILED"
    compared = int((diff["status"] == "match").sum())
    return f"passed ({compared} of {len(diff)} golden rows compared)" if compared else "NOT CHECKED"


def summarize(diff: pd.DataFrame) -> tuple[int, list[str]]:
    """Exit code (1 on drift or missing) and the lines to print: per-check counts, failures, unchecked rows.

    A run where nothing could be compared exits 0 (another torch, or `train.steps=20`, is not a failure) but
    says in capitals that nothing was checked."""
    lines, code = [], 0
    for check in CHECKS:
        part = diff[diff["check"] == check]
        if part.empty:
            continue
        counts = part["status"].value_counts().to_dict()
        lines.append(f"  {check:13s} {len(part):4d} rows: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    bad = diff[diff["status"].isin(["drift", "missing"])]
    if len(bad):
        code = 1
        for _, r in bad.head(20).iterrows():
            step = f" step {r['step']}" if r["step"] >= 0 else ""
            lines.append(f"  {r['status'].upper()} {r['check']} {r['dataset']} {r['method']} {r['metric']}{step}: "
                         f"golden {fmt_number(r['value_golden'], 6)}, ours {fmt_number(r.get('value_ours'), 6)}; "
                         f"{r['why']}")
    unchecked = diff[diff["status"] == "not-comparable"]
    reasons = " | ".join(sorted(set(unchecked["why"]))[:3])
    if verdict(diff) == "NOT CHECKED":
        lines.append(f"  NOT CHECKED: none of the {len(diff)} golden rows could be compared, so nothing was checked "
                     f"(exit code 0, but this is not a pass): {reasons or 'the golden file has no rows'}")
    elif len(unchecked):
        lines.append(f"  NOT CHECKED: {len(unchecked)} of {len(diff)} golden rows cannot be compared on this platform "
                     f"or config, so they neither pass nor fail: " + reasons)
    return code, lines


def write_diff(diff: pd.DataFrame, out_dir: Path) -> None:
    """golden_diff.csv and a markdown view of it."""
    diff.to_csv(out_dir / "golden_diff.csv", index=False)
    lines = ["# Golden diff", "",
             "| check | dataset | method | metric | step | golden | ours | delta | band | status |",
             "|---|---|---|---|---:|---:|---:|---:|---|---|"]
    for _, r in diff.iterrows():
        tol = f"{r['tol_kind']} {float(r['tolerance']):.3g}"
        step = "" if r["step"] < 0 else str(r["step"])
        lines.append(f"| {r['check']} | {r['dataset']} | {r['method']} | {r['metric']} | {step} | "
                     f"{fmt_number(r['value_golden'], 6)} | {fmt_number(r.get('value_ours'), 6)} | "
                     f"{fmt_number(r['delta'], 6)} | {tol} | "
                     f"**{r['status']}** |")
    (out_dir / "golden_diff.md").write_text("\n".join(lines) + "\n")


def update_values(observed: pd.DataFrame, golden_path: Path, target: Path) -> None:
    """After an intended change: take this run's values (and platform) for every closeness row, keeping the bands
    and the bounds.

    Rows the golden file does not hold get no band here; tools/golden_bands.py measures bands for new rows.
    """
    golden = read_golden(golden_path)
    m = golden.merge(observed, on=JOIN, how="left", suffixes=("", "_new"), indicator=True)
    missing = m[m["_merge"] == "left_only"]
    if len(missing):
        raise SystemExit(f"error: this run lacks {len(missing)} golden rows (e.g. {missing.iloc[0][JOIN].to_dict()}); "
                         "finish the suite first")
    for c in MUST_AGREE:
        m[c] = m[f"{c}_new"]
    # a bound (at_least / at_most) comes from the untrained model and the measured runs, not from this run:
    # it is kept; tools/golden_bands.py --end-of-run re-derives it
    closeness = m["tol_kind"].isin(CLOSENESS)
    m.loc[closeness, "value"] = m.loc[closeness, "value_new"]
    m.loc[closeness, "band_source"] = m.loc[closeness, "band_source"].astype(str).str.replace(
        r"^(?!value from update_golden; )", "value from update_golden; ", regex=True)
    m[GOLDEN_COLUMNS].to_csv(target, index=False)
