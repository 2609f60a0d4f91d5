"""Regenerate REPRODUCE.md's tables from the code's data, so they cannot drift from it.

Each table sits between `<!-- generated: NAME -->` and `<!-- end generated: NAME -->`; its text comes from:
- deviations: `models/recipes.py` DEVIATIONS (`deviations_markdown`);
- protocols: `tasks/metrics/protocols.py` PROTOCOLS and PAPER_PROTOCOL (`protocols_markdown`).

    python tools/reproduce_tables.py           # rewrite REPRODUCE.md in place
    python tools/reproduce_tables.py --check   # exit 1 when REPRODUCE.md differs from the generated text
"""
from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPRODUCE = ROOT / "REPRODUCE.md"


def _tables() -> dict[str, Callable[[], str]]:
    from models.recipes import deviations_markdown
    from tasks.metrics.protocols import protocols_markdown

    return {"deviations": deviations_markdown, "protocols": protocols_markdown}


def render(text: str) -> str:
    """`text` with every generated block replaced by its table's current text; KeyError for a block it lacks."""
    for name, make in _tables().items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(<!-- end generated: {name} -->)", re.S)
        if not pattern.search(text):
            raise KeyError(f"REPRODUCE.md has no '<!-- generated: {name} -->' block")
        body = make()
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    text = REPRODUCE.read_text()
    new = render(text)
    if "--check" in argv:
        if new != text:
            print("REPRODUCE.md's generated tables are stale: run python tools/reproduce_tables.py")
            return 1
        return 0
    REPRODUCE.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
