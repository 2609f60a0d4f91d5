"""vqbench's own artifacts without pickle: `<name>.safetensors` (every tensor) plus `<name>.json` (everything else).

A stage's output (tokenizer, prior, codebook, reference features) and a trainer's resume checkpoint are nested
structures of dicts, lists, tuples, numbers, strings, tensors and RNG states. `save_artifact` splits one into

- `<name>.safetensors`: every tensor under a stable flattened name ("state_dict/encoder.conv_in.weight",
  "opt/state/0/exp_avg"), read with safetensors (no code runs on load);
- `<name>.json`: the structure with each tensor replaced by {"__tensor__": name}; tuples, dicts with non-string
  keys (an optimiser's int parameter ids), OrderedDicts (a state_dict, with its `_metadata`), bytes, numpy arrays
  (numpy's RNG state) and non-finite floats are tagged, so `load_artifact` rebuilds the same nested structure
  (types included).

Both files are written atomically (bench/core/atomic.py). The JSON carries the sha256 of its own tree and the
safetensors header carries the same value, so a pair torn by a kill between the two renames is refused as damaged
(ArtifactError, a ValueError) rather than read half old, half new. Tensors that share storage (tied weights) are
stored once when they are the same view, otherwise as contiguous copies; safetensors refuses shared storage.

    save_artifact(out / "tokenizer.safetensors", {"entry": entry.to_dict(), "state_dict": model.state_dict()})
    state = load_artifact(out / "tokenizer.safetensors")          # the same dict back
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.core.atomic import atomic_path

FORMAT = "vqbench-artifact"
VERSION = 1
SUFFIX = ".safetensors"
_TAGS = ("__tensor__", "__tuple__", "__dict__", "__odict__", "__bytes__", "__ndarray__", "__float__")


class ArtifactError(ValueError):
    """An artifact pair is missing, truncated, garbled or torn (its two files from different writes)."""


def artifact_path(path: str | Path) -> Path:
    """The `.safetensors` file of an artifact named by either of its files or by its name ('ckpt.pt' -> ckpt)."""
    path = Path(path)
    return path if path.suffix == SUFFIX else path.with_suffix(SUFFIX)


def metadata_path(path: str | Path) -> Path:
    """The `.json` file beside an artifact's `.safetensors` file."""
    return artifact_path(path).with_suffix(".json")


def artifact_files(path: str | Path) -> list[Path]:
    """Both files of an artifact (weights first)."""
    return [artifact_path(path), metadata_path(path)]


def legacy_path(path: str | Path) -> Path:
    """The torch file an older vqbench wrote in the artifact's place (tokenizer.pt, ckpt.pt, ...)."""
    return artifact_path(path).with_suffix(".pt")


def artifact_exists(path: str | Path) -> bool:
    """Whether either file of the artifact (or its legacy torch file) is there (a lone file of the pair is a damaged
    artifact, not a missing one)."""
    return any(p.is_file() for p in [*artifact_files(path), legacy_path(path)])


def is_artifact(path: str | Path) -> bool:
    """Whether `path` is (either file of) a vqbench artifact: a safetensors file whose header names this format."""
    st = artifact_path(path)
    if Path(path).suffix not in (SUFFIX, ".json") or not st.is_file():  # 'last.pt' is never its neighbour's pair
        return False
    try:
        return _header_metadata(st).get("format_vqbench") == FORMAT
    except ArtifactError:
        return False


class _Encoder:
    """Walks a nested structure: tensors go to a flat dict, the rest becomes tagged JSON."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self._views: dict[tuple[Any, ...], str] = {}  # (storage, offset, shape, stride, dtype) -> stored name
        self._storages: set[tuple[Any, int]] = set()  # (device, pointer) of every storage stored

    def encode(self, obj: Any, name: str) -> Any:
        if isinstance(obj, torch.Tensor):
            return {"__tensor__": self._tensor(obj, name)}
        if isinstance(obj, np.ndarray):
            return {"__ndarray__": {"dtype": obj.dtype.str, "shape": list(obj.shape),
                                    "data": base64.b64encode(np.ascontiguousarray(obj).tobytes()).decode()}}
        if isinstance(obj, np.generic):
            return self.encode(obj.item(), name)
        if obj is None or isinstance(obj, (bool, int, str)):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"__float__": repr(obj)}
        if isinstance(obj, bytes):
            return {"__bytes__": base64.b64encode(obj).decode()}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, f"{name}/{i}") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, f"{name}/{i}") for i, v in enumerate(obj)]
        if isinstance(obj, OrderedDict):  # a module's state_dict: its `_metadata` (module versions) rides along
            pairs = [[self.encode(k, f"{name}/key"), self.encode(v, f"{name}/{k}")] for k, v in obj.items()]
            return {"__odict__": {"items": pairs, "metadata": self.encode(getattr(obj, "_metadata", None), name)}}
        if isinstance(obj, dict):
            if all(isinstance(k, str) and k not in _TAGS for k in obj):
                return {k: self.encode(v, f"{name}/{k}") for k, v in obj.items()}
            pairs = [[self.encode(k, f"{name}/key"), self.encode(v, f"{name}/{k}")] for k, v in obj.items()]
            return {"__dict__": pairs}
        raise TypeError(f"cannot store {type(obj).__name__} at '{name.lstrip('/')}' in an artifact (tensors, numpy "
                        "arrays, numbers, strings, bytes, None and lists / tuples / dicts of them)")

    def _tensor(self, t: torch.Tensor, name: str) -> str:
        """Store `t` under a unique name; the same view of the same storage (tied weights) is stored once."""
        t = t.detach()
        storage = t.untyped_storage()
        view = (storage.data_ptr(), t.device, t.storage_offset(), tuple(t.shape), t.stride(), t.dtype)
        if storage.nbytes() and view in self._views:
            return self._views[view]
        name = name.lstrip("/") or "tensor"
        while name in self.tensors:  # a key holding '/' could spell another path's name
            name += "#"
        whole = t.is_contiguous() and t.storage_offset() == 0 and storage.nbytes() == t.numel() * t.element_size()
        if not whole or (t.device, storage.data_ptr()) in self._storages:  # safetensors refuses views, shared storage
            t = t.clone(memory_format=torch.contiguous_format)
        if storage.nbytes():
            self._views[view] = name
            self._storages.add((t.device, storage.data_ptr()))
        self.tensors[name] = t
        return name


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of _Encoder.encode."""
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (tag, v), = obj.items()
        if tag == "__tensor__":
            return tensors[v]
        if tag == "__tuple__":
            return tuple(_decode(x, tensors) for x in v)
        if tag == "__dict__":
            return {_decode(k, tensors): _decode(x, tensors) for k, x in v}
        if tag == "__odict__":
            od = OrderedDict((_decode(k, tensors), _decode(x, tensors)) for k, x in v["items"])
            if v["metadata"] is not None:
                od._metadata = _decode(v["metadata"], tensors)  # type: ignore[attr-defined]  # as torch.save keeps it
            return od
        if tag == "__bytes__":
            return base64.b64decode(v)
        if tag == "__float__":
            return float(v)
        if tag == "__ndarray__":
            return np.frombuffer(base64.b64decode(v["data"]), dtype=np.dtype(v["dtype"])).reshape(v["shape"]).copy()
    return {k: _decode(v, tensors) for k, v in obj.items()}


def save_artifact(path: str | Path, obj: Any, fsync: bool = False) -> list[Path]:
    """Write `obj` as `<name>.safetensors` + `<name>.json`, each atomically; returns both paths."""
    from safetensors.torch import save_file

    st, meta = artifact_files(path)
    enc = _Encoder()
    tree = enc.encode(obj, "")
    tree_text = json.dumps(tree, sort_keys=True, allow_nan=False)
    digest = hashlib.sha256(tree_text.encode()).hexdigest()
    doc = {"format": FORMAT, "version": VERSION, "tensors": st.name, "tree_sha256": digest, "tree": tree}
    with atomic_path(st, fsync=fsync) as tmp_st, atomic_path(meta, fsync=fsync) as tmp_meta:
        save_file({k: v.contiguous() for k, v in enc.tensors.items()}, str(tmp_st),
                  metadata={"format": "pt", "format_vqbench": FORMAT, "tree_sha256": digest})
        tmp_meta.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return [st, meta]


def _header_metadata(st: Path) -> dict[str, str]:
    """The `__metadata__` of a safetensors header (read without loading any tensor)."""
    from safetensors import safe_open

    try:
        with safe_open(str(st), framework="pt") as f:
            return f.metadata() or {}
    except Exception as err:  # safetensors raises its own SafetensorError (not a ValueError) on a damaged file
        raise ArtifactError(f"{st}: not a readable safetensors file ({type(err).__name__}: {err})") from None


def load_artifact(path: str | Path, device: str | torch.device = "cpu") -> Any:
    """Read an artifact pair back into its nested structure (tensors on `device`), with no pickle; ArtifactError
    (naming the file) when either file is missing, truncated, garbled, or the two come from different writes."""
    from safetensors.torch import load_file

    st, meta = artifact_files(path)
    if not st.is_file() and not meta.is_file() and legacy_path(st).is_file():
        return _load_legacy(legacy_path(st), device)
    for p in (st, meta):
        if not p.is_file():
            raise ArtifactError(f"{p}: missing (an artifact is {st.name} plus {meta.name})")
    try:
        doc = json.loads(meta.read_text())
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or "tree" not in doc:
            raise ValueError(f"not a {FORMAT} metadata file")
        if doc.get("version") != VERSION:
            raise ValueError(f"format version {doc.get('version')}, this vqbench reads {VERSION}")
    except (ValueError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{meta}: unreadable ({err})") from None
    digest = hashlib.sha256(json.dumps(doc["tree"], sort_keys=True, allow_nan=False).encode()).hexdigest()
    if doc.get("tree_sha256") != digest:
        raise ArtifactError(f"{meta}: its content does not match its recorded sha256 (edited or damaged)")
    if _header_metadata(st).get("tree_sha256") != digest:
        raise ArtifactError(f"{st} and {meta.name} come from different writes (a save was interrupted between them)")
    try:
        tensors = load_file(str(st), device=str(device))
    except Exception as err:  # SafetensorError: a truncated or garbled body
        raise ArtifactError(f"{st}: unreadable ({type(err).__name__}: {err})") from None
    try:
        return _decode(doc["tree"], tensors)
    except (KeyError, TypeError, ValueError) as err:
        raise ArtifactError(f"{meta}: names a tensor {st.name} does not hold ({err})") from None


def _load_legacy(path: Path, device: str | torch.device) -> Any:
    """A stage output or checkpoint an older vqbench wrote with torch.save (a work folder from before artifacts):
    tensors, dicts and numbers, so weights_only=True reads it without running code."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # a truncated zip, or a file needing globals outside torch's weights-only set
        raise ArtifactError(f"{path}: unreadable ({type(err).__name__}: {err})") from None

