"""Generative priors over tokenizer outputs: GPT and MaskGIT on token maps, DiT / SiT / LDM on latents."""
