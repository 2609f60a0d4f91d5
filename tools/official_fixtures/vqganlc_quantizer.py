"""VQGAN-LC fixtures from zh460045050/VQGAN-LC vqgan-gpt-lc/models/models_vq.py VQModel, imported unchanged.

Stub (documented): `models.lpips` is replaced by a module whose LPIPS is an empty nn.Module, because the shipped one
downloads VGG weights in its constructor; encode / quantize / decode never call it. The discriminator is built as
shipped, but its weights are not stored (size): the JSON lists their names and shapes (`dropped`).

Ran: VQModel.encode + VQModel.decode (tuning_codebook 0: a frozen codebook read from a file, use_cblinear 1: the
linear projector), and VQModel.quantize on fixed latents for quantizer_type 'org' with a trainable random codebook
(tuning_codebook -1; loss and gradients) and quantizer_type 'ema' (one EMA step; loss and its gradient).

Also eval_reconstruction.py's resize (`albumentations.SmallestMaxSize(max_size)`, cv2 INTER_LINEAR): albumentations and
OpenCV are not vqbench dependencies, so that part runs in a separate venv (VQBENCH_CV2_PYTHON, default
/tmp/h5_cv2venv/bin/python: `pip install opencv-python-headless albumentations`) and comes back as an .npz.

    python tools/official_fixtures/vqganlc_quantizer.py   # after `fetch github:zh460045050/VQGAN-LC`
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import types
from argparse import Namespace
from pathlib import Path

import numpy as np

try:  # the OpenCV venv (run_albumentations) has neither torch nor vqbench
    import torch

    from tools.official_fixtures.common import mirror_commit, save_fixture
    from tools.official_fixtures.snapshot_py import add_path, snapshot
except ImportError:
    if "--albumentations" not in sys.argv:
        raise

REPO = "zh460045050/VQGAN-LC"
SOURCE = "vqgan-gpt-lc/models/models_vq.py"
DDCONFIG = dict(double_z=False, z_channels=16, resolution=16, in_channels=3, out_ch=3, ch=32, ch_mult=[1],
                num_res_blocks=1, attn_resolutions=[16], dropout=0.0)


def _stub_lpips(models_dir: Path) -> None:
    """models.lpips without the download (see the module docstring). vqgan-gpt-lc/models has no __init__.py, so
    the namespace package is registered by hand (vqbench's own `models` would shadow it)."""
    pkg = types.ModuleType("models")
    vars(pkg)["__path__"] = [str(models_dir)]  # a package: submodules import from it
    sys.modules["models"] = pkg
    mod = types.ModuleType("models.lpips")

    class LPIPS(torch.nn.Module):
        """Stand-in: the training loss only; no weights, never called here."""

    mod.LPIPS = LPIPS
    sys.modules["models.lpips"] = mod


def _args(quantizer_type: str, tuning_codebook: int, n_words: int, embed_path: str = "") -> Namespace:
    return Namespace(stage=1, embed_dim=8, rate_p=1.0, rate_q=0.1, rate_d=0.1, disc_start=0,
                     quantizer_type=quantizer_type, tuning_codebook=tuning_codebook, n_vision_words=n_words,
                     local_embedding_path=embed_path, use_cblinear=1 if tuning_codebook == 0 else 0)


def model_fixture(commit: str) -> None:
    """Frozen 32 x 32 codebook from a file + Linear(32 -> 8) projector; encode and decode two 16 px images."""
    from models.models_vq import VQModel

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "codebook.pth")
        torch.save(torch.randn(32, 32), path)  # 32-d: the width of vqbench's smoke_vit codebook
        model = VQModel(_args("org", 0, 32, path), DDCONFIG, 8).eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        quant, qloss, (_, _, idx) = model.encode(x)
        recon = model.decode(quant)
    full = model.state_dict()
    kept = {f"state.{k}": v for k, v in full.items() if not k.startswith(("discriminator.", "perceptual_loss."))}
    dropped = {k: list(v.shape) for k, v in full.items() if k not in {n[6:] for n in kept}}
    save_fixture("VQGAN-LC", "vqganlc_model", {**kept, "x": x, "quant": quant, "qloss": qloss,
                                               "indices": idx.view(2, 16, 16), "recon": recon},
                 repo=REPO, commit=commit, source=SOURCE, function="VQModel.encode / VQModel.decode (eval)",
                 notes="tuning_codebook 0, use_cblinear 1, embed_dim 8; state.* = VQModel.state_dict() without the "
                       "discriminator (names and shapes in `dropped`)", extra={"dropped": dropped})


def quantize_fixture(commit: str, quantizer_type: str) -> None:
    """VQModel.quantize on fixed latents (B 2, 8 channels, 4 x 4) with a random codebook of 16; loss.backward()."""
    from models.models_vq import VQModel

    torch.manual_seed(1)
    model = VQModel(_args(quantizer_type, -1, 16), DDCONFIG, 8).train()
    with torch.no_grad():  # codes at the latents' scale so that several win (the uniform(-1/K, 1/K) init is tiny)
        codes0 = torch.randn(16, 8)
        model.tok_embeddings.weight.copy_(codes0)
        if quantizer_type == "ema":
            model.embed_avg.copy_(codes0)
    z = torch.randn(2, 8, 4, 4, requires_grad=True)
    quant, loss, (_, _, idx) = model.quantize(z)
    loss.backward()
    out = {"codes0": codes0, "z": z.detach(), "quant": quant.detach(), "loss": loss.detach(),
           "indices": idx.view(2, 4, 4), "z_grad": z.grad, "codes1": model.tok_embeddings.weight.detach().clone()}
    if quantizer_type == "ema":
        out |= {"cluster_size": model.cluster_size.detach().clone(), "embed_avg": model.embed_avg.detach().clone()}
    else:
        out["codes_grad"] = model.tok_embeddings.weight.grad
    init = VQModel(_args(quantizer_type, -1, 16), DDCONFIG, 8).tok_embeddings.weight.detach()
    out["init_example"] = init  # the random init as shipped: uniform(-1/K, 1/K)
    save_fixture("VQGAN-LC", f"quantize_{quantizer_type}", out, repo=REPO, commit=commit, source=SOURCE,
                 function=f"VQModel.quantize (quantizer_type '{quantizer_type}', tuning_codebook -1, training)",
                 notes="loss is the quantizer's qloss before the trainer's rate_q 0.1")


CV2_PY = os.environ.get("VQBENCH_CV2_PYTHON", "/tmp/h5_cv2venv/bin/python")
# (H, W, max_size): non-integer down, 2x up, exact 2x down (cv2's area-fast path), unchanged, odd sizes
RESIZE_CASES = ((33, 47, 16), (8, 12, 16), (32, 40, 16), (16, 20, 16), (61, 23, 17), (90, 120, 64), (100, 75, 77))


def resize_images() -> list[np.ndarray]:
    """Fixed uint8 images: a smooth ramp plus noise, so both interpolation weights and rounding matter."""
    rng = np.random.default_rng(0)
    out = []
    for h, w, _ in RESIZE_CASES:
        yy, xx = np.mgrid[0:h, 0:w]
        base = (yy * 7 + xx * 3)[..., None] + np.array([0, 60, 120])
        out.append(((base + rng.integers(0, 90, (h, w, 3))) % 256).astype(np.uint8))
    return out


def run_albumentations(out: str) -> None:
    """In the OpenCV venv: albumentations SmallestMaxSize (as eval_reconstruction.py builds it) on resize_images()."""
    import albumentations
    import cv2

    res = {"cv2": np.array(cv2.__version__), "albumentations": np.array(albumentations.__version__)}
    for i, (img, (_, _, size)) in enumerate(zip(resize_images(), RESIZE_CASES, strict=True)):
        res[f"resized{i}"] = albumentations.SmallestMaxSize(max_size=size)(image=img)["image"]
    np.savez(out, **res)


def resize_fixture(commit: str) -> None:
    """SmallestMaxSize outputs from the OpenCV venv, saved with their inputs."""
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "resize.npz")
        subprocess.run([CV2_PY, __file__, "--albumentations", out], check=True)
        res = dict(np.load(out))
    tensors = {}
    for i, img in enumerate(resize_images()):
        tensors[f"image{i}"] = torch.from_numpy(img)
        tensors[f"resized{i}"] = torch.from_numpy(res[f"resized{i}"])
    save_fixture("VQGAN-LC", "eval_resize", tensors, repo=REPO, commit=commit,
                 source="vqgan-gpt-lc/eval_reconstruction.py",
                 function="albumentations.SmallestMaxSize(max_size) (ImageNetDataset rescaler; cv2.INTER_LINEAR)",
                 notes="imageI (H, W, 3) uint8 -> resizedI; max sizes per case in `cases`",
                 extra={"cases": [list(c) for c in RESIZE_CASES], "cv2": str(res["cv2"]),
                        "albumentations": str(res["albumentations"])})


def main() -> None:
    src, git_dir = snapshot(REPO)
    add_path(src / "vqgan-gpt-lc")
    _stub_lpips(src / "vqgan-gpt-lc" / "models")
    commit = mirror_commit(git_dir)
    model_fixture(commit)
    quantize_fixture(commit, "org")
    quantize_fixture(commit, "ema")
    resize_fixture(commit)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--albumentations":
        run_albumentations(sys.argv[2])
    else:
        main()
