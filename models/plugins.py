"""Bring your own tokenizer: the plugin contract, its discovery, its checks, and the adapter to vqbench's Tokenizer.

The contract (a torch module, duck-typed; see `TokenizerPlugin`):

    codebook_size: int                       K; every code is in [0, K)
    token_grid: (h, w) or (h, w, c)          the code map of one image at `resolution`
    resolution: int                          input side H = W; images are (b, 3, H, W) in [-1, 1]
    encode(x) -> codes                       (b, h, w) or (b, h, w, c) integer codes,
              or (codes, latents)            plus the pre-quantisation latents (b, d, h, w) for latent priors
    decode(codes) -> images                  codes shaped as encode gives them -> (b, 3, H, W) in [-1, 1]
    codebook: Tensor (K, d), optional        code vectors: token replacement and latent priors' re-quantisation
    training_loss(x) -> (recon, loss), optional   (kept for a plugin's own training; vqbench evaluates the weights
                                              the builder returns)

Two ways in, both naming a builder `module:function` that returns the module (called with no arguments):
  * an installed package's entry point in the group `vqbench.tokenizers` (pyproject:
    [project.entry-points."vqbench.tokenizers"] my_tok = "my_pkg.module:build") -> `tokenizer=my_tok`;
  * code on the path: `tokenizer=plugin tokenizer.target=my_pkg.module:build`.

The builder is imported, built and run on one batch when the entry is created (plan time, before any stage), so a
bad plugin fails with one line: not importable, missing methods, wrong output shapes, codes outside the codebook.
Every record of a plugin carries its provenance: plugin name, version and the builder's source-file sha256.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from models.quantizers.base import Quantizer, QuantOutput, flat, register_quantizer
from models.tokenizer import EncodeOutput, Tokenizer, TokenizerOutput

GROUP = "vqbench.tokenizers"
PREFIX = "plugin:"  # tokenizer=plugin tokenizer.target=M:F registers the entry 'plugin:M:F'
REQUIRED = ("encode", "decode", "codebook_size", "token_grid", "resolution")


class PluginError(ValueError):
    """A plugin that cannot be used; the message is one line naming the plugin and what is wrong."""


@runtime_checkable
class TokenizerPlugin(Protocol):
    """What a plugin module offers (see the module docstring for shapes)."""

    codebook_size: int
    token_grid: tuple[int, ...]
    resolution: int

    def encode(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...

    def decode(self, codes: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class PluginConfig:
    """A plugin's model config: the builder, its provenance, and the facts the probe measured (all in the key)."""

    target: str  # module:function
    plugin: str  # the distribution (entry points) or top-level module (tokenizer.target) name
    version: str
    source_sha256: str  # sha256 of the builder's source file
    resolution: int
    downsample: int
    n_embed: int
    embed_dim: int  # latent channels d (0: the plugin gives no latents)
    channels: int  # c of the (h, w, c) code map
    code_dims: int  # 3: encode gives (b, h, w); 4: (b, h, w, c)
    params: int
    quantizer: str = "plugin"
    arg: str | None = None  # the one argument the builder is called with (a weights folder), if any
    arg_sha256: str | None = None  # sha256 over the files `arg` names (their relative names and bytes)

    def provenance(self) -> dict[str, str]:
        """The record columns that say which plugin code produced a number."""
        out = {"plugin": self.plugin, "plugin_version": self.version, "plugin_sha256": self.source_sha256,
               "plugin_target": self.target}
        return {**out, "plugin_arg": str(self.arg), "plugin_arg_sha256": str(self.arg_sha256)} if self.arg else out


def _fail(name: str, what: str) -> PluginError:
    return PluginError(f"tokenizer plugin '{name}': {' '.join(what.split())}")


def resolve_target(target: str) -> Any:
    """The builder function a `module:function` string names."""
    if not target or target == "None" or ":" not in target:
        raise _fail(target, "tokenizer=plugin needs tokenizer.target=<module>:<function> (a builder returning the "
                    "tokenizer module)")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001  any import-time failure of user code is reported the same way
        raise _fail(target, f"cannot import module '{module_name}': {type(e).__name__}: {e}") from None
    try:
        return functools.reduce(getattr, attr.split("."), module)
    except AttributeError:
        raise _fail(target, f"module '{module_name}' has no '{attr}'") from None


def _source_sha256(fn: Any) -> str:
    """sha256 of the file that defines the builder ('unknown' for builtins)."""
    try:
        path = inspect.getsourcefile(fn)
    except TypeError:
        path = None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path and Path(path).is_file() else "unknown"


def path_sha256(path: str | Path) -> str:
    """sha256 over a file, or over a folder's files (relative names and bytes, in sorted order)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        with f.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 24), b""):
                h.update(block)
    return h.hexdigest()


def _distribution(target: str, dist: str | None = None) -> tuple[str, str]:
    """(name, version) of the installed distribution that provides the builder's top-level package (or `dist`),
    else the module's own __version__."""
    if dist:
        return dist, metadata.version(dist)
    top = target.partition(":")[0].split(".")[0]
    dists = metadata.packages_distributions().get(top) or []
    if dists:
        return dists[0], metadata.version(dists[0])
    module = importlib.import_module(top)
    return top, str(getattr(module, "__version__", "unversioned"))


def build_plugin(target: str, arg: str | None = None) -> nn.Module:
    """Call the builder (with `arg` when given); a non-module result is refused."""
    fn = resolve_target(target)
    try:
        module = fn() if arg is None else fn(arg)
    except Exception as e:  # noqa: BLE001
        raise _fail(target, f"the builder raised {type(e).__name__}: {e}") from None
    if not isinstance(module, nn.Module):
        raise _fail(target, f"the builder returned {type(module).__name__}, not a torch.nn.Module")
    missing = [] if isinstance(module, TokenizerPlugin) else [m for m in REQUIRED if not hasattr(module, m)]
    if missing:
        raise _fail(target, f"{type(module).__name__} lacks {', '.join(missing)} (the contract: {', '.join(REQUIRED)}; "
                    "see models/plugins.py)")
    return module


def split_encode(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(codes, latents or None) from what a plugin's encode returned."""
    if isinstance(out, tuple | list):
        return out[0], (out[1] if len(out) > 1 else None)
    return out, None


@functools.cache
def probe(target: str, name: str | None = None, arg: str | None = None, dist: str | None = None) -> PluginConfig:
    """Build the plugin and check it on one batch: code shape, dtype and range, decode shape, latents, codebook."""
    name = name or target
    module = build_plugin(target, arg).eval()
    k, grid, res = int(module.codebook_size), tuple(int(v) for v in module.token_grid), int(module.resolution)
    if len(grid) not in (2, 3) or grid[0] != grid[1] or res % grid[0]:
        raise _fail(name, f"token_grid {grid} must be (h, w) or (h, w, c) with h == w dividing resolution {res}")
    h, w, c = (*grid, 1) if len(grid) == 2 else grid
    x = torch.rand(2, 3, res, res, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        codes, latents = split_encode(module.encode(x))
        want = (2, h, w) if len(grid) == 2 else (2, h, w, c)
        if not isinstance(codes, torch.Tensor) or tuple(codes.shape) != want or codes.is_floating_point():
            got = f"{codes.dtype} {tuple(codes.shape)}" if isinstance(codes, torch.Tensor) else type(codes).__name__
            raise _fail(name, f"encode(x of shape (2, 3, {res}, {res})) must give integer codes of shape {want}, "
                        f"got {got}")
        if codes.min() < 0 or codes.max() >= k:
            raise _fail(name, f"encode gave codes in [{int(codes.min())}, {int(codes.max())}], outside the codebook "
                        f"[0, {k})")
        recon = module.decode(codes)
        if not isinstance(recon, torch.Tensor) or tuple(recon.shape) != (2, 3, res, res):
            got = tuple(recon.shape) if isinstance(recon, torch.Tensor) else type(recon).__name__
            raise _fail(name, f"decode(codes) must give images of shape (2, 3, {res}, {res}), got {got}")
    d = 0
    if latents is not None:
        if latents.dim() != 4 or tuple(latents.shape[::2]) != (2, w) or latents.shape[2] != h:
            raise _fail(name, f"encode's latents must be (2, d, {h}, {w}), got {tuple(latents.shape)}")
        d = int(latents.shape[1])
    book = getattr(module, "codebook", None)
    if book is not None and (book.dim() != 2 or book.shape[0] != k):
        raise _fail(name, f"codebook must be ({k}, d), got {tuple(book.shape)}")
    dist, version = _distribution(target, dist)
    return PluginConfig(target=target, plugin=dist, version=version,
                        source_sha256=_source_sha256(resolve_target(target)), resolution=res, downsample=res // h,
                        n_embed=k, embed_dim=d, channels=c, code_dims=len(grid) + 1,
                        params=sum(p.numel() for p in module.parameters()), arg=arg,
                        arg_sha256=path_sha256(arg) if arg and Path(arg).exists() else None)


@register_quantizer("plugin")
class PluginQuantize(Quantizer):
    """Nearest code in the plugin's codebook (squared L2), for token replacement and latent priors' samples."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self._owner: list[nn.Module] = []  # the plugin, held outside the module tree (its weights are the plugin's)

    @classmethod
    def channels_for(cls, cfg: Any) -> int:
        return cfg.channels

    def book(self) -> torch.Tensor:
        book = getattr(self._owner[0], "codebook", None) if self._owner else None
        if book is None:
            raise ValueError("this plugin has no `codebook` (K, d) tensor: token replacement and latent priors "
                             "need one (see models/plugins.py)")
        return book

    def forward(self, z: torch.Tensor) -> QuantOutput:
        book = self.book().float()
        b, _, h, w = z.shape
        idx = torch.cdist(flat(z), book).argmin(1).view(b, h, w, 1)
        z_q = self.lookup(idx)
        return QuantOutput(z + (z_q - z).detach(), idx, F.mse_loss(z_q.detach(), z), {})

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return self.book()[indices[..., 0]].permute(0, 3, 1, 2)

    def search_space(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        if self.channels != 1:
            return super().search_space(z)
        return self.book(), flat(z), 1


class PluginTokenizer(Tokenizer):
    """A plugin behind vqbench's Tokenizer interface: codes as (b, h, w, c), latents when the plugin gives them."""

    def __init__(self, cfg: PluginConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.plugin = build_plugin(cfg.target, cfg.arg)
        self.codebook_size = cfg.n_embed
        h = cfg.resolution // cfg.downsample
        self.latent_shape = (h, h, cfg.channels)
        self.quantize = PluginQuantize(cfg.channels)
        self.quantize._owner.append(self.plugin)

    def _codes_in(self, indices: torch.Tensor) -> torch.Tensor:
        return indices[..., 0] if self.cfg.code_dims == 3 else indices

    def encode(self, x: torch.Tensor) -> EncodeOutput:
        codes, latents = split_encode(self.plugin.encode(x))
        idx = (codes[..., None] if codes.dim() == 3 else codes).long()
        if latents is None:  # no latents: an empty channel axis keeps the (b, d, h, w) layout
            latents = x.new_zeros(x.shape[0], 0, *idx.shape[1:3])
        book = getattr(self.plugin, "codebook", None)
        quantized = self.quantize.lookup(idx) if book is not None and self.cfg.channels == 1 else latents
        return EncodeOutput(idx, latents, quantized)

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        return self.plugin.decode(self._codes_in(indices).long())

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Latent priors' samples: nearest codes, then the plugin's decoder."""
        return self.decode_indices(self.quantize(z_q).indices)

    def forward(self, x: torch.Tensor) -> TokenizerOutput:
        enc = self.encode(x)
        if hasattr(self.plugin, "training_loss"):
            recon, loss = self.plugin.training_loss(x)
            return TokenizerOutput(recon, enc.indices, loss, {})
        return TokenizerOutput(self.decode_indices(enc.indices), enc.indices, x.new_zeros(()), {})

    def last_layer(self) -> torch.Tensor:
        raise NotImplementedError("plugin tokenizers are evaluated, not trained with vqbench's GAN loss")


def entry_points() -> list[metadata.EntryPoint]:
    """The installed packages' tokenizer plugins (their metadata only: nothing is imported here)."""
    return sorted(metadata.entry_points(group=GROUP), key=lambda ep: ep.name)
