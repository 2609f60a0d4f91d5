"""diffusers VQModel folders (config.json + weights, `save_pretrained`'s layout) as a vqbench tokenizer plugin:
`tokenizer=diffusers_vq tokenizer.checkpoint=<folder>`. Encoding and decoding go through the diffusers library
(diffusers/models/autoencoders/vq_model.py: encode -> quant_conv latents, VectorQuantizer nearest code, decode with
the codes' vectors; norm_type='spatial' feeds them to the decoder's SpatialNorm, as MoVQ does)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class DiffusersVQ(nn.Module):
    """A diffusers VQModel behind the plugin contract (models/plugins.py): codes (b, h, w), latents (b, d, h, w)."""

    def __init__(self, vq: nn.Module) -> None:
        super().__init__()
        self.vq = vq
        cfg = vq.config
        self.codebook_size = int(cfg.num_vq_embeddings)
        self.resolution = int(cfg.sample_size)
        side = self.resolution // 2 ** (len(cfg.block_out_channels) - 1)  # one 2x down-sampling per block but the last
        self.token_grid = (side, side)

    @property
    def codebook(self) -> torch.Tensor:
        return self.vq.quantize.embedding.weight

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """VQModel.encode's latents (after quant_conv) and VectorQuantizer's nearest-code indices."""
        h = self.vq.encode(x).latents
        _, _, (_, _, idx) = self.vq.quantize(h)
        return idx.view(h.shape[0], h.shape[2], h.shape[3]), h

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """The codes' vectors (get_codebook_entry) through VQModel.decode without re-quantising."""
        b, h, w = codes.shape
        z_q = self.vq.quantize.get_codebook_entry(codes.reshape(-1), (b, h, w, self.codebook.shape[1]))
        return self.vq.decode(z_q, force_not_quantize=True).sample


def build(folder: str) -> DiffusersVQ:
    """Load a VQModel folder with diffusers (safetensors weights; .bin only through torch's weights-only load)."""
    try:
        from diffusers import VQModel
    except ImportError as e:
        raise ImportError("tokenizer=diffusers_vq needs the diffusers package: pip install 'vqbench[diffusers]'") from e
    if not (Path(folder) / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a diffusers VQModel folder (no config.json); "
                                "set tokenizer.checkpoint to the folder save_pretrained wrote")
    return DiffusersVQ(VQModel.from_pretrained(folder, low_cpu_mem_usage=False).eval())
