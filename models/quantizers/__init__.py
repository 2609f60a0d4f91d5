"""Quantizers, one module each; all return models.quantizers.base.QuantOutput."""
