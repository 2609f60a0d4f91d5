"""Streaming metrics and the metric networks behind them."""
