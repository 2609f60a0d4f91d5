"""Provenance that is true: the SHA of the checkout holding the running code (never another repository's),
the installed version without one, the CPU's capability path; shipped files found through importlib.resources."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from bench.core import provenance
from bench.core.resources import data_path, is_installed_copy, resolve
from conftest import REPO


def test_checkout_sha():
    provenance.git_state.cache_clear()
    state = provenance.git_state()
    assert re.fullmatch(r"[0-9a-f]{40}", state["git_sha"]) and isinstance(state["git_dirty"], bool)


def test_code_inside_another_repository_reports_no_sha(tmp_path: Path, monkeypatch):
    """A site-packages folder inside some other git repository must not lend vqbench that repository's SHA."""
    other = tmp_path / "someone_elses_repo"
    (other / "venv" / "site-packages").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    subprocess.run(["git", "-C", str(other), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    for root in (other / "venv" / "site-packages", tmp_path / "no_git_at_all"):
        root.mkdir(parents=True, exist_ok=True)
        monkeypatch.setattr(provenance, "REPO_ROOT", root)
        provenance.git_state.cache_clear()
        state = provenance.git_state()
        assert state["git_sha"].startswith("none (installed vqbench==") and state["git_dirty"] is None
    provenance.git_state.cache_clear()


def test_cpu_capability_is_recorded_and_follows_the_environment():
    cap = provenance.cpu_capability()
    assert set(cap) == {"cpu_capability", "cpu_isa", "aten_cpu_capability_env"}
    code = "from bench.core.provenance import cpu_capability; print(cpu_capability()['cpu_capability'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         env={**os.environ, "ATEN_CPU_CAPABILITY": "default"}).stdout.strip()
    assert out == "DEFAULT"


def test_shipped_files_resolve():
    assert resolve("pkg://results/golden/smoke.csv").is_file()
    assert data_path("results", "paper_numbers.csv").is_file()
    assert data_path("slurm", "profiles", "local.yaml").is_file()
    assert data_path("bench", "conf", "suite", "paper").is_dir()
    assert resolve("relative/file.csv") == Path("relative/file.csv")
    assert not is_installed_copy(REPO / "results" / "golden" / "smoke.csv")  # a checkout is not site-packages


def test_shipped_data_is_found_from_a_folder_holding_a_results_output_dir(tmp_path):
    """A run writes results/ into its working directory; jobs started there (submitit's `python -m`, sys.path[0]
    = cwd) must still read the shipped golden file and paper numbers, not a namespace package of that folder."""
    (tmp_path / "results" / "smoke").mkdir(parents=True)
    (tmp_path / "slurm").mkdir()
    code = ("from bench.core.resources import data_path, resolve; "
            "assert resolve('pkg://results/golden/smoke.csv').is_file(); "
            "assert data_path('slurm', 'profiles', 'local.yaml').is_file()")
    # no PYTHONPATH: the package comes from the install (editable or wheel), as in a submitit job
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
