"""The interface every prior kind implements, and the registry of kinds.

A prior kind (gpt, maskgit, dit, sit, ldm) is one class: its network, how a tokenizer binds it, the training loss,
sampling, the transform between the token cache and the prior's inputs (standardise for training, undo before
decoding), and the facts other code needs (which cache it reads, the TF32 policy of its source's training script,
a memory format, the sampling facts records carry). The trainer, the sampler, the planner and the perf probe call
these methods and never switch on the kind's name.

Adding a prior architecture: one module under models/priors/ with its config, network and a `Prior` subclass
registered with `@register_kind("name")`, plus its published entry (`@register_prior`) in models/priors/registry.py,
which imports the module.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, cast

import numpy as np
import torch
from torch import nn

from bench.core.registry import Registry
from models.tokenizer import Tokenizer

TORCH_TF32 = (None, "not set (torch default: matmul off, cuDNN on); taming / VQGAN-LC main scripts set nothing")


class Prior(ABC):
    """One prior kind bound to its (resolved) entry: loss, sampling, and the latent transform in and out.

    Shapes: token inputs (b, h*w, c) int64; latent inputs (b, d, h, w) float32 in the prior's space (standardised
    or raw, `entry.latent_norm`). `sample` returns the same space; `decode` maps it to images through the tokenizer.
    """

    kind: ClassVar[str]  # the registry name (PriorEntry.kind)
    inputs: ClassVar[str]  # the token cache the prior reads: "indices" | "latents"
    config: ClassVar[type]  # the network's config dataclass (PriorEntry.model)
    network: ClassVar[type[nn.Module]]
    decoding: ClassVar[str]  # autoregressive | masked | diffusion | flow (what an analysis needs from a prior)
    # (TF32 flag, where it comes from): the source training script's choice when train.tf32 is None
    tf32: ClassVar[tuple[bool | None, str]] = TORCH_TF32
    convolutional: ClassVar[bool] = False  # train.channels_last applies to the network (the UNet)
    perf_entry: ClassVar[str]  # the registered paper-scale entry `action=perf` times for this kind
    # (format, JPEG quality, how pixels became uint8) of the files VQGAN-LC's evaluation script for this kind writes
    # its samples to before clean-fid reads them (tasks/metrics/fid_clean.py); a kind it does not evaluate: lossless
    sample_file: ClassVar[tuple[str, int | None, str]] = ("png", None, "rounded")

    def __init__(self, entry: Any) -> None:
        self.entry = entry

    def build(self) -> nn.Module:
        """The network of the entry's model config."""
        if not isinstance(self.entry.model, self.config):
            raise TypeError(f"prior {self.entry.name}: kind '{self.kind}' takes a {self.config.__name__}, got "
                            f"{type(self.entry.model).__name__}")
        return self.network(self.entry.model)

    @abstractmethod
    def bind_model(self, codebook_size: int, latent_shape: tuple[int, int, int], latent_dim: int,
                   n_classes: int) -> Any:
        """The model config fitted to a tokenizer (vocabulary / positions / channels, or latent channels / size)."""

    @abstractmethod
    def loss(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """The training loss (a scalar) of a batch of inputs `x` with class labels `y`."""

    @abstractmethod
    def sample(self, net: nn.Module, labels: torch.Tensor, latent_shape: tuple[int, int, int],
               generator: torch.Generator | None = None, use_cache: bool = True) -> tuple[torch.Tensor, int]:
        """len(labels) samples in the input space, and the network evaluations of the batch; labels are ignored by
        an unconditional prior (n_classes 0). Settings come from entry.sample / entry.process."""

    @abstractmethod
    def to_inputs(self, values: np.ndarray, info: dict[str, Any] | None) -> torch.Tensor:
        """Transform in: token-cache arrays -> training inputs (the cache's `info` holds latent statistics)."""

    @abstractmethod
    def decode(self, tokenizer: Tokenizer, samples: torch.Tensor, info: dict[str, Any] | None) -> torch.Tensor:
        """Transform out: samples -> images (b, 3, H, W) in [-1, 1] through the tokenizer."""

    @abstractmethod
    def example_inputs(self, batch: int, latent_shape: tuple[int, int, int], device: torch.device,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Random inputs of the training shape (the perf probe and the interface tests)."""

    def protocol(self) -> dict[str, Any]:
        """Kind-specific sampling facts the generation records carry."""
        return {}

    def condition(self, labels: torch.Tensor) -> torch.Tensor | None:
        """The class condition the network is given: the labels, or None for an unconditional prior."""
        return labels if self.entry.model.n_classes > 0 else None


class TokenPrior(Prior):
    """A prior over the tokenizer's index maps (GPT, MaskGIT): decoded with decode_indices."""

    inputs = "indices"

    def bind_model(self, codebook_size: int, latent_shape: tuple[int, int, int], latent_dim: int,
                   n_classes: int) -> Any:
        h, w, c = latent_shape
        return dataclasses.replace(self.entry.model, vocab_size=codebook_size, positions=h * w, channels=c,
                                   n_classes=n_classes)

    def loss(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        loss_fn = cast(Callable[..., torch.Tensor], net.loss)  # GPT / MaskGIT .loss (nn.Module hides its type)
        return loss_fn(x, self.condition(y), generator=generator)

    def to_inputs(self, values: np.ndarray, info: dict[str, Any] | None) -> torch.Tensor:
        """(N, h, w, c) indices -> (N, h*w, c) int64."""
        v = torch.from_numpy(values.astype(np.int64))
        return v.reshape(v.shape[0], -1, v.shape[-1])

    def decode(self, tokenizer: Tokenizer, samples: torch.Tensor, info: dict[str, Any] | None) -> torch.Tensor:
        h, w, c = tokenizer.latent_shape
        return tokenizer.decode_indices(samples.view(len(samples), h, w, c))

    def example_inputs(self, batch: int, latent_shape: tuple[int, int, int], device: torch.device,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        h, w, c = latent_shape
        return torch.randint(0, self.entry.model.vocab_size, (batch, h * w, c), device=device, generator=generator)


class LatentPrior(Prior):
    """A prior over pre-quantisation latents (DiT, SiT, LDM): sampled latents are de-standardised, quantised by the
    tokenizer's quantizer and decoded (VQGAN-LC Sec. 3.3). Subclasses give the process (diffusion or flow)."""

    inputs = "latents"

    _process: Any = None

    @abstractmethod
    def make_process(self) -> Any:
        """The noising process around the network (Diffusion or Flow), with its loss and samplers."""

    def process(self) -> Any:
        """make_process(), built once per Prior (the trainer calls the loss every step)."""
        if self._process is None:
            self._process = self.make_process()
        return self._process

    def bind_model(self, codebook_size: int, latent_shape: tuple[int, int, int], latent_dim: int,
                   n_classes: int) -> Any:
        return dataclasses.replace(self.entry.model, in_channels=latent_dim, n_classes=n_classes)

    def loss(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        return self.process().loss(net, x, y, generator=generator)

    def sample(self, net: nn.Module, labels: torch.Tensor, latent_shape: tuple[int, int, int],
               generator: torch.Generator | None = None, use_cache: bool = True) -> tuple[torch.Tensor, int]:
        h, w, _ = latent_shape
        n_classes = self.entry.model.n_classes
        y = labels if n_classes > 0 else torch.zeros_like(labels)  # the null class of an unconditional net
        return self.process().sample(net, (len(labels), self.entry.model.in_channels, h, w), y, n_classes, generator,
                                     self.entry.sample.steps)

    def _stats(self, info: dict[str, Any] | None, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if info is None:
            raise ValueError(f"prior {self.entry.name}: standardised latents need the cache's mean and std")
        mean = torch.tensor(info["mean"], device=device).view(1, -1, 1, 1)
        std = torch.tensor(info["std"], device=device).view(1, -1, 1, 1)
        return mean, std

    def to_inputs(self, values: np.ndarray, info: dict[str, Any] | None) -> torch.Tensor:
        """(N, d, h, w) float32, standardised per channel, or raw (entry.latent_norm 'raw': VQGAN-LC's ldm / dit /
        sit diffuse the quant_conv output as is, scale_factor 1.0)."""
        x = torch.from_numpy(values.astype(np.float32))
        if self.entry.latent_norm == "raw":
            return x
        mean, std = self._stats(info, x.device)
        return (x - mean) / std.clamp_min(1e-6)

    def from_samples(self, z: torch.Tensor, info: dict[str, Any] | None) -> torch.Tensor:
        """Undo `to_inputs`: samples in the prior's space -> the tokenizer's latent space."""
        if self.entry.latent_norm == "raw":
            return z
        mean, std = self._stats(info, z.device)
        return z * std + mean

    def decode(self, tokenizer: Tokenizer, samples: torch.Tensor, info: dict[str, Any] | None) -> torch.Tensor:
        q = tokenizer.quantize(self.from_samples(samples, info))  # quantise after sampling, then decode
        decode = cast(Callable[[torch.Tensor], torch.Tensor], tokenizer.decode)  # every tokenizer's latent decoder
        return decode(q.z_q)

    def example_inputs(self, batch: int, latent_shape: tuple[int, int, int], device: torch.device,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        h, w, _ = latent_shape
        return torch.randn(batch, self.entry.model.in_channels, h, w, device=device, generator=generator)

    def protocol(self) -> dict[str, Any]:
        p = self.entry.process
        out: dict[str, Any] = {"latent_norm": self.entry.latent_norm, "train_hflip": self.entry.hflip}
        for k in ("sampler", "atol", "rtol", "diffusion_norm", "last_step_size", "ddim_eta", "learn_sigma", "loss"):
            if hasattr(p, k):
                out[f"process_{k}"] = getattr(p, k)
        return out


PRIOR_KINDS: Registry[type[Prior]] = Registry("prior kind")


def register_kind(name: str) -> Callable[[type[Prior]], type[Prior]]:
    """Class decorator: register a Prior subclass under its kind name (and set its `kind`)."""
    def deco(cls: type[Prior]) -> type[Prior]:
        cls.kind = name
        PRIOR_KINDS.add(name, cls)
        return cls
    return deco


def prior_for(entry: Any) -> Prior:
    """The kind implementation of a prior entry."""
    return PRIOR_KINDS.get(entry.kind)(entry)
