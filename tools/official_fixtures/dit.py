"""Fixtures from facebookresearch/DiT, run unchanged on the CPU: the 2-D sin-cos position embedding, a tiny DiT's
forward, the training loss (MSE + VLB, learned-range variance) and a 4-step ancestral sampler with and without
classifier-free guidance, with every noise draw recorded.

Run from the repository root:  python -m tools.official_fixtures.dit [--mirror /work/.mirror/facebookresearch+DiT/repo]
The mirror is the bare git dir the `fetch` tool gives; its HEAD is exported to a temporary folder and put on sys.path.
Stubs: none. DiT's models.py needs timm (installed); the diffusion package is pure torch. The only intervention is
torch.randn_like, wrapped during sampling to record the draws of gaussian_diffusion.py p_sample (they come from a
seeded generator; the official code consumes them unchanged)."""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from tools.official_fixtures.common import mirror_commit, save_fixture

REPO, DIR = "facebookresearch/DiT", "DiT"
TINY = dict(input_size=8, patch_size=2, in_channels=4, hidden_size=32, depth=2, num_heads=2, num_classes=10,
            class_dropout_prob=0.1, learn_sigma=True)


def checkout(git_dir: str) -> Path:
    """Export the mirror's HEAD (readable files only) to a temporary folder."""
    out = Path(tempfile.mkdtemp(prefix="official_"))
    names = subprocess.run(["git", f"--git-dir={git_dir}", "ls-tree", "-r", "--name-only", "HEAD"], check=True,
                           capture_output=True, text=True).stdout.split("\n")
    for name in filter(lambda n: n.endswith(".py"), names):
        blob = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"HEAD:{name}"], capture_output=True)
        if blob.returncode == 0:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(blob.stdout)
    return out


def tiny_model(models) -> torch.nn.Module:
    """A seeded tiny DiT; every trainable weight is perturbed so the zero-initialised adaLN paths are exercised."""
    torch.manual_seed(0)
    model = models.DiT(**TINY)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    return model.eval()


class Recorder:
    """torch.randn_like drawing from a seeded generator and keeping every draw."""

    def __init__(self, seed: int) -> None:
        self.gen, self.draws, self.orig = torch.Generator().manual_seed(seed), [], torch.randn_like

    def __call__(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        out = torch.randn(x.shape, generator=self.gen, dtype=x.dtype)
        self.draws.append(out)
        return out

    def __enter__(self) -> Recorder:
        torch.randn_like = self
        return self

    def __exit__(self, *exc) -> None:
        torch.randn_like = self.orig


def main(mirror: str) -> None:
    commit = mirror_commit(mirror)
    sys.path.insert(0, str(checkout(mirror)))
    from diffusion import create_diffusion

    import models  # DiT models.py

    meta = dict(repo=REPO, commit=commit)
    pos = torch.from_numpy(models.get_2d_sincos_pos_embed(16, 4)).float()
    save_fixture(DIR, "pos_embed", {"pos_embed": pos}, source="models.py", function="get_2d_sincos_pos_embed",
                 notes="embed_dim 16, grid 4 (float64 in numpy, saved as float32)", **meta)

    model = tiny_model(models)
    state = {f"state.{k}": v for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, 8, 8, generator=g)
    t, y = torch.tensor([0, 17, 999]), torch.tensor([1, 7, 10])  # label 10: the null class row
    with torch.no_grad():
        out = model(x, t, y)
    save_fixture(DIR, "forward", {**state, "x": x, "t": t, "y": y, "out": out}, source="models.py",
                 function="DiT.forward", notes=f"DiT({TINY}), seed 0, weights + 0.05 N(0,1); eval mode", **meta)

    diffusion = create_diffusion(timestep_respacing="")  # train.py: MSE + VLB, learned range, 1000 linear steps
    x0 = torch.rand(4, 4, 8, 8, generator=g) * 2 - 1
    t, y, noise = torch.tensor([0, 1, 500, 999]), torch.tensor([0, 3, 9, 2]), torch.randn(4, 4, 8, 8, generator=g)
    with torch.no_grad():
        terms = diffusion.training_losses(model, x0, t, dict(y=y), noise=noise)
    save_fixture(DIR, "loss", {"x0": x0, "t": t, "y": y, "noise": noise, "loss": terms["loss"], "mse": terms["mse"],
                               "vb": terms["vb"]}, source="diffusion/gaussian_diffusion.py",
                 function="GaussianDiffusion.training_losses", notes="create_diffusion(''), weights of 'forward'",
                 **meta)

    sampler = create_diffusion(timestep_respacing="4")
    z, y = torch.randn(2, 4, 8, 8, generator=g), torch.tensor([3, 8])
    with torch.no_grad(), Recorder(2) as rec:
        plain = sampler.p_sample_loop(model.forward, z.shape, z, clip_denoised=False, model_kwargs=dict(y=y),
                                      progress=False, device=torch.device("cpu"))
    draws = torch.stack(rec.draws)
    with torch.no_grad(), Recorder(2) as rec:  # sample.py: z doubled, null labels, forward_with_cfg
        both = sampler.p_sample_loop(model.forward_with_cfg, (4, 4, 8, 8), torch.cat([z, z]), clip_denoised=False,
                                     model_kwargs=dict(y=torch.cat([y, torch.full_like(y, 10)]), cfg_scale=4.0),
                                     progress=False, device=torch.device("cpu"))
    save_fixture(DIR, "sample", {"z": z, "y": y, "draws": draws, "out": plain, "cfg_draws": torch.stack(rec.draws),
                                 "cfg_out": both[:2]}, source="diffusion/gaussian_diffusion.py",
                 function="GaussianDiffusion.p_sample_loop (+ models.py DiT.forward_with_cfg, sample.py)",
                 notes="create_diffusion('4'), clip_denoised False; draws[i] is p_sample's randn_like at pass i "
                       "(the last is multiplied by the t == 0 mask); cfg: scale 4.0, guided channels 0-2, the "
                       "first half of the doubled batch", **meta)
    print("DiT fixtures written at", commit)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", default="/work/.mirror/facebookresearch+DiT/repo")
    main(ap.parse_args().mirror)
