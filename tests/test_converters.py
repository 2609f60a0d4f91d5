"""Released-checkpoint converters: state dicts laid out as taming / VQGAN-LC / RQ-VAE name them load into our
modules and give the reconstructions the original quantizer math gives; misfits fail naming the keys."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from bench.plan.planner import plan
from bench.suite import run_suite
from conftest import compose
from models.converters import convert_checkpoint
from models.converters.base import CheckpointMismatchError
from models.registry import build_tokenizer, create_entry

TAMING_LANDMARKS = [  # parameter names as taming-transformers' VQModel writes them
    "encoder.conv_in.weight", "encoder.down.0.block.0.norm1.weight", "encoder.down.0.downsample.conv.weight",
    "encoder.mid.attn_1.q.weight", "encoder.mid.block_2.conv2.bias", "quant_conv.weight",
    "quantize.embedding.weight", "post_quant_conv.weight", "decoder.up.1.upsample.conv.weight",
    "decoder.up.0.block.1.nin_shortcut.weight", "decoder.norm_out.weight", "decoder.conv_out.weight",
]


def _model(name: str, **model_changes):
    torch.manual_seed(1)
    return build_tokenizer(create_entry(name, "smoke", {"model": model_changes})).eval()


def _save(tmp_path, state: dict, wrapper: str | None = "state_dict"):
    path = tmp_path / "released.ckpt"
    torch.save({wrapper: state} if wrapper else state, path)
    return path


def _backbone(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("quantize.")}


def test_taming_layout(tmp_path):
    src = _model("vqgan_f16_1024", ch_mult=(1, 1, 2), attn_resolutions=(8,))
    state = src.state_dict()
    assert all(k in state for k in TAMING_LANDMARKS if "nin_shortcut" not in k)
    original = {**state, "loss.discriminator.main.0.weight": torch.randn(4, 3, 4, 4),
                "loss.perceptual_loss.lin0.model.1.weight": torch.randn(1, 64, 1, 1)}
    dst = _model("vqgan_f16_1024", ch_mult=(1, 1, 2), attn_resolutions=(8,))
    assert convert_checkpoint(_save(tmp_path, original), dst) == "taming"
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(dst(x).recon, src(x).recon)


def test_vqganlc_layout_matches_the_original_quantizer_math(tmp_path):
    src = _model("vqganlc_f16_100k")
    k, d = src.quantize.codebook.shape
    tok = torch.randn(k, d)
    w, b = torch.randn(8, d) * d**-0.5, torch.randn(8)
    original = {**_backbone(src), "tok_embeddings.weight": tok, "codebook_projection.weight": w,
                "codebook_projection.bias": b, "discriminator.main.0.weight": torch.randn(4, 3, 4, 4),
                "perceptual_loss.lin0.model.1.weight": torch.randn(1, 64, 1, 1)}
    dst = _model("vqganlc_f16_100k")
    assert convert_checkpoint(_save(tmp_path, original, "model"), dst) == "vqganlc"
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():  # VQGAN-LC models_vq.py: quantize() against codebook_projection(tok_embeddings)
        h = src.quant_conv(src.encoder(x)).permute(0, 2, 3, 1).reshape(-1, 8)
        proj = tok @ w.t() + b
        dist = h.pow(2).sum(1, keepdim=True) + proj.pow(2).sum(1) - 2 * h @ proj.t()
        zq = proj[dist.argmin(1)].view(2, 8, 8, 8).permute(0, 3, 1, 2)
        reference = src.decoder(src.post_quant_conv(zq))
        assert torch.allclose(dst(x).recon, reference, atol=1e-5)


def test_rqvae_layout_drops_padding_and_matches_residual_math(tmp_path):
    src = _model("rqvae_8x8x4_16384")
    k, d = src.quantize.codebook.embed.shape
    weight = torch.randn(k + 1, d)  # + the padding row RQ-VAE's VQEmbedding carries
    weight[-1] = 0.0  # a padding row near every residual: chosen if the converter kept it in the search
    shared = {"weight": weight, "embed_ema": weight[:-1].clone(), "cluster_size_ema": torch.ones(k)}
    original = {**_backbone(src),
                **{f"quantizer.codebooks.{i}.{n}": t.clone() for i in range(4) for n, t in shared.items()}}
    dst = _model("rqvae_8x8x4_16384")
    assert convert_checkpoint(_save(tmp_path, original, None), dst) == "rqvae"
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():  # RQBottleneck.quantize: residuals against weight[:-1], summed over depth
        z = src.quant_conv(src.encoder(x)).permute(0, 2, 3, 1).reshape(-1, d)
        residual, total = z.clone(), torch.zeros_like(z)
        for _ in range(4):
            q = weight[:-1][torch.cdist(residual, weight[:-1]).argmin(1)]
            residual, total = residual - q, total + q
        h = int((z.shape[0] // 2) ** 0.5)
        reference = src.decoder(src.post_quant_conv(total.view(2, h, h, d).permute(0, 3, 1, 2)))
        assert torch.allclose(dst(x).recon, reference, atol=1e-5)
    separate = dict(original, **{"quantizer.codebooks.2.weight": torch.randn(k + 1, d)})
    with pytest.raises(CheckpointMismatchError, match="separate codebooks"):
        convert_checkpoint(_save(tmp_path, separate, None), _model("rqvae_8x8x4_16384"))


def test_misfit_lists_missing_unexpected_and_shapes(tmp_path):
    state = _model("vqgan_f16_1024").state_dict()
    broken = {k: v for k, v in state.items() if k != "decoder.conv_out.bias"}
    broken["decoder.extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError) as err:
        convert_checkpoint(_save(tmp_path, broken), _model("vqgan_f16_1024"))
    assert "decoder.conv_out.bias" in str(err.value) and "decoder.extra.weight" in str(err.value)
    with pytest.raises(CheckpointMismatchError, match="quantize.embedding.weight: checkpoint"):
        convert_checkpoint(_save(tmp_path, state), _model("vqgan_f16_16384"))
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        convert_checkpoint(tmp_path / "nope.ckpt", _model("vqgan_f16_1024"))


def test_checkpoint_option_evaluates_without_training(tmp_path):
    src = _model("vqgan_f16_1024")
    path = _save(tmp_path, {**src.state_dict(), "loss.discriminator.main.0.weight": torch.randn(4, 3, 4, 4)})
    over = ["suite=recon", "tokenizer=vqgan_f16_1024", f"tokenizer.checkpoint={path}", "launcher=debug",
            "scale.eval.max_images=8", f"paths.work_dir={tmp_path / 'w'}", f"paths.results_dir={tmp_path / 'r'}"]
    stages = plan(compose(over))
    assert [s.kind for s in stages] == ["eval_reconstruction"] and not stages[0].inputs
    assert run_suite(compose(over)) == 0
    df = pd.read_csv(tmp_path / "r" / "recon" / "results.csv")
    assert df["weights_source"].str.startswith("released taming sha256:").all()
    assert df["setting"].str.contains("released:").all()
