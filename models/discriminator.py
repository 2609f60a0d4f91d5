"""Discriminators: taming's PatchGAN (NLayerDiscriminator, Isola et al. 2017) and MaskGIT's StyleGAN one."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class NLayerDiscriminator(nn.Module):
    """(b, 3, H, W) -> (b, 1, h', w') patch logits; n_layers stride-2 stages then two stride-1 convs."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=False),
                       nn.BatchNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.main = nn.Sequential(*layers)
        self.apply(_weights_init)

    def forward(self, x):
        return self.main(x)


def _weights_init(m: nn.Module) -> None:
    """DCGAN init used by taming: conv N(0, 0.02); BatchNorm weight N(1, 0.02), bias 0."""
    if isinstance(m, nn.Conv2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class BlurPool(nn.Module):
    """Depthwise [1, 3, 3, 1] blur then stride 2 (Zhang 2019), 'SAME' padding as MaskGIT's BlurPool2D."""

    def __init__(self) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        kernel = taps[:, None] * taps[None, :]
        self.register_buffer("kernel", (kernel / kernel.sum())[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        x = F.pad(x, (1, 2, 1, 2))  # TF 'SAME' for a 4-tap filter at stride 2 pads 1 before, 2 after
        return F.conv2d(x, self.kernel.expand(c, 1, 4, 4), stride=2, groups=c)


class StyleResBlock(nn.Module):
    """MaskGIT / StyleGAN2 discriminator block: conv-act, blur-downsample, conv-act, plus a 1x1 residual, / sqrt 2."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_in, 3, padding=1), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.blur = BlurPool()
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.conv2(self.blur(self.act(self.conv1(x)))))
        return (self.skip(self.blur(x)) + h) / math.sqrt(2)


class StyleGANDiscriminator(nn.Module):
    """MaskGIT's VQGAN discriminator (google-research/maskgit maskgit/nets/discriminator.py): (b, 3, R, R) -> (b, 1).

    Width per resolution as its `filters` table (512 up to 32 px, then 256/128/64 x channel_multiplier), residual
    blocks down to 4x4, two dense layers; Xavier-uniform init; no normalisation (R1 needs per-sample gradients).
    """

    def __init__(self, image_size: int, channel_multiplier: int = 1, max_width: int = 512) -> None:
        super().__init__()
        if image_size < 8 or image_size & (image_size - 1):
            raise ValueError(f"StyleGAN discriminator needs a power-of-two image size >= 8, got {image_size}")
        width = {r: min(max_width, 512 if r <= 32 else (64 * 256 // r) * channel_multiplier)
                 for r in (2 ** k for k in range(2, int(math.log2(image_size)) + 1))}
        self.stem = nn.Conv2d(3, width[image_size], 3, padding=1)
        self.blocks = nn.Sequential(*[StyleResBlock(width[r], width[r // 2])
                                      for r in (2 ** k for k in range(int(math.log2(image_size)), 2, -1))])
        self.final = nn.Conv2d(width[4], width[4], 3, padding=1)
        self.dense = nn.Linear(width[4] * 16, width[4])
        self.out = nn.Linear(width[4], 1)
        self.act = nn.LeakyReLU(0.2)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.act(self.stem(x)))
        h = self.act(self.final(h)).flatten(1)
        return self.out(self.act(self.dense(h)))
