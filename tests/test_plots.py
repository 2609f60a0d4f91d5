"""Honest plots: every point drawn for every paper suite's figure is one row of its compare.csv (no averaging of
rows that share an x), and a method keeps one colour across every panel and figure of a suite."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bench.core.resources import resolve
from bench.report import plots
from bench.report.store import records_frame
from bench.suite import paper_compare
from conftest import compose

RAW = {p.stem: yaml.safe_load(p.read_text()) for p in sorted(Path(resolve("pkg://bench/conf/suite/paper")).glob("*.yaml"))}
# every paper suite that lists figures under `plots:` (the others draw nothing)
SUITES = sorted(name for name, s in RAW.items() if s.get("plots"))


def _compare_with_no_records(name: str, tmp_path: Path, monkeypatch) -> tuple[pd.DataFrame, list]:
    """`suite=paper/<name> scale=paper action=compare` with no records (the paper rows only), in this process:
    its compare.csv and the figures it drew."""
    cfg = compose([f"suite=paper/{name}", "scale=paper", "action=compare"])
    figures: list = []
    save = plots.save
    monkeypatch.setattr(plots, "save", lambda fig, out: figures.append((out.name, fig)) or save(fig, out))
    paper_compare(cfg["suite"], records_frame(cfg["suite"], []), tmp_path)
    cmp = pd.read_csv(tmp_path / "compare.csv") if (tmp_path / "compare.csv").is_file() else pd.DataFrame()
    return cmp, figures


def _drawn(fig) -> list[tuple[str, str, float, float, tuple]]:
    """(panel metric, line label, x, y, colour) of every plotted point."""
    out = []
    for ax in fig.axes:
        for line in ax.get_lines():
            out += [(ax.get_ylabel(), line.get_label(), float(x), float(y), tuple(line.get_color()))
                    for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)]
    return out


def test_every_figure_belongs_to_a_paper_table():
    assert len(SUITES) == 9  # the figures the plot registry drew before they moved into the suite YAMLs
    for name in SUITES:
        assert RAW[name].get("paper") and RAW[name].get("paper_table"), name
        assert {p.key for p in plots.plot_specs(RAW[name])}, name


@pytest.mark.parametrize("name", SUITES)
def test_every_plotted_point_is_a_row_of_compare_csv(tmp_path: Path, monkeypatch, name: str):
    cmp, figures = _compare_with_no_records(name, tmp_path, monkeypatch)
    colour_of: dict[str, tuple] = {}
    n_points = 0
    for fig_name, fig in figures:
        key = next(p.key for p in plots.plot_specs(RAW[name]) if fig_name.endswith(f"_{p.key}"))
        for metric, label, x, y, colour in _drawn(fig):
            method = next(m for m in sorted(set(cmp["method"]), key=len, reverse=True) if label.startswith(f"{m} "))
            assert colour_of.setdefault(method, colour) == colour, (name, method)  # one colour per method
            rows = cmp[(cmp["method"] == method) & (cmp["metric"] == metric)]
            xs = rows["setting"].astype(str).str.extract(rf"(?:^| ){re.escape(key)}=([0-9.]+)", expand=False)
            same = rows[(xs.astype(float) == x) & (rows["paper_value"] == y)]
            assert len(same) >= 1, f"{name}: {label} at {key}={x:g} plots {metric}={y:g}: no row of compare.csv"
            rest = " ".join(re.sub(rf"(?:^| ){re.escape(key)}=[0-9.]+", " ", str(same.iloc[0]["setting"])).split())
            assert rest in label  # the token count (the rest of the setting) is in the line's label
            n_points += 1
    # and every row with a value is drawn: nothing merged away
    expected = sum(plots.sweep_points(cmp, p.key)["metric"].isin(p.metrics).sum() for p in plots.plot_specs(RAW[name]))
    assert n_points == expected, (name, n_points, expected)


def test_vqganlc_t2_draws_the_two_token_counts_apart(tmp_path: Path, monkeypatch):
    """The issue's case: VQGAN-LC at K=100,000 is 2.62 (256 tokens) and 1.29 (1,024 tokens), never their mean."""
    _, figures = _compare_with_no_records("vqganlc_t2", tmp_path, monkeypatch)
    points = [p for _, fig in figures for p in _drawn(fig) if p[0] == "rfid" and p[1].startswith("VQGAN-LC ")]
    at = sorted(y for _, _, x, y, _ in points if x == 100000)
    assert at == [1.29, 2.62]
    labels = {label for _, label, *_ in points}
    assert labels == {"VQGAN-LC tokens=256 (paper)", "VQGAN-LC tokens=1024 (paper)"}


def test_smoke_points_get_their_own_row_and_keep_the_method_colour(tmp_path: Path):
    """Our smoke / random-weight points are drawn below the paper's, dotted, in the method's colour."""
    cmp = pd.DataFrame([
        {"method": "MoVQ", "setting": "K=1024", "metric": "rfid", "paper_value": 1.12, "our_value": 30.0,
         "status": "not-comparable"},
        {"method": "MoVQ", "setting": "K=16384", "metric": "rfid", "paper_value": 1.05, "our_value": None,
         "status": "missing"},
        {"method": "VQGAN", "setting": "K=1024", "metric": "rfid", "paper_value": 6.25, "our_value": None,
         "status": "missing"}])
    colours = plots.palette(["MoVQ", "VQGAN"])
    fig = plots.figure(plots.sweep_points(cmp, "K"), ("rfid",), "K", True, "t", colours)
    top, bottom = fig.axes
    assert {line.get_label() for line in top.get_lines()} == {"MoVQ (paper)", "VQGAN (paper)"}
    [smoke] = bottom.get_lines()
    assert smoke.get_label() == "MoVQ (vqbench (smoke / random weights))" and smoke.get_linestyle() == ":"
    assert list(smoke.get_ydata()) == [30.0]
    movq = next(line for line in top.get_lines() if line.get_label().startswith("MoVQ"))
    assert movq.get_color() == smoke.get_color() == colours["MoVQ"]
    assert plots.save(fig, tmp_path / "f")[0].stat().st_size > 0
