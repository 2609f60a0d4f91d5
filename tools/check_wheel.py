"""Check a built wheel against the checkout: every tracked source and data file the code reads is inside it.

    python tools/check_wheel.py dist/vqbench-*.whl

Shipped = the Python files of bench/, models/, tasks/, results/, slurm/, the configs (bench/conf/**/*.yaml),
the task YAMLs, results/paper_numbers.csv, results/golden/*, slurm/profiles/*. Exits 1 naming what is missing.
"""
from __future__ import annotations

import fnmatch
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ["bench/*.py", "bench/**/*.py", "bench/conf/**/*.yaml", "models/*.py", "models/**/*.py", "tasks/*.py",
           "tasks/**/*.py", "tasks/*.yaml", "results/__init__.py", "results/paper_numbers.csv", "results/golden/*",
           "slurm/__init__.py", "slurm/profiles/*.yaml"]


def main(wheel: str) -> int:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    want = sorted({f for f in tracked if any(fnmatch.fnmatch(f, p) for p in SHIPPED)})
    have = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in want if f not in have]
    stray = sorted(f for f in have if f.split("/")[0] in ("tests", "tools", "outputs") or "/smoke/results" in f)
    print(f"{wheel}: {len(have)} files; {len(want)} tracked files must ship; missing {len(missing)}; "
          f"stray {len(stray)}")
    for f in missing + stray:
        print(f"  {'MISSING' if f in missing else 'STRAY'} {f}")
    scripts = [f for f in have if f.endswith("entry_points.txt")]
    ok_script = any("vqbench = bench.run:cli" in zipfile.ZipFile(wheel).read(f).decode() for f in scripts)
    if not ok_script:
        print("  MISSING console script: vqbench = bench.run:cli")
    return 1 if missing or stray or not ok_script else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
