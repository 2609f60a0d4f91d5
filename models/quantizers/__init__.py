"""Quantizers, one module each, registered by name (models.quantizers.base.QUANTIZERS); all return QuantOutput.

Adding one: a module here with a `@register_quantizer("name")` Quantizer subclass, imported below.
"""
from models.quantizers import ema, entropy_vq, fc, lc, multichannel, rq, vq  # noqa: F401  (registers them)
from models.quantizers.base import QUANTIZERS, Precompute, Quantizer, QuantOutput, build_quantizer, register_quantizer

__all__ = ["QUANTIZERS", "Precompute", "QuantOutput", "Quantizer", "build_quantizer", "register_quantizer"]
