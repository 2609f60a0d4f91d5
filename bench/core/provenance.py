"""Provenance of every number: git SHA + dirty flag, config hash, package versions, device."""
from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("torch", "torchvision", "numpy", "lpips", "torch-fidelity", "scikit-image", "hydra-core", "vqbench")


def stable_hash(obj: Any, n: int = 16) -> str:
    """Hash of a JSON-able object that does not depend on dict order."""
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


def state_dict_hash(module: torch.nn.Module, n: int = 16) -> str:
    """Hash of a module's weights (names, shapes and bytes), to tell real from random metric nets."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().to("cpu").contiguous().reshape(-1)
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:n]


def installed_version() -> str:
    """vqbench's installed distribution version ('absent' when run from a checkout that was never installed)."""
    try:
        return metadata.version("vqbench")
    except metadata.PackageNotFoundError:
        return "absent"


@functools.lru_cache(maxsize=1)
def git_state() -> dict[str, Any]:
    """Git SHA and dirty flag of the checkout that holds the running code.

    Only a repository whose top level is the folder above this package counts: a wheel installed into a
    virtualenv that sits inside some other repository must not report that repository's SHA. Without a
    checkout (a wheel install) the SHA field says so and names the installed vqbench version instead.
    """
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True, timeout=20).stdout.strip()
    no_checkout = {"git_sha": f"none (installed vqbench=={installed_version()})", "git_dirty": None}
    if not (REPO_ROOT / ".git").exists():
        return no_checkout
    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != REPO_ROOT:
            return no_checkout
        sha = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"git_sha": "unknown (git failed in the checkout)", "git_dirty": None}
    return {"git_sha": sha, "git_dirty": dirty}


@functools.lru_cache(maxsize=1)
def package_versions() -> str:
    """'name==version' for the packages that can change a number, ';'-joined for one CSV cell."""
    out = []
    for name in PACKAGES:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name}==absent")
    return ";".join(out)


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (falls back to the architecture)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


@functools.lru_cache(maxsize=1)
def cpu_vector_isa() -> str:
    """The widest x86 vector extension the CPU reports (avx512f / avx2 / avx / none), from /proc/cpuinfo."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        return "unknown"
    return next((f for f in ("avx512f", "avx2", "avx") if f in flags), "none")


def cpu_capability() -> dict[str, str]:
    """Which vectorised kernels torch runs (its capability path, which ATEN_CPU_CAPABILITY can lower) and what
    the CPU offers: the two things that make CPU float results differ between machines."""
    try:
        torch_cap = str(torch.backends.cpu.get_cpu_capability())
    except AttributeError:  # torch < 2.1
        torch_cap = "unknown"
    return {"cpu_capability": torch_cap, "cpu_isa": cpu_vector_isa(),
            "aten_cpu_capability_env": os.environ.get("ATEN_CPU_CAPABILITY", "")}


def kernel_path(device: torch.device) -> dict[str, str]:
    """What picks the float kernels a computation runs: the device, torch's CPU capability path and the ISA caps
    oneDNN and MKL read (simulated CPUs set them); cached numbers are only reused under the same path."""
    return {"device": device.type, **cpu_capability(), "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
            "mkl_enable_instructions": os.environ.get("MKL_ENABLE_INSTRUCTIONS", "")}


def device_string(device: torch.device) -> str:
    """'cuda:<GPU name>' or 'cpu:<CPU model>:threads=N' (the first field is what golden numbers key on)."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{cpu_model()}:threads={torch.get_num_threads()}"


def provenance(config_hash: str, seed: int, device: torch.device, weight_hashes: dict[str, str]) -> dict[str, Any]:
    """The provenance columns carried by every record."""
    return {
        **git_state(),
        "config_hash": config_hash,
        "seed": seed,
        "packages": package_versions(),
        "device": device_string(device),
        **cpu_capability(),
        **{f"weights_{k}": v for k, v in sorted(weight_hashes.items())},
    }
