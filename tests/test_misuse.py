"""Issue #12 'Survive misuse': bad values, empty runs, unwritable paths, corrupt splits, unseeded metric nets."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, compose, run_cli, write_images


@pytest.fixture(autouse=True)
def _registered():
    from bench.plan.config import register_configs

    register_configs()  # what bench/run.py does at import


def _paths(tmp_path: Path) -> list[str]:
    return [f"paths.work_dir={tmp_path / 'o'}", f"paths.results_dir={tmp_path / 'r'}"]


@pytest.mark.parametrize("override,allowed", [
    ("train.steps=-5", "int >= 1"),
    ("train.steps=abc", "int >= 1"),
    ("train.steps=3.5", "int >= 1"),
    ("train.steps=0", "int >= 1"),
    ("train.base_lr=-0.5", "float > 0"),
    ("train.betas=[0.5,1.5]", "a list [float >= 0 and < 1"),
    ("train.schedule=linear", "one of 'constant', 'cosine'"),
    ("dataset.on_corrupt=ignore", "one of 'skip', 'fail'"),
    ("tokenizer.loss.disc_loss=wgan", "one of 'hinge', 'vanilla'"),
    ("tokenizer.loss.semantic_alpha=2", "float >= 0 and <= 1"),
    ("tokenizer.model.n_embed=many", "int"),
    ("scale.eval.max_images=0", "int >= 1 or null"),
    ("launcher.max_parallel=0", "int >= 1"),
    ("train.eps=inf", "float > 0"),  # issue #24: inf passed the range check; the model never trained
    ("train.base_lr=inf", "float > 0"),
    ("tokenizer.model.beta=-1", "float >= 0"),
])
def test_bad_value_is_refused_naming_key_value_and_allowed(override, allowed):
    from bench.plan.config import check_overrides

    key, value = override.split("=", 1)
    with pytest.raises(SystemExit) as exc:
        check_overrides(["suite=recon", "launcher=debug", override])
    msg = str(exc.value)
    assert f"'{key}'" in msg and value.strip("[]").split(",")[0] in msg and f"allowed: {allowed}" in msg, msg


@pytest.mark.parametrize("override", ["train.steps=5", "train.steps=null", "train.base_lr=1e-4", "train.base_lr=1",
                                      "train.betas=[0.5,0.9]", "dataset.on_corrupt=fail", "scale.eval.max_images=8",
                                      "tokenizer.loss.disc_start=0", "train.freeze=[encoder]"])
def test_good_values_pass(override, tmp_path):
    from bench.plan.config import check_overrides

    check_overrides(["suite=recon", "launcher=debug", override] + _paths(tmp_path))


def test_bad_value_from_python_fails_in_create_entry_and_run_suite(tmp_path):
    from bench.core.schema import ConfigValueError
    from bench.suite import run_suite
    from models.registry import create_entry

    with pytest.raises(ConfigValueError, match=r"'train.steps': -5 .*allowed: int >= 1"):
        create_entry("vqgan_f16_1024", "smoke", {"train": {"steps": -5}})
    cfg = compose(["suite=recon", "launcher=debug"] + _paths(tmp_path))
    cfg["dataset"]["on_corrupt"] = "ignore"
    with pytest.raises(SystemExit, match=r"dataset.on_corrupt.*'ignore'.*one of 'skip', 'fail'"):
        run_suite(cfg)
    assert not (tmp_path / "o" / "stages").exists()


def test_negative_steps_from_the_cli_start_nothing(tmp_path):
    res = run_cli(["suite=recon", "launcher=debug", "train.steps=-5"] + _paths(tmp_path), cwd=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "Traceback" not in out
    assert "'train.steps': -5" in out and "allowed: int >= 1" in out
    assert not (tmp_path / "o" / "stages").exists() and not (tmp_path / "r" / "recon" / "results.csv").exists()


def test_unwritable_paths_fail_up_front_without_traceback(tmp_path):
    from bench.plan.config import check_writable

    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    res = run_cli(["suite=recon", "launcher=debug", f"paths.work_dir={a_file}",
                   f"paths.results_dir={tmp_path / 'r'}"], cwd=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "Traceback" not in out
    assert f"paths.work_dir '{a_file}' is not a writable folder" in out
    res = run_cli(["suite=recon", "launcher=debug", f"paths.work_dir={tmp_path / 'o'}",
                   f"paths.results_dir={a_file / 'sub'}"], cwd=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "Traceback" not in out and "paths.results_dir" in out
    assert not (tmp_path / "o" / "stages").exists()  # refused before the first stage
    if os.geteuid() != 0:  # root writes into read-only folders anyway
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        with pytest.raises(SystemExit, match="not a writable folder"):
            check_writable("paths.results_dir", ro)


def test_all_corrupt_training_split_fails_and_no_records_is_reported(tmp_path):
    """No readable training image: the train stage fails, nothing is recorded, and the run reports it (exit 1)
    without reaching the golden diff (which used to crash on the empty frame)."""
    from bench.suite import run_suite

    root = tmp_path / "ffhq"
    write_images(root / "train", 8, seed=1)  # the smoke batch (8) fits: a larger batch is refused before training
    write_images(root / "validation", 4, seed=2)
    for p in (root / "train").iterdir():
        p.write_bytes(p.read_bytes()[:40])  # truncated: undecodable
    cfg = compose(["suite=recon", "dataset=ffhq", f"dataset.root={root}", "train.steps=3", "launcher=debug",
                   "scale.eval.max_images=8"] + _paths(tmp_path))
    cfg["suite"]["golden"] = str(REPO / "results" / "golden" / "smoke.csv")  # a golden file exists
    assert run_suite(cfg) == 1
    failed = list((tmp_path / "o" / "stages").glob("train_tokenizer-*/failed.json"))
    assert len(failed) == 1 and "NoTrainingImagesError" in failed[0].read_text()
    assert not list((tmp_path / "o" / "stages").glob("*/done.json"))
    df = (pd.read_csv(tmp_path / "r" / "recon" / "results.csv")
          if (tmp_path / "r" / "recon" / "results.csv").stat().st_size else None)
    assert df is None or df.empty


def test_two_fresh_caches_give_the_same_random_inception(tmp_path, monkeypatch):
    import torch

    from bench.core.weights import WeightsSpec
    from tasks.metrics.networks import load_inception

    hashes = []
    for i in range(2):
        monkeypatch.setenv("VQBENCH_CACHE", str(tmp_path / f"cache{i}"))
        torch.manual_seed(1000 + i)  # a different global RNG state each time must not matter
        hashes.append(load_inception(WeightsSpec("random", 0))[1])
    assert hashes[0] == hashes[1]


def test_fully_failed_run_with_a_golden_file_reports_not_done(tmp_path, monkeypatch, capsys):
    """A NaN loss fails every stage: the run ends with its NOT DONE report and exit 1, not a KeyError traceback."""
    import torch

    from bench.suite import run_suite
    from models import losses

    monkeypatch.setattr(losses.VQLPIPSWithDiscriminator, "generator_loss",
                        lambda self, *a, **k: (torch.tensor(float("nan"), requires_grad=True), {}))
    cfg = compose(["suite=recon", "dataset=mini_faces", "train.steps=2", "launcher=debug"] + _paths(tmp_path))
    cfg["suite"]["golden"] = str(REPO / "results" / "golden" / "smoke.csv")
    assert run_suite(cfg) == 1
    out = capsys.readouterr().out
    assert "NOT DONE" in out and "NonFiniteLossError" in out and "no records" in out
