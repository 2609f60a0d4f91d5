"""One home per concept (issue #21.7): dataset defaults, the worker knob and the registry style each live in one
place, and the old second homes are refused rather than silently ignored."""
from __future__ import annotations

import dataclasses
import importlib
import inspect
from pathlib import Path

import grimp
import pytest
from hydra.core.config_store import ConfigStore

from bench.core.registry import Registry, RegistryError
from bench.plan.config import check_config, check_overrides, register_configs
from conftest import compose
from tasks.data.options import DEFAULTS, DatasetOptions

# bare name -> callable dicts still waiting for their Registry: none left (issue #21 item 7)
PENDING_BARE_DICTS: set[str] = set()


@pytest.mark.parametrize("key", ["train.num_workers=4", "scale.eval.num_workers=4"])
def test_retired_worker_knobs_are_refused_naming_the_one_knob(key):
    """Before, train.num_workers and scale.eval.num_workers went into stage keys and lost to scale.loader.workers."""
    with pytest.raises(SystemExit, match=r"no longer a setting.*pass scale\.loader\.workers=<n>"):
        check_overrides([key])


def test_a_config_that_sets_train_num_workers_is_refused():
    cfg = compose([])
    cfg["train"]["num_workers"] = 2  # a suite file or a composed config, not the command line
    with pytest.raises(SystemExit, match=r"train\.num_workers.*scale\.loader\.workers"):
        check_config(cfg)


def test_the_one_worker_knob_feeds_train_and_eval_loaders_alike(tmp_path):
    """Runtime.loader_workers decides for every stage; no stage value is consulted (0 when unset)."""
    import torch

    from bench.stages.base import Runtime
    from bench.stages.runners import stage_loader_options

    cpu = torch.device("cpu")
    assert stage_loader_options(Runtime(str(tmp_path)), cpu)["num_workers"] == 0
    assert stage_loader_options(Runtime(str(tmp_path), loader_workers=3), cpu)["num_workers"] == 3
    assert compose(["scale=smoke"])["scale"]["loader"]["workers"] == 0
    assert compose(["scale=paper"])["scale"]["loader"]["workers"] == "auto"


def test_dataset_defaults_are_read_from_one_definition():
    """The Hydra group, the schema, the protocol, the loaders and the planner take tasks/data/options.py's values."""
    from bench.plan import config
    from bench.plan.planner import _dataset_config
    from bench.stages.specs import DatasetSpec
    from tasks.data.imagefolder import ImageFolder
    from tasks.data.registry import DATASETS, DatasetEntry
    from tasks.data.transforms import Protocol

    register_configs()
    node = ConfigStore.instance().repo["dataset"]["mini_natural.yaml"].node
    assert {k: node[k] for k in node} == {"name": "mini_natural", **dataclasses.asdict(DatasetOptions())}
    assert config.DatasetOptions is DatasetOptions  # the schema checks against the shared class, not a copy
    assert (Protocol(8).interpolation, Protocol(8).decoder) == (DEFAULTS.interpolation, DEFAULTS.decoder)
    for fn in (ImageFolder.__init__, DatasetEntry.open):
        assert inspect.signature(fn).parameters["on_corrupt"].default == DEFAULTS.on_corrupt
    d = _dataset_config(compose([]), "mini_natural", 32)
    assert d == DatasetSpec("mini_natural", DATASETS.get("mini_natural").version, 32)
    spec_defaults = {f.name: f.default for f in dataclasses.fields(DatasetSpec)}
    assert {k: spec_defaults[k] for k in dataclasses.asdict(DEFAULTS)} == dataclasses.asdict(DEFAULTS)


def test_registry_public_api_adds_for_a_block_and_removes():
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1)
    with reg.added("b", 2) as entry:
        assert entry == 2 and reg.names() == ["a", "b"]
        with pytest.raises(RegistryError, match="already registered"), reg.added("a", 3):
            pass
    assert reg.names() == ["a"] and reg.get("a") == 1  # the colliding 'a' did not replace or drop the first
    with pytest.raises(ZeroDivisionError), reg.added("c", 4):
        raise ZeroDivisionError  # an error inside the block still takes the entry out
    assert "c" not in reg
    assert reg.remove("a") == 1 and len(reg) == 0
    with pytest.raises(RegistryError, match="unknown thing 'a'"):
        reg.remove("a")


def test_no_bare_dict_registries():
    """Every module-level name -> callable table is a Registry (one lookup, one error style)."""
    graph = grimp.build_graph("bench", "models", "tasks", include_external_packages=False)
    bare = []
    for name in sorted(graph.modules - {"bench.run"}):  # bench.run registers Hydra's main on import
        module = importlib.import_module(name)
        own = _assigned(module)
        for attr, value in vars(module).items():
            if (attr in own and isinstance(value, dict) and len(value) >= 2
                    and all(isinstance(k, (str, type)) for k in value) and all(callable(v) for v in value.values())):
                bare.append(f"{name}.{attr}")
    assert set(bare) - PENDING_BARE_DICTS == set()


def _assigned(module: object) -> set[str]:
    """Names a module assigns itself at the top level (not the ones it imports)."""
    import ast

    src = Path(module.__file__).read_text()  # type: ignore[attr-defined]
    return {t.id for node in ast.parse(src).body if isinstance(node, (ast.Assign, ast.AnnAssign))
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}
