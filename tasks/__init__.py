"""vqbench tasks: data, metrics, and one module per evaluation task."""
