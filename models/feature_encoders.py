"""Frozen image encoders whose patch features seed VQGAN-LC's codebook (Zhu et al. 2024, Sec. 3.2 and Table 6).

Every encoder maps images in [-1, 1] to a 4 x 4 grid of D-dim patch features per image:
CLIP preprocessing (bicubic resize to the encoder's input size, CLIP mean/std), patch tokens after
ln_post and the visual projection (ViTs; 768-d for ViT-L/14), then average pooling to 4 x 4 (for ViT-L/14
at 224 px that is exactly 4 x 4 pooling of the 16 x 16 token grid, as the paper states). ResNet-50 uses its
last feature map with the attention pool's value and output projections applied per position (linear, so
they commute with the average pooling) - an unpublished detail, documented here.

Paper scale builds the model with open_clip and loads a local weights file (never downloaded); smoke scale
builds a tiny seeded open_clip VisionTransformer and runs the same feature code.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bench.core.registry import Registry

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
GRID = 4  # features per image: GRID x GRID


@dataclass(frozen=True)
class FeatureEncoderSpec:
    """An encoder: the open_clip model name, its feature dim, input size, and the weights file it needs."""

    name: str
    open_clip_name: str | None  # None: the seeded smoke ViT
    dim: int
    image_size: int
    weights_file: str | None
    description: str


FEATURE_ENCODERS: Registry[FeatureEncoderSpec] = Registry("feature encoder")
for _spec in (
    FeatureEncoderSpec("clip_vit_l14", "ViT-L-14", 768, 224, "open_clip_ViT-L-14_openai.bin",
                       "CLIP ViT-L/14 (OpenAI weights): the paper's default (Table 6 row 5)"),
    FeatureEncoderSpec("clip_vit_b16", "ViT-B-16", 512, 224, "open_clip_ViT-B-16_openai.bin",
                       "CLIP ViT-B/16 (Table 6 'ViT-B'; the patch size is unpublished, /16 is our default)"),
    FeatureEncoderSpec("clip_rn50", "RN50", 1024, 224, "open_clip_RN50_openai.bin",
                       "CLIP ResNet-50 (Table 6 'ResNet-50')"),
    FeatureEncoderSpec("smoke_vit", None, 32, 32, None,
                       "seeded random tiny ViT (patch 2, width 64, 2 layers): smoke scale only"),
):
    FEATURE_ENCODERS.add(_spec.name, _spec)


class MissingEncoderWeightsError(FileNotFoundError):
    """The codebook encoder's weights file is missing; the message says where to put it."""


def encoder_weights_path(spec: FeatureEncoderSpec, weights_dir: str | None) -> Path:
    """Where the encoder's weights must be: `weights_dir/<file>` or the torch hub cache, else a clear error."""
    candidates = ([Path(weights_dir).expanduser() / spec.weights_file] if weights_dir else [])
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / spec.weights_file)
    for path in candidates:
        if path.is_file():
            return path
    raise MissingEncoderWeightsError(
        f"VQGAN-LC codebook encoder '{spec.name}' needs its open_clip weights file '{spec.weights_file}' "
        f"(the state dict open_clip loads for {spec.open_clip_name} 'openai'). Put it at one of: "
        + ", ".join(str(c) for c in candidates)
        + ". vqbench never downloads weights; at smoke scale the seeded 'smoke_vit' encoder is used instead.")


class PatchFeatureEncoder(nn.Module):
    """Images in [-1, 1] (B, 3, H, W) -> patch features (B * GRID * GRID, D), frozen."""

    def __init__(self, spec: FeatureEncoderSpec, visual: nn.Module) -> None:
        super().__init__()
        self.spec, self.visual = spec, visual.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spec.image_size
        x = (x + 1) / 2
        if x.shape[-1] != s or x.shape[-2] != s:
            x = F.interpolate(x, size=(s, s), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.preprocess(x)
        v = self.visual
        if hasattr(v, "attnpool"):  # CLIP ModifiedResNet
            f = v.layer4(v.layer3(v.layer2(v.layer1(v.stem(x)))))
            f = F.adaptive_avg_pool2d(f, GRID).flatten(2).transpose(1, 2)  # (B, 16, 2048)
            f = v.attnpool.c_proj(v.attnpool.v_proj(f))  # per-position value + output projection
        else:  # CLIP VisionTransformer: tokens after ln_post, through the visual projection
            t = v.transformer(v._embeds(x))
            _, tokens = v._pool(t)
            if v.proj is not None:
                tokens = tokens @ v.proj
            g = v.grid_size[0]
            f = tokens.transpose(1, 2).reshape(x.shape[0], -1, g, g)
            f = F.adaptive_avg_pool2d(f, GRID).flatten(2).transpose(1, 2)
        return f.reshape(-1, f.shape[-1]).float()


def build_feature_encoder(name: str, weights: str, seed: int = 0,
                          weights_dir: str | None = None) -> PatchFeatureEncoder:
    """The named encoder; weights='pretrained' loads the local open_clip file, 'random' seeds it (labelled so)."""
    import open_clip  # heavy import, only for the codebook stage

    spec = FEATURE_ENCODERS.get(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if spec.open_clip_name is None:
            visual = open_clip.transformer.VisionTransformer(
                image_size=spec.image_size, patch_size=2, width=64, layers=2, heads=2, mlp_ratio=2.0,
                output_dim=spec.dim)
        else:
            model = open_clip.create_model(spec.open_clip_name, pretrained=None)
            if weights == "pretrained":
                open_clip.load_checkpoint(model, str(encoder_weights_path(spec, weights_dir)))
            visual = model.visual
    return PatchFeatureEncoder(spec, visual)
