"""The harness names no paper (issue #21, review point 4): paper names appear only in data - recipes, suites,
results/paper_numbers.csv and the protocol table - so a new paper table is a suite YAML and its rows. This test reads
the harness's code (comments and docstrings aside, where citing a paper is how vqbench says where code comes from)
and fails on any paper name outside the short list below."""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARNESS = [*ROOT.glob("bench/*.py"), *(p for d in ("core", "launch", "plan", "report", "stages", "training")
                                        for p in (ROOT / "bench" / d).glob("*.py")), *ROOT.glob("tasks/*.py")]
# paper and paper-table names: MoVQ, SeQ-GAN, VQGAN-LC, RQ-VAE, the unified 'table1' ...
PAPER = re.compile(r"movq|seq-?gan|vqgan[-_ ]?lc|rq-?vae|table\d", re.IGNORECASE)
# data files among the harness's modules: the recipes are where a paper's values belong (issue #21 item 6)
DATA_MODULES = {"bench/plan/recipes.py"}
# (file, the token's text) left on purpose, with the reason
ALLOWED: dict[tuple[str, str], str] = {
    ("bench/plan/planner.py", '"(taming .ckpt, VQGAN-LC .pth, RQ-VAE stage-1 .pt) or a vqbench tokenizer.safetensors"'):
        "the error message names the checkpoint formats the converters read (models/converters)",
}


def _docstring_lines(source: str) -> set[int]:
    """Lines of every bare string statement (module, class and function docstrings)."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def paper_names_in_code(path: Path) -> list[tuple[int, str]]:
    """(line, token) of every paper name in `path` outside comments and docstrings."""
    source = path.read_text()
    docs = _docstring_lines(source)
    hits = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE) or tok.start[0] in docs:
            continue
        if PAPER.search(tok.string):
            hits.append((tok.start[0], tok.string))
    return hits


def test_the_scan_finds_a_paper_name_in_code_and_not_in_comments(tmp_path: Path):
    f = tmp_path / "m.py"
    f.write_text('"""VQGAN-LC docstring."""\n# MoVQ comment\nx = 1  # SeQ-GAN\nif name == "table1":\n    pass\n'
                 'PAPER = {"vqganlc": 1}\n')
    assert paper_names_in_code(f) == [(4, '"table1"'), (6, '"vqganlc"')]


def test_the_harness_names_no_paper():
    assert len(HARNESS) > 40  # the globs found the harness
    found = []
    for path in HARNESS:
        rel = path.relative_to(ROOT).as_posix()
        if rel in DATA_MODULES:
            continue
        found += [f"{rel}:{line}: {tok}" for line, tok in paper_names_in_code(path) if (rel, tok) not in ALLOWED]
    assert not found, "paper names in the harness's code (move them into a suite, recipe or the protocol table):\n" \
        + "\n".join(found)


def test_every_allowed_name_is_still_there():
    """An allowance whose code is gone is removed from the list, so the list stays short and true."""
    for (rel, tok), _reason in ALLOWED.items():
        assert any(t == tok for _, t in paper_names_in_code(ROOT / rel)), (rel, tok)
