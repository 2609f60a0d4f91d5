"""Every third-party package imported at module level by vqbench's own code is a base dependency in pyproject.toml,
so README command (a) (`pip install -e .`, no extras) can import the whole harness. The test extras bring more
packages (DeepSpeed brings psutil), so a plain run of the tests would not notice a missing one."""
from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("bench", "models", "tasks")


def _module_level_imports(path: Path) -> set[str]:
    """Top-level names of the module's own top-level imports: imports inside functions, classes or try blocks
    are lazy or guarded and may come from an extra (DeepSpeed, clean-fid)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_module_level_imports_are_base_dependencies():
    # the installed distribution's requirements without an extra marker: pyproject's [project] dependencies
    deps = [r for r in requires("vqbench") or [] if "extra ==" not in r]
    declared = {re.split(r"[<>=!~\[; (]", d, maxsplit=1)[0].lower().replace("_", "-") for d in deps}
    dist_of = packages_distributions()
    missing = {}
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            for name in _module_level_imports(path):
                if name in PACKAGES or name in sys.stdlib_module_names or name == "__future__":
                    continue
                dists = {d.lower().replace("_", "-") for d in dist_of.get(name, [name])}
                if not dists & declared:
                    missing.setdefault(name, []).append(str(path.relative_to(REPO)))
    assert not missing, f"imported at module level but not in [project] dependencies: {missing}"
