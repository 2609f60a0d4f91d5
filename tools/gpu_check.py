"""The first-GPU check (issue 23.5): what CPU tests cannot show, in one run of under 8 minutes on one GPU.

    python tools/gpu_check.py                      # every check; results/gpu_check/gpu_check.csv; exit 1 on a failure
    python tools/gpu_check.py --dry-run            # no GPU needed: validate every command's overrides, write the CSV
    python tools/gpu_check.py --only perf ddp_2gpu # a subset

Checks, each a subprocess with its own time limit (one CSV row each: check, status, seconds, rc, detail, command):
  perf          action=perf at full width (perf.width=1.0, 256 px, batch 8) on cuda: every component, fp32 and bf16
  loader_gpu    tools/loader_throughput.py --decoders gpu --device cuda: JPEG batches decoded by nvJPEG
  default_bf16  the default suite with train.precision=bf16 on cuda (stages in this process)
  ddp_2gpu      suite=recon with the tokenizer trained by a 2-process DDP group (launcher=local, gpus_per_node=2);
                skipped when fewer than 2 GPUs are visible
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN = [sys.executable, str(REPO / "bench" / "run.py")]


@dataclass(frozen=True)
class Check:
    """One check: its CLI command, its time limit, and how many GPUs it needs."""

    name: str
    command: list[str]
    timeout_s: int
    gpus: int = 1
    overrides: bool = True  # bench/run.py overrides, validated by --dry-run


def checks(work: Path) -> list[Check]:
    """The four checks, writing under `work` (each its own work and results folder)."""
    def paths(name: str) -> list[str]:
        return [f"paths.work_dir={work / name / 'w'}", f"paths.results_dir={work / name / 'r'}"]

    return [
        Check("perf", [*RUN, "action=perf", "scale.device=cuda", "perf.width=1.0", "perf.resolution=256",
                       "perf.batch=8", "perf.steps=2", "perf.depth=2", "perf.modes=[fp32,bf16]", *paths("perf")], 150),
        Check("loader_gpu", [sys.executable, str(REPO / "tools" / "loader_throughput.py"), "--decoders", "gpu",
                             "--device", "cuda", "--images", "48", "--batches", "3", "--workers", "0", "2",
                             "--json", str(work / "loader_gpu.json")], 90, overrides=False),
        Check("default_bf16", [*RUN, "train.precision=bf16", "scale.device=cuda", "launcher=debug",
                               *paths("default_bf16")], 150),
        Check("ddp_2gpu", [*RUN, "suite=recon", "train.steps=20", "scale.device=cuda", "launcher=local",
                           "launcher.resources.train_tokenizer.gpus_per_node=2", *paths("ddp_2gpu")], 90, gpus=2),
    ]


def gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001  no torch / no driver: no GPU
        return 0


def validate(check: Check) -> tuple[str, str]:
    """--dry-run: the command's bench/run.py overrides against the config schema (bench/plan/config.py)."""
    if not check.overrides:
        return "dry-run", "not a bench/run.py command"
    sys.path.insert(0, str(REPO))
    from bench.plan.config import check_overrides, register_configs

    register_configs()
    try:
        check_overrides([a for a in check.command if "=" in a])
    except SystemExit as e:
        return "failed", str(e.code)
    return "dry-run", "overrides valid"


def run(check: Check, env: dict[str, str]) -> tuple[str, int | None, str]:
    """Run one check; (status, return code, last line of its output)."""
    try:
        out = subprocess.run(check.command, cwd=REPO, capture_output=True, text=True, timeout=check.timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return "failed", None, f"timed out after {check.timeout_s}s"
    tail = (out.stdout + out.stderr).strip().splitlines()
    return ("passed" if out.returncode == 0 else "failed"), out.returncode, (tail[-1] if tail else "")[:300]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "results" / "gpu_check")
    ap.add_argument("--dry-run", action="store_true", help="validate and list the checks; run nothing")
    ap.add_argument("--only", nargs="+", default=None, help="run only these checks")
    ap.add_argument("--extra", nargs="*", default=[], help="overrides appended to every bench/run.py check")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    todo = [c for c in checks(args.out / "work") if args.only is None or c.name in args.only]
    todo = [Check(c.name, c.command + (args.extra if c.overrides else []), c.timeout_s, c.gpus, c.overrides)
            for c in todo]
    n_gpu = gpu_count()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    rows = []
    for c in todo:
        t = time.perf_counter()
        if args.dry_run:
            (status, detail), rc = validate(c), None
        elif n_gpu < c.gpus:
            status, rc, detail = "skipped", None, f"needs {c.gpus} GPUs, {n_gpu} visible"
        else:
            status, rc, detail = run(c, env)
        rows.append({"check": c.name, "status": status, "seconds": round(time.perf_counter() - t, 1), "rc": rc,
                     "gpus_visible": n_gpu, "detail": detail, "command": " ".join(c.command)})
        print(f"{c.name:14s} {status:8s} {rows[-1]['seconds']:7.1f}s  {detail}", flush=True)
    path = args.out / "gpu_check.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["check"])
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {path}")
    return 1 if any(r["status"] == "failed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
