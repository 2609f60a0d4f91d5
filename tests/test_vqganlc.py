"""VQGAN-LC: frozen codebook + projector, the codebook stage (features -> k-means / selection), and its planning."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.core.artifacts import load_artifact
from bench.plan.planner import plan
from conftest import compose
from models.feature_encoders import FEATURE_ENCODERS, GRID, MissingEncoderWeightsError, build_feature_encoder
from models.quantizers.lc import LCQuantizer
from models.registry import build_tokenizer, create_entry
from tasks.codebook import cluster


def test_codebook_is_frozen_and_projector_learns():
    q = LCQuantizer(1000, 32, 8)
    q.set_codebook(torch.randn(1000, 32))
    assert "codebook" not in dict(q.named_parameters()) and "codebook" in q.state_dict()
    before = q.codebook.clone()
    opt = torch.optim.SGD(q.parameters(), lr=0.1)
    z = torch.randn(2, 8, 4, 4, requires_grad=True)
    out = q(z)
    out.loss.backward()
    assert q.projection.weight.grad.abs().sum() > 0 and z.grad.abs().sum() > 0
    opt.step()
    assert torch.equal(q.codebook, before)
    # the lookup is the nearest projected code, and the loss is the released code's weighting
    codes = q.codes().detach()
    flat = z.detach().permute(0, 2, 3, 1).reshape(-1, 8)
    ref = torch.cdist(flat, codes).argmin(1)
    assert torch.equal(q(z).indices.flatten(), ref)
    zq = codes[ref]
    expected = torch.mean((zq - flat) ** 2) * 1.33
    assert torch.allclose(q(z).loss, expected, rtol=1e-5)


def test_codebook_shape_mismatch_and_no_projector_rules():
    q = LCQuantizer(10, 32, 8)
    with pytest.raises(ValueError, match="does not fit"):
        q.set_codebook(torch.randn(10, 16))
    with pytest.raises(ValueError, match="must equal embed_dim"):
        LCQuantizer(10, 32, 8, projector=False)
    q = LCQuantizer(10, 8, 8, projector=False, trainable=True)
    assert "codebook" in dict(q.named_parameters()) and q.projection is None


def test_cluster_kmeans_and_random_selection():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8)).astype(np.float32) * 10
    feats = np.concatenate([c + rng.normal(size=(200, 8)).astype(np.float32) * 0.01 for c in centres])
    got, info = cluster(feats, 4, "kmeans", seed=0, iters=20)
    assert got.shape == (4, 8) and info["features_per_code"] == 200
    # every true centre is recovered by one k-means centre
    assert np.abs(got[:, None] - centres[None]).max(-1).min(0).max() < 0.05
    sel, _ = cluster(feats, 5, "random_selection", seed=1, iters=0)
    assert all((feats == row).all(1).any() for row in sel)  # selected rows are features themselves
    with pytest.raises(ValueError, match="only 10 features"):
        cluster(feats[:10], 20, "kmeans", 0, 5)


def test_smoke_feature_encoder_gives_a_4x4_grid_per_image():
    enc = build_feature_encoder("smoke_vit", "random", seed=0)
    f = enc(torch.rand(3, 3, 32, 32) * 2 - 1)
    assert f.shape == (3 * GRID * GRID, FEATURE_ENCODERS.get("smoke_vit").dim)
    f2 = build_feature_encoder("smoke_vit", "random", seed=0)(torch.zeros(1, 3, 32, 32))
    assert torch.isfinite(f2).all()


def test_clip_weights_missing_is_explained(tmp_path):
    with pytest.raises(MissingEncoderWeightsError, match="open_clip_ViT-L-14_openai.bin"):
        build_feature_encoder("clip_vit_l14", "pretrained", weights_dir=str(tmp_path))


def test_plan_builds_codebook_on_the_chosen_dataset():
    stages = plan(compose(["suite=recon", "tokenizer=vqganlc_f16_100k"]))
    kinds = [s.kind for s in stages]
    assert kinds == ["build_codebook", "train_tokenizer", "eval_reconstruction"]
    assert stages[1].inputs == (stages[0].key,)
    cb = plan(compose(["suite=recon", "tokenizer=vqganlc_f16_100k", "tokenizer.model.codebook_dataset=mini_faces"]))[0]
    assert cb.config["dataset"]["name"] == "mini_faces"  # Table 8: codebook from one dataset, trained on another
    rand = plan(compose(["suite=recon", "tokenizer=vqganlc_f16_100k", "tokenizer.model.codebook_init=random"]))
    assert [s.kind for s in rand] == ["train_tokenizer", "eval_reconstruction"]


@pytest.mark.parametrize("dim", [8, 16, 512])
def test_projected_dimension_knob(dim):
    entry = create_entry("vqganlc_f16_100k", "smoke", {"model": {"embed_dim": dim}})
    model = build_tokenizer(entry)
    assert model.quantize.projection.out_features == dim and model.quant_conv.out_channels == dim


def test_codebook_stage_trains_and_evaluates_end_to_end(tmp_path):
    """build_codebook -> train (codebook installed, frozen) -> eval, through the suite runner at smoke scale."""
    import json

    import pandas as pd
    import torch as t

    from bench.stages.base import stage_dir
    from bench.suite import run_suite

    over = ["suite=recon", "tokenizer=vqganlc_f16_100k", "train.steps=3", "launcher=debug",
            "scale.eval.max_images=8", f"paths.work_dir={tmp_path / 'w'}", f"paths.results_dir={tmp_path / 'r'}"]
    assert run_suite(compose(over)) == 0
    cb_stage, train_stage, _ = plan(compose(over))
    done = json.loads((stage_dir(tmp_path / "w", cb_stage.key) / "done.json").read_text())
    assert done["features"] == 420 * GRID * GRID and done["encoder_weights"] == "random-seed0"
    codebook = load_artifact(stage_dir(tmp_path / "w", cb_stage.key) / "codebook.safetensors")["codebook"]
    trained = load_artifact(stage_dir(tmp_path / "w", train_stage.key) / "tokenizer.safetensors")["state_dict"]
    assert t.equal(trained["quantize.codebook"], codebook)  # installed, and still frozen after training
    df = pd.read_csv(tmp_path / "r" / "recon" / "results.csv")
    assert set(df["metric"]) >= {"psnr_rgb", "usage", "rfid"} and (df["codebook_size"] == 512).all()


def test_per_class_kmeans_is_the_released_codes_codebook():
    """kmeans_scope=per_class (minibatch_kmeans_per_class.py): each class's block of codes is k-means over that
    class's features alone; the paper's scope (one K-means over all) is the default and keeps its stage keys."""
    import numpy as np
    from torch.utils.data import Subset

    from bench.plan.planner import plan
    from conftest import compose
    from tasks.codebook import extract_features, per_class_codebook
    from tasks.data.imagefolder import Protocol
    from tasks.data.registry import DATASETS

    enc = build_feature_encoder("smoke_vit", "random", seed=0)
    data = DATASETS.get("mini_digits").open("train", Protocol(32), max_images=60, subset_seed=0)
    labels = np.array([data.label(p) for p in data.paths])
    k = 2 * len(np.unique(labels))
    centres, info = per_class_codebook(enc, data, k, "kmeans", 0, 10, torch.device("cpu"), 10_000)
    assert centres.shape == (k, enc.spec.dim) and info["codes_per_class"] == 2
    first = int(np.unique(labels)[0])
    feats, _ = extract_features(enc, Subset(data, np.flatnonzero(labels == first).tolist()), 10_000, first,
                                torch.device("cpu"))
    ref, _ = cluster(feats, 2, "kmeans", first, 10)
    assert np.allclose(centres[:2], ref)
    with pytest.raises(ValueError, match="divisible"):
        per_class_codebook(enc, data, k + 1, "kmeans", 0, 10, torch.device("cpu"), 10_000)
    base = [st for st in plan(compose(["suite=recon", "tokenizer=vqganlc_f16_100k"])) if st.kind == "build_codebook"]
    per = [st for st in plan(compose(["suite=recon", "tokenizer=vqganlc_f16_100k",
                                      "tokenizer.model.kmeans_scope=per_class"]))
           if st.kind == "build_codebook"]
    # the default scope is left out of the key (the one key rule), another scope is in it
    assert "kmeans_scope" not in base[0].spec.key_payload() and per[0].spec.key_payload()["kmeans_scope"] == "per_class"
