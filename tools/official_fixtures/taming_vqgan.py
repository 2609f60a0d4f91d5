"""taming-transformers fixtures from CompVis/taming-transformers, modules imported unchanged.

Ran: taming/modules/diffusionmodules/model.py Encoder / Decoder and taming/modules/vqvae/quantize.py VectorQuantizer2
(legacy=True), assembled as taming/models/vqgan.py VQModel.encode/decode does (encoder -> quant_conv -> quantize ->
post_quant_conv -> decoder) with VQModel's parameter names; VQModel itself is not built because it is a
pytorch_lightning.LightningModule (not installed) and loads LPIPS weights. Also EMAVectorQuantizer, one training step,
and taming/modules/losses/vqperceptual.py VQLPIPSWithDiscriminator (generator and discriminator passes).

Stub (documented): as shipped, EMAVectorQuantizer.__init__ reads the undefined names `codebook_dim` and `num_tokens`
(NameError); the script defines them as globals of the unchanged quantize module, equal to embedding_dim and
n_embed, before constructing it. `taming.modules.losses.lpips` is replaced by a module whose LPIPS is a seeded stand-in
(one 3x3 conv, 3 -> 4, squared feature difference averaged per image: (B, 1, 1, 1) like LPIPS), because the shipped
one downloads VGG weights; its weights are stored, so vqbench's loss runs with the same perceptual network.

    python tools/official_fixtures/taming_vqgan.py   # after `fetch github:CompVis/taming-transformers`
"""
from __future__ import annotations

import sys

import torch
from torch import nn

from tools.official_fixtures.common import mirror_commit, save_fixture
from tools.official_fixtures.snapshot_py import add_path, snapshot

REPO = "CompVis/taming-transformers"
DDCONFIG = dict(double_z=False, z_channels=16, resolution=16, in_channels=3, out_ch=3, ch=32, ch_mult=[1],
                num_res_blocks=1, attn_resolutions=[16], dropout=0.0)


def model_fixture(commit: str) -> None:
    """Encoder/Decoder + VectorQuantizer2(64, 16, beta 0.25, legacy) with VQModel's names; eval forward."""
    from taming.modules.diffusionmodules.model import Decoder, Encoder
    from taming.modules.vqvae.quantize import VectorQuantizer2

    torch.manual_seed(0)
    model = nn.Module()
    model.encoder, model.decoder = Encoder(**DDCONFIG), Decoder(**DDCONFIG)
    model.quantize = VectorQuantizer2(64, 16, beta=0.25, legacy=True)
    model.quant_conv, model.post_quant_conv = nn.Conv2d(16, 16, 1), nn.Conv2d(16, 16, 1)
    with torch.no_grad():  # codes at the latents' scale, so that many codes win (taming's init is uniform +-1/K)
        model.quantize.embedding.weight.normal_()
    model.eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        quant, emb_loss, (_, _, idx) = model.quantize(model.quant_conv(model.encoder(x)))
        recon = model.decoder(model.post_quant_conv(quant))
    state = {f"state.{k}": v for k, v in model.state_dict().items()}
    save_fixture("taming-transformers", "vqgan_model", {**state, "x": x, "recon": recon, "emb_loss": emb_loss,
                                                        "indices": idx.view(2, 16, 16)},
                 repo=REPO, commit=commit,
                 source="taming/modules/diffusionmodules/model.py, taming/modules/vqvae/quantize.py",
                 function="Encoder, VectorQuantizer2 (legacy), Decoder as VQModel.encode/decode (eval)",
                 notes="state.* has VQModel's names (encoder., quant_conv., quantize.embedding.weight, ...)")


def ema_fixture(commit: str) -> None:
    """EMAVectorQuantizer(16 codes, dim 8, beta 0.25): one training step on fixed latents, loss and gradient."""
    import taming.modules.vqvae.quantize as quantize

    for name, value in (("codebook_dim", 8), ("num_tokens", 16)):  # stub for the shipped NameError (docstring)
        setattr(quantize, name, value)
    torch.manual_seed(1)
    q = quantize.EMAVectorQuantizer(16, 8, beta=0.25).train()
    init = {"weight0": q.embedding.weight.detach().clone(), "embed_avg0": q.embedding.embed_avg.detach().clone()}
    z = torch.randn(2, 8, 4, 4, requires_grad=True)
    z_q, loss, (_, _, idx) = q(z)
    loss.backward()
    save_fixture("taming-transformers", "ema_quantizer", {
        **init, "z": z.detach(), "z_q": z_q.detach(), "loss": loss.detach(), "z_grad": z.grad,
        "indices": idx.view(2, 4, 4), "weight1": q.embedding.weight.detach(),
        "cluster_size1": q.embedding.cluster_size.detach(), "embed_avg1": q.embedding.embed_avg.detach()},
        repo=REPO, commit=commit, source="taming/modules/vqvae/quantize.py",
        function="EMAVectorQuantizer.forward (training, one step)",
        notes="globals codebook_dim=8, num_tokens=16 defined for the shipped NameError")


class StandInLPIPS(nn.Module):
    """Seeded stand-in for taming's LPIPS: mean over (C, H, W) of (conv(x) - conv(y))^2, shape (B, 1, 1, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.conv(x) - self.conv(y)).pow(2).mean((1, 2, 3), keepdim=True)


def loss_fixture(commit: str) -> None:
    """VQLPIPSWithDiscriminator(disc_start 0, 2 layers, ndf 8, disc_weight 0.8): G pass (adaptive weight at the last
    layer) and D pass, with the discriminator in training mode (BatchNorm on batch statistics)."""
    import types as _types

    stub = _types.ModuleType("taming.modules.losses.lpips")
    torch.manual_seed(3)
    lpips = StandInLPIPS()
    stub.LPIPS = lambda: lpips
    sys.modules["taming.modules.losses.lpips"] = stub
    from taming.modules.losses.vqperceptual import VQLPIPSWithDiscriminator

    torch.manual_seed(4)
    loss = VQLPIPSWithDiscriminator(disc_start=0, codebook_weight=1.0, disc_num_layers=2, disc_ndf=8,
                                    disc_weight=0.8, perceptual_weight=1.0).train()
    disc0 = {f"disc.{k}": v.clone() for k, v in loss.discriminator.state_dict().items()}
    x, h = torch.rand(2, 3, 16, 16) * 2 - 1, torch.randn(2, 8, 16, 16)
    last = torch.randn(3, 8, 3, 3, requires_grad=True)  # the decoder's conv_out weight
    recon = torch.nn.functional.conv2d(h, last, padding=1)
    qloss = torch.tensor(0.3)
    g, log = loss(qloss, x, recon, 0, global_step=5, last_layer=last)
    d, _ = loss(qloss, x, recon, 1, global_step=5, last_layer=last)
    save_fixture("taming-transformers", "vqperceptual_loss", {
        **disc0, **{f"lpips.{k}": v for k, v in lpips.state_dict().items()}, "x": x, "h": h,
        "last_layer": last.detach(), "qloss": qloss, "g_total": g.detach(), "d_weight": log["train/d_weight"],
        "g_loss": log["train/g_loss"], "nll": log["train/nll_loss"], "p_loss": log["train/p_loss"],
        "d_loss": d.detach()}, repo=REPO, commit=commit, source="taming/modules/losses/vqperceptual.py",
        function="VQLPIPSWithDiscriminator.forward (optimizer_idx 0 then 1, global_step 5, train mode)",
        notes="recon = conv2d(h, last_layer, padding=1); LPIPS: seeded stand-in (lpips.*); disc.* before the passes")


def main() -> None:
    src, git_dir = snapshot(REPO)
    add_path(src)
    commit = mirror_commit(git_dir)
    model_fixture(commit)
    ema_fixture(commit)
    loss_fixture(commit)


if __name__ == "__main__":
    main()
