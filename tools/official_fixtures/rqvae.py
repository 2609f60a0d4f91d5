"""RQ-VAE fixtures from kakaobrain/rq-vae-transformer, imported unchanged (torch + numpy only).

One stub: the package `rqvae.models` is registered as an empty namespace so its __init__.py does not run (it
imports rqtransformer, whose dataclass defaults fail on Python >= 3.11); rqvae.models.rqvae.* then import as shipped.

Ran: rqvae/models/rqvae/rqvae.py RQVAE (forward: encoder, RQBottleneck, decoder; compute_loss's latent loss) and
rqvae/models/rqvae/quantizations.py RQBottleneck / VQEmbedding in training mode (EMA step with restarts, seeded).
The model is vqbench's `rqvae_16x16x4_2048` smoke entry with ch_mult (1,), 16 px, z/embed 16, 64 codes, depth 4.

    python tools/official_fixtures/rqvae.py   # after `fetch github:kakaobrain/rq-vae-transformer`
"""
from __future__ import annotations

import sys
import types

import torch

from tools.official_fixtures.common import mirror_commit, save_fixture
from tools.official_fixtures.snapshot_py import add_path, snapshot

REPO = "kakaobrain/rq-vae-transformer"
# small enough for the repository: 16 px, no downsampling, 16x16 latents of width 16
DDCONFIG = dict(double_z=False, z_channels=16, resolution=16, in_channels=3, out_ch=3, ch=32, ch_mult=[1],
                num_res_blocks=1, attn_resolutions=[16], dropout=0.0)


def model_fixture(commit: str) -> None:
    """A seeded RQVAE: its state dict (converter input), an eval forward and its codes at every depth."""
    from rqvae.models.rqvae.rqvae import RQVAE

    torch.manual_seed(0)
    model = RQVAE(embed_dim=16, n_embed=64, decay=0.99, latent_loss_weight=0.25, ddconfig=DDCONFIG,
                  latent_shape=[16, 16, 16], code_shape=[16, 16, 4], shared_codebook=True, restart_unused_codes=True)
    with torch.no_grad():  # spread the codebook so several codes win at every depth
        model.quantizer.codebooks[0].weight[:-1].mul_(0.3)
    model.eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        out, quant_loss, code = model(x)
    state = {f"state.{k}": v.clone() for k, v in model.state_dict().items()}  # shared codebook: one copy each
    save_fixture("rq-vae-transformer", "rqvae_model", {**state, "x": x, "recon": out, "codes": code,
                                                        "latent_loss": quant_loss},
                 repo=REPO, commit=commit, source="rqvae/models/rqvae/rqvae.py", function="RQVAE.forward (eval)",
                 notes="state.* is RQVAE.state_dict() (the converter's input); codes (B, 16, 16, depth 4)")


def ema_fixture(commit: str) -> None:
    """Two training steps of a shared-codebook RQBottleneck with restarts: fewer vectors (32) than codes (64)."""
    from rqvae.models.rqvae.quantizations import RQBottleneck

    torch.manual_seed(1)
    rq = RQBottleneck(latent_shape=[4, 4, 8], code_shape=[4, 4, 3], n_embed=64, decay=0.99, shared_codebook=True,
                      restart_unused_codes=True).train()
    book = rq.codebooks[0]
    init = {"weight0": book.weight.detach().clone(), "embed_ema0": book.embed_ema.clone(),
            "cluster_size_ema0": book.cluster_size_ema.clone()}
    xs = [torch.randn(2, 4, 4, 8), torch.randn(2, 4, 4, 8) * 0.5]
    out: dict[str, torch.Tensor] = {}
    for step, x in enumerate(xs):
        torch.manual_seed(100 + step)  # the restart draws (rand_like noise, randperm) follow this seed
        quant, loss, codes = rq(x)
        out |= {f"x{step}": x, f"quant{step}": quant, f"loss{step}": loss, f"codes{step}": codes,
                f"weight{step + 1}": book.weight.detach().clone(), f"embed_ema{step + 1}": book.embed_ema.clone(),
                f"cluster_size_ema{step + 1}": book.cluster_size_ema.clone()}
    save_fixture("rq-vae-transformer", "rq_ema_restart", {**init, **out}, repo=REPO, commit=commit,
                 source="rqvae/models/rqvae/quantizations.py",
                 function="RQBottleneck.forward / VQEmbedding._update_buffers (training, restart_unused_codes)",
                 notes="torch.manual_seed(100 + step) before step's forward; 32 vectors < 64 codes -> "
                       "_tile_with_noise; weight rows: 64 codes + padding row")


def main() -> None:
    src, git_dir = snapshot(REPO)
    add_path(src)
    for name in ("rqvae", "rqvae.models"):  # bypass rqvae/models/__init__.py (see the module docstring)
        pkg = types.ModuleType(name)
        vars(pkg)["__path__"] = [str(src / name.replace(".", "/"))]  # a package: submodules import from it
        sys.modules[name] = pkg
    commit = mirror_commit(git_dir)
    model_fixture(commit)
    ema_fixture(commit)


if __name__ == "__main__":
    main()
