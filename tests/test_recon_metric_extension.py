"""Adding a reconstruction metric (issue #21 item 6): the metric is written here, in the test file alone, the way its
own module would write it - its MetricEntry, its protocol-free facts and its streaming builder - and a task YAML that
lists it is then evaluated under both protocols. The evaluator and the protocols are not edited."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_vqganlc_protocol import NoisyTokenizer

from bench.core.weights import WeightsSpec
from tasks.metrics import protocols
from tasks.metrics.recon_hooks import ReconBatch
from tasks.metrics.recon_metrics import RECON_METRICS, EvalContext, ReconMetric
from tasks.metrics.registry import METRICS, MetricEntry
from tasks.reconstruction import evaluate_reconstruction
from tasks.registry import load_task


class MeanAbsError(ReconMetric):
    """Test-only metric: mean |x - clamp(recon)| / 2 over pixels and images, from the float images."""

    def __init__(self, name: str, ctx: EvalContext) -> None:
        super().__init__()
        self.total = 0.0

    def update(self, b: ReconBatch) -> None:
        d = (b.x - b.recon.clamp(-1, 1)).abs() / 2
        self.total += float(d.flatten(1).mean(1).sum())

    def compute(self, n: int) -> float:
        return self.total / n


@pytest.fixture
def registered(monkeypatch):
    """What the metric's module registers (removed again afterwards)."""
    monkeypatch.setitem(METRICS._entries, "ext_mae", MetricEntry("ext_mae", "lower", "fraction",
                                                                 "mean absolute error", "reconstruction"))
    monkeypatch.setitem(RECON_METRICS._entries, "ext_mae", MeanAbsError)
    monkeypatch.setitem(protocols._PROTOCOL_FREE, "ext_mae", {})
    protocols.register_protocol_free("ext_mae", {"mae_def": "mean |x - clamp(recon)| / 2 over pixels"})


def _batches() -> list[dict]:
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return [{"image": x[i:i + 2], "n_corrupt": 0} for i in (0, 2)]


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize("protocol", [None, "vqganlc"])
def test_a_new_metric_is_evaluated_from_its_task_yaml(tmp_path: Path, protocol: str | None):
    yaml_file = tmp_path / "recon_mae.yaml"
    yaml_file.write_text("task: reconstruction\nversion: 1\ndescription: d\nsplit: val\nmetrics: [psnr_rgb, ext_mae]\n")
    task = load_task(yaml_file)
    res = evaluate_reconstruction(NoisyTokenizer(), _batches(), task.metrics, WeightsSpec("random", seed=0),
                                  torch.device("cpu"), protocol=protocol)
    tok, ref = NoisyTokenizer(), []
    for b in _batches():  # the reference, by hand in numpy
        tok.encode(b["image"])
        x, r = b["image"].numpy().astype(np.float64), tok.decode_indices(None).numpy().astype(np.float64)
        ref += list(np.abs(x - np.clip(r, -1, 1)).reshape(len(x), -1).mean(1) / 2)
    assert res.values["ext_mae"] == pytest.approx(np.mean(ref), rel=1e-6)
    assert set(res.values) == {"psnr_rgb", "ext_mae"}
    facts = protocols.protocol_facts("ext_mae", protocol)
    assert facts == {"mae_def": "mean |x - clamp(recon)| / 2 over pixels"}  # the row's facts, under any protocol


def test_a_metric_without_a_builder_is_refused_by_name():
    with pytest.raises(KeyError, match="reconstruction metric"):
        RECON_METRICS.get("ext_missing")
