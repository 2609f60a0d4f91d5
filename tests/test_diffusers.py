"""diffusers VQModel folders through vqbench (issue 23.2): a randomly initialised VQModel of each norm type, saved
with save_pretrained and loaded with tokenizer=diffusers_vq, gives diffusers' own codes and reconstructions."""
from __future__ import annotations

import pytest
import torch

from conftest import compose

diffusers = pytest.importorskip("diffusers")


def _tiny_vqmodel(norm_type: str):
    """Two blocks (one 2x down-sampling), 4-d latents, 32 codes: seconds on a CPU."""
    torch.manual_seed(0)
    return diffusers.VQModel(block_out_channels=(32, 32), down_block_types=("DownEncoderBlock2D",) * 2,
                             up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, latent_channels=4,
                             num_vq_embeddings=32, norm_num_groups=8, sample_size=32, norm_type=norm_type).eval()


@pytest.mark.parametrize("norm_type", ["group", "spatial"])
def test_vqmodel_folder_gives_diffusers_codes_and_reconstructions(norm_type, tmp_path) -> None:
    from models.registry import build_tokenizer, create_entry

    vq = _tiny_vqmodel(norm_type)
    vq.save_pretrained(tmp_path / "vq")
    entry = create_entry(f"diffusers_vq:{tmp_path / 'vq'}", "smoke")
    assert (entry.model.n_embed, entry.model.downsample, entry.model.embed_dim) == (32, 2, 4)
    assert entry.model.plugin == "diffusers" and entry.model.arg_sha256
    tok = build_tokenizer(entry).eval()
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        h = vq.encode(x).latents  # diffusers' own encode and decode (which quantises inside)
        want_img = vq.decode(h).sample
        nearest = torch.cdist(h.permute(0, 2, 3, 1).reshape(-1, 4), vq.quantize.embedding.weight).argmin(1)
        enc = tok.encode(x)
        got_img = tok.decode_indices(enc.indices)
    assert torch.equal(enc.indices[..., 0], nearest.view(3, 16, 16))
    assert torch.equal(enc.latents, h)
    torch.testing.assert_close(got_img, want_img, rtol=1e-5, atol=1e-5)  # z + (z_q - z) vs z_q: rounding only
    assert (got_img - x).abs().mean() > 0  # a real decode, not the input


def test_diffusers_vq_plans_as_a_tokenizer(tmp_path) -> None:
    """tokenizer=diffusers_vq tokenizer.checkpoint=<folder> composes and plans (no released-file path)."""
    from bench.plan.planner import plan

    _tiny_vqmodel("group").save_pretrained(tmp_path / "vq")
    cfg = compose(["suite=recon", "tokenizer=diffusers_vq", f"tokenizer.checkpoint={tmp_path / 'vq'}",
                   f"paths.work_dir={tmp_path / 'w'}", f"paths.results_dir={tmp_path / 'r'}"])
    stages = plan(cfg)
    assert [s.kind for s in stages] == ["train_tokenizer", "eval_reconstruction"]
    assert stages[1].config["tokenizer"]["model"]["arg"] == str((tmp_path / "vq").resolve())


# MoVQ's decoder is a VQModel with norm_type='spatial' (Kandinsky's movq); vqbench's MoVQ entry at the same shapes:
# one code channel, SpatialNorm in every decoder norm, F0 = post_quant_conv(z_q), no attention outside the mid blocks.
MOVQ_SHAPES = {"ch": 32, "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [], "z_channels": 4,
               "embed_dim": 4, "n_embed": 32, "resolution": 32, "channels": 1, "f0": "quantized", "spatial_norm": "all"}


def test_spatial_vqmodel_loads_into_vqbench_movq(tmp_path) -> None:
    from models.converters import convert_checkpoint
    from models.registry import build_tokenizer, create_entry

    torch.manual_seed(0)
    vq = diffusers.VQModel(block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2,
                           up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, latent_channels=4,
                           num_vq_embeddings=32, norm_num_groups=32, sample_size=32, norm_type="spatial").eval()
    with torch.no_grad():  # non-trivial norms and codebook, so a swapped or skipped weight shows
        for name, p in vq.named_parameters():
            if "norm" in name or "embedding" in name:
                p.add_(torch.randn_like(p) * 0.5)
    vq.save_pretrained(tmp_path / "vq")
    movq = build_tokenizer(create_entry("movq_f16_1024", "smoke", {"model": MOVQ_SHAPES})).eval()
    fmt = convert_checkpoint(tmp_path / "vq" / "diffusion_pytorch_model.safetensors", movq)
    assert fmt == "diffusers_vq"
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        h = vq.encode(x).latents
        _, _, (_, _, want_idx) = vq.quantize(h)
        want = vq.decode(h).sample
        enc = movq.encode(x)
        got = movq.decode_indices(enc.indices)
    torch.testing.assert_close(enc.latents, h, rtol=1e-5, atol=1e-5)
    assert torch.equal(enc.indices.flatten(), want_idx.flatten())
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
