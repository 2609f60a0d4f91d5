"""Datasets: image folders for real data, and small real-image sets built from installed packages."""
