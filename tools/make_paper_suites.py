"""Writes bench/conf/suite/paper/<paper>_<table>.yaml and the unified table suites: one run per table row that
vqbench can reproduce, labelled with the row's (method, setting) keys from results/paper_numbers.csv."""
from __future__ import annotations

from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parent.parent / "bench" / "conf" / "suite"
R = ["reconstruction"]


def run(tok: str, ds: str | list[str], method: str, setting: str, tasks: list[str] | None = None,
        priors: dict[str, dict[str, str]] | None = None, **overrides) -> dict:
    """One suite run; `priors` maps a prior to the paper row its generation numbers fill ({method, setting})."""
    r = {"tokenizer": tok, "datasets": [ds] if isinstance(ds, str) else ds, "tasks": list(tasks or R),
         "row": {"method": method, "setting": setting}}
    if priors:
        if "generation" not in r["tasks"]:
            r["tasks"].append("generation")
        r["priors"] = list(priors)
        r["prior_rows"] = priors
    parts: dict = {}
    for key, value in overrides.items():
        part, field = key.split("__")
        parts.setdefault(part, {})[field] = value
    if parts:
        r["overrides"] = parts
    return r


SUITES: dict[str, dict] = {}


# The figures action=compare draws for a paper table (bench/report/plots.py): the setting key on x, the paper metrics
# drawn, the x label, log x, and the figure it reproduces.
FIGURES: dict[tuple[str, str], list[dict]] = {
    ("vqganlc", "T1"): [{"key": "K", "metrics": ["rfid"], "xlabel": "codebook size", "logx": True,
                         "title": "VQGAN-LC Fig. 1a / Table 1"}],
    ("vqganlc", "T2"): [{"key": "K", "metrics": ["usage", "rfid"], "xlabel": "codebook size", "logx": True,
                         "title": "VQGAN-LC Fig. 1a / Table 2"}],
    ("vqganlc", "T7"): [{"key": "K", "metrics": ["usage", "rfid"], "xlabel": "codebook size", "logx": True,
                         "title": "VQGAN-LC Table 7"}],
    ("vqganlc", "T10"): [{"key": "dim", "metrics": ["rfid", "usage"], "xlabel": "projected dimension D'",
                          "logx": True, "title": "VQGAN-LC Table 10"}],
    ("movq", "F6b"): [{"key": "K", "metrics": ["rfid"], "xlabel": "codebook size", "logx": True,
                       "title": "MoVQ Fig. 6b"}],
    ("movq", "F6c"): [{"key": "channels", "metrics": ["rfid", "fid"], "xlabel": "channels c", "logx": True,
                       "title": "MoVQ Fig. 6c"}],
    ("seqgan", "F6b"): [{"key": "alpha", "metrics": ["rfid", "fid"], "xlabel": "semantic ratio alpha", "logx": False,
                         "title": "SeQ-GAN Fig. 6b"}],
    ("vqganlc", "F5"): [{"key": "M", "metrics": ["psnr"], "xlabel": "M (M-th nearest code)", "logx": True,
                         "title": "VQGAN-LC Fig. 5"}],
    ("vqganlc", "F3"): [{"key": "epoch", "metrics": ["usage"], "xlabel": "training epoch", "logx": False,
                         "title": "VQGAN-LC Fig. 3"}],
}


def suite(name: str, paper: str, table: str, description: str, runs: list[dict], pending: str = "") -> None:
    SUITES[name] = {"name": f"paper/{name}", "table": f"{paper}_{table}", "paper": paper, "paper_table": table,
                    "description": description + (f" Not yet runnable here: {pending}." if pending else ""),
                    "golden": None, "runs": runs}
    if (paper, table) in FIGURES:
        SUITES[name]["plots"] = FIGURES[(paper, table)]


# VQGAN-LC's f8 (1,024 tokens) backbone: vqgan-gpt-lc/vqgan_configs/vq-f8.yaml ch_mult, attn_resolutions;
# ldm-lc/configs/imagenet-f8-vqgan-lc-100K.yaml first_stage_config embed_dim 4
LC_F8 = {"model__ch_mult": [1, 2, 2, 4], "model__attn_resolutions": [16], "model__embed_dim": 4}
FC, EMA, LC, VQ = "vqgan_fc_f16_16384", "vqgan_ema_f16_16384", "vqganlc_f16_100k", "vqgan_f16_16384"
# ---- VQGAN-LC
suite("vqganlc_t1", "vqganlc", "T1", "VQGAN-LC Table 1: rFID and LDM generation FID of VQGAN-FC / -EMA / -LC at "
      "K = 1,024 ... 100K on ImageNet.",
      [run(t, "imagenet", m, f"tokens=256 K={k}", None,
           {"ldm_cin": {"method": f"{m} (LDM)", "setting": f"tokens=256 K={k}"}}, model__n_embed=k)
       for t, m in [(FC, "VQGAN-FC"), (EMA, "VQGAN-EMA"), (LC, "VQGAN-LC")] for k in (1024, 16384, 50000, 100000)])
suite("vqganlc_t2", "vqganlc", "T2", "VQGAN-LC Table 2: ImageNet reconstruction (usage, rFID, LPIPS, PSNR, SSIM).",
      [run(VQ, "imagenet", "VQGAN", f"tokens=256 K={k}", model__n_embed=k) for k in (16384, 50000, 100000)]
      + [run(FC, "imagenet", "VQGAN-FC", f"tokens=256 K={k}", model__n_embed=k) for k in (16384, 50000, 100000)]
      + [run(EMA, "imagenet", "VQGAN-EMA", f"tokens=256 K={k}", model__n_embed=k) for k in (16384, 50000, 100000)]
      + [run(LC, "imagenet", "VQGAN-LC", f"tokens=256 K={k}", model__n_embed=k) for k in (16384, 50000, 100000)]
      + [run(LC, "imagenet", "VQGAN-LC", "tokens=1024 K=100000", **LC_F8)]
      + [run(f"rqvae_8x8x{d}_16384", "imagenet", "RQ-VAE", f"tokens={64 * d} K=16384") for d in (4, 8, 16)])
suite("vqganlc_t3", "vqganlc", "T3", "VQGAN-LC Table 3: FFHQ reconstruction.",
      [run("rqvae_8x8x4_2048", "ffhq", "RQ-VAE", "tokens=256 K=2048"), run(VQ, "ffhq", "VQGAN", "tokens=256 K=16384"),
       run(FC, "ffhq", "VQGAN-FC", "tokens=256 K=16384"), run(EMA, "ffhq", "VQGAN-EMA", "tokens=256 K=16384"),
       run(LC, "ffhq", "VQGAN-LC", "tokens=256 K=100000")])
suite("vqganlc_t6", "vqganlc", "T6", "VQGAN-LC Table 6: codebook initialisation strategies and feature encoders.",
      [run(LC, "imagenet", "VQGAN-LC", "init=random init source=- encoder=- K=100000", model__codebook_init="random"),
       run(LC, "imagenet", "VQGAN-LC", "init=random selection source=imagenet encoder=ViT-L K=100000",
           model__codebook_init="random_selection"),
       run(LC, "imagenet", "VQGAN-LC", "init=k-means source=imagenet encoder=ResNet-50 K=100000",
           model__feature_encoder="clip_rn50"),
       run(LC, "imagenet", "VQGAN-LC", "init=k-means source=imagenet encoder=ViT-B K=100000",
           model__feature_encoder="clip_vit_b16"),
       run(LC, "imagenet", "VQGAN-LC", "init=k-means source=imagenet encoder=ViT-L K=100000")])
suite("vqganlc_t7", "vqganlc", "T7", "VQGAN-LC Table 7: codebook size 1,000 ... 200,000.",
      [run(LC, "imagenet", "VQGAN-LC", f"tokens=256 K={k}", model__n_embed=k)
       for k in (1000, 10000, 50000, 100000, 200000)])
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
      [run("vqgan_f16_1024", "ffhq", "VQGAN", "latent=16x16 K=1024"),
       run("rqvae_8x8x4_2048", "ffhq", "RQ-VAE", "latent=8x8x4 K=2048"),
       run("rqvae_16x16x4_2048", "ffhq", "RQ-VAE", "latent=16x16x4 K=2048"),
       run("movq_f16_1024", "ffhq", "MoVQ", "latent=16x16x4 K=1024"),
       run("vqgan_f16_1024", "imagenet", "VQGAN", "latent=16x16 K=1024"),
       run(VQ, "imagenet", "VQGAN", "latent=16x16 K=16384"),
       run("rqvae_8x8x16_16384", "imagenet", "RQ-VAE", "latent=8x8x16 K=16384"),
       run("movq_f16_1024", "imagenet", "MoVQ", "latent=16x16x4 K=1024")])
F6A_PRIOR = "maskgit_movq"  # the 'mask' prior MoVQ defaults to (Sec. 4.3); our reading of the panel's FID column


def f6a(tok: str, m: str, v: str, **ov) -> dict:
    return run(tok, "ffhq", m, f"variant={v}", None, {F6A_PRIOR: {"method": m, "setting": f"variant={v}"}}, **ov)


suite("movq_f6a", "movq", "F6a", "MoVQ Fig. 6a: decoder variants (baseline, multichannel only, "
      "SpatialNorm with each F0) on FFHQ: rFID and generation FID ('mask' prior).",
      [f6a("vqgan_f16_1024", "VQGAN", "A baseline VQGAN"),
       f6a("movq_f16_1024", "MoVQ", "B + multichannel x4", model__spatial_norm="none", model__f0="quantized"),
       f6a("movq_f16_1024", "MoVQ", "C w/ sinusoids", model__f0="sinusoid"),
       f6a("movq_f16_1024", "MoVQ", "C w/ learned constants", model__f0="constant"),
       f6a("movq_f16_1024", "MoVQ", "C w/ Fourier features", model__f0="fourier")])
suite("movq_f6b", "movq", "F6b", "MoVQ Fig. 6b: codebook size 1,024 vs 16,384 for VQGAN and MoVQ on ImageNet.",
      [run("vqgan_f16_1024", "imagenet", "VQGAN", "K=1024"), run(VQ, "imagenet", "VQGAN", "K=16384"),
       run("movq_f16_1024", "imagenet", "MoVQ", "K=1024"), run("movq_f16_16384", "imagenet", "MoVQ", "K=16384")])
# ---- SeQ-GAN
suite("seqgan_t1", "seqgan", "T1", "SeQ-GAN Table 1: baseline vs +Conv x2 vs +Attention x2 decoders (rFID).",
      [run(t, "imagenet", m, st, None, {p: {"method": f"{m} + {lab}", "setting": st} for p, lab in
                                        [("gpt_seqgan", "AR"), ("gpt_seqgan_l", "AR-L"), ("maskgit_seqgan", "NAR")]})
       for t, m, st in [("seqgan_baseline_f16_1024", "SeQ-GAN baseline VQ", "params=54.5M"),
                        ("seqgan_conv_f16_1024", "SeQ-GAN +Conv x2", "params=70.0M"),
                        ("seqgan_attn_f16_1024", "SeQ-GAN +Attention x2", "params=61.4M")]],
      pending="the AR-L-2x column (its recipe is not described in the text)")
suite("seqgan_t2", "seqgan", "T2", "SeQ-GAN Table 2: reconstruction on FFHQ and ImageNet (usage, rFID).",
      [run("vqgan_f16_1024", "ffhq", "VQGAN", "latent=16x16 K=1024"),
       run("rqvae_16x16x4_2048", "ffhq", "RQ-VAE", "latent=16x16x4 K=2048"),
       run("movq_f16_1024", "ffhq", "MoVQ", "latent=16x16x4 K=1024"),
       run("seqgan_f16_1024", "ffhq", "SeQ-GAN", "latent=16x16 K=1024"),
       run("vqgan_f16_1024", "imagenet", "VQGAN", "latent=16x16 K=1024"),
       run(VQ, "imagenet", "VQGAN", "latent=16x16 K=16384"),
       run("rqvae_8x8x16_16384", "imagenet", "RQ-VAE", "latent=8x8x16 K=16384"),
       run("movq_f16_1024", "imagenet", "MoVQ", "latent=16x16x4 K=1024"),
       run("seqgan_f16_1024", "imagenet", "SeQ-GAN", "latent=16x16 K=1024")])
ARNAR = [("gpt_seqgan", "AR"), ("maskgit_seqgan", "NAR")]


def ar_nar(m: str, st: str) -> dict[str, dict[str, str]]:
    return {p: {"method": f"{m} + {lab}", "setting": st} for p, lab in ARNAR}


suite("seqgan_t5", "seqgan", "T5", "SeQ-GAN Table 5: codebook regularisation (none, F&N, K-means, entropy): "
      "usage, rFID, AR and NAR generation FID.",
      [run("seqgan_baseline_f16_1024", "imagenet", "SeQ-GAN baseline VQ", st, None, ar_nar("SeQ-GAN baseline VQ", st),
           **ov)
       for st, ov in [("reg=none dim=256 K=1024", {"model__codebook_reg": "none"}),
                      ("reg=F&N dim=32 K=8192", {"model__codebook_reg": "fn", "model__embed_dim": 32,
                                                 "model__n_embed": 8192}),
                      ("reg=K-means dim=256 K=1024", {"model__codebook_reg": "kmeans"}),
                      ("reg=H(D) dim=256 K=1024", {})]])
LOW = ["relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"]
suite("seqgan_t6", "seqgan", "T6", "SeQ-GAN Table 6: perceptual-loss layer sets (L_low, variants A-E, L_sem).",
      [run("seqgan_baseline_f16_1024", "imagenet", "SeQ-GAN", f"variant={v} layers={name}", None,
           ar_nar("SeQ-GAN", f"variant={v} layers={name}"), loss__low_layers=layers, loss__semantic_alpha=alpha)
       for v, name, layers, alpha in [("L_low", "relu12-relu53", LOW, 0.0),
                                      ("A", "relu12-relu53+logit", LOW + ["logit"], 0.0),
                                      ("B", "relu22-relu53+logit", LOW[1:] + ["logit"], 0.0),
                                      ("C", "relu33-relu53+logit", LOW[2:] + ["logit"], 0.0),
                                      ("D", "relu43-relu53+logit", LOW[3:] + ["logit"], 0.0),
                                      ("L_sem", "relu53+logit", LOW, 1.0), ("E", "logit", ["logit"], 0.0)]])
# ---- figure panels drawn without printed numbers: our sweep only, plotted as the paper draws it
suite("movq_f6c", "movq", "F6c", "MoVQ Fig. 6c: channels c = 1 ... 16 of the multichannel latent (FFHQ); the paper "
      "prints no numbers for this panel, so the plot shows vqbench's points only.",
      [run("movq_f16_1024", "ffhq", "MoVQ", f"channels={c} K=1024", None,
           {F6A_PRIOR: {"method": "MoVQ", "setting": f"channels={c} K=1024"}}, model__channels=c)
       for c in (1, 2, 4, 8, 16)])
suite("seqgan_f6b", "seqgan", "F6b", "SeQ-GAN Fig. 6b: semantic ratio alpha (one phase, ImageNet); the paper prints no "
      "numbers for this panel, so the plot shows vqbench's points only.",
      [run("seqgan_baseline_f16_1024", "imagenet", "SeQ-GAN", f"alpha={a} K=1024", None,
           {"gpt_seqgan": {"method": "SeQ-GAN", "setting": f"alpha={a} K=1024"}}, loss__semantic_alpha=a)
       for a in (0.0, 0.25, 0.5, 0.75, 1.0)])
# ---- generation and classification tables (the downstream priors)
G = ["generation"]
LCG = {"gpt_vqganlc": "GPT-404M", "sit_xl2": "SiT-XL", "dit_xl2": "DiT-XL", "ldm_cin": "LDM"}


def lc_rows(names: dict[str, str], m: str, setting: str) -> dict[str, dict[str, str]]:
    return {p: {"method": f"{m} + {label}", "setting": setting} for p, label in names.items()}


suite("vqganlc_t4", "vqganlc", "T4", "VQGAN-LC Table 4: class-conditional ImageNet generation with GPT-404M, SiT-XL, "
      "DiT-XL and LDM on the FC / EMA / LC tokenizers (50K samples vs train).",
      [run(t, "imagenet", m, f"tokens=256 K={k}", G, lc_rows(LCG, m, f"tokens=256 K={k}"))
       for t, m, k in [(FC, "VQGAN-FC", 16384), (EMA, "VQGAN-EMA", 16384), (LC, "VQGAN-LC", 100000)]]
      + [run(LC, "imagenet", "VQGAN-LC", "tokens=1024 K=100000", G,
             lc_rows({"ldm_cin": "LDM"}, "VQGAN-LC", "tokens=1024 K=100000"), **LC_F8)])
suite("vqganlc_t5", "vqganlc", "T5", "VQGAN-LC Table 5: unconditional FFHQ generation with LDM and GPT-404M.",
      [run(t, "ffhq", m, f"tokens=256 K={k}", G, lc_rows({"ldm_cin": "LDM", "gpt_vqganlc": "GPT-404M"}, m,
                                                         f"tokens=256 K={k}"))
       for t, m, k in [(FC, "VQGAN-FC", 16384), (EMA, "VQGAN-EMA", 16384), (LC, "VQGAN-LC", 100000)]])
suite("vqganlc_f1b", "vqganlc", "F1b", "VQGAN-LC Fig. 1b: ViT-B (MAE fine-tuning recipe) top-1 on ImageNet token maps.",
      [run(t, "imagenet", m, "tokens=256 classifier=ViT-B (MAE finetune)", ["classification"])
       for t, m in [(FC, "VQGAN-FC"), (EMA, "VQGAN-EMA"), (LC, "VQGAN-LC")]])
suite("vqganlc_f5", "vqganlc", "F5", "VQGAN-LC Fig. 5: PSNR when every token is replaced by its M-th nearest code "
      "(M = 1, 50, 100, 1000); the paper prints no numbers, so the plot shows vqbench's points.",
      [run(t, "imagenet", m, f"tokens=256 K={k}", ["token_replacement"])
       for t, m, k in [(FC, "VQGAN-FC", 16384), (EMA, "VQGAN-EMA", 16384), (LC, "VQGAN-LC", 100000)]])
suite("vqganlc_f3", "vqganlc", "F3", "VQGAN-LC Fig. 3: codebook utilisation over training epochs (plot of vqbench's "
      "points; the paper prints no numbers). Every model at K=100,000 (the figure's caption).",
      [run(t, "imagenet", m, "tokens=256 K=100000", ["usage_over_training"], model__n_embed=100000)
       for t, m in [(FC, "VQGAN-FC"), (EMA, "VQGAN-EMA"), (LC, "VQGAN-LC")]])
suite("movq_t2", "movq", "T2", "MoVQ Table 2: unconditional FFHQ generation, 'auto' (GPT) and 'mask' (MaskGIT) priors.",
      [run("movq_f16_1024", "ffhq", "MoVQ", "latent=16x16x4 K=1024", G,
           {"gpt_movq": {"method": "MoVQ-auto", "setting": "params=82.7M+307M steps=1024"},
            "maskgit_movq": {"method": "MoVQ-mask", "setting": "params=82.7M+307M steps=8"}})],
      pending="the VQGAN (801M), RQ-VAE (355M) and ViT-VQGAN priors (not registered)")
suite("movq_t3", "movq", "T3", "MoVQ Table 3: class-conditional ImageNet generation, 'auto' and 'mask' priors.",
      [run("movq_f16_1024", "imagenet", "MoVQ", "latent=16x16x4 K=1024", G,
           {"gpt_movq": {"method": "MoVQ-auto", "setting": "params=389M steps=1024"},
            "maskgit_movq": {"method": "MoVQ-mask", "setting": "params=389M steps=12"}},
           )])
SQP = {"gpt_seqgan": ("AR", "params=57.9M+171M steps=256"), "maskgit_seqgan": ("NAR", "params=57.9M+171M steps=12")}
suite("seqgan_t3", "seqgan", "T3", "SeQ-GAN Table 3: unconditional FFHQ and LSUN generation with the AR and NAR "
      "priors on SeQ-GAN (LSUN: trained on the set itself; the paper fine-tunes its ImageNet tokenizer).",
      [run("seqgan_f16_1024", ds, "SeQ-GAN", "latent=16x16 K=1024", G,
           {p: {"method": f"SeQ-GAN + {lab}", "setting": st} for p, (lab, st) in SQP.items()})
       for ds in ("ffhq", "lsun_church", "lsun_cat", "lsun_bedroom")])
suite("seqgan_t4", "seqgan", "T4", "SeQ-GAN Table 4: class-conditional ImageNet generation, AR / AR-L / NAR / NAR-L.",
      [run("seqgan_f16_1024", "imagenet", "SeQ-GAN", "latent=16x16 K=1024", G,
           {"gpt_seqgan": {"method": "SeQ-GAN + AR", "setting": "params=229M steps=256"},
            "gpt_seqgan_l": {"method": "SeQ-GAN + AR-L", "setting": "params=364M steps=256"},
            "maskgit_seqgan": {"method": "SeQ-GAN + NAR", "setting": "params=229M steps=12"},
            "maskgit_seqgan_l": {"method": "SeQ-GAN + NAR-L", "setting": "params=364M steps=12"}})])
suite("seqgan_f8b", "seqgan", "F8b", "SeQ-GAN Fig. 8b: generation FID after the 1st phase (one-phase alpha=1 "
      "tokenizer) and after the 2nd phase (enhanced decoder), AR and NAR priors.",
      [run("seqgan_baseline_f16_1024", ds, "SeQ-GAN", "phase=1st", G,
           {"gpt_seqgan": {"method": "SeQ-GAN 1st phase + AR", "setting": "phase=1st"},
            "maskgit_seqgan": {"method": "SeQ-GAN 1st phase + NAR", "setting": "phase=1st"}}, loss__semantic_alpha=1.0)
       for ds in ("imagenet", "ffhq", "lsun_church", "lsun_cat", "lsun_bedroom")]
      + [run("seqgan_f16_1024", ds, "SeQ-GAN", "phase=2nd", G,
             {"gpt_seqgan": {"method": "SeQ-GAN 2nd phase + AR", "setting": "phase=2nd"},
              "maskgit_seqgan": {"method": "SeQ-GAN 2nd phase + NAR", "setting": "phase=2nd"}})
         for ds in ("imagenet", "ffhq", "lsun_church", "lsun_cat", "lsun_bedroom")])
# ---- unified: reconstruction of every registered variant under one protocol
SUITES["table1"] = {"name": "table1", "table": "table1", "description": "Unified Table 1: the zoo - parameters "
                    "(meta device), tokens per image and codebook size of every registered tokenizer, next to the "
                    "papers' parameter figures. No data, no training.", "golden": None,
                    "compare": "params",  # action=compare: params_compare against the papers' parameter figures
                    "runs": [{"tokenizer": "*", "datasets": ["imagenet"], "tasks": ["model_facts"]}]}
SUITES["table3"] = {"name": "table3", "table": "table3", "description": "Unified Table 3: ViT-B classification on "
                    "the token maps of every registered tokenizer (ImageNet).", "golden": None,
                    "runs": [{"tokenizer": "*", "datasets": ["imagenet"], "tasks": ["classification"]}]}
SUITES["table4"] = {"name": "table4", "table": "table4", "description": "Unified Table 4: AR generation - the same "
                    "GPT (VQGAN-LC's 24 x 1024) on every registered tokenizer (ImageNet, class-conditional).",
                    "golden": None, "runs": [{"tokenizer": "*", "datasets": ["imagenet"], "tasks": ["generation"],
                                              "priors": ["gpt_vqganlc"]}]}
SUITES["table5"] = {"name": "table5", "table": "table5", "description": "Unified Table 5: NAR generation - MaskGIT on "
                    "every registered tokenizer (ImageNet, class-conditional, 8 steps).", "golden": None,
                    "runs": [{"tokenizer": "*", "datasets": ["imagenet"], "tasks": ["generation"],
                              "priors": ["maskgit"]}]}
SUITES["table6"] = {"name": "table6", "table": "table6", "description": "Unified Table 6: latent diffusion and flow - "
                    "LDM, DiT-XL/2 and SiT-XL/2 on the pre-quantisation latents of every registered tokenizer.",
                    "golden": None, "runs": [{"tokenizer": "*", "datasets": ["imagenet"], "tasks": ["generation"],
                                              "priors": ["ldm_cin", "dit_xl2", "sit_xl2"]}]}
SUITES["table2"] = {"name": "table2", "table": "table2", "description": "Unified Table 2: reconstruction of every "
                    "registered tokenizer on ImageNet val and FFHQ val under one protocol (vqbench's).",
                    "golden": None, "runs": [{"tokenizer": "*", "datasets": ["imagenet", "ffhq"], "tasks": list(R)}]}

if __name__ == "__main__":
    for name, body in SUITES.items():
        path = OUT / ("paper" if name.startswith(("vqganlc", "movq", "seqgan")) else "") / f"{name}.yaml"
        head = ("# Generated by tools/make_paper_suites.py from the rows of results/paper_numbers.csv; "
                "edit that script.\n")
        path.write_text(head + yaml.safe_dump(body, sort_keys=False, width=120))
    print(f"wrote {len(SUITES)} suites")
