"""vqbench entry point.

    python bench/run.py                                  # suite=smoke, scale=smoke, launcher=local
    python bench/run.py suite=recon tokenizer=vqgan_f16_16384 dataset=imagenet scale=paper dataset.root=/data/in1k
    python bench/run.py list=tokenizers                  # or tasks, suites, datasets, metrics, launchers
    python bench/run.py action=update_golden             # rewrite results/golden/<suite>.csv from this run
    vqbench suite=smoke                                  # the console script: the same overrides
"""
from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hydra  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from bench.plan.config import CONF_DIR, check_overrides, register_configs  # noqa: E402

register_configs()


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")  # absolute: works installed too
def main(cfg: DictConfig) -> int:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from bench.suite import run_suite

    code = run_suite(OmegaConf.to_container(cfg, resolve=True))
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        # a sweep job (e.g. hydra-submitit-launcher) must return, not exit, or no result is recorded
        if code:
            raise RuntimeError(f"suite {cfg.suite.name} finished with exit code {code}; see the job's log")
        return code
    sys.exit(code)


def cli() -> None:
    """`vqbench <overrides>` (the console script) = `python bench/run.py <overrides>`."""
    if not any(a in ("-m", "--multirun", "--help", "-h", "--cfg", "-c", "--info") or a.startswith("--")
               for a in sys.argv[1:]):
        check_overrides(sys.argv[1:])
    main()


if __name__ == "__main__":
    cli()
