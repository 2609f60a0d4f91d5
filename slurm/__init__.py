"""Shipped data: SLURM cluster profiles (package data, no code)."""
