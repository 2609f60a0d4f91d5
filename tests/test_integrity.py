"""Damaged artifacts are detected, set aside and redone, with one line naming the file (issue #24, section 1).

Each test reproduces one case of the issue's probe: on the code before done.json listed its outputs, each of them
either reported numbers from the damaged artifact, crashed with a traceback naming no file, or lost work silently.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bench.core.artifacts import load_artifact
from conftest import REPO, run_cli

TINY = ["suite=recon", "dataset=mini_faces", "train.steps=3", "scale.eval.max_images=8", "launcher=debug"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """One finished tiny recon run (train + eval stages); each test damages its own copy."""
    root = tmp_path_factory.mktemp("tiny")
    res = run_cli(TINY + [f"paths.work_dir={root / 'w'}", f"paths.results_dir={root / 'r'}"], cwd=REPO)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return root


def _copy(tiny: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(work dir, train stage folder, eval stage folder) of a private copy of the tiny run."""
    work = tmp_path / "w"
    shutil.copytree(tiny / "w" / "stages", work / "stages")
    stages = work / "stages"
    return work, next(stages.glob("train_tokenizer-*")), next(stages.glob("eval_reconstruction-*"))


def _rerun(work: Path, tmp_path: Path, *extra: str):
    return run_cli(TINY + [f"paths.work_dir={work}", f"paths.results_dir={tmp_path / 'r'}", *extra], cwd=REPO)


def _damage_lines(res) -> list[str]:
    return [ln for ln in (res.stdout + res.stderr).splitlines() if "is damaged" in ln]


def _halve(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


@pytest.mark.slow
def test_done_json_lists_every_output_with_size_and_sha256(tiny: Path):
    import hashlib

    for folder in (tiny / "w" / "stages").iterdir():
        outputs = {e["path"]: e for e in json.loads((folder / "done.json").read_text())["outputs"]}
        files = {p.name for p in folder.iterdir()} - {"done.json", "progress.json", ".claim.lock"}
        assert set(outputs) == files, folder  # stage.json, records.jsonl, tokenizer.safetensors, train_log.jsonl, ...
        for name, e in outputs.items():
            data = (folder / name).read_bytes()
            assert e["size"] == len(data) and e["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.slow
def test_half_a_tokenizer_and_truncated_reference_statistics_are_set_aside_and_rebuilt(tiny: Path, tmp_path: Path):
    """Before: the stage stayed "done" and its consumer failed with PytorchStreamReader, naming no file, forever;
    truncated reference statistics failed with BadZipFile, naming no file."""
    from tasks.metrics.fid import FeatureStats

    work, train, ev = _copy(tiny, tmp_path)
    _halve(train / "tokenizer.safetensors")
    shutil.rmtree(ev)  # the evaluation must read the tokenizer and the reference statistics again
    refstats = Path(os.environ["VQBENCH_CACHE"]) / "refstats"
    # the session cache may hold statistics of other tests' mini_faces runs too: damage every one, find the one read
    refs = sorted(refstats.glob("mini_faces-*.npz"))
    for r in refs:
        _halve(r)
    res = _rerun(work, tmp_path)
    ref = next(r for r in refs if r.name in res.stderr)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    lines = _damage_lines(res)
    assert len(lines) == 1 and train.name in lines[0] and "tokenizer.safetensors" in lines[0], lines
    aside = list(work.glob(f"stages/{train.name}.corrupt-*"))
    name = "tokenizer.safetensors"
    assert len(aside) == 1 and (aside[0] / name).stat().st_size < (train / name).stat().st_size
    assert "reference statistics cache" in res.stderr and ref.name in res.stderr
    assert FeatureStats.load(ref).n == 8 and list(ref.parent.glob(ref.name + ".corrupt-*"))
    old = pd.read_csv(tiny / "r" / "recon" / "results.csv").set_index("metric")["value"]
    new = pd.read_csv(tmp_path / "r" / "recon" / "results.csv").set_index("metric")["value"]
    assert len(new) == 8 and np.isclose(old["rfid"], new["rfid"], rtol=1e-6)  # the same tokenizer, retrained


@pytest.mark.slow
def test_garbage_done_json_is_not_done(tiny: Path, tmp_path: Path):
    """Before: suite=recon accepted a garbage done.json as done."""
    work, _, ev = _copy(tiny, tmp_path)
    (ev / "done.json").write_text("garbage{")
    res = _rerun(work, tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    lines = _damage_lines(res)
    assert len(lines) == 1 and f"{ev.name}/done.json" in lines[0], lines
    assert "1 already done, 1 to run" in res.stdout
    assert list(work.glob(f"stages/{ev.name}.corrupt-*")) and "outputs" in json.loads((ev / "done.json").read_text())


def _fake_stage(work: Path, monkeypatch) -> tuple[object, Path]:
    """A finished stage of a fake kind through run_stage: stage.json, records.jsonl, a weights file, done.json."""
    from bench.stages.base import Runtime, run_stage, write_records_file
    from fake_stages import FAKE_RUNNERS, fake_stage

    def runner(st, out, rt, device):
        write_records_file(out, [{"metric": "psnr_rgb", "value": 1.0, "config_hash": st.key.split("-", 1)[1]}])
        (out / "weights.pt").write_bytes(os.urandom(4096))
        return {"ran": True}
    monkeypatch.setitem(FAKE_RUNNERS, "_fake", runner)
    stage = fake_stage("_fake", "fake", 1, labels={"dataset": "d", "method": "m", "setting": "s"})
    assert run_stage(stage, Runtime(work_dir=str(work)))["ran"]
    return stage, work / "stages" / stage.key


@pytest.mark.parametrize("damage", ["legacy done.json", "records.jsonl deleted", "weights zero-filled",
                                    "stage.json edited"])
def test_a_damaged_stage_is_not_done_and_is_redone(tmp_path: Path, capsys, monkeypatch, damage: str):
    """records.jsonl deleted: before, the stage was never redone and the message pointed at a NOT DONE line and a
    failed.json that did not exist. A done.json from before outputs were listed is redone like a changed key."""
    from bench.report.store import load_records
    from bench.stages.base import Runtime, is_done, run_stage

    work = tmp_path / "w"
    stage, out = _fake_stage(work, monkeypatch)
    assert is_done(work, stage.key) and len(load_records([stage], work)) == 1
    if damage == "legacy done.json":
        summary = json.loads((out / "done.json").read_text())
        (out / "done.json").write_text(json.dumps({k: v for k, v in summary.items() if k != "outputs"}))
    elif damage == "records.jsonl deleted":
        (out / "records.jsonl").unlink()
    elif damage == "weights zero-filled":  # same size, other content: only the sha256 tells
        (out / "weights.pt").write_bytes(b"\0" * 4096)
    else:
        (out / "stage.json").write_text((out / "stage.json").read_text().replace("fake", "faux"))
    capsys.readouterr()
    assert not load_records([stage], work)
    assert not is_done(work, stage.key)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is damaged" in err and stage.key in err, err
    assert len(list(work.glob(f"stages/{stage.key}.corrupt-*"))) == 1 and not out.exists()
    assert run_stage(stage, Runtime(work_dir=str(work)))["ran"]  # redone under the same key
    assert is_done(work, stage.key) and len(load_records([stage], work)) == 1


@pytest.mark.slow
def test_garbage_done_json_in_the_golden_check_path(tiny: Path, tmp_path: Path):
    """Before: suite=smoke crashed in the golden check (trajectory_rows) with a bare JSONDecodeError."""
    from bench.report.golden import trajectory_rows
    from bench.stages.base import stage_from_record

    work, train, _ = _copy(tiny, tmp_path)
    (train / "done.json").write_text("\x00garbage")
    golden = REPO / "results" / "golden" / "smoke.csv"
    res = _rerun(work, tmp_path, "action=collect", f"suite.golden={golden}")
    out = res.stdout + res.stderr
    assert "Traceback" not in out, out[-3000:]
    assert len(_damage_lines(res)) == 1 and list(work.glob(f"stages/{train.name}.corrupt-*"))

    work, train, _ = _copy(tiny, tmp_path / "unit")
    (train / "done.json").write_text("garbage")
    spec = json.loads((train / "stage.json").read_text())
    stage = stage_from_record(spec)
    assert stage.key == train.name  # the key comes from the spec, never from done.json
    assert trajectory_rows([stage], work) == []  # not done: no rows, no JSONDecodeError
    assert list(work.glob(f"stages/{train.name}.corrupt-*"))


def test_truncated_and_zero_filled_reference_statistics_are_rebuilt(tmp_path: Path, capsys):
    """Before: BadZipFile or a pickle error, naming no file."""
    from tasks.metrics.fid import FeatureStats

    stats = FeatureStats(4)
    stats.update(torch.randn(6, 4))
    path = tmp_path / "ref.npz"
    for damage in (_halve, lambda p: p.write_bytes(b"\0" * p.stat().st_size)):
        stats.save(path)
        assert FeatureStats.load_cached(path).n == 6
        damage(path)
        assert FeatureStats.load_cached(path) is None  # the caller rebuilds
        assert not path.exists()
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "reference statistics cache" in err and str(path) in err
    assert len(list(tmp_path.glob("ref.npz.corrupt-*"))) == 2



# --- the training loop: a damaged resume checkpoint, a torn log line before the checkpoint --------------------

class _Stop(Exception):
    pass


def _toy_run(out: Path, total: int = 8, stop_at: int | None = None):
    """A TrainLoop over one parameter: a log line per step, a checkpoint every 4 steps; `stop_at` interrupts."""
    from bench.training.loop import TorchCheckpoint, TrainLoop

    out.mkdir(parents=True, exist_ok=True)
    w = torch.zeros(1)
    loop = TrainLoop(out, total, 4, "toy", TorchCheckpoint(out / "ckpt.safetensors", torch.device("cpu")),
                     lambda: {"w": w.clone()}, progress=lambda *a: None)
    start = loop.resume(lambda st: w.copy_(st["w"]))

    def step_fn(step: int, _batch) -> None:
        if step == stop_at:
            raise _Stop
        w.add_(1)
        loop.log({"step": step, "w": float(w)})
    try:
        loop.run(iter(range(total)), step_fn)
    except _Stop:
        pass
    return loop, start, float(w)


def test_a_truncated_resume_checkpoint_restarts_from_step_0(tmp_path: Path, capsys):
    """Before: PytorchStreamReader failed reading zip archive, naming no file, on every re-run."""
    out = tmp_path / "s"
    _toy_run(out, stop_at=6)
    _halve(out / "ckpt.safetensors")
    capsys.readouterr()
    loop, start, w = _toy_run(out)
    err = capsys.readouterr().err
    assert start == 0 and w == 8.0
    assert err.count("warning:") == 1 and str(out / "ckpt.safetensors") in err and "restarting from step 0" in err
    assert len(list(out.glob("ckpt.safetensors.corrupt-*"))) == 1
    assert [json.loads(x)["step"] for x in (out / "train_log.jsonl").read_text().splitlines()] == list(range(8))


def test_a_torn_log_line_before_the_checkpoint_is_reported_by_step(tmp_path: Path, capsys):
    """Before: the line was dropped on resume with no warning, and the log was silently incomplete."""
    from bench.training.loop import log_gaps

    full, part = tmp_path / "full", tmp_path / "part"
    _toy_run(full)
    _toy_run(part, stop_at=6)  # checkpoint at step 4; lines of steps 0..5 written
    index = load_artifact(part / "ckpt.safetensors")["log_index"]
    assert [s for s, _ in index] == [0, 1, 2, 3]
    assert log_gaps(part / "train_log.jsonl", index)[1] == []  # complete up to the checkpoint: provably
    lines = (part / "train_log.jsonl").read_text().splitlines()
    lines[1] = lines[1][:9]  # step 1's line torn
    (part / "train_log.jsonl").write_text("\n".join(lines) + "\n")
    assert log_gaps(part / "train_log.jsonl", index)[1] == [1]
    capsys.readouterr()
    loop, start, _ = _toy_run(part)
    err = capsys.readouterr().err
    assert start == 4 and loop.log_gaps == [1]
    assert err.count("warning:") == 1 and "steps [1]" in err and "train_log.jsonl" in err
    kept = [json.loads(x)["step"] for x in (part / "train_log.jsonl").read_text().splitlines()]
    assert kept == [0, 2, 3, 4, 5, 6, 7]


def test_an_untouched_resume_gives_the_uninterrupted_log(tmp_path: Path, capsys):
    full, part = tmp_path / "full", tmp_path / "part"
    _toy_run(full)
    _toy_run(part, stop_at=6)
    with open(part / "train_log.jsonl", "a") as f:
        f.write('{"step": 6, "w"')  # torn by the kill, after the checkpoint: cut back silently
    loop, start, _ = _toy_run(part)
    assert start == 4 and loop.log_gaps == [] and "warning" not in capsys.readouterr().err
    assert (part / "train_log.jsonl").read_text() == (full / "train_log.jsonl").read_text()


def test_an_unreadable_token_cache_names_its_file(tmp_path: Path):
    """Damage after the encode stage's done.json check: one error naming the file, not a numpy traceback."""
    from tasks.token_cache import TokenCacheError, load_cache

    np.save(tmp_path / "train_indices.npy", np.arange(24, dtype=np.uint16).reshape(6, 2, 2, 1))
    np.save(tmp_path / "train_labels.npy", np.zeros(6, dtype=np.int64))
    (tmp_path / "train_indices.json").write_text(json.dumps({"n": 6}))
    assert load_cache(tmp_path, "train", "indices")[0].shape == (6, 2, 2, 1)
    _halve(tmp_path / "train_indices.npy")
    with pytest.raises(TokenCacheError, match="train_indices.npy is unreadable"):
        load_cache(tmp_path, "train", "indices")


def test_a_runner_waiting_on_a_folder_moved_aside_claims_the_fresh_one(tmp_path: Path):
    """The claim follows the path: a waiter whose lock file was moved aside with a damaged stage claims anew."""
    import threading

    from bench.core.claims import claim
    from bench.core.integrity import move_aside

    folder, got = tmp_path / "stage", []
    with claim(folder):
        t = threading.Thread(target=lambda: got.append(_hold(folder)), daemon=True)
        t.start()
        import time
        time.sleep(0.3)
        with claim(folder, wait=False) as held:
            assert held is False  # busy: a non-waiting check leaves it alone
        aside = move_aside(folder)
    t.join(10)
    assert got == [True] and (folder / ".claim.lock").is_file() and aside.is_dir()


def _hold(folder: Path) -> bool:
    """Take the claim (waiting); whether the lock held is the one at the folder's path now (its owner is us)."""
    from bench.core.claims import claim, claim_owner

    with claim(folder, poll_s=0.05):
        owner = claim_owner(folder)
        return owner is not None and owner["pid"] == os.getpid()
