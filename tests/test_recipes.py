"""Paper-scale recipes against the official values transcribed in tests/data/official_configs.yaml; plan-time
derivation and refusals; plan.json."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from models.recipes import DEVIATIONS, PAPERS, Recipe, RecipeError, deviations_markdown, recipe_for, to_steps
from models.registry import create_entry

ROOT = Path(__file__).resolve().parent.parent
ROWS = yaml.safe_load((ROOT / "tests" / "data" / "official_configs.yaml").read_text())


def _norm(v):
    return [_norm(x) for x in v] if isinstance(v, (list, tuple)) else v


def _recipe_value(recipe: Recipe, field: str):
    if field == "batch_per_gpu":
        return recipe.global_batch // recipe.n_gpu
    if "." in field:
        part, key = field.split(".", 1)
        return getattr(recipe, part)[key]
    return getattr(recipe, field)


def _suite_value(suite: str, setting: str, field: str):
    body = yaml.safe_load((ROOT / "bench" / "conf" / "suite" / f"{suite}.yaml").read_text())
    run = next(r for r in body["runs"] if r["row"]["setting"] == setting)
    part, key = field.split(".")
    return run["overrides"][part][key]


def _ours(target: str):
    kind, rest = target.split(":", 1)
    if kind == "recipe":
        name, field = rest.rsplit(":", 1)
        paper, ds = name.split("/")
        return _recipe_value(recipe_for(paper, ds), field)
    if kind == "entry":
        name, field = rest.split(":")
        return getattr(create_entry(name, "paper").model, field.split(".")[1])
    if kind == "prior":  # prior:<name>[@<sample.source>]:<part>.<field> of a paper-scale prior entry
        from models.priors.registry import create_prior

        name, field = rest.split(":")
        name, _, source = name.partition("@")
        entry = create_prior(name, "paper", {"sample": {"source": source}} if source else None)
        part, key = field.split(".", 1)
        return getattr(entry, part) if part == key else getattr(getattr(entry, part), key)
    suite, setting, field = rest.split(":")
    return _suite_value(suite, setting, field)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['ours']}<-{r['file'].split('/')[-1]}:{r['key']}")
def test_paper_scale_follows_the_official_value(row):
    """Every transcribed value holds in vqbench, unless the deviations table lists it with a reason."""
    ours = _ours(row["ours"])
    if isinstance(ours, tuple) and len(ours) == 2 and ours[1] in ("epochs", "iters"):
        assert ours[1] == row["unit"], f"{row['ours']}: unit {ours[1]} vs official {row['unit']}"
        ours = ours[0]
    if any(d.ours == row["ours"] and row["file"].split("/")[-1] in d.source for d in DEVIATIONS):
        return  # listed, with its reason, in the deviations table
    assert _norm(ours) == _norm(row["value"]), (f"{row['ours']} = {ours}, official {row['repo']} {row['file']} "
                                                f"{row['key']} = {row['value']}")


def test_every_deviation_is_in_reproduce_md():
    assert deviations_markdown() in (ROOT / "REPRODUCE.md").read_text(), \
        "REPRODUCE.md's deviations table differs from models/recipes.py DEVIATIONS; paste deviations_markdown()"


@pytest.mark.parametrize("paper", PAPERS.names())
@pytest.mark.parametrize("dataset", ["imagenet", "ffhq"])
def test_every_recipe_states_a_source_for_its_length_and_gan_start(paper, dataset):
    r = recipe_for(paper, dataset)
    for key in ("length", "disc_start", "global_batch"):
        assert r.sources.get(key), f"{r.name}: no source for {key}"


def test_epochs_convert_with_the_train_split_size():
    assert to_steps((10, "epochs"), 1_281_167, 128) == 100_092  # RQ-VAE ImageNet: 10 epochs, not 5
    assert to_steps((40, "epochs"), 60_000, 48) == 50_000  # MoVQ FFHQ
    assert to_steps((250_001, "iters"), 60_000, 48) == 250_001


def _resolve(name: str, ds: str, suite_paper: str | None = None, overrides=None):
    from bench.plan.recipes import resolve_entry

    return resolve_entry(name, "paper", overrides or {}, {"name": ds, "root": None, "file_list": None}, suite_paper)


@pytest.mark.parametrize("ds,steps,disc", [("ffhq", 50_000, 30_001), ("imagenet", 1_067_640, 250_001)])
def test_movq_trains_its_gan(ds, steps, disc, monkeypatch):
    monkeypatch.delenv("VQBENCH_FFHQ", raising=False)
    monkeypatch.delenv("VQBENCH_IMAGENET", raising=False)
    e = _resolve("movq_f16_1024", ds)
    assert (e.train.steps, e.loss.disc_start, e.train.batch_size * e.train.n_gpu) == (steps, disc, 48)


def test_vqganlc_suite_trains_its_baselines_with_its_own_recipe(monkeypatch):
    monkeypatch.delenv("VQBENCH_IMAGENET", raising=False)
    vq = _resolve("vqgan_f16_16384", "imagenet", "vqganlc")
    # same architecture entry; only the quantizer follows VQGAN-LC's models_vq.py (issue 22 item 14)
    assert vq.model == dataclasses.replace(create_entry("vqgan_f16_16384", "paper").model, quantizer_source="vqganlc")
    assert (vq.train.base_lr, vq.train.eps, vq.train.schedule, vq.loss.disc_layers) == (5e-4, 1e-7, "cosine", 2)
    assert vq.train.steps == to_steps((20, "epochs"), 1_281_167, 256)
    assert vq.train.warmup_steps == to_steps((5, "epochs"), 1_281_167, 256)
    taming = _resolve("vqgan_f16_16384", "imagenet")
    assert (taming.loss.disc_start, taming.loss.disc_layers, taming.recipe["name"]) == (250_001, 3, "taming/imagenet")
    assert taming.model.quantizer_source == "taming"  # the default suite's path is unchanged


def test_seqgan_two_phases_in_iterations(monkeypatch):
    from models.registry import phase1_entry

    monkeypatch.delenv("VQBENCH_IMAGENET", raising=False)
    e = _resolve("seqgan_f16_1024", "imagenet")
    assert (e.train.steps, e.train.base_lr) == (200_000, 5e-5)
    p1 = phase1_entry(e)
    assert (p1.train.steps, p1.train.base_lr) == (500_000, 1e-4)


@pytest.mark.parametrize("name", ["seqgan_baseline_f16_1024", "seqgan_conv_f16_1024", "seqgan_attn_f16_1024"])
def test_seqgan_one_phase_tokenizers_train_phase_one_length(name, monkeypatch):
    """Issue 22 item 9: a one-phase SeQ-GAN tokenizer trains the paper's phase 1 (Sec. 4.1: 500,000 iterations)."""
    from models.registry import TOKENIZERS

    if name not in TOKENIZERS:
        pytest.skip(f"{name} not registered")
    monkeypatch.delenv("VQBENCH_IMAGENET", raising=False)
    e = _resolve(name, "imagenet")
    assert e.phase1 is None and (e.train.steps, e.train.base_lr) == (500_000, 1e-4)
    assert e.train.batch_size * e.train.n_gpu * e.train.accumulate == 256  # maskgit vqgan_config.py batch_size


def test_impossible_recipes_are_refused_naming_entry_fields_and_values(monkeypatch):
    import models.recipes as R

    monkeypatch.delenv("VQBENCH_FFHQ", raising=False)
    with pytest.raises(RecipeError, match=r"movq_f16_1024.*loss.disc_start=30001 >= train.steps=100"):
        _resolve("movq_f16_1024", "ffhq", overrides={"train": {"steps": 100}})
    with pytest.raises(RecipeError, match=r"train.warmup_steps=5000 > train.steps=100"):
        _resolve("vqganlc_f16_100k", "ffhq", overrides={"train": {"steps": 100, "warmup_steps": 5000},
                                                         "loss": {"disc_start": 0}})
    bad = dataclasses.replace(R._movq("ffhq"), global_batch=50)
    with R.PAPERS.replaced("movq", lambda ds: bad), \
            pytest.raises(RecipeError, match=r"movq_f16_1024.*global_batch=50 is not divisible by n_gpu=4"):
        _resolve("movq_f16_1024", "ffhq")


def test_counted_train_split_wins_over_the_nominal_size(tmp_path: Path):
    from PIL import Image

    for split in ("train", "validation"):
        (tmp_path / split).mkdir()
    for i in range(96):
        Image.new("RGB", (8, 8)).save(tmp_path / "train" / f"{i}.png")
    from bench.plan.recipes import resolve_entry

    d = {"name": "ffhq", "root": str(tmp_path), "file_list": None}
    with pytest.raises(RecipeError, match="disc_start=30001 >= train.steps=80"):  # 40 epochs of 96 images
        resolve_entry("movq_f16_1024", "paper", {}, d)
    e = resolve_entry("movq_f16_1024", "paper", {"loss": {"disc_start": 10}}, d)
    assert e.recipe["dataset_images"] == 96 and e.recipe["dataset_images_from"] == "counted"
    assert e.train.steps == 80 and e.loss.disc_start == 10


def test_plan_json_has_derived_numbers_for_every_training_stage(tmp_path: Path, monkeypatch):
    from bench.plan.planner import plan
    from bench.plan.recipes import write_plan
    from conftest import compose

    monkeypatch.delenv("VQBENCH_FFHQ", raising=False)
    stages = plan(compose(["suite=paper/movq_f6a", "scale=paper", "launcher.gpus=4"]))
    records = json.loads(write_plan(stages, "paper", tmp_path).read_text())
    train = [r for r in records if r["kind"] == "train_tokenizer"]
    assert train and all({"key", "kind", "name", "inputs", "config", "derived"} <= set(r) for r in records)
    for r in train:
        d = r["derived"]
        assert {"dataset_images", "global_batch", "steps", "epochs", "images_seen", "warmup_steps",
                "disc_start_step", "lr_peak", "schedule", "sources"} <= set(d)
        assert d["epochs"] == 40 and d["disc_start_step"] < d["steps"]


def test_recipe_options_gan_start_crop_and_key_stability():
    """VQGAN-LC's GAN starts at step > disc_start; random crops follow torch's RNG; unused options stay out of keys."""
    import torch
    from PIL import Image

    from models.losses import LossConfig, VQLPIPSWithDiscriminator
    from tasks.data.imagefolder import Protocol, resize_center_crop

    strict = VQLPIPSWithDiscriminator(LossConfig(disc_start=5, disc_start_strict=True), torch.nn.Identity())
    loose = VQLPIPSWithDiscriminator(LossConfig(disc_start=5), torch.nn.Identity())
    assert (strict.disc_factor(5), strict.disc_factor(6), loose.disc_factor(5)) == (0.0, 1.0, 1.0)
    img = Image.fromarray((torch.rand(40, 60, 3) * 255).byte().numpy())
    crops = []
    for _ in range(2):
        torch.manual_seed(3)
        crops.append(resize_center_crop(img, Protocol(32, augment="random_crop_flip")).tobytes())
    assert crops[0] == crops[1]
    from bench.stages.base import key_payload
    from bench.stages.specs import TokenizerSpec

    # fields at their default stay out of the stage key (bench/stages/base.py key_payload, the one rule)
    smoke = key_payload(TokenizerSpec.of(create_entry("vqgan_f16_1024", "smoke")))
    assert "augment" not in smoke["train"] and "disc_start_strict" not in smoke["loss"]
    lc = _resolve("vqgan_f16_16384", "imagenet", "vqganlc").to_dict()
    assert lc["train"]["augment"] == "random_crop" and lc["loss"]["disc_start_strict"] is True
