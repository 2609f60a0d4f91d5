"""`action=compare`: join a suite's records with the published numbers (results/paper_numbers.csv) and give every
paper row a status; write compare.csv, a paper-style table (markdown + booktabs LaTeX) and the plots.

Statuses: match (within the metric's tolerance), better / worse (by the metric's direction), missing (not run
yet), protocol-mismatch (e.g. our torch-fidelity rFID vs a clean-fid number, RGB vs Y-channel PSNR),
not-comparable (smoke scale or random metric weights: never held against a paper), paper-only (a method
vqbench does not implement, shown from the paper). A paper comparison reports; it never fails a build.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from bench.core.resources import data_path
from bench.report.numbers import fmt_number
from tasks.metrics.protocols import PAPER_PROTOCOL, PAPER_VARIANT, protocol_facts, supports
from tasks.metrics.registry import METRICS, paper_metric_facts

PAPER_NUMBERS = data_path("results", "paper_numbers.csv")
BASE_KEY = ["dataset", "method", "setting", "metric"]

# Everything below is derived from the metric registry and the protocol table (tasks/metrics/registry.py,
# tasks/metrics/protocols.py): direction, tolerance, our metric -> paper metric, each paper's protocol and which of
# our metrics each paper column is (PAPER_VARIANT).
_PAPER_FACTS = paper_metric_facts()
DIRECTION = {k: d for k, (d, _) in _PAPER_FACTS.items()}
TOLERANCE = {k: t for k, (_, t) in _PAPER_FACTS.items()}
OUR_METRICS: dict[str, str] = {n: METRICS.get(n).paper_metric for n in METRICS.names() if METRICS.get(n).paper_metric}
STATUSES = ("match", "better", "worse", "missing", "protocol-mismatch", "not-comparable", "paper-only")
# compare()'s columns, also when there is no paper row at all (an empty frame must still make a table)
COMPARE_COLUMNS = ["paper", "table", "dataset", "method", "setting", "metric", "unit", "paper_value", "is_paper_method",
                   "our_value", "delta", "status", "our_metric", "eval_protocol", "small_sample", "why"]


def load_paper_numbers(path: Path = PAPER_NUMBERS) -> pd.DataFrame:
    """The transcribed table; values converted to the units vqbench reports (percent -> fraction)."""
    df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    df["paper_value"] = [v / 100.0 if u == "percent" and m != "top1" else v
                         for v, u, m in zip(df["value"], df["unit"], df["metric"], strict=True)]
    return df


def _present(v: object) -> bool:
    return v is not None and not (isinstance(v, float) and pd.isna(v)) and str(v) != ""


def record_facts(r: pd.Series | dict) -> dict[str, str]:
    """The protocol facts a record carries, read from its own columns (records written before the protocol
    columns existed carry the default protocol's facts)."""
    proto = r.get("eval_protocol")
    expected = protocol_facts(r["metric"], proto if _present(proto) else None)
    if not _present(proto):
        return expected
    return {k: str(r[k]) if _present(r.get(k)) else "" for k in expected}


def _ours_long(records: pd.DataFrame) -> pd.DataFrame:
    """Our records renamed to the paper's keys: base dataset/setting, paper metric name, protocol facts."""
    rows = []
    for _, r in records.iterrows():
        if r["metric"] not in OUR_METRICS:
            continue
        dataset = str(r["dataset"]).split("~")[0]
        setting = re.sub(r" \[[^\]]*\]$", "", str(r["setting"]))
        small = r.get("small_sample")
        rows.append({"dataset": dataset, "method": r["method"], "setting": setting, "metric": OUR_METRICS[r["metric"]],
                     "our_metric": r["metric"], "ours": float(r["value"]), "facts": record_facts(r),
                     "scale": r.get("scale", ""), "metric_weights": r.get("metric_weights", ""),
                     "config_hash": r.get("config_hash", ""),
                     "small_sample": str(small) if _present(small) and str(small) not in ("False", "false") else ""})
    return pd.DataFrame(rows, columns=BASE_KEY + ["our_metric", "ours", "facts", "scale", "metric_weights",
                                                  "config_hash", "small_sample"])


def paper_facts(paper: str, paper_metric: str, our_metric: str) -> tuple[str | None, dict[str, str] | None]:
    """(protocol name, facts) the paper's number was measured with; (None, None): the paper's code is unknown;
    (name, None): vqbench has no implementation of that metric under the paper's protocol."""
    task = METRICS.get(our_metric).task
    name = PAPER_PROTOCOL.get(paper, {}).get(task)
    if name is None:
        return None, None
    variant = PAPER_VARIANT.get(paper, {}).get(paper_metric, our_metric)
    if not supports(name, variant):
        return name, None
    # the protocol's name is not held against ours: two protocols that compute a metric identically agree
    return name, {k: v for k, v in protocol_facts(variant, name).items() if k not in ("protocol_inexact",
                                                                                      "eval_protocol")}


def _contradicts(paper: str, paper_metric: str, our_metric: str, facts: dict[str, str]) -> list[str]:
    """Protocol facts of ours that the paper's known protocol contradicts."""
    name, known = paper_facts(paper, paper_metric, our_metric)
    if name is None:
        return []
    if known is None:
        return [f"no faithful '{name}' implementation of {paper_metric} in vqbench"]
    return [f"{k}: ours {facts.get(k) or '-'}, paper {v}" for k, v in known.items() if facts.get(k) != v]


def status_of(paper_value: float, ours: float, metric: str) -> str:
    """match / better / worse for two comparable numbers of one metric."""
    kind, tol = TOLERANCE.get(metric, ("rel", 0.05))
    bound = tol * (abs(paper_value) if kind == "rel" else 1.0)
    delta = ours - paper_value
    if abs(delta) <= bound + 1e-12:
        return "match"
    better = delta < 0 if DIRECTION.get(metric, "higher") == "lower" else delta > 0
    return "better" if better else "worse"


def compare(paper_rows: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """One line per paper cell: paper value, ours, delta, status, and why."""
    ours = _ours_long(records)
    out = []
    for _, p in paper_rows.iterrows():
        cand = ours[(ours["dataset"] == p["dataset"]) & (ours["method"] == p["method"]) &
                    (ours["setting"] == p["setting"]) & (ours["metric"] == p["metric"])]
        base = {**{k: p[k] for k in ["paper", "table", "dataset", "method", "setting", "metric", "unit", "ours"]},
                "paper_value": p["paper_value"], "is_paper_method": bool(p["ours"])}
        base.pop("ours")
        if cand.empty:
            status = "missing" if bool(p["tokenizer_implemented"]) else "paper-only"
            out.append({**base, "our_value": float("nan"), "delta": float("nan"), "status": status, "our_metric": "",
                        "eval_protocol": "", "small_sample": "",
                        "why": "" if status == "missing" else "method not implemented in vqbench"})
            continue
        # prefer the candidate whose protocol agrees with the paper's (e.g. psnr_y for VQGAN-LC)
        bad = [_contradicts(p["paper"], p["metric"], m, f)
               for m, f in zip(cand["our_metric"], cand["facts"], strict=True)]
        cand = cand.assign(n_bad=[len(b) for b in bad], bad=bad).sort_values("n_bad", kind="stable")
        c = cand.iloc[0]
        delta = c["ours"] - p["paper_value"]
        why = ""
        if c["scale"] != "paper" or not str(c["metric_weights"]).startswith("pretrained"):
            status, why = "not-comparable", f"scale={c['scale']}, metric weights={c['metric_weights']}"
            delta = float("nan")  # never held against a published number
        elif c["n_bad"]:
            status, why = "protocol-mismatch", "; ".join(c["bad"])
        else:
            status = status_of(p["paper_value"], c["ours"], p["metric"])
            notes = []
            if c["facts"].get("protocol_inexact"):
                notes.append(f"protocol {c['facts'].get('eval_protocol')} inexact: {c['facts']['protocol_inexact']}")
            if METRICS.get(c["our_metric"]).task != "other" and paper_facts(p["paper"], p["metric"],
                                                                             c["our_metric"])[0] is None:
                notes.append("the paper's evaluation code is not public: protocol unverified")
            why = "; ".join(notes)
        if c["small_sample"]:
            why = "; ".join(x for x in (why, f"small sample: {c['small_sample']}") if x)
        out.append({**base, "our_value": c["ours"], "delta": delta, "status": status, "our_metric": c["our_metric"],
                    "eval_protocol": c["facts"].get("eval_protocol", ""), "small_sample": c["small_sample"],
                    "why": why})
    return pd.DataFrame(out, columns=COMPARE_COLUMNS)


# --- paper-style tables --------------------------------------------------------------------------------------

def _best(values: pd.Series, metric: str) -> float | None:
    v = values.dropna()
    if v.empty:
        return None
    return v.min() if DIRECTION.get(metric, "higher") == "lower" else v.max()


def paper_table(cmp: pd.DataFrame) -> tuple[str, str]:
    """(markdown, LaTeX booktabs): rows as the paper orders them; per metric paper | ours | delta; best in bold."""
    metrics = list(dict.fromkeys(cmp["metric"]))
    rows = list(dict.fromkeys(zip(cmp["dataset"], cmp["method"], cmp["setting"], strict=True)))
    cell = {(r.dataset, r.method, r.setting, r.metric): r for r in cmp.itertuples()}
    comparable = cmp[cmp["status"] != "not-comparable"]
    best = {m: (_best(cmp[cmp.metric == m]["paper_value"], m),
                _best(comparable[comparable.metric == m]["our_value"], m))
            for m in metrics}
    md = ["| dataset | method | setting | " + " | ".join(f"{m} paper | {m} ours | Δ" for m in metrics) + " | status |",
          "|---|---|---|" + "---:|---:|---:|" * len(metrics) + "---|"]
    tex = [r"\begin{tabular}{lll" + "rrr" * len(metrics) + "l}", r"\toprule",
           "Dataset & Method & Setting & " + " & ".join(rf"\multicolumn{{3}}{{c}}{{{_tex(m)}}}" for m in metrics)
           + r" & Status \\",
           " & & & " + " & ".join(["paper & ours & $\\Delta$"] * len(metrics)) + r" & \\", r"\midrule"]
    for ds, method, setting in rows:
        md_cells, tex_cells, statuses = [], [], []
        for m in metrics:
            r = cell.get((ds, method, setting, m))
            if r is None:
                md_cells += ["", "", ""]
                tex_cells += ["", "", ""]
                continue
            statuses.append(r.status)
            pb, ob = best[m]
            pv = fmt_number(r.paper_value, missing="-")
            ov = fmt_number(r.our_value, missing="-")
            pv_md = f"**{pv}**" if pb is not None and r.paper_value == pb else pv
            ov_md = f"**{ov}**" if ob is not None and r.our_value == ob else ov
            md_cells += [pv_md, ov_md, fmt_number(r.delta, missing="-")]
            tex_cells += [rf"\textbf{{{pv}}}" if pv_md != pv else pv, rf"\textbf{{{ov}}}" if ov_md != ov else ov,
                          fmt_number(r.delta, missing="-")]
        summary = ", ".join(f"{s}×{statuses.count(s)}" if statuses.count(s) > 1 else s for s in dict.fromkeys(statuses))
        small = [m for m in metrics if (r := cell.get((ds, method, setting, m))) is not None
                 and str(getattr(r, "small_sample", "") or "") not in ("", "nan")]
        if small:  # FID from fewer images than feature dims: rank-deficient, flagged in the row itself
            summary += f" (small sample: {', '.join(small)})"
        md.append(f"| {ds} | {method} | {setting} | " + " | ".join(md_cells) + f" | {summary} |")
        tex.append(" & ".join(_tex(x) for x in (ds, method, setting)) + " & " + " & ".join(tex_cells)
                   + f" & {_tex(summary)} " + r"\\")
    tex += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(md) + "\n", "\n".join(tex) + "\n"


def _tex(s: str) -> str:
    return re.sub(r"([&%_#$])", r"\\\1", str(s)).replace("×", r"$\times$").replace("~", r"\textasciitilde{}")


def write_compare(cmp: pd.DataFrame, out_dir: Path, title: str) -> None:
    """compare.csv, compare.md (with a status count and the rules), compare.tex."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cmp.to_csv(out_dir / "compare.csv", index=False)
    md, tex = paper_table(cmp)
    counts = cmp["status"].value_counts().reindex(STATUSES, fill_value=0)
    head = [f"# {title}: vqbench vs the published numbers", "",
            "Status counts: " + ", ".join(f"{s} {n}" for s, n in counts.items() if n), "",
            "Bold: the best paper value and the best vqbench value of each metric. Δ = ours − paper, in "
            "vqbench's units (percentages printed by a paper are converted to fractions).", ""]
    notes = cmp[cmp["why"].astype(str) != ""][["method", "setting", "metric", "status", "why"]].drop_duplicates()
    tail = ["", "## Why rows are not compared", ""] + [f"- {r.method} / {r.setting} / {r.metric}: {r.status} ({r.why})"
                                                       for r in notes.itertuples()] if len(notes) else []
    (out_dir / "compare.md").write_text("\n".join(head) + md + "\n".join(tail) + "\n")
    (out_dir / "compare.tex").write_text(f"% {title}: vqbench vs published (booktabs)\n" + tex)


def _skeleton(paper: str, table: str, keys: pd.DataFrame) -> pd.DataFrame:
    """Paper rows with no published value, one per (dataset, method, setting, metric) of `keys`."""
    return pd.DataFrame({"paper": paper, "table": table, "dataset": keys["dataset"], "method": keys["method"],
                         "setting": keys["setting"], "metric": keys["metric"], "value": float("nan"),
                         "paper_value": float("nan"), "unit": "", "ours": True, "tokenizer_implemented": True})


def planned_rows(runs: list[dict] | None, metrics: tuple[str, ...] | None) -> pd.DataFrame:
    """The rows a figure's suite will record: each run's (and prior run's) row label x dataset x metric.

    `metrics`: the paper metrics the figure draws; None: every paper metric of the run's tasks."""
    from tasks.registry import TASKS

    keys = []
    for run in runs or []:
        labels = [run.get("row") or {}, *(run.get("prior_rows") or {}).values()]
        mets = metrics or tuple(dict.fromkeys(OUR_METRICS[m] for t in run.get("tasks") or []
                                              for m in TASKS.get(t).metrics if m in OUR_METRICS))
        for label in labels:
            if not label.get("setting"):  # no paper row named: the record's label is only known after the run
                continue
            keys += [{"dataset": ds, "method": label.get("method", run["tokenizer"]), "setting": label["setting"],
                      "metric": m} for ds in run.get("datasets") or [] for m in mets]
    return pd.DataFrame(keys, columns=BASE_KEY).drop_duplicates()


def figure_rows(df: pd.DataFrame, paper: str, table: str, runs: list[dict] | None,
                metrics: tuple[str, ...] | None) -> pd.DataFrame:
    """Rows of a figure the paper draws without numbers: our records' rows, plus each planned row that no record
    covers yet (a record's setting may extend the planned one, e.g. 'tokens=256 K=16384 epoch=3'), so a
    comparison before any run lists every row as missing."""
    ours = _ours_long(df).drop_duplicates(BASE_KEY)
    planned = planned_rows(runs, metrics)
    covered = [((ours["dataset"] == p.dataset) & (ours["method"] == p.method) & (ours["metric"] == p.metric)
                & ((ours["setting"] == p.setting) | ours["setting"].str.startswith(p.setting + " "))).any()
               for p in planned.itertuples()]
    todo = planned[[not c for c in covered]] if len(planned) else planned
    return _skeleton(paper, table, pd.concat([ours[BASE_KEY], todo], ignore_index=True))


def params_compare(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """A suite with `compare: params` (the zoo's table): our meta-device parameter counts against every figure a
    paper prints for that entry; `table` names the rows' table."""
    rows = []
    for _, r in df[df["metric"] == "params_m"].iterrows():
        pub = r.get("published_params_m")
        base = {"paper": "", "table": table, "dataset": r["dataset"], "method": r["method"], "setting": r["setting"],
                "metric": "params_m", "unit": "M", "is_paper_method": True, "our_value": r["value"],
                "our_metric": "params_m", "paper_value": pub}
        if pub is None or pd.isna(pub):
            rows.append({**base, "delta": float("nan"), "status": "not-comparable",
                         "why": "the papers print no parameter figure for this entry"})
            continue
        decimals = int(r.get("published_decimals", 1))
        same = round(r["value"], decimals) == pub
        rows.append({**base, "delta": r["value"] - pub, "status": "match" if same else "protocol-mismatch",
                     "why": "" if same else str(r.get("param_gap") or "count differs from the published figure")})
    return pd.DataFrame(rows)
