"""Numerics and speed options of a training run (issue #16.1, #16.2): precision, TF32, channels_last, the Adam
implementation, torch.compile, cudnn.benchmark. Defaults reproduce the papers' fp32 eager training exactly.

- precision: fp32 (default; taming, VQGAN-LC, MoVQ, DiT and SiT train in fp32) | bf16 | fp16 (with a GradScaler),
  through torch.autocast around the forward passes. Quantisers (models/quantizers/base.py fp32_forward), the
  adaptive GAN weight (models/losses.py) and every metric stay fp32.
- tf32: None follows the source's training script: DiT and SiT train.py set
  `torch.backends.cuda.matmul.allow_tf32 = True` and `torch.backends.cudnn.allow_tf32 = True`; taming and VQGAN-LC
  set nothing (torch's default: matmul off, cuDNN on). True/False force both flags. CUDA only.
- fused_optim: Adam/AdamW with fused=True on CUDA, foreach=True on CPU (the same update, fewer kernels).
- channels_last, compile, cudnn_benchmark: memory format of the convolutional networks, torch.compile of the
  networks (its time is reported separately), cuDNN autotuning for the fixed training shapes (CUDA only).
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from models.priors.base import TORCH_TF32
from models.priors.registry import PRIOR_KINDS

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# Training scripts that set TF32 themselves say so in their prior kind (models/priors: Prior.tf32, with the source);
# everything else leaves torch's default.
TORCH_DEFAULT = TORCH_TF32[1]
COMPILE_BACKEND = "inductor"  # tests switch this to "eager" to check the wiring without a C++ toolchain


@dataclass(frozen=True)
class Numerics:
    """The resolved options of one run on one device."""

    precision: str = "fp32"
    tf32: bool | None = None  # None: torch's default (not set)
    tf32_source: str = TORCH_DEFAULT
    channels_last: bool = False
    fused_optim: bool = False
    compile: bool = False
    cudnn_benchmark: bool = False
    device_type: str = "cpu"

    @classmethod
    def from_train(cls, cfg: Any, device: torch.device,
                   source_tf32: tuple[bool | None, str] | str | None = None) -> Numerics:
        """From a TrainConfig / PriorTrain; `source_tf32` is the source script's TF32 choice and where it comes from
        (Prior.tf32), or a prior kind's name to look it up; None: torch's default."""
        tf32, source = getattr(cfg, "tf32", None), "train.tf32 (override)"
        if isinstance(source_tf32, str):
            source_tf32 = PRIOR_KINDS.get(source_tf32).tf32
        if tf32 is None:
            tf32, source = source_tf32 or TORCH_TF32
        return cls(precision=getattr(cfg, "precision", "fp32"), tf32=tf32, tf32_source=source,
                   channels_last=getattr(cfg, "channels_last", False), fused_optim=getattr(cfg, "fused_optim", False),
                   compile=getattr(cfg, "compile", False), cudnn_benchmark=getattr(cfg, "cudnn_benchmark", False),
                   device_type=device.type)

    def autocast(self) -> contextlib.AbstractContextManager:
        """torch.autocast at the run's precision; a null context at fp32 (the exact old path)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=DTYPES[self.precision])

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A GradScaler for fp16 (bf16 has fp32's exponent range and needs none)."""
        return torch.amp.GradScaler(self.device_type) if self.precision == "fp16" else None

    @contextlib.contextmanager
    def backends(self) -> Iterator[None]:
        """Set the TF32 and cudnn.benchmark flags for the run, and restore them after (they are process-global)."""
        saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
        try:
            if self.tf32 is not None:
                torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = self.tf32
            if self.cudnn_benchmark and self.device_type == "cuda":
                torch.backends.cudnn.benchmark = True
            yield
        finally:
            (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.backends.cudnn.benchmark) = saved

    def optimizer(self, cls: type[torch.optim.Optimizer], params: Iterable[torch.nn.Parameter],
                  **kwargs: Any) -> torch.optim.Optimizer:
        """Adam/AdamW as configured: fused on CUDA, foreach on CPU when fused_optim, else torch's default."""
        if self.fused_optim:
            kwargs.update({"fused": True} if self.device_type == "cuda" else {"foreach": True})
        return cls(params, **kwargs)

    def memory_format(self, module: torch.nn.Module) -> torch.nn.Module:
        """channels_last for a convolutional network (no-op when off)."""
        return module.to(memory_format=torch.channels_last) if self.channels_last else module

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """An input batch in the networks' memory format."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def compiled(self, module: torch.nn.Module) -> torch.nn.Module:
        """Compile the module's __call__ in place when compile is on (nn.Module.compile): calls from inside its own
        methods (a prior's loss() calling self()) are compiled too, and the state dict keys stay unchanged."""
        if self.compile:
            module.compile(backend=COMPILE_BACKEND)
        return module

    def record(self) -> dict[str, Any]:
        """The options as summary / record fields."""
        return {"precision": self.precision, "tf32": "not set" if self.tf32 is None else self.tf32,
                "tf32_source": self.tf32_source, "channels_last": self.channels_last,
                "fused_optim": self.fused_optim, "compile": self.compile, "cudnn_benchmark": self.cudnn_benchmark}


class Timer:
    """Wall time of a block (synchronising CUDA first, so queued kernels are counted)."""

    def __enter__(self) -> Timer:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.t0
