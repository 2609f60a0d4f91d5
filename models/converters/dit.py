"""Official DiT / SiT checkpoints (facebookresearch/DiT, willisma/SiT models.py) into vqbench's DiT
(models/priors/dit.py): the same network under other names.

    from models.converters.dit import load_dit_checkpoint
    load_dit_checkpoint("DiT-XL-2-256x256.pt", model)  # a DiT built from DiTConfig(in_channels=4, input_size=32)

The official position embedding is stored in the checkpoint (a frozen parameter); vqbench computes it, so the
converter checks the stored one against vqbench's and refuses a mismatch (e.g. a transposed grid)."""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from models.converters.base import CONVERTERS, CheckpointMismatchError, load_into

# official name -> vqbench name (models.py: PatchEmbed, TimestepEmbedder, LabelEmbedder, DiTBlock, FinalLayer)
RENAMES = (
    (r"^x_embedder\.proj\.", "x_embed."),
    (r"^t_embedder\.mlp\.", "t_embed."),
    (r"^y_embedder\.embedding_table\.weight$", "y_embed.weight"),
    (r"^blocks\.(\d+)\.mlp\.fc1\.", r"blocks.\1.mlp.0."),
    (r"^blocks\.(\d+)\.mlp\.fc2\.", r"blocks.\1.mlp.2."),
    (r"^blocks\.(\d+)\.adaLN_modulation\.1\.", r"blocks.\1.ada.1."),
    (r"^final_layer\.adaLN_modulation\.1\.", "final_ada.1."),
    (r"^final_layer\.linear\.", "final."),
)


def rename(key: str) -> str:
    for pattern, new in RENAMES:
        if re.match(pattern, key):
            return re.sub(pattern, new, key)
    return key  # blocks.i.attn.qkv / proj carry the same names (timm Attention)


@CONVERTERS.register("dit")
def convert_dit(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename; check pos_embed against the model's own; give a table without the null row (class dropout 0) a
    zero null row, which only guidance would read."""
    state = dict(state)
    stored = state.pop("pos_embed", None)
    own = getattr(model, "pos", None)
    if stored is not None and own is not None:
        if stored.shape != own.shape:
            raise CheckpointMismatchError(f"pos_embed {tuple(stored.shape)} vs the model's {tuple(own.shape)}: "
                                          "input_size / patch_size / hidden differ from the checkpoint's")
        err = float((stored.float() - own.float()).abs().max())
        if err > 1e-5:
            raise CheckpointMismatchError(f"the checkpoint's 2-D sin-cos position embedding differs from vqbench's "
                                          f"by {err:.3g} (a transposed grid?)")
    out = {rename(k): v for k, v in state.items()}
    table, rows = out.get("y_embed.weight"), model.state_dict().get("y_embed.weight")
    if table is not None and rows is not None and table.shape[0] + 1 == rows.shape[0]:
        out["y_embed.weight"] = torch.cat([table, table.new_zeros(1, table.shape[1])])
    return out


def read_official(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a DiT / SiT `.pt`: a bare state dict (download.py's releases) or a train.py checkpoint,
    whose 'ema' weights are the ones sample.py uses (find_model). Loaded with weights_only=True: no pickled code."""
    try:
        raw = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # train.py also pickles its argparse Namespace under 'args'
        raise CheckpointMismatchError(f"{path} does not load with weights_only=True ({exc}); re-save its 'ema' "
                                      "state dict alone: save its 'ema' entry with torch.save in a trusted "
                                      "session") from exc
    if isinstance(raw, dict) and isinstance(raw.get("ema"), dict):
        raw = raw["ema"]
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointMismatchError(f"{path} holds no DiT / SiT state dict")
    return {k.removeprefix("module."): v for k, v in raw.items()}


def load_dit_checkpoint(path: str | Path, model: nn.Module) -> None:
    """Load an official DiT / SiT checkpoint into a vqbench DiT (strict: every tensor, every shape)."""
    load_into(model, convert_dit(read_official(path), model), "DiT")
