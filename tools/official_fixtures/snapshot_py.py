"""Copy a fetched mirror's text sources (.py, .yaml) unchanged to /tmp so fixture scripts can import them.

`git archive` stops at the mirror's absent large files, so each text file is read with `git show`.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MIRRORS = Path("/work/.mirror")


def snapshot(owner_name: str, dest_root: str | Path = "/tmp/vqbench_official") -> tuple[Path, Path]:
    """(source tree, git dir) of github:<owner>/<name> copied to dest_root/<owner+name>; added to sys.path."""
    git_dir = MIRRORS / owner_name.replace("/", "+") / "repo"
    dest = Path(dest_root) / owner_name.replace("/", "+")
    names = subprocess.run(["git", f"--git-dir={git_dir}", "ls-tree", "-r", "--name-only", "HEAD"], check=True,
                           capture_output=True, text=True).stdout.split()
    for name in names:
        if not name.endswith((".py", ".yaml")) or (dest / name).exists():
            continue
        blob = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"HEAD:{name}"], capture_output=True)
        if blob.returncode == 0:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(blob.stdout)
    return dest, git_dir


def add_path(path: str | Path) -> None:
    """Put an official source folder first on sys.path."""
    sys.path.insert(0, str(path))
