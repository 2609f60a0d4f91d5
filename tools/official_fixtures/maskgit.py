"""Fixtures from google-research/maskgit (JAX), run unchanged on the CPU: the cosine mask schedule
(libml/mask_schedule.py schedule) and iterative decoding (libml/parallel_decode.py decode) from partial masks of
different sizes in one batch, from a 2-token map in 8 passes (small maps) and from a full mask.

Run from the repository root with the project venv:  python -m tools.official_fixtures.maskgit
It re-runs itself under a separate JAX venv (--jax-python, default /tmp/jaxenv/bin/python; make it with
`python3 -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install jax flax numpy`), which writes an .npz; the project venv
then writes the safetensors + JSON fixtures (torch is not needed in the JAX venv).

The network is replaced by a fixed function of the current ids, logits = base + emb[ids] (written out again in
tests/test_official_priors.py), so the decoding algorithm alone is compared. Interventions, all documented here:
- jnp.DeviceArray, which newer jax removed and parallel_decode.py names in its State annotations, is jax.Array;
- lax.while_loop runs as a Python loop (same cond/body), so the draws can be recorded eagerly;
- jax.random.gumbel is replaced by -log(-log(u)) of u = jax.random.uniform(key, minval=tiny, maxval=1) with the
  same key, the u kept (jax's own gumbel is this transform of a uniform; the test feeds the u to torch.rand);
- jax.random.categorical is wrapped to keep its draws (the test feeds them to torch.multinomial)."""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO, DIR = "google-research/maskgit", "maskgit"
K = 8  # codes; the mask id is K
CASES = {  # name: (batch of masked counts, positions, passes, choice temperature)
    "decode_partial": ([5, 9, 14], 16, 4, 4.5),
    "decode_small": ([2, 2], 2, 8, 4.5),
    "decode_full": ([16, 16], 16, 8, 4.5),
}


def run_jax(src: str, out: str) -> None:
    """Under the JAX venv: run the official functions, save every input, draw and output to `out` (.npz)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    here = Path(__file__).resolve().parent  # run as a script, this folder is on sys.path and maskgit.py would shadow
    sys.path[:] = [src] + [p for p in sys.path if Path(p or ".").resolve() != here]
    if not hasattr(jnp, "DeviceArray"):  # removed from jax; parallel_decode.py uses it in annotations only
        jnp.DeviceArray = jax.Array
    from maskgit.libml import mask_schedule, parallel_decode

    saved: dict[str, np.ndarray] = {}
    ratios = np.linspace(0.0, 1.0, 9, dtype=np.float32)
    saved["schedule_ratio"] = ratios
    saved["schedule_total"] = np.array([1, 2, 16, 256], dtype=np.int32)
    saved["schedule_mask_ratio"] = np.stack([np.asarray(mask_schedule.schedule(float(r), saved["schedule_total"],
                                                                               "cosine")) * np.ones(4)
                                             for r in ratios]).astype(np.float32)

    def python_while(cond, body, state):
        while bool(cond(state)):
            state = body(state)
        return state

    uniforms, categorical, masked = [], [], []
    real_categorical = jax.random.categorical

    def gumbel(key, shape=(), dtype=jnp.float32, **kw):
        u = jax.random.uniform(key, shape, dtype, minval=jnp.finfo(dtype).tiny, maxval=1.0)
        uniforms.append(np.asarray(u))
        return -jnp.log(-jnp.log(u))

    def categorical_rec(key, logits, *a, **kw):
        out = real_categorical(key, logits, *a, **kw)
        categorical.append(np.asarray(out))
        return out

    parallel_decode.lax.while_loop = python_while
    parallel_decode.jax.random.gumbel = gumbel
    parallel_decode.jax.random.categorical = categorical_rec
    rs = np.random.default_rng(0)
    for name, (counts, length, passes, temp) in CASES.items():
        uniforms.clear(), categorical.clear(), masked.clear()
        base = rs.normal(0, 1.5, (len(counts), length, K)).astype(np.float32)
        emb = rs.normal(0, 1.0, (K + 1, K)).astype(np.float32)
        ids = rs.integers(0, K, (len(counts), length)).astype(np.int32)
        for b, c in enumerate(counts):
            ids[b, rs.permutation(length)[:c]] = K

        def tokens_to_logits(cur, base=base, emb=emb):
            masked.append(np.asarray(jnp.sum(cur == K, axis=-1)))
            return jnp.asarray(base) + jnp.asarray(emb)[cur]

        seqs = parallel_decode.decode(jnp.asarray(ids), jax.random.PRNGKey(0), tokens_to_logits, mask_token_id=K,
                                      num_iter=passes, choice_temperature=temp)
        saved.update({f"{name}.inputs": ids, f"{name}.base": base, f"{name}.emb": emb,
                      f"{name}.final_seqs": np.asarray(seqs), f"{name}.out": np.asarray(seqs)[:, -1],
                      f"{name}.uniforms": np.stack(uniforms), f"{name}.categorical": np.stack(categorical),
                      f"{name}.masked_per_pass": np.stack(masked)})
    saved.update(network(src))
    np.savez(out, **saved)


def network(src: str) -> dict:
    """A tiny nets/maskgit_transformer.py Transformer (class-conditional ids as maskgit_class_cond feeds them:
    the class token codebook_size + label first); its params flattened 'params.<path>' and its logits."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import traverse_util
    from maskgit.nets import maskgit_transformer

    n_cls, length = 3, 16
    model = maskgit_transformer.Transformer(vocab_size=K + n_cls + 1, hidden_size=16, num_hidden_layers=2,
                                            num_attention_heads=2, intermediate_size=64,
                                            max_position_embeddings=length + 1, initializer_range=0.3)
    rs = np.random.default_rng(1)
    tokens = rs.integers(0, K, (3, length)).astype(np.int32)
    tokens[rs.random((3, length)) < 0.4] = K + n_cls  # [MASK]
    ids = np.concatenate([(K + np.array([0, 2, 1], dtype=np.int32))[:, None], tokens], 1)
    params = model.init(jax.random.PRNGKey(1), jnp.asarray(ids), deterministic=True)
    logits = model.apply(params, jnp.asarray(ids), deterministic=True)
    flat = traverse_util.flatten_dict(params["params"], sep=".")
    return {"network.ids": ids, "network.logits": np.asarray(logits),
            **{f"network.params.{k}": np.asarray(v) for k, v in flat.items()}}


def main(mirror: str, jax_python: str) -> None:
    import numpy as np
    import torch

    from tools.official_fixtures.common import mirror_commit, save_fixture
    from tools.official_fixtures.dit import checkout

    commit, src = mirror_commit(mirror), checkout(mirror)
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "maskgit.npz"
        subprocess.run([jax_python, __file__, "--jax", str(src), str(npz)], check=True)
        data = dict(np.load(npz))
    version = subprocess.run([jax_python, "-c", "import jax; print(jax.__version__)"], capture_output=True,
                             text=True).stdout.strip()
    meta = dict(repo=REPO, commit=commit, extra={"jax": version, "mask_token_id": K})
    tensor = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in data.items()}
    save_fixture(DIR, "schedule", {k.removeprefix("schedule_"): v for k, v in tensor.items()
                                   if k.startswith("schedule_")}, source="maskgit/libml/mask_schedule.py",
                 function="schedule", notes="cosine; mask_ratio[i, j] = schedule(ratio[i], total[j])", **meta)
    for name, (counts, length, passes, temp) in CASES.items():
        save_fixture(DIR, name, {k.split(".", 1)[1]: v for k, v in tensor.items() if k.startswith(name + ".")},
                     source="maskgit/libml/parallel_decode.py", function="decode",
                     notes=f"masked counts {counts} of {length}, num_iter {passes}, choice_temperature {temp}; "
                           "logits = base + emb[ids]; uniforms[i]: the u behind pass i's Gumbel noise; "
                           "categorical[i]: pass i's draws; masked_per_pass[i]: masked tokens entering pass i; "
                           "out = final_seqs[:, -1]", **meta)
    save_fixture(DIR, "network", {k.split(".", 1)[1]: v for k, v in tensor.items() if k.startswith("network.")},
                 source="maskgit/nets/maskgit_transformer.py", function="Transformer.__call__",
                 notes="vocab_size K + 3 classes + 1 ([MASK] last), hidden 16, 2 layers, 2 heads, MLP 64, 17 "
                       "positions, "
                       "initializer_range 0.3 (MLP inputs of order 1, where the GELU forms differ); ids = class token "
                       "K + label, then 16 tokens (40% [MASK]); deterministic", **meta)
    print("MaskGIT fixtures written at", commit, "with jax", version)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--jax":
        run_jax(sys.argv[2], sys.argv[3])
        sys.exit(0)
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", default="/work/.mirror/google-research+maskgit/repo")
    ap.add_argument("--jax-python", default="/tmp/jaxenv/bin/python")
    args = ap.parse_args()
    main(args.mirror, args.jax_python)
