"""diffusers VQModel folders (config.json + weights, `save_pretrained`'s layout) as a vqbench tokenizer plugin:
`tokenizer=diffusers_vq tokenizer.checkpoint=<folder>`. Encoding and decoding go through the diffusers library
(diffusers/models/autoencoders/vq_model.py: encode -> quant_conv latents, VectorQuantizer nearest code, decode with
the codes' vectors; norm_type='spatial' feeds them to the decoder's SpatialNorm, as MoVQ does)."""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from models.converters.base import CONVERTERS


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


# --- diffusers VQModel weights -> vqbench's MoVQ / taming modules (CONVERTERS 'diffusers_vq') ----------------------
# diffusers/models/autoencoders/vae.py Encoder/Decoder vs models/taming_modules.py: the same blocks under other
# names; diffusers' up_blocks run from the lowest resolution (up_blocks[k] = taming up[n-1-k]); its attention
# projections are Linear (vqbench: 1x1 conv); norm_type='spatial' puts SpatialNorm in every decoder norm
# (vqbench MoVQ spatial_norm='all') and feeds post_quant_conv(z_q) to conv_in (MoVQ f0='quantized').
_RULES = [
    (r"^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.", r"encoder.down.\1.block.\2."),
    (r"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample."),
    (r"^(encoder|decoder)\.mid_block\.resnets\.0\.", r"\1.mid.block_1."),
    (r"^(encoder|decoder)\.mid_block\.resnets\.1\.", r"\1.mid.block_2."),
    (r"^(encoder|decoder)\.mid_block\.attentions\.0\.(group_norm|spatial_norm)\.", r"\1.mid.attn_1.norm."),
    (r"^(encoder|decoder)\.mid_block\.attentions\.0\.to_(q|k|v)\.", r"\1.mid.attn_1.\2."),
    (r"^(encoder|decoder)\.mid_block\.attentions\.0\.to_out\.0\.", r"\1.mid.attn_1.proj_out."),
    (r"^(encoder|decoder)\.conv_norm_out\.", r"\1.norm_out."),
    (r"^quantize\.embedding\.", "quantize.vq.embedding."),
    (r"^post_quant_conv\.", "f0.post_quant_conv."),
    (r"\.conv_shortcut\.", ".nin_shortcut."),
]


def _rename(key: str, n_levels: int) -> str:
    up = re.match(r"^decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.(.*)$", key)
    if up:
        level = n_levels - 1 - int(up.group(1))
        part = f"block.{up.group(3)}" if up.group(2) == "resnets" else "upsample"
        key = f"decoder.up.{level}.{part}.{up.group(4)}"
    for pattern, repl in _RULES:
        key = re.sub(pattern, repl, key)
    return key


@CONVERTERS.register("diffusers_vq")
def convert_diffusers_vq(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """A VQModel state dict (diffusion_pytorch_model.safetensors) in vqbench's names and shapes."""
    n_levels = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("decoder.up_blocks."))
    own = model.state_dict()
    out = {}
    for key, value in state.items():
        name = _rename(key, n_levels)
        if name in own and value.dim() == 2 and own[name].dim() == 4:  # Linear (out, in) -> 1x1 conv
            value = value[:, :, None, None]
        out[name] = value
    return out
