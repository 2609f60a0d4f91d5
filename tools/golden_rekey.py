"""Re-key a golden file after stage keys changed: plan the suite with the current code and rewrite each row's
config_hash (the stage key without its kind prefix) from the stage that row's numbers come from.

    python tools/golden_rekey.py                              # results/golden/smoke.csv, the default suite
    python tools/golden_rekey.py --golden FILE [--check] [hydra overrides...]

A row is matched to its stage by kind and labels (bench/report/golden.py): fixed_weights and end_of_run rows come
from the eval_reconstruction stage, trajectory rows from the train_tokenizer stage, with the same (dataset, method,
setting). Only config_hash changes; every other byte of the file stays. Idempotent: a second run changes nothing.
It prints each change; `--check` changes nothing and exits 1 when a row's hash is not the current one.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# the stage kind each golden check's numbers come from (bench/report/golden.py observed_frame)
CHECK_KINDS = {"fixed_weights": "eval_reconstruction", "end_of_run": "eval_reconstruction",
               "trajectory": "train_tokenizer"}
LABELS = ("dataset", "method", "setting")


def plan_stages(overrides: list[str]) -> list:
    """The suite's stages as `python bench/run.py action=plan <overrides>` plans them."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from bench.plan.config import CONF_DIR, register_configs
    from bench.plan.planner import plan

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name="config", overrides=overrides), resolve=True)
    return plan(cfg)


def stage_hashes(stages: list) -> dict[tuple[str, ...], str]:
    """(kind, dataset, method, setting) -> config hash, refusing labels that two stages of a kind share."""
    out: dict[tuple[str, ...], str] = {}
    for st in stages:
        ident = (st.kind, *(str(st.labels.get(k, "")) for k in LABELS))
        h = st.key.split("-", 1)[1]
        if out.get(ident, h) != h:
            raise SystemExit(f"error: two {st.kind} stages share the labels {ident[1:]}; rows cannot be matched")
        out[ident] = h
    return out


def rekey(text: str, hashes: dict[tuple[str, ...], str]) -> tuple[str, list[str]]:
    """The golden CSV text with each row's config_hash set from its stage; and one line per change."""
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    changes, missing = [], set()
    for row in body:
        ident = (CHECK_KINDS[row[col["check"]]], *(row[col[k]] for k in LABELS))
        new = hashes.get(ident)
        if new is None:
            missing.add(ident)
            continue
        old = row[col["config_hash"]]
        if old != new:
            changes.append((ident, old, new))
            row[col["config_hash"]] = new
    if missing:
        raise SystemExit("error: golden rows with no stage in the plan (kind, dataset, method, setting): "
                         + "; ".join(map(str, sorted(missing))))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *body])
    lines = sorted({f"{ident[0]} {ident[1:]}: {old} -> {new}" for ident, old, new in changes})
    return out.getvalue(), lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--golden", default=str(REPO / "results" / "golden" / "smoke.csv"))
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 when a hash is stale")
    ap.add_argument("overrides", nargs="*", help="hydra overrides of the suite (default: the default suite)")
    args = ap.parse_args(argv)
    path = Path(args.golden)
    text = path.read_text()
    new, lines = rekey(text, stage_hashes(plan_stages(args.overrides)))
    n_rows = sum(1 for a, b in zip(text.splitlines(), new.splitlines(), strict=True) if a != b)
    for line in lines:
        print(line)
    if args.check:
        print(f"{path}: {n_rows} row(s) with a stale config_hash" if n_rows else f"{path}: every config_hash current")
        return 1 if n_rows else 0
    if new != text:
        path.write_text(new)
    print(f"{path}: {n_rows} row(s) re-keyed" if n_rows else f"{path}: unchanged (every config_hash current)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
