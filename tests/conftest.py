"""Shared fixtures: an isolated cache, config composition, and tiny image folders (one with a corrupt file)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
RUN = [sys.executable, str(REPO / "bench" / "run.py")]


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which turns xdist_group marks into @group node ids
def pytest_collection_modifyitems(items):
    """Under xdist, tests that share one expensive session resource run on one worker, so it is made once."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "smoke" in names:
            item.add_marker(pytest.mark.xdist_group("smoke"))  # one default-suite run for all of them
        elif "downstream" in names:
            item.add_marker(pytest.mark.xdist_group("downstream"))  # one smoke_downstream run, module-scoped
        elif item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.xdist_group("slurm"))  # one 2-CPU cluster: its tests queue, not race


@pytest.fixture(scope="session", autouse=True)
def _own_cache(tmp_path_factory):
    """Tests build datasets, random weights and reference statistics from scratch, as on a fresh machine."""
    os.environ["VQBENCH_CACHE"] = str(tmp_path_factory.mktemp("vqbench_cache"))


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    torch.set_num_threads(1)


def compose(overrides: list[str]) -> dict:
    """The resolved config that `python bench/run.py <overrides>` would get."""
    from hydra import compose as hcompose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from bench.plan.config import CONF_DIR, register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_container(hcompose(config_name="config", overrides=overrides), resolve=True)


def run_cli(args: list[str], cwd: Path, timeout: int = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run bench/run.py as a user would; returns the completed process (stdout+stderr merged)."""
    return subprocess.run(RUN + args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def write_images(folder: Path, n: int, size: tuple[int, int] = (40, 48), seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    for i in range(n):
        arr = (rng.rand(size[1], size[0], 3) * 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"img_{i:03d}.png")


@pytest.fixture
def ffhq_like(tmp_path: Path) -> Path:
    """<root>/train and <root>/validation with random PNGs, and one truncated (corrupt) PNG in validation."""
    root = tmp_path / "ffhq"
    write_images(root / "train", 12, seed=1)
    write_images(root / "validation", 6, seed=2)
    good = (root / "validation" / "img_000.png").read_bytes()
    (root / "validation" / "zz_corrupt.png").write_bytes(good[: len(good) // 3])
    return root


# A simulated CPU: the golden numbers were made under torch's AVX2 kernels on an AVX2 machine; the tests run the
# default suite as an AVX2 machine would (ATen, oneDNN and MKL held to AVX2 on this AVX-512 host), and its golden
# check must pass. Three knobs choose the kernels: ATEN_CPU_CAPABILITY (torch's own vectorised ops: default | avx2 |
# avx512), ONEDNN_MAX_CPU_ISA (oneDNN's convolutions, which ignore ATen's setting: SSE41 | AVX2 | AVX512_CORE ...) and
# MKL_ENABLE_INSTRUCTIONS (MKL's GEMMs on Intel CPUs; on AMD, MKL takes its own path whatever this says).
# .ci/wheel_check runs the suite again under a configuration the bounds were not measured on (ATen AVX2, oneDNN
# SSE4.1, MKL SSE4.2). ATen's generic kernels (default) pass the golden check too, but cost ~40% more time per run.
OTHER_CPU = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """README command (a)'s suite as another CPU runs it, twice into a fresh work dir: (first, second, paths)."""
    root = tmp_path_factory.mktemp("smoke")
    args = [f"paths.work_dir={root / 'outputs'}", f"paths.results_dir={root / 'results'}"]
    t0 = time.time()
    first = run_cli(args, cwd=REPO, timeout=1500, env=OTHER_CPU)
    t1 = time.time()
    second = run_cli(args, cwd=REPO, env=OTHER_CPU)
    t2 = time.time()
    return first, second, t1 - t0, t2 - t1, root
