"""tools/gpu_check.py on the CPU (issue 23.5): its dry run validates every check's bench/run.py overrides against the
config schema and writes the CSV; a bad override fails it (exit 1); without GPUs every check is skipped."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import torch

from conftest import REPO

TOOL = [sys.executable, str(REPO / "tools" / "gpu_check.py")]


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "gpu_check.csv").open() as f:
        return list(csv.DictReader(f))


def test_dry_run_validates_every_check(tmp_path) -> None:
    res = subprocess.run([*TOOL, "--dry-run", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    rows = _rows(tmp_path)
    assert [r["check"] for r in rows] == ["perf", "loader_gpu", "default_bf16", "ddp_2gpu"]
    assert {r["status"] for r in rows} == {"dry-run"}
    by = {r["check"]: r["command"] for r in rows}
    assert "perf.width=1.0" in by["perf"] and "train.precision=bf16" in by["default_bf16"]
    assert "--decoders gpu" in by["loader_gpu"] and "gpus_per_node=2" in by["ddp_2gpu"]


def test_a_bad_override_fails_the_check(tmp_path) -> None:
    res = subprocess.run([*TOOL, "--dry-run", "--only", "default_bf16", "--extra", "train.precison=bf16",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 1
    (row,) = _rows(tmp_path)
    assert row["status"] == "failed" and "precison" in row["detail"] and "precision" in row["detail"]


def test_without_gpus_every_check_is_skipped(tmp_path) -> None:
    if torch.cuda.is_available():
        return  # on a GPU machine this would run the checks themselves
    res = subprocess.run([*TOOL, "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert {r["status"] for r in _rows(tmp_path)} == {"skipped"}
