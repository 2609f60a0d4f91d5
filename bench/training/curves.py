"""Training curves you can watch: `logging.tensorboard=true` mirrors every train_log.jsonl line and each evaluation's
metrics to TensorBoard event files in the stage folder (<work_dir>/stages/<key>/tensorboard/); `logging.wandb=
offline|online` does the same through wandb when it is installed. Settings come from the Runtime (never the stage
key); train_log.jsonl stays the record of truth, these are views of it."""
from __future__ import annotations

import atexit
import numbers
import sys
from pathlib import Path
from typing import Any

_settings: dict[str, Any] = {}
_writers: dict[Path, Any] = {}  # stage folder -> its open SummaryWriter
_wandb_runs: dict[Path, Any] = {}


def configure(logging: dict[str, Any] | None) -> None:
    """Set this process's logging options ({tensorboard: bool, wandb: None|'offline'|'online'})."""
    _settings.clear()
    _settings.update(logging or {})
    if _settings.get("wandb") not in (None, "offline", "online", "disabled"):
        raise ValueError(f"logging.wandb must be offline, online or null, got '{_settings['wandb']}'")


def enabled() -> bool:
    return bool(_settings.get("tensorboard")) or _settings.get("wandb") in ("offline", "online")


def _writer(folder: Path) -> Any:
    if folder not in _writers:
        from torch.utils.tensorboard import SummaryWriter

        _writers[folder] = SummaryWriter(log_dir=str(folder / "tensorboard"), flush_secs=10)
    return _writers[folder]


def _wandb(folder: Path) -> Any:
    if folder not in _wandb_runs:
        try:
            import wandb
        except ImportError:
            print("warning: logging.wandb is set but wandb is not installed; curves go to TensorBoard only",
                  file=sys.stderr)
            _settings["wandb"] = None
            return None
        _wandb_runs[folder] = wandb.init(project="vqbench", name=folder.name, dir=str(folder), mode=_settings["wandb"],
                                         reinit=True)
    return _wandb_runs[folder]


def _scalars(record: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in record.items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool) and k != "step"}


def mirror(folder: Path, record: dict[str, Any], prefix: str = "train") -> None:
    """One log line -> a scalar per numeric field at its step (tag '<prefix>/<field>')."""
    if not enabled():
        return
    step, values = int(record.get("step", 0)), _scalars(record)
    if _settings.get("tensorboard"):
        w = _writer(folder)
        for k, v in values.items():
            w.add_scalar(f"{prefix}/{k}", v, step)
    if _settings.get("wandb") in ("offline", "online") and (run := _wandb(folder)) is not None:
        run.log({f"{prefix}/{k}": v for k, v in values.items()}, step=step)


def mirror_records(folder: Path, rows: list[dict[str, Any]]) -> None:
    """An evaluation's records -> 'eval/<metric><setting suffix>' scalars (step: the row's epoch, else 0)."""
    if not enabled():
        return
    for r in rows:
        if isinstance(r.get("value"), numbers.Real):
            tag = f"{r['metric']}{r.get('setting_suffix', '')}".replace(" ", "_")
            mirror(folder, {"step": r.get("epoch") if isinstance(r.get("epoch"), int) else 0, tag: r["value"]},
                   "eval")
    close(folder)


def close(folder: Path) -> None:
    """Flush and close a stage folder's writers (the end of a training run or an evaluation)."""
    if (w := _writers.pop(folder, None)) is not None:
        w.close()
    if (run := _wandb_runs.pop(folder, None)) is not None:
        run.finish()


def _close_all() -> None:
    for folder in list(_writers) + list(_wandb_runs):
        close(folder)


atexit.register(_close_all)  # a stage that raised still leaves readable event files
