"""Throughput benchmark (issue #16.5): `python bench/run.py action=perf` -> results/perf/perf.csv.

Times one training step of the paper-scale tokenizer (taming VQGAN f16, 1024 codes) and of each prior kind, and one
reconstruction-evaluation batch, in each numerics mode, as ratios to a reference step written the way the original
code runs it: fp32 eager, taming's order (VQModel.training_step optimizer_idx 0 = generator, then 1 = discriminator
on the detached reconstruction). Modes: fp32 (the trainer's own default path), bf16, fp16 (autocast; fp16 with a
GradScaler), fast (fp32 + channels_last + fused/foreach Adam, + torch.compile with perf.compile=true).

On a GPU everything runs at full width (perf.width=1.0). On a CPU the channel widths are scaled by perf.width
(default 0.25 for the tokenizer, a quarter of that for the priors' transformer widths) and the tokenizer runs at
perf.resolution (default 64 px); depths, codebooks and the priors' token/latent grids stay at paper scale.
peak_mem_mb: torch.cuda.max_memory_allocated on GPU; on CPU the growth of the process's resident set (psutil RSS,
sampled after every step) over its value before the component: a lower bound, since the allocator reuses memory.
"""
from __future__ import annotations

import csv
import dataclasses
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import psutil
import torch
import torch.nn.functional as F
from annotated_types import Gt

from bench.core.weights import WeightsSpec
from bench.training.loop import TorchCheckpoint, TrainLoop
from bench.training.numerics import Numerics, Timer
from bench.training.prior import _PriorStep
from bench.training.tokenizer import _TokenizerStep
from models.losses import VQLPIPSWithDiscriminator
from models.priors.registry import PRIOR_KINDS, bind, build_prior, create_prior, prior_for
from models.registry import build_tokenizer, create_entry
from models.semantic_loss import build_perceptual

COLUMNS = ["component", "mode", "device", "img_per_s", "ratio_to_reference", "peak_mem_mb", "step_s", "compile_s",
           "mem_source", "cpu_capability", "torch_version", "width", "resolution", "batch", "steps", "depth"]
MODES = ("reference", "fp32", "bf16", "fp16", "fast")
# prior kind -> the paper-scale entry timed for it (each kind names its own, models/priors: Prior.perf_entry)
PRIORS = {kind: PRIOR_KINDS.get(kind).perf_entry for kind in PRIOR_KINDS}
# field -> the multiple it must stay (heads, GroupNorm groups); the UNet's model_channels and context_dim too, or
# the LDM would run at full width while its row says reduced
_WIDTH_FIELDS = {"n_embd": 64, "hidden": 16, "ch": 32, "model_channels": 32, "context_dim": 32}


@dataclasses.dataclass(frozen=True)
class PerfOptions:
    """Sizes of the benchmark; None picks the device's default (full width on GPU, reduced on CPU)."""

    width: Annotated[float, Gt(0)] | None = None
    resolution: int | None = None
    batch: int | None = None
    steps: int = 3
    depth: int | None = None  # transformer layers of the priors; None: the paper's (CI's quick run uses 2)
    compile: bool = False
    components: tuple[str, ...] = ("tokenizer", "eval", *PRIORS)
    modes: tuple[str, ...] = MODES


def _scaled(value: int, width: float, multiple: int) -> int:
    return max(multiple, round(value * width / multiple) * multiple)


def _mode_numerics(mode: str, device: torch.device, compile_: bool) -> Numerics:
    if mode == "fast":
        return Numerics(channels_last=True, fused_optim=True, compile=compile_, cudnn_benchmark=True,
                        device_type=device.type)
    return Numerics(precision="fp32" if mode == "reference" else mode, device_type=device.type)


class _Mem:
    """Peak memory of a component: CUDA's allocator peak, or the RSS growth on CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.proc = psutil.Process()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(device)
        self.base = self.proc.memory_info().rss
        self.peak = self.base

    def sample(self) -> None:
        if not self.cuda:
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def mb(self) -> float:
        used = torch.cuda.max_memory_allocated() if self.cuda else self.peak - self.base
        return round(used / 2**20, 1)


def _time(step: Callable[[int], None], steps: int, mem: _Mem) -> tuple[float, float]:
    """(median step seconds over `steps` timed steps, first-step overhead = compile/warm-up seconds)."""
    times = []
    for i in range(steps + 1):
        with Timer() as t:
            step(i)
        mem.sample()
        times.append(t.seconds)
    med = statistics.median(times[1:])
    return med, max(0.0, times[0] - med)


def _tokenizer_parts(opts: PerfOptions, width: float, resolution: int, device: torch.device,
                     num: Numerics) -> tuple[Any, torch.nn.Module, VQLPIPSWithDiscriminator]:
    """The paper VQGAN f16-1024 at `width` and `resolution`, with its loss (GAN on from step 0)."""
    e = create_entry("vqgan_f16_1024", "paper")
    model_cfg = dataclasses.replace(e.model, resolution=resolution, ch=_scaled(e.model.ch, width, 32),
                                    attn_resolutions=(resolution // 16,))
    loss_cfg = dataclasses.replace(e.loss, disc_start=0, disc_ndf=max(8, int(e.loss.disc_ndf * width)))
    e = dataclasses.replace(e, model=model_cfg, loss=loss_cfg)
    torch.manual_seed(0)
    model = build_tokenizer(e).to(device)
    perceptual, _ = build_perceptual(e.loss, WeightsSpec("random", 0))
    crit = VQLPIPSWithDiscriminator(e.loss, perceptual, resolution).to(device)
    return e, model, crit


def _reference_tokenizer_step(model, crit, opt_g, opt_d, x: torch.Tensor) -> None:
    """taming VQModel.training_step, fp32 eager: optimizer_idx 0 (generator), then 1 (discriminator)."""
    out = model(x)
    g_loss, _ = crit.generator_loss(x, out.recon, out.qloss, 0, model.last_layer())
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    d_loss, _ = crit.discriminator_loss(x, model(x).recon.detach(), 0)
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()


def _tokenizer_step(opts, width, resolution, batch, device, mode, tmp: Path) -> Callable[[int], None]:
    num = _mode_numerics(mode, device, opts.compile)
    e, model, crit = _tokenizer_parts(opts, width, resolution, device, num)
    x = torch.rand(batch, 3, resolution, resolution, device=device) * 2 - 1
    if mode == "reference":
        cfg = e.train
        opt_g = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        opt_d = torch.optim.Adam(crit.discriminator.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        return lambda i: _reference_tokenizer_step(model, crit, opt_g, opt_d, x)
    t = _TokenizerStep(e, e.train, model, crit, device, 1, 10**9, num)
    loop = TrainLoop(tmp, 10**9, 10**9, "perf", TorchCheckpoint(tmp / "ckpt.pt", device), t.state, lead=False)
    return lambda i: t.step(loop, i, {"image": x, "n_corrupt": 0})


def _eval_step(opts, width, resolution, batch, device, mode, tmp: Path) -> Callable[[int], None]:
    """One reconstruction-evaluation batch: the tokenizer's forward in the mode, PSNR and LPIPS in fp32."""
    num = _mode_numerics(mode, device, opts.compile)
    _, model, crit = _tokenizer_parts(opts, width, resolution, device, num)
    model.eval()
    net = num.compiled(num.memory_format(model))
    x = num.images(torch.rand(batch, 3, resolution, resolution, device=device) * 2 - 1)

    @torch.no_grad()
    def step(i: int) -> None:
        with num.autocast():
            recon = net(x).recon
        recon = recon.float().clamp(-1, 1)  # metrics in fp32 on the clamped output, as tasks/reconstruction.py
        mse = F.mse_loss((recon + 1) / 2, (x + 1) / 2, reduction="none").flatten(1).mean(1)
        (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).sum().item()
        crit.perceptual(x, recon).sum().item()
    return step


def perf_prior_entry(kind: str, width: float, depth: int | None) -> Any:
    """The paper-scale prior of `kind` with its widths scaled by `width` (and its layers cut to `depth`), bound."""
    p = create_prior(PRIORS[kind], "paper")
    m = p.model
    changes = {f: _scaled(getattr(m, f), width, mult) for f, mult in _WIDTH_FIELDS.items() if hasattr(m, f)}
    if depth is not None:
        changes.update({f: depth for f in ("n_layer", "depth") if hasattr(m, f)})
    p = dataclasses.replace(p, model=dataclasses.replace(m, **changes))
    # VQGAN-LC / MoVQ token grids at paper scale: 16x16 positions (x the entry's code channels: 4 for MoVQ), 8-d
    # latents for DiT/SiT/LDM
    return bind(p, 1024, _perf_grid(p), 8, getattr(p.model, "n_classes", 0))


def _perf_grid(entry: Any) -> tuple[int, int, int]:
    """The paper-scale token / latent grid of the probe: 16 x 16, with the entry's own code channels."""
    return 16, 16, getattr(entry.model, "channels", 1)


def _prior_step(kind: str, opts, width, batch, device, mode, tmp: Path) -> Callable[[int], None]:
    num = _mode_numerics(mode, device, opts.compile)
    p = perf_prior_entry(kind, width, opts.depth)
    torch.manual_seed(0)
    model = build_prior(p).to(device)
    s = _PriorStep(p, model, device, tmp, num)
    x = prior_for(p).example_inputs(batch, _perf_grid(p), device)
    y = torch.zeros(batch, dtype=torch.long, device=device)
    loop = TrainLoop(tmp, 10**9, 10**9, "perf", s.store, s.state, lead=False)
    if mode == "reference":  # the plain AdamW step of the priors' official trainers, fp32 eager
        return lambda i: s.backward_step(s.objective(model, x, y))
    return lambda i: s.step(loop, i, x, y)


def _make(comp: str, mode: str, opts: PerfOptions, width: float, resolution: int, batch: int,
          device: torch.device, tmp: Path) -> Callable[[int], None]:
    if comp == "tokenizer":
        return _tokenizer_step(opts, width, resolution, batch, device, mode, tmp)
    if comp == "eval":
        return _eval_step(opts, width, resolution, batch, device, "fp32" if mode == "reference" else mode, tmp)
    return _prior_step(comp, opts, width, batch, device, mode, tmp)


def run_perf(opts: PerfOptions, device: torch.device, out_csv: Path, tmp: Path) -> list[dict[str, Any]]:
    """Time every component in every mode; write out_csv; the rows."""
    cuda = device.type == "cuda"
    width = opts.width if opts.width is not None else (1.0 if cuda else 0.25)
    prior_width = width if cuda or opts.width is not None else width / 4
    resolution = opts.resolution or (256 if cuda else 64)
    batch = opts.batch or (8 if cuda else 2)
    tmp.mkdir(parents=True, exist_ok=True)
    prov = {"device": torch.cuda.get_device_name(device) if cuda else "cpu",
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch_version": torch.__version__,
            "mem_source": "cuda.max_memory_allocated" if cuda else "psutil RSS growth (lower bound)",
            "resolution": resolution, "batch": batch, "steps": opts.steps, "depth": opts.depth or "paper"}
    rows = []
    for comp in opts.components:
        if comp not in ("tokenizer", "eval", *PRIORS):
            raise ValueError(f"unknown perf component '{comp}'; expected tokenizer, eval or one of {sorted(PRIORS)}")
        w = prior_width if comp in PRIORS else width
        ref = None
        for mode in ("reference", *[m for m in opts.modes if m != "reference"]):
            if comp == "eval" and mode == "fp32":
                continue  # the evaluation's reference is the fp32 eager forward itself
            mem = _Mem(device)
            with _mode_numerics(mode, device, opts.compile).backends():
                step_s, first_extra = _time(_make(comp, mode, opts, w, resolution, batch, device, tmp), opts.steps,
                                            mem)
            ips = batch / step_s
            ref = ips if mode == "reference" else ref
            rows.append({**prov, "component": comp, "mode": mode, "img_per_s": round(ips, 3),
                         "ratio_to_reference": round(ips / ref, 3), "peak_mem_mb": mem.mb(),
                         "step_s": round(step_s, 4),
                         "compile_s": round(first_extra, 3) if mode == "fast" and opts.compile else "", "width": w})
            print(f"perf {comp:9s} {mode:9s} {ips:9.3f} img/s  x{rows[-1]['ratio_to_reference']}", flush=True)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows
