"""Files vqbench ships as package data (configs, paper numbers, golden files, SLURM profiles), found through
importlib.resources so the same code reads them from a checkout, an editable install or a wheel."""
from __future__ import annotations

import sysconfig
from importlib import resources
from pathlib import Path

# package -> what it ships; `pyproject.toml` [tool.setuptools.package-data] lists the same globs
SHIPPED = {"results": ("paper_numbers.csv", "golden/*"), "slurm": ("profiles/*.yaml",),
           "bench": ("conf/**/*.yaml",), "tasks": ("*.yaml",)}
PKG_PREFIX = "pkg://"


def data_path(package: str, *parts: str) -> Path:
    """A shipped file or folder as a filesystem path (wheels install unzipped, so this is a real path)."""
    return Path(str(resources.files(package).joinpath(*parts)))


def resolve(ref: str | Path) -> Path:
    """'pkg://results/golden/smoke.csv' -> the shipped file; any other string is a path (relative to cwd)."""
    ref = str(ref)
    if ref.startswith(PKG_PREFIX):
        package, _, rest = ref[len(PKG_PREFIX):].partition("/")
        return data_path(package, *[p for p in rest.split("/") if p])
    return Path(ref).expanduser()


def is_installed_copy(path: Path) -> bool:
    """True when `path` lies inside site-packages (a wheel install): vqbench never writes there."""
    site = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    p = path.resolve()
    return any(p == s or s in p.parents for s in site)
