"""ADM evaluator fixtures from openai/guided-diffusion evaluations/evaluator.py, imported unchanged.

evaluator.py needs TensorFlow, which vqbench's venv does not have, so the official part runs in a separate venv
(VQBENCH_TF_PYTHON, default /tmp/h5_tfvenv/bin/python: `python -m venv` + `pip install tensorflow-cpu scipy tqdm
requests`) and writes an .npz; this script (in vqbench's venv) then saves the fixture.

Ran, unchanged: ManifoldEstimator(session).manifold_radii / .evaluate_pr through Evaluator.compute_prec_recall
(DistanceBlock: float16 distances, kept when all finite, else float32; `<=` comparisons), Evaluator.compute_statistics
and FIDStatistics.frechet_distance, Evaluator.compute_inception_score.
Stub (documented): the Evaluator is made
with __new__ and given only the session, the manifold estimator and a softmax graph `tf.nn.softmax(softmax_input)`,
because Evaluator.__init__ downloads the Inception graph: the fixture's "logits" are fed where the evaluator feeds
pool_3 features times the Inception softmax weights (that matmul is the identity here).

    python tools/official_fixtures/adm_evaluator.py   # after `fetch github:openai/guided-diffusion`
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = "openai/guided-diffusion"
TF_PY = os.environ.get("VQBENCH_TF_PYTHON", "/tmp/h5_tfvenv/bin/python")


def features() -> dict[str, np.ndarray]:
    """Fixed float32 features: pool_3-like non-negative vectors whose squared distances (~1e3) fp16 rounds in steps
    of 0.5-1 (ties), a set that overflows fp16 (the float32 fallback), and logits for IS."""
    rng = np.random.default_rng(0)
    ref = np.abs(rng.normal(size=(160, 128))).astype(np.float32) * 2.0
    sample = (np.abs(rng.normal(size=(150, 128))) * 2.1 + 0.05).astype(np.float32)
    big_ref = (np.abs(rng.normal(size=(40, 16))) * 150).astype(np.float32)
    big_sample = (np.abs(rng.normal(size=(40, 16))) * 160).astype(np.float32)
    logits = (rng.normal(size=(130, 20)) * 3).astype(np.float32)
    return {"ref": ref, "sample": sample, "big_ref": big_ref, "big_sample": big_sample, "logits": logits}


def run_official(src: str, out: str) -> None:
    """In the TensorFlow venv: run evaluator.py's functions on features() and write their outputs to `out`."""
    sys.path.insert(0, str(Path(src) / "evaluations"))
    assert hasattr(np, "bool"), "evaluate_pr uses np.bool: numpy < 1.24 or >= 2.0 in the TensorFlow venv"
    import evaluator as ev
    import tensorflow.compat.v1 as tf

    tf.disable_eager_execution()
    f = features()
    sess = tf.Session(graph=tf.Graph())
    e = ev.Evaluator.__new__(ev.Evaluator)  # stub: no Inception download (see the module docstring)
    e.sess = sess
    vars(e)["softmax_batch_size"] = 512  # read by compute_inception_score
    e.manifold_estimator = ev.ManifoldEstimator(sess)
    with sess.graph.as_default():
        e.softmax_input = tf.placeholder(tf.float32, shape=[None, None])
        e.softmax = tf.nn.softmax(e.softmax_input)
    res = {}
    for tag, (a, b) in {"": (f["ref"], f["sample"]), "big_": (f["big_ref"], f["big_sample"])}.items():
        res[f"{tag}precision"], res[f"{tag}recall"] = e.compute_prec_recall(a, b)
        res[f"{tag}radii_ref"] = e.manifold_estimator.manifold_radii(a)[:, 0]
        s_ref, s_sample = e.compute_statistics(a), e.compute_statistics(b)
        res[f"{tag}fid"] = s_sample.frechet_distance(s_ref)
        res[f"{tag}mu_ref"] = s_ref.mu
    res["is_50"] = e.compute_inception_score(f["logits"], split_size=50)
    np.savez(out, **{k: np.asarray(v) for k, v in res.items()})


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import torch

    from tools.official_fixtures.common import mirror_commit, save_fixture
    from tools.official_fixtures.snapshot_py import snapshot

    src, git_dir = snapshot(REPO)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "adm.npz")
        subprocess.run([TF_PY, __file__, "--official", str(src), out], check=True)
        res = dict(np.load(out))
        probe = "import tensorflow as t, numpy as n; print(t.__version__, n.__version__)"
        version = subprocess.run([TF_PY, "-c", probe],
                                 check=True, capture_output=True, text=True).stdout.split()
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in {**features(), **res}.items()}
    save_fixture("guided-diffusion", "adm_evaluator", tensors, repo=REPO, commit=mirror_commit(git_dir),
                 source="evaluations/evaluator.py",
                 function="Evaluator.compute_prec_recall / compute_statistics / FIDStatistics.frechet_distance / "
                          "compute_inception_score",
                 notes="fid = sample stats .frechet_distance(ref stats); is_50: split_size 50; big_*: fp16 overflow",
                 extra={"tensorflow": version[0], "numpy": version[1]})
    print(json.dumps({k: float(v) for k, v in res.items() if v.ndim == 0}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--official":
        run_official(sys.argv[2], sys.argv[3])
    else:
        main()
