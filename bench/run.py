"""vqbench entry point.

    python bench/run.py                                  # suite=smoke, scale=smoke, launcher=local
    python bench/run.py suite=recon tokenizer=vqgan_f16_16384 dataset=imagenet scale=paper dataset.root=/data/in1k
    python bench/run.py list=tokenizers                  # or tasks, suites, datasets, metrics, launchers
    python bench/run.py action=update_golden             # rewrite results/golden/<suite>.csv from this run
    vqbench suite=smoke                                  # the console script: the same overrides
    python bench/run.py --verbose ...                    # tracebacks instead of one-line errors (HYDRA_FULL_ERROR=1)
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

if __name__ == "__main__":  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hydra  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from bench.plan.config import CONF_DIR, check_overrides, register_configs  # noqa: E402
from bench.training.preempt import Preempted  # noqa: E402

register_configs()


VERBOSE_FLAG = "--verbose"  # show tracebacks (as HYDRA_FULL_ERROR=1 does); without it a failure is one line


def verbose() -> bool:
    """Whether tracebacks are shown: --verbose on the command line, or HYDRA_FULL_ERROR=1."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def _log_traceback(err: BaseException) -> str:
    """Write the traceback into this run's Hydra folder; its path (empty when there is none)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        path = Path(HydraConfig.get().runtime.output_dir) / "error.log"
        path.write_text("".join(traceback.format_exception(err)))
        return str(path)
    except Exception:  # noqa: BLE001  no Hydra folder (or it cannot be written): the one line must still come out
        return ""


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")  # absolute: works installed too
def main(cfg: DictConfig) -> int:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from bench.suite import run_suite

    try:
        code = run_suite(OmegaConf.to_container(cfg, resolve=True))
    except Exception as err:  # one line for the user; the traceback goes to the run's log (or --verbose)
        if verbose():
            raise
        where = _log_traceback(err)
        msg = str(err).strip().splitlines()[-1] if str(err).strip() else ""
        from bench.core.registry import RegistryError

        kind = "" if isinstance(err, RegistryError) else f"{type(err).__name__}: "  # a user error says it all
        print(f"error: {kind}{msg}" + (f" (traceback: {where}" if where else " (")
              + f"; {VERBOSE_FLAG} shows it)", file=sys.stderr)
        code = 2
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        # a sweep job (e.g. hydra-submitit-launcher) must return, not exit, or no result is recorded
        if code:
            raise RuntimeError(f"suite {cfg.suite.name} finished with exit code {code}; see the job's log")
        return code
    sys.exit(code)


def cli() -> None:
    """`vqbench <overrides>` (the console script) = `python bench/run.py <overrides>`."""
    if VERBOSE_FLAG in sys.argv[1:]:  # Hydra does not know the flag: take it out, and ask Hydra for full traces
        sys.argv = [a for a in sys.argv if a != VERBOSE_FLAG]
        os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        if not any(a in ("-m", "--multirun", "--help", "-h", "--cfg", "-c", "--info") or a.startswith("--")
                   for a in sys.argv[1:]):
            check_overrides(sys.argv[1:])
        main()
    except KeyboardInterrupt:
        if verbose():
            raise
        # the stages keep what they finished (done.json) and their last checkpoint: a re-run resumes
        print("interrupted (Ctrl-C): finished stages are kept; run the same command again to resume "
              f"({VERBOSE_FLAG} shows the traceback)", file=sys.stderr)
        sys.exit(130)
    except Preempted as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.code)


if __name__ == "__main__":
    cli()
