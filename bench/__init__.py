"""vqbench harness: configuration, planner, executors, results store."""

__version__ = "0.1.0"
