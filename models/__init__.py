"""vqbench models: encoders/decoders, quantizers, losses; the tokenizer registry lives in models.registry."""
