"""REPRODUCE.md's generated tables equal what the code's data generates (tools/reproduce_tables.py)."""
from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("reproduce_tables", ROOT / "tools" / "reproduce_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_reproduce_md_equals_the_generated_one():
    text = (ROOT / "REPRODUCE.md").read_text()
    assert _tool().render(text) == text, "REPRODUCE.md's tables are stale: run python tools/reproduce_tables.py"


def test_the_protocol_table_follows_the_protocols(monkeypatch):
    """A changed fact or paper pairing changes the generated table, so the check above can fail."""
    from tasks.metrics import protocols

    text = (ROOT / "REPRODUCE.md").read_text()
    assert "| `clean-fid` |" in text and "vqganlc generation" in text and "cv2_linear" in text
    lc = protocols.PROTOCOLS["vqganlc"]
    monkeypatch.setitem(protocols.PROTOCOLS, "vqganlc", dataclasses.replace(lc, interpolation=None))
    assert _tool().render(text) != text
    monkeypatch.setitem(protocols.PROTOCOLS, "vqganlc", lc)
    monkeypatch.setitem(protocols.PAPER_PROTOCOL, "vqganlc", {"reconstruction": "vqganlc", "generation": "adm"})
    assert _tool().render(text) != text
