"""Files vqbench ships as package data (configs, paper numbers, golden files, SLURM profiles), found beside the
`bench` package, so the same code reads them from a checkout, an editable install or a wheel."""
from __future__ import annotations

import sysconfig
from pathlib import Path

# package -> what it ships; `pyproject.toml` [tool.setuptools.package-data] lists the same globs
SHIPPED = {"results": ("paper_numbers.csv", "golden/*"), "slurm": ("profiles/*.yaml",),
           "bench": ("conf/**/*.yaml",), "tasks": ("*.yaml",)}
PKG_PREFIX = "pkg://"


# The shipped packages sit beside `bench` in a checkout and in site-packages alike (wheels install unzipped).
# They are found from this file, not imported: `results` and `slurm` are also the names of folders a run creates
# in its working directory, and with an editable install such a folder would shadow the package as a namespace
# package (a MultiplexedPath, or the user's own outputs).
INSTALL_ROOT = Path(__file__).resolve().parents[2]


def data_path(package: str, *parts: str) -> Path:
    """A shipped file or folder of `package` (one of SHIPPED) as a filesystem path."""
    if package not in SHIPPED:
        raise ValueError(f"'{package}' ships no data; packages with data: {sorted(SHIPPED)}")
    return INSTALL_ROOT.joinpath(package, *parts)


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
