"""Writes bench/conf/suite/paper/<paper>_<table>.yaml and the unified table suites: one run per table row that
vqbench can reproduce, labelled with the row's (method, setting) keys from results/paper_numbers.csv."""
from __future__ import annotations

from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parent.parent / "bench" / "conf" / "suite"
R = ["reconstruction"]


def run(tok: str, ds: str | list[str], method: str, setting: str, **overrides) -> dict:
    r = {"tokenizer": tok, "datasets": [ds] if isinstance(ds, str) else ds, "tasks": list(R),
         "row": {"method": method, "setting": setting}}
    parts: dict = {}
    for key, value in overrides.items():
        part, field = key.split("__")
        parts.setdefault(part, {})[field] = value
    if parts:
        r["overrides"] = parts
    return r


SUITES: dict[str, dict] = {}


def suite(name: str, paper: str, table: str, description: str, runs: list[dict], pending: str = "") -> None:
    SUITES[name] = {"name": f"paper/{name}", "table": f"{paper}_{table}", "paper": paper, "paper_table": table,
                    "description": description + (f" Not yet runnable here: {pending}." if pending else ""),
                    "golden": None, "runs": runs}


FC, EMA, LC, VQ = "vqgan_fc_f16_16384", "vqgan_ema_f16_16384", "vqganlc_f16_100k", "vqgan_f16_16384"
# ---- VQGAN-LC
suite("vqganlc_t1", "vqganlc", "T1", "VQGAN-LC Table 1: rFID of VQGAN-FC / -EMA / -LC at K = 1,024 ... 100K on ImageNet.",
      [run(t, "imagenet", m, f"tokens=256 K={k}", model__n_embed=k) for t, m in [(FC, "VQGAN-FC"), (EMA, "VQGAN-EMA"), (LC, "VQGAN-LC")]
       for k in (1024, 16384, 50000, 100000)], pending="the LDM generation FID columns (downstream priors)")
suite("vqganlc_t2", "vqganlc", "T2", "VQGAN-LC Table 2: ImageNet reconstruction (usage, rFID, LPIPS, PSNR, SSIM).",
      [run(VQ, "imagenet", "VQGAN", f"tokens=256 K={k}", model__n_embed=k) for k in (16384, 50000, 100000)]
      + [run(FC, "imagenet", "VQGAN-FC", f"tokens=256 K={k}", model__n_embed=k) for k in (16384, 50000, 100000)]
      + [run(EMA, "imagenet", "VQGAN-EMA", f"tokens=256 K={k}", model__n_embed=k) for k in (16384, 50000, 100000)]
      + [run(LC, "imagenet", "VQGAN-LC", f"tokens=256 K={k}", model__n_embed=k) for k in (16384, 50000, 100000)]
      + [run(LC, "imagenet", "VQGAN-LC", "tokens=1024 K=100000", model__ch_mult=[1, 1, 2, 2], model__attn_resolutions=[32])]
      + [run(f"rqvae_8x8x{d}_16384", "imagenet", "RQ-VAE", f"tokens={64 * d} K=16384") for d in (4, 8, 16)])
suite("vqganlc_t3", "vqganlc", "T3", "VQGAN-LC Table 3: FFHQ reconstruction.",
      [run("rqvae_8x8x4_2048", "ffhq", "RQ-VAE", "tokens=256 K=2048"), run(VQ, "ffhq", "VQGAN", "tokens=256 K=16384"),
       run(FC, "ffhq", "VQGAN-FC", "tokens=256 K=16384"), run(EMA, "ffhq", "VQGAN-EMA", "tokens=256 K=16384"),
       run(LC, "ffhq", "VQGAN-LC", "tokens=256 K=100000")])
suite("vqganlc_t6", "vqganlc", "T6", "VQGAN-LC Table 6: codebook initialisation strategies and feature encoders.",
      [run(LC, "imagenet", "VQGAN-LC", "init=random init source=- encoder=- K=100000", model__codebook_init="random"),
       run(LC, "imagenet", "VQGAN-LC", "init=random selection source=imagenet encoder=ViT-L K=100000",
           model__codebook_init="random_selection"),
       run(LC, "imagenet", "VQGAN-LC", "init=k-means source=imagenet encoder=ResNet-50 K=100000", model__feature_encoder="clip_rn50"),
       run(LC, "imagenet", "VQGAN-LC", "init=k-means source=imagenet encoder=ViT-B K=100000", model__feature_encoder="clip_vit_b16"),
       run(LC, "imagenet", "VQGAN-LC", "init=k-means source=imagenet encoder=ViT-L K=100000")])
suite("vqganlc_t7", "vqganlc", "T7", "VQGAN-LC Table 7: codebook size 1,000 ... 200,000.",
      [run(LC, "imagenet", "VQGAN-LC", f"tokens=256 K={k}", model__n_embed=k) for k in (1000, 10000, 50000, 100000, 200000)])
suite("vqganlc_t8", "vqganlc", "T8", "VQGAN-LC Table 8: codebook built on one dataset, tokenizer trained on another.",
      [run(LC, tgt, "VQGAN-LC", f"codebook_source={src} K=100000", model__codebook_dataset=src)
       for src, tgt in [("ffhq", "ffhq"), ("imagenet", "ffhq"), ("imagenet", "imagenet"), ("ffhq", "imagenet")]])
suite("vqganlc_t9", "vqganlc", "T9", "VQGAN-LC Table 9: static codebook with / without projector, trainable codebook.",
      [run(LC, "imagenet", "VQGAN-LC", "static=yes projector=no K=100000", model__projector=False),
       run(LC, "imagenet", "VQGAN-LC", "static=no projector=yes K=100000", model__codebook_trainable=True),
       run(LC, "imagenet", "VQGAN-LC", "static=yes projector=yes K=100000")])
suite("vqganlc_t10", "vqganlc", "T10", "VQGAN-LC Table 10: projected code dimension D' = 8 ... 512.",
      [run(LC, "imagenet", "VQGAN-LC", f"dim={d} K=100000", model__embed_dim=d) for d in (8, 16, 32, 128, 256, 512)])
# ---- MoVQ
suite("movq_t1", "movq", "T1", "MoVQ Table 1: reconstruction on FFHQ and ImageNet val (PSNR, SSIM, LPIPS, rFID).",
      [run("vqgan_f16_1024", "ffhq", "VQGAN", "latent=16x16 K=1024"), run("rqvae_8x8x4_2048", "ffhq", "RQ-VAE", "latent=8x8x4 K=2048"),
       run("rqvae_16x16x4_2048", "ffhq", "RQ-VAE", "latent=16x16x4 K=2048"), run("movq_f16_1024", "ffhq", "MoVQ", "latent=16x16x4 K=1024"),
       run("vqgan_f16_1024", "imagenet", "VQGAN", "latent=16x16 K=1024"), run(VQ, "imagenet", "VQGAN", "latent=16x16 K=16384"),
       run("rqvae_8x8x16_16384", "imagenet", "RQ-VAE", "latent=8x8x16 K=16384"),
       run("movq_f16_1024", "imagenet", "MoVQ", "latent=16x16x4 K=1024")])
suite("movq_f6a", "movq", "F6a", "MoVQ Fig. 6a: decoder variants (baseline, multichannel only, SpatialNorm with each F0) on FFHQ.",
      [run("vqgan_f16_1024", "ffhq", "VQGAN", "variant=A baseline VQGAN"),
       run("movq_f16_1024", "ffhq", "MoVQ", "variant=B + multichannel x4", model__spatial_norm="none", model__f0="quantized"),
       run("movq_f16_1024", "ffhq", "MoVQ", "variant=C w/ sinusoids", model__f0="sinusoid"),
       run("movq_f16_1024", "ffhq", "MoVQ", "variant=C w/ learned constants", model__f0="constant"),
       run("movq_f16_1024", "ffhq", "MoVQ", "variant=C w/ Fourier features", model__f0="fourier")],
      pending="the generation FID column (downstream priors)")
suite("movq_f6b", "movq", "F6b", "MoVQ Fig. 6b: codebook size 1,024 vs 16,384 for VQGAN and MoVQ on ImageNet.",
      [run("vqgan_f16_1024", "imagenet", "VQGAN", "K=1024"), run(VQ, "imagenet", "VQGAN", "K=16384"),
       run("movq_f16_1024", "imagenet", "MoVQ", "K=1024"), run("movq_f16_16384", "imagenet", "MoVQ", "K=16384")])
# ---- SeQ-GAN
suite("seqgan_t1", "seqgan", "T1", "SeQ-GAN Table 1: baseline vs +Conv x2 vs +Attention x2 decoders (rFID).",
      [run("seqgan_baseline_f16_1024", "imagenet", "SeQ-GAN baseline VQ", "params=54.5M"),
       run("seqgan_conv_f16_1024", "imagenet", "SeQ-GAN +Conv x2", "params=70.0M"),
       run("seqgan_attn_f16_1024", "imagenet", "SeQ-GAN +Attention x2", "params=61.4M")],
      pending="the AR / AR-L / NAR generation FID columns (downstream priors)")
suite("seqgan_t2", "seqgan", "T2", "SeQ-GAN Table 2: reconstruction on FFHQ and ImageNet (usage, rFID).",
      [run("vqgan_f16_1024", "ffhq", "VQGAN", "latent=16x16 K=1024"), run("rqvae_16x16x4_2048", "ffhq", "RQ-VAE", "latent=16x16x4 K=2048"),
       run("movq_f16_1024", "ffhq", "MoVQ", "latent=16x16x4 K=1024"), run("seqgan_f16_1024", "ffhq", "SeQ-GAN", "latent=16x16 K=1024"),
       run("vqgan_f16_1024", "imagenet", "VQGAN", "latent=16x16 K=1024"), run(VQ, "imagenet", "VQGAN", "latent=16x16 K=16384"),
       run("rqvae_8x8x16_16384", "imagenet", "RQ-VAE", "latent=8x8x16 K=16384"),
       run("movq_f16_1024", "imagenet", "MoVQ", "latent=16x16x4 K=1024"),
       run("seqgan_f16_1024", "imagenet", "SeQ-GAN", "latent=16x16 K=1024")])
suite("seqgan_t5", "seqgan", "T5", "SeQ-GAN Table 5: codebook regularisation (none, F&N, K-means, entropy).",
      [run("seqgan_baseline_f16_1024", "imagenet", "SeQ-GAN baseline VQ", "reg=none dim=256 K=1024", model__codebook_reg="none"),
       run("seqgan_baseline_f16_1024", "imagenet", "SeQ-GAN baseline VQ", "reg=F&N dim=32 K=8192", model__codebook_reg="fn",
           model__embed_dim=32, model__n_embed=8192),
       run("seqgan_baseline_f16_1024", "imagenet", "SeQ-GAN baseline VQ", "reg=K-means dim=256 K=1024", model__codebook_reg="kmeans"),
       run("seqgan_baseline_f16_1024", "imagenet", "SeQ-GAN baseline VQ", "reg=H(D) dim=256 K=1024")],
      pending="the AR / NAR generation FID columns (downstream priors)")
LOW = ["relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"]
suite("seqgan_t6", "seqgan", "T6", "SeQ-GAN Table 6: perceptual-loss layer sets (L_low, variants A-E, L_sem).",
      [run("seqgan_baseline_f16_1024", "imagenet", "SeQ-GAN", f"variant={v} layers={name}", loss__low_layers=layers,
           loss__semantic_alpha=alpha)
       for v, name, layers, alpha in [("L_low", "relu12-relu53", LOW, 0.0), ("A", "relu12-relu53+logit", LOW + ["logit"], 0.0),
                                      ("B", "relu22-relu53+logit", LOW[1:] + ["logit"], 0.0),
                                      ("C", "relu33-relu53+logit", LOW[2:] + ["logit"], 0.0),
                                      ("D", "relu43-relu53+logit", LOW[3:] + ["logit"], 0.0),
                                      ("L_sem", "relu53+logit", LOW, 1.0), ("E", "logit", ["logit"], 0.0)]],
      pending="the AR / NAR generation FID columns (downstream priors)")
# ---- figure panels drawn without printed numbers: our sweep only, plotted as the paper draws it
suite("movq_f6c", "movq", "F6c", "MoVQ Fig. 6c: channels c = 1 ... 16 of the multichannel latent (FFHQ); the paper "
      "prints no numbers for this panel, so the plot shows vqbench's points only.",
      [run("movq_f16_1024", "ffhq", "MoVQ", f"channels={c} K=1024", model__channels=c) for c in (1, 2, 4, 8, 16)],
      pending="the generation FID curve (downstream priors)")
suite("seqgan_f6b", "seqgan", "F6b", "SeQ-GAN Fig. 6b: semantic ratio alpha (one phase, ImageNet); the paper prints no "
      "numbers for this panel, so the plot shows vqbench's points only.",
      [run("seqgan_baseline_f16_1024", "imagenet", "SeQ-GAN", f"alpha={a} K=1024", loss__semantic_alpha=a)
       for a in (0.0, 0.25, 0.5, 0.75, 1.0)], pending="the generation FID curve (downstream priors)")
# ---- unified: reconstruction of every registered variant under one protocol
SUITES["table1"] = {"name": "table1", "table": "table1", "description": "Unified Table 1: the zoo - parameters "
                    "(meta device), tokens per image and codebook size of every registered tokenizer, next to the "
                    "papers' parameter figures. No data, no training.", "golden": None,
                    "runs": [{"tokenizer": "*", "datasets": ["imagenet"], "tasks": ["model_facts"]}]}
SUITES["table2"] = {"name": "table2", "table": "table2", "description": "Unified Table 2: reconstruction of every "
                    "registered tokenizer on ImageNet val and FFHQ val under one protocol (vqbench's).",
                    "golden": None, "runs": [{"tokenizer": "*", "datasets": ["imagenet", "ffhq"], "tasks": list(R)}]}

if __name__ == "__main__":
    for name, body in SUITES.items():
        path = OUT / ("paper" if name.startswith(("vqganlc", "movq", "seqgan")) else "") / f"{name}.yaml"
        head = "# Generated by tools/make_paper_suites.py from the rows of results/paper_numbers.csv; edit that script.\n"
        path.write_text(head + yaml.safe_dump(body, sort_keys=False, width=120))
    print(f"wrote {len(SUITES)} suites")
