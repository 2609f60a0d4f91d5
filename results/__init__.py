"""Shipped data: the papers' published numbers and the golden smoke numbers (package data, no code)."""
