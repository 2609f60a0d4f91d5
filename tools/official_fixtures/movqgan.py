"""MoVQGAN fixture from ai-forever/MoVQGAN movqgan/modules/vqvae/movq_modules.py, imported unchanged.

Ran: MOVQDecoder.forward(z, zq) (SpatialNorm in every decoder norm, zq nearest-resized to each feature map).
Stub (documented): the packages `movqgan` and `movqgan.modules(.vqvae)` are registered as empty namespaces so
movqgan/__init__.py does not run (it imports huggingface_hub's cached_download and the Lightning model);
movq_modules.py itself needs only torch and numpy.

    python tools/official_fixtures/movqgan.py   # after `fetch github:ai-forever/MoVQGAN`
"""
from __future__ import annotations

import sys
import types

import torch

from tools.official_fixtures.common import mirror_commit, save_fixture
from tools.official_fixtures.snapshot_py import add_path, snapshot

REPO = "ai-forever/MoVQGAN"
DDCONFIG = dict(ch=32, out_ch=3, ch_mult=[1], num_res_blocks=1, attn_resolutions=[], dropout=0.0, in_channels=3,
                resolution=8, z_channels=8, zq_ch=4, add_conv=False)


def main() -> None:
    src, git_dir = snapshot(REPO)
    add_path(src)
    for name in ("movqgan", "movqgan.modules", "movqgan.modules.vqvae"):  # bypass movqgan/__init__.py
        pkg = types.ModuleType(name)
        vars(pkg)["__path__"] = [str(src / name.replace(".", "/"))]  # a package: submodules import from it
        sys.modules[name] = pkg
    from movqgan.modules.vqvae.movq_modules import MOVQDecoder

    torch.manual_seed(0)
    dec = MOVQDecoder(**DDCONFIG).eval()
    z, zq = torch.randn(2, 8, 8, 8), torch.randn(2, 4, 4, 4)  # zq smaller than F: the nearest resize matters
    with torch.no_grad():
        out = dec(z, zq)
    state = {f"state.{k}": v for k, v in dec.state_dict().items()}
    save_fixture("MoVQGAN", "movq_decoder", {**state, "z": z, "zq": zq, "out": out}, repo=REPO,
                 commit=mirror_commit(git_dir), source="movqgan/modules/vqvae/movq_modules.py",
                 function="MOVQDecoder.forward (SpatialNorm everywhere)", notes=str(DDCONFIG))


if __name__ == "__main__":
    main()
