"""Converters from released checkpoints' state dicts to vqbench modules (taming VQGAN, VQGAN-LC, RQ-VAE stage 1)."""
