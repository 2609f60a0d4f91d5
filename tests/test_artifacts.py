"""vqbench's own artifacts (bench/core/artifacts.py): safetensors + JSON, read back without pickle.

Round trips are checked against the objects torch / numpy / random hand out (an Adam state_dict after real steps,
a GradScaler state, the three RNG states), and by restoring them: the restored RNGs and optimiser must continue
exactly as the originals do."""
from __future__ import annotations

import json
import pickle
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.core.artifacts import ArtifactError, artifact_files, load_artifact, save_artifact

ROOT = Path(__file__).resolve().parents[1]


def _same(a, b) -> None:
    """Structural equality with types: tensors bit-equal with dtype, tuples stay tuples, int keys stay ints."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b


def _adam_after_steps() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    opt = torch.optim.AdamW([{"params": net[0].parameters(), "lr": 1e-3}, {"params": net[2].parameters(), "lr": 2e-3}],
                            betas=(0.5, 0.9), weight_decay=0.01)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(5, 4)).square().sum().backward()
        opt.step()
    return net, opt


def test_a_resume_checkpoint_round_trips_with_its_types(tmp_path: Path):
    net, opt = _adam_after_steps()
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    state = {"step": 7, "model": net.state_dict(), "opt": opt.state_dict(), "scaler": scaler.state_dict(),
             "rng": torch.get_rng_state(), "np_rng": np.random.get_state(), "py_rng": random.getstate(),
             "pcg": np.random.default_rng(3).bit_generator.state,  # 128-bit integers
             "log_index": [[0, 4294967295], [1, 12]], "hits": torch.arange(5, dtype=torch.int64),
             "odd": {"inf": float("inf"), "nan": float("nan"), "none": None, "b": b"\x00\xff", "flag": True,
                     "__tensor__": "a key that looks like a tag", 3: "int key", (1, 2): "tuple key"}}
    paths = save_artifact(tmp_path / "ckpt.safetensors", state)
    assert [p.name for p in paths] == ["ckpt.safetensors", "ckpt.json"]
    back = load_artifact(tmp_path / "ckpt.safetensors")
    _same(state, back)
    assert isinstance(back["opt"]["param_groups"][0]["betas"], tuple) and 0 in back["opt"]["state"]
    meta = json.loads((tmp_path / "ckpt.json").read_text())
    assert meta["tree"]["step"] == 7  # the metadata is plain JSON a person (or jq) can read
    with open(tmp_path / "ckpt.safetensors", "rb") as f:  # and the weights are plain safetensors
        names = set(json.loads(f.read(int.from_bytes(f.read(8), "little"))))
    assert {"model/0.weight", "opt/state/0/exp_avg", "rng"} <= names


def test_restored_optimiser_and_rngs_continue_exactly(tmp_path: Path):
    """The restored state drives the same next step and the same random draws as the live one."""
    net, opt = _adam_after_steps()
    save_artifact(tmp_path / "c.safetensors", {"model": net.state_dict(), "opt": opt.state_dict(),
                                               "rng": torch.get_rng_state(), "np": np.random.get_state(),
                                               "py": random.getstate()})
    expected = (torch.rand(3), np.random.rand(3), random.random())  # the draws right after the save
    state = load_artifact(tmp_path / "c.safetensors")
    torch.set_rng_state(state["rng"])
    np.random.set_state(state["np"])
    random.setstate(state["py"])
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1]) and expected[2] == got[2]
    net2, opt2 = _adam_after_steps()  # fresh objects, same shapes; overwrite with the restored state
    torch.manual_seed(123)
    net2.load_state_dict(state["model"])
    opt2.load_state_dict(state["opt"])
    x = torch.randn(5, 4)
    for n, o in ((net, opt), (net2, opt2)):
        o.zero_grad()
        n(x).square().sum().backward()
        o.step()
    for a, b in zip(net.parameters(), net2.parameters(), strict=True):
        assert torch.equal(a, b)


def test_bf16_and_shared_storage_tensors(tmp_path: Path):
    """safetensors refuses tensors that share storage (tied weights, views): they are stored once or copied."""
    emb = torch.nn.Embedding(6, 4).to(torch.bfloat16)
    head = torch.nn.Linear(4, 6, bias=False).to(torch.bfloat16)
    head.weight = emb.weight  # tied, as in GPT-style priors
    base = torch.arange(12.0)
    state = {"emb.weight": emb.weight, "head.weight": head.weight, "base": base, "view": base[2:5],
             "t": base.view(3, 4).t(), "flat": base.view(12)}
    save_artifact(tmp_path / "w.safetensors", state)
    back = load_artifact(tmp_path / "w.safetensors")
    _same({k: v.detach() for k, v in state.items()}, back)
    assert back["emb.weight"].dtype == torch.bfloat16
    assert back["emb.weight"] is back["head.weight"]  # one stored tensor for one tied weight


@pytest.mark.parametrize("damage", ["truncate_weights", "garbage_json", "truncate_json", "lone_weights", "torn_pair"])
def test_damaged_artifacts_raise_a_value_error_naming_the_file(tmp_path: Path, damage: str):
    st, meta = artifact_files(tmp_path / "a.safetensors")
    save_artifact(st, {"step": 1, "w": torch.ones(64)})
    if damage == "truncate_weights":
        st.write_bytes(st.read_bytes()[: st.stat().st_size // 2])
    elif damage == "garbage_json":
        meta.write_text("garbage{")
    elif damage == "truncate_json":
        meta.write_text(meta.read_text()[:40])
    elif damage == "lone_weights":
        meta.unlink()
    else:  # a kill between the two renames: new weights beside the previous write's metadata
        old = meta.read_text()
        save_artifact(st, {"step": 2, "w": torch.zeros(64)})
        meta.write_text(old)
    with pytest.raises(ArtifactError, match=re.escape(str(tmp_path))):
        load_artifact(st)
    assert issubclass(ArtifactError, ValueError)


def test_unsupported_objects_are_refused_when_saving(tmp_path: Path):
    with pytest.raises(TypeError, match="object at 'x'"):
        save_artifact(tmp_path / "a.safetensors", {"x": object()})
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_a_damaged_checkpoint_json_restarts_from_step_0(tmp_path: Path, capsys):
    """The training loop treats a garbled ckpt.json like a truncated ckpt.safetensors: both set aside, step 0."""
    from bench.training.loop import TorchCheckpoint, TrainLoop

    out = tmp_path / "s"
    out.mkdir()
    store = TorchCheckpoint(out / "ckpt.safetensors", torch.device("cpu"))
    store.save({"step": 4, "w": torch.ones(1)})
    (out / "ckpt.json").write_text("{not json")
    loop = TrainLoop(out, 8, 4, "toy", store, lambda: {}, progress=lambda *a: None)
    assert loop.resume(lambda st: None) == 0
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "ckpt.json" in err and "restarting from step 0" in err
    assert len(list(out.glob("ckpt.safetensors.corrupt-*"))) == 1 and len(list(out.glob("ckpt.json.corrupt-*"))) == 1
    assert not store.exists()


def test_a_vqbench_tokenizer_artifact_loads_as_a_checkpoint_and_the_legacy_pt_still_does(tmp_path: Path):
    """tokenizer.checkpoint= may name a vqbench tokenizer.safetensors (new) or a tokenizer.pt (written before)."""
    from models.converters import convert_checkpoint
    from models.registry import build_tokenizer, create_entry

    entry = create_entry("vqgan_f16_1024", "smoke")
    src = build_tokenizer(entry)
    save_artifact(tmp_path / "tokenizer.safetensors", {"entry": entry.to_dict(), "state_dict": src.state_dict()})
    torch.save({"entry": entry.to_dict(), "state_dict": src.state_dict()}, tmp_path / "tokenizer.pt")
    for name in ("tokenizer.safetensors", "tokenizer.pt"):
        torch.manual_seed(1)
        dst = build_tokenizer(entry)
        assert convert_checkpoint(tmp_path / name, dst) == "vqbench"
        for k, v in src.state_dict().items():
            assert torch.equal(dst.state_dict()[k], v), (name, k)
    with pytest.raises(ValueError, match="point tokenizer.checkpoint at tokenizer.safetensors"):
        convert_checkpoint(tmp_path / "tokenizer.json", build_tokenizer(entry))


def test_a_work_folder_from_before_artifacts_is_still_read_and_resumed(tmp_path: Path, capsys):
    """A done stage's tokenizer.pt and an interrupted stage's ckpt.pt, as an older vqbench wrote them (torch.save),
    are read weights-only where the artifact would be, so upgrading does not redo or break finished stages."""
    from bench.training.loop import TorchCheckpoint, TrainLoop

    sd = {"w": torch.arange(3.0)}
    torch.save({"entry": {"name": "x"}, "state_dict": sd}, tmp_path / "tokenizer.pt")
    _same({"entry": {"name": "x"}, "state_dict": sd}, load_artifact(tmp_path / "tokenizer.safetensors"))
    torch.save({"step": 4, "w": torch.ones(1), "rng": torch.get_rng_state(), "log_index": []}, tmp_path / "ckpt.pt")
    store = TorchCheckpoint(tmp_path / "ckpt.safetensors", torch.device("cpu"))
    got = {}
    loop = TrainLoop(tmp_path, 8, 4, "toy", store, lambda: {}, progress=lambda *a: None)
    assert store.exists() and loop.resume(got.update) == 4 and torch.equal(got["w"], torch.ones(1))
    store.clear()
    assert not (tmp_path / "ckpt.pt").exists()


# torch.save writers allowed in vqbench: caches that third-party code reads back with torch.load (torch-fidelity's
# feature_extractor_weights_path takes a torch file). Every artifact one stage hands another is safetensors + JSON.
ALLOWED_TORCH_SAVE = {("tasks/metrics/networks.py", "torch.save(skeleton.state_dict(), tmp)"),
                      ("tasks/metrics/networks.py", "torch.save(state, tmp)")}


def test_no_torch_save_in_the_code_base_and_every_torch_load_is_weights_only() -> None:
    found, bare = set(), []
    for folder in ("bench", "models", "tasks"):
        for path in (ROOT / folder).rglob("*.py"):
            text, rel = path.read_text(), str(path.relative_to(ROOT))
            for line in text.splitlines():
                if "torch.save(" in line:
                    found.add((rel, line.strip()))
            for call in re.finditer(r"torch\.load\(", text):
                depth, i = 1, call.end()
                while depth and i < len(text):
                    depth += {"(": 1, ")": -1}.get(text[i], 0)
                    i += 1
                args = text[call.end():i]
                if "weights_only=True" not in args and "weights_only=False" not in args:
                    bare.append(f"{rel}: {text[call.start():i]}")
    assert found == ALLOWED_TORCH_SAVE, found ^ ALLOWED_TORCH_SAVE
    assert not bare, bare  # weights_only=False appears once, in the trust branch (tests/test_safe_loading.py)


@pytest.mark.slow
def test_stages_hand_their_outputs_over_without_pickle(tmp_path: Path, monkeypatch):
    """build_codebook -> train_tokenizer -> eval_reconstruction with torch.load and pickle refusing every file under
    the work folder: each stage reads the previous one's artifact through safetensors and JSON alone."""
    from bench.stages.base import stage_dir
    from bench.suite import run_suite
    from conftest import compose
    from models.quantizers import lc  # noqa: F401  the codebook's reader is imported before the guard

    work = tmp_path / "w"
    opened: list[str] = []
    real_load, real_unpickler = torch.load, pickle.Unpickler

    def guarded_load(f, *a, **k):
        name = str(getattr(f, "name", f))
        if name.startswith(str(work)):
            opened.append(name)
            raise AssertionError(f"torch.load of a stage output: {name}")
        return real_load(f, *a, **k)

    class GuardedUnpickler(real_unpickler):
        def __init__(self, f, *a, **k):
            name = str(getattr(f, "name", ""))
            if name.startswith(str(work)):
                opened.append(name)
                raise AssertionError(f"pickle of a stage output: {name}")
            super().__init__(f, *a, **k)

    monkeypatch.setattr(torch, "load", guarded_load)
    monkeypatch.setattr(pickle, "Unpickler", GuardedUnpickler)
    over = ["suite=recon", "tokenizer=vqganlc_f16_100k", "train.steps=2", "launcher=debug",
            "scale.eval.max_images=8", f"paths.work_dir={work}", f"paths.results_dir={tmp_path / 'r'}"]
    assert run_suite(compose(over)) == 0
    assert not opened
    from bench.plan.planner import plan

    kinds = {st.kind: stage_dir(work, st.key) for st in plan(compose(over))}
    assert (kinds["build_codebook"] / "codebook.safetensors").is_file()
    assert (kinds["train_tokenizer"] / "tokenizer.json").is_file()
    assert not list(work.rglob("*.pt"))
