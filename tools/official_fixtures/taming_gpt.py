"""Fixtures from CompVis/taming-transformers' minGPT (taming/modules/transformer/mingpt.py), run unchanged on the
CPU: a tiny GPT's logits on a start token + codes, as Net2NetTransformer.forward feeds it (the unconditional
SOSProvider start token is code 0, sos_token 0 in the FFHQ configs).

Run from the repository root:
    python -m tools.official_fixtures.taming_gpt [--mirror /work/.mirror/CompVis+taming-transformers/repo]
Stub: `transformers` (mingpt.py imports top_k_top_p_filtering from it at module level, used only by
sample_with_past, which is not run) is replaced by a module whose function raises."""
from __future__ import annotations

import argparse
import sys
import types

import torch

from tools.official_fixtures.common import mirror_commit, save_fixture
from tools.official_fixtures.dit import checkout

REPO, DIR = "CompVis/taming-transformers", "taming-transformers-gpt"
TINY = dict(vocab_size=48, block_size=17, n_layer=2, n_head=2, n_embd=32)


def stub_transformers() -> None:
    """A `transformers` module with only top_k_top_p_filtering, which must not be called here."""
    mod = types.ModuleType("transformers")

    def top_k_top_p_filtering(*args, **kwargs):
        raise NotImplementedError("stubbed: tools/official_fixtures/taming_gpt.py")

    mod.top_k_top_p_filtering = top_k_top_p_filtering
    sys.modules.setdefault("transformers", mod)


def main(mirror: str) -> None:
    commit = mirror_commit(mirror)
    sys.path.insert(0, str(checkout(mirror)))
    stub_transformers()
    from taming.modules.transformer.mingpt import GPT

    torch.manual_seed(0)
    model = GPT(**TINY).eval()  # _init_weights: N(0, 0.02); pos_emb stays 0, so perturb it
    with torch.no_grad():
        model.pos_emb.normal_(0, 0.5)
        for block in model.blocks:  # non-trivial LayerNorms; MLP inputs of order 1, where the GELU forms differ
            block.mlp[0].weight.normal_(0, 0.4)
            for ln in (block.ln1, block.ln2):
                ln.weight.add_(0.2 * torch.randn_like(ln.weight))
                ln.bias.normal_(0, 0.2)
    g = torch.Generator().manual_seed(1)
    z = torch.randint(0, TINY["vocab_size"], (3, 16), generator=g)
    cz = torch.cat([torch.zeros(3, 1, dtype=torch.long), z], 1)  # sos_token 0 first
    with torch.no_grad():
        logits, _ = model(cz[:, :-1])
    save_fixture(DIR, "logits", {**{f"state.{k}": v for k, v in model.state_dict().items()}, "z": z,
                                 "logits": logits}, repo=REPO, commit=commit,
                 source="taming/modules/transformer/mingpt.py", function="GPT.forward",
                 notes=f"GPT({TINY}), seed 0, pos_emb N(0, 0.5), LayerNorms perturbed, mlp.0 weights N(0, 0.4); "
                       "input cat(sos 0, z)[:, :-1] "
                       "as Net2NetTransformer.forward", extra={"sos_token": 0})
    print("taming minGPT fixture written at", commit)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", default="/work/.mirror/CompVis+taming-transformers/repo")
    main(ap.parse_args().mirror)
