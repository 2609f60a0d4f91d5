"""Paper-scale training recipes as reviewable data, in each source's own units (epochs or iterations).

A recipe is what a paper (or its official config) says about *how* to train: length, warm-up, discriminator
start and checkpoint interval as `(value, unit)` with unit 'epochs' or 'iters', the global batch and GPU count,
optimiser and loss values. Every field carries its source in `sources` (paper section, or repo + file + key);
'unpublished default' marks a value neither paper nor code states. Steps are derived at plan time from the
dataset's train-split size and the global batch (`derive`), never hard-coded.

The same architecture entry can train under another paper's recipe (VQGAN-LC trains its VQGAN, FC and EMA
baselines with its own recipe, Sec. 4.1): `recipe_for(paper, dataset)` picks it, `recipe_paper` says which
paper's recipe a row of a paper suite uses.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.core.registry import Registry

UNITS = ("epochs", "iters")
Qty = tuple[float, str]  # (value, unit): the quantity exactly as the source writes it


class RecipeError(ValueError):
    """An impossible recipe (GAN that never starts, warm-up past the end, batch not divisible by the GPUs)."""


@dataclass(frozen=True)
class Recipe:
    """One paper's recipe for one dataset; `train`/`loss` hold TrainConfig/LossConfig values it fixes."""

    name: str  # "<paper>/<dataset>"
    length: Qty
    global_batch: int
    n_gpu: int
    warmup: Qty = (0, "iters")
    disc_start: Qty = (0, "iters")
    ckpt_every: Qty = (5000, "iters")
    phase2_length: Qty | None = None  # two-phase recipes (SeQ-GAN): the second phase's length
    fallback: str | None = None  # set when the paper has no recipe for the dataset: whose step counts it borrows
    phase2_train: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)  # model-config values the recipe fixes (quantizer_source)
    sources: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (part of the stage config, so a recipe change changes the stage key)."""
        d = dataclasses.asdict(self)
        d.pop("sources")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items() if v not in (None, {})}


# --- official sources, named once ------------------------------------------------------------------------
TAMING_IN = "CompVis/taming-transformers configs/imagenet_vqgan.yaml"
TAMING_FF = "CompVis/taming-transformers configs/faceshq_vqgan.yaml"
TAMING_OPT = "CompVis/taming-transformers taming/models/vqgan.py configure_optimizers"
LC_TRAIN = "zh460045050/VQGAN-LC vqgan-gpt-lc/training_vqgan.py"
LC_SH = "zh460045050/VQGAN-LC vqgan-gpt-lc/runTrainVQ.sh"
LC_PAPER = "VQGAN-LC paper Sec. 4.1"
RQ_IN = "kakaobrain/rq-vae-transformer configs/imagenet256/stage1/in256-rqvae-8x8x4.yaml"
RQ_FF = "kakaobrain/rq-vae-transformer configs/ffhq/stage1/ffhq256-rqvae-8x8x4.yaml"
MOVQ_PAPER = "MoVQ paper Sec. 4.1 (batch 48 on 4 V100s, 40 epochs; VQGAN's hyper-parameters otherwise)"
SEQ_PAPER = "SeQ-GAN paper Sec. 4.1"
UNPUB = "unpublished default"

_TAMING_TRAIN = {"base_lr": 4.5e-6, "lr_scaling": "taming", "betas": (0.5, 0.9), "eps": 1e-8, "schedule": "constant",
                 "augment": "random_crop"}
_TAMING_LOSS = {"disc_weight": 0.8, "codebook_weight": 1.0, "perceptual_weight": 1.0, "disc_layers": 3,
                "disc_ndf": 64, "pixel_loss": "l1", "d_recompute_recon": True, "lpips_train_mode": True,
                "disc_start_strict": False}
_TAMING_SRC = {"train.base_lr": f"{TAMING_IN} model.base_learning_rate",
               "train.lr_scaling": "taming main.py: lr = accumulate * ngpu * batch * base_lr",
               "train.betas": f"{TAMING_OPT} betas=(0.5, 0.9)",
               "loss.disc_weight": f"{TAMING_IN} lossconfig.params.disc_weight",
               "loss.codebook_weight": f"{TAMING_IN} lossconfig.params.codebook_weight",
               "loss.disc_layers": "taming NLayerDiscriminator default n_layers=3",
               "global_batch": f"{UNPUB} (the yaml's data.params.batch_size is 3 per GPU; GPU count unpublished; "
                               "12 per GPU as in RQ-VAE's note on VQGAN, 8 GPUs)",
               "length": f"{UNPUB} (taming trains until convergence)",
               "ckpt_every": f"{UNPUB}",
               "train.augment": "taming taming/data/imagenet.py ImageNetTrain random_crop (default True)",
               "loss.d_recompute_recon": "taming taming/models/vqgan.py training_step: optimizer_idx 1 calls "
                                         "self(x) again",
               "loss.lpips_train_mode": "taming vqperceptual.py LPIPS().eval() is undone by Lightning's model.train(): "
                                        "LPIPS dropout active while training",
               "loss.disc_start_strict": "taming vqperceptual.py adopt_weight: GAN off while global_step < disc_start"}


def _taming(ds: str) -> Recipe:
    src = TAMING_IN if ds == "imagenet" else TAMING_FF
    start = 250_001 if ds == "imagenet" else 30_001
    return Recipe(f"taming/{ds}", (500_000, "iters"), 96, 8, disc_start=(start, "iters"),
                  train=dict(_TAMING_TRAIN), loss=dict(_TAMING_LOSS),
                  sources={**_TAMING_SRC, "disc_start": f"{src} lossconfig.params.disc_start"})


def _movq(ds: str) -> Recipe:
    base = _taming(ds)
    return dataclasses.replace(base, name=f"movq/{ds}", length=(40, "epochs"), global_batch=48, n_gpu=4,
                               sources={**base.sources, "length": MOVQ_PAPER, "global_batch": MOVQ_PAPER,
                                        "n_gpu": MOVQ_PAPER,
                                        "disc_start": f"VQGAN's per-dataset value ({base.sources['disc_start']})"})


def _vqganlc(ds: str) -> Recipe:
    return Recipe(f"vqganlc/{ds}", (20 if ds == "imagenet" else 800, "epochs"), 256, 32,
                  warmup=(5, "epochs"), disc_start=(50_000, "iters"), ckpt_every=(1, "epochs"),
                  train={"base_lr": 5e-4, "lr_scaling": "none", "betas": (0.5, 0.9), "eps": 1e-7, "schedule": "cosine",
                         "augment": "random_crop"},
                  loss={"codebook_weight": 0.1, "disc_weight": 0.1, "perceptual_weight": 1.0, "disc_layers": 2,
                        "disc_ndf": 64, "pixel_loss": "l1", "d_recompute_recon": True, "lpips_train_mode": True,
                        "disc_start_strict": True},
                  model={"quantizer_source": "vqganlc"},
                  sources={"length": f"{LC_PAPER}: 20 epochs ImageNet, 800 FFHQ (runTrainVQ.sh: --epochs 100)",
                           "model.quantizer_source": "zh460045050/VQGAN-LC vqgan-gpt-lc/models/models_vq.py "
                                                     "VQModel.quantize: its VQGAN/EMA baselines' losses and init",
                           "global_batch": f"{LC_SH} --batch_size 256 (one process); paper: 32 V100s",
                           "n_gpu": f"{LC_PAPER}: 32 Nvidia V100 GPUs",
                           "warmup": f"{LC_PAPER}: 5-epoch linear warm-up; {LC_SH} --warmup_epochs 5",
                           "disc_start": f"{LC_SH} --disc_start 50000 (iterations)",
                           "ckpt_every": f"{LC_TRAIN} main: save_model_last_vqgan_ganloss every epoch",
                           "train.base_lr": f"{LC_PAPER}: 5e-4 ({LC_SH}: --lr 1e-4)",
                           "train.schedule": f"{LC_PAPER}: half-cycle cosine after warm-up",
                           "train.betas": f"{LC_TRAIN} Adam betas=(0.5, 0.9)", "train.eps": f"{LC_TRAIN} Adam eps=1e-7",
                           "loss.codebook_weight": f"{LC_TRAIN} --rate_q 0.1",
                           "loss.disc_weight": f"{LC_TRAIN} --rate_d 0.1",
                           "loss.perceptual_weight": f"{LC_TRAIN} --rate_p 1",
                           "train.augment": f"{LC_TRAIN} albumentations RandomCrop after SmallestMaxSize",
                           "loss.d_recompute_recon": "zh460045050/VQGAN-LC vqgan-gpt-lc/engine_training_vqgan.py: "
                                                     "the discriminator step runs the model again",
                           "loss.lpips_train_mode": f"{LC_TRAIN}: the whole model (LPIPS inside) in train mode",
                           "loss.disc_start_strict": "zh460045050/VQGAN-LC vqgan-gpt-lc/models/models_vq.py: "
                                                     "GAN loss when step > disc_start",
                           "loss.disc_layers": "zh460045050/VQGAN-LC vqgan-gpt-lc/models/models_vq.py "
                                               "NLayerDiscriminator(n_layers=2)"})


def _rqvae(ds: str) -> Recipe:
    src = RQ_IN if ds == "imagenet" else RQ_FF
    return Recipe(f"rqvae/{ds}", (10 if ds == "imagenet" else 150, "epochs"), 128, 4,
                  warmup=(0.5 if ds == "imagenet" else 5, "epochs"), disc_start=(0, "iters"), ckpt_every=(5, "epochs"),
                  train={"base_lr": 4e-5, "lr_scaling": "none", "betas": (0.5, 0.9), "eps": 1e-8,
                         "schedule": "constant",
                         "augment": "random_crop_flip" if ds == "imagenet" else "random_resized_crop_flip"},
                  loss={"disc_weight": 0.75, "perceptual_weight": 1.0, "codebook_weight": 1.0, "disc_layers": 2,
                        "disc_ndf": 64, "pixel_loss": "mse", "lpips_train_mode": True},
                  sources={"length": f"{src} experiment.epochs", "global_batch":
                           f"{src} experiment.batch_size 32 per GPU; RQ-VAE paper: batch 128 (4 GPUs)",
                           "n_gpu": "RQ-VAE paper Sec. 4: 128 = 4 x 32", "warmup": f"{src} optimizer.warmup.epoch",
                           "disc_start": f"{src} gan.loss.disc_start", "ckpt_every": f"{src} experiment.save_ckpt_freq",
                           "train.base_lr": f"{src} optimizer.init_lr", "train.betas": f"{src} optimizer.betas",
                           "train.schedule": f"{src} optimizer.warmup.mode fix (constant after warm-up)",
                           "loss.disc_weight": f"{src} gan.loss.disc_weight",
                           "loss.perceptual_weight": f"{src} gan.loss.perceptual_weight",
                           "loss.disc_layers": f"{src} gan.disc.arch.num_layers",
                           "loss.pixel_loss": f"{src} arch.hparams.loss_type",
                           "train.augment": "kakaobrain/rq-vae-transformer rqvae/img_datasets/transforms.py "
                                            + ("imagenet256x256: Resize(256), RandomCrop(256), RandomHorizontalFlip"
                                               if ds == "imagenet" else "ffhq: RandomResizedCrop(256, scale=(0.75, "
                                               "1.0), ratio=(1.0, 1.0)), RandomHorizontalFlip")
                                            + f" ({src} dataset.transforms.type)",
                           "loss.lpips_train_mode": "RQ-VAE trains with the LPIPS module in train mode (dropout on)",
                           "loss.d_recompute_recon": f"{UNPUB} (one forward per step)"})


def _seqgan_taming(ds: str) -> Recipe:
    """SeQ-GAN trained with taming's GAN (PatchGAN, hinge, adaptive weight): the alternative, recipe=seqgan_taming."""
    return Recipe(f"seqgan_taming/{ds}", (500_000, "iters"), 64, 8, disc_start=(20_000, "iters"),
                  phase2_length=(200_000, "iters"), phase2_train={"base_lr": 5e-5},
                  train={"base_lr": 1e-4, "lr_scaling": "none", "betas": (0.5, 0.9), "eps": 1e-8,
                         "schedule": "constant", "augment": "random_crop"},
                  loss={"disc_weight": 0.8, "codebook_weight": 1.0, "perceptual_weight": 1.0, "d_recompute_recon": True,
                        "lpips_train_mode": True},
                  sources={"length": f"{SEQ_PAPER}: phase 1 500,000 iterations", "phase2_length":
                           f"{SEQ_PAPER}: phase 2 200,000 iterations at lr 5e-5",
                           "train.base_lr": f"{SEQ_PAPER}: Adam 1e-4",
                           "global_batch": f"{UNPUB} (supplementary not available)", "n_gpu": UNPUB,
                           "disc_start": UNPUB, "loss.disc_weight": f"{UNPUB} (taming)", "train.betas":
                           f"{UNPUB} (taming's; MaskGIT's vqgan_config.py uses (0, 0.99) with a StyleGAN "
                           "discriminator)",
                           "ckpt_every": UNPUB, "train.augment": f"{UNPUB} (taming's)",
                           "loss.d_recompute_recon": f"{UNPUB} (taming's)",
                           "loss.lpips_train_mode": f"{UNPUB} (taming's)"})


MASKGIT_CFG = "google-research/maskgit maskgit/configs/vqgan_config.py"
MASKGIT_LOSS = "google-research/maskgit maskgit/libml/losses.py"


def _seqgan(ds: str) -> Recipe:
    """SeQ-GAN on MaskGIT's VQGAN trainer, the base the paper states (the default; recipe=seqgan_taming for taming's).

    Paper-stated: lengths and learning rates. MaskGIT's config: StyleGAN discriminator, non-saturating loss, R1 10,
    fixed adversarial weight 0.1, Adam (0, 0.99). The rest is unpublished and marked so.
    """
    base = _seqgan_taming(ds)
    return dataclasses.replace(
        base, name=f"seqgan/{ds}", global_batch=256,
        train={**base.train, "betas": (0.0, 0.99)},
        loss={"disc_arch": "stylegan", "disc_loss": "non_saturating", "adaptive_weight": False, "disc_weight": 0.1,
              "r1_gamma": 10.0, "codebook_weight": 1.0, "perceptual_weight": 1.0, "d_recompute_recon": True,
              "lpips_train_mode": True},
        sources={**base.sources,
                 "train.betas": f"{MASKGIT_CFG} optimizer.beta1 0.0, beta2 0.99",
                 "global_batch": f"{MASKGIT_CFG} config.batch_size 256 (SeQ-GAN states no batch; its base trainer's)",
                 "n_gpu": f"{UNPUB} (MaskGIT trains on TPUs; 8 GPUs x 32)",
                 "loss.disc_arch": f"{MASKGIT_CFG} (discriminator: maskgit/nets/discriminator.py StyleGAN)",
                 "loss.disc_loss": f"{MASKGIT_CFG} vqgan.loss_type non-saturating; {MASKGIT_LOSS}",
                 "loss.adaptive_weight": f"{MASKGIT_CFG} vqgan.g_adversarial_loss_weight (a fixed weight)",
                 "loss.disc_weight": f"{MASKGIT_CFG} vqgan.g_adversarial_loss_weight 0.1",
                 "loss.r1_gamma": f"{MASKGIT_CFG} vqgan.gradient_penalty r1, grad_penalty_cost 10",
                 "loss.perceptual_weight": f"{UNPUB} (SeQ-GAN replaces MaskGIT's 0.1 LPIPS with its semantic loss)",
                 "loss.d_recompute_recon": f"{UNPUB} (MaskGIT's trainer is not public)",
                 "loss.lpips_train_mode": f"{UNPUB} (MaskGIT's trainer is not public)",
                 "train.augment": f"{UNPUB} (MaskGIT's input pipeline is not public; random crop as taming)"})


# How each paper's code sets the lr when the global batch changes: what train.batch_policy=rescale applies. The lr
# itself comes from TrainConfig.lr (lr_scaling 'taming' is the linear rule; 'none' keeps base_lr).
LR_RULES = {
    "taming": "linear: lr = accumulate x n_gpu x batch x base_lr (taming main.py)",
    "movq": "linear: VQGAN's (taming main.py lr = accumulate x n_gpu x batch x base_lr; MoVQ Sec. 4.1)",
    "vqganlc": "kept: vqgan-gpt-lc/training_vqgan.py passes --lr as the absolute lr whatever the effective batch "
               "(eff_batch_size is only printed)",
    "rqvae": "kept: rqvae/optimizer/scheduler.py warm-up mode 'fix' (the configs' optimizer.warmup.mode) ignores the "
             "world size",
    "seqgan": f"kept: {UNPUB} (SeQ-GAN and MaskGIT's trainer state no rule)",
    "seqgan_taming": f"kept: {UNPUB} (SeQ-GAN states no rule)",
}

PAPERS: Registry[Callable[[str], Recipe]] = Registry("recipe")  # paper -> its recipe builder (by dataset)
for _name, _builder in {"taming": _taming, "movq": _movq, "vqganlc": _vqganlc, "rqvae": _rqvae, "seqgan": _seqgan,
                        "seqgan_taming": _seqgan_taming}.items():
    PAPERS.add(_name, _builder)
# The recipe an entry family trains with when no paper suite says otherwise (its own paper's).
FAMILY_RECIPE = {"vqgan": "taming", "vqgan-fc": "vqganlc", "vqgan-ema": "vqganlc", "vqgan-lc": "vqganlc",
                 "rqvae": "rqvae", "movq": "movq", "seqgan": "seqgan"}
# Families each paper trains itself under its recipe; rows a paper cites from another paper keep that paper's.
PAPER_TRAINS = {"vqganlc": {"vqgan", "vqgan-fc", "vqgan-ema", "vqgan-lc"},  # VQGAN-LC Sec. 4.1 "all ... models"
                "movq": {"vqgan", "movq"},  # MoVQ Sec. 4.1 "all models"; Fig. 6a's baseline VQGAN
                "seqgan": {"seqgan"}, "seqgan_taming": {"seqgan"}, "rqvae": {"rqvae"}, "taming": {"vqgan"}}
# Datasets without a recipe of their own use the closest one (LSUN: FFHQ-like unconditional sets).
_DATASET_FALLBACK = {"imagenet": "imagenet", "ffhq": "ffhq"}


def recipe_paper(family: str, suite_paper: str | None = None) -> str:
    """Which paper's recipe a row uses: the suite's paper where that paper trained the family itself."""
    if suite_paper in PAPER_TRAINS and family in PAPER_TRAINS[suite_paper]:
        return suite_paper
    return FAMILY_RECIPE[family]


def recipe_for(paper: str, dataset: str) -> Recipe:
    """A paper's recipe for a dataset (datasets it never trained on use its FFHQ recipe, stated in sources)."""
    if paper not in PAPERS:
        raise RecipeError(f"unknown recipe '{paper}'; expected one of {PAPERS.names()}")
    ds = _DATASET_FALLBACK.get(dataset, "ffhq")
    r = PAPERS.get(paper)(ds)
    if ds != dataset:  # same optimisation steps as on the borrowed dataset, so iteration-valued GAN starts still fit
        r = dataclasses.replace(r, name=f"{paper}/{dataset}", fallback=ds, sources={
            **r.sources, "dataset": f"no published recipe for {dataset}: the {ds} recipe with its step counts "
                                    f"(epochs converted with the nominal {ds} train size; unpublished default)"})
    return r


def to_steps(q: Qty, n_images: int, global_batch: int) -> int:
    """Steps for a quantity: iterations as given; epochs -> ceil(epochs * images / global batch)."""
    value, unit = q
    if unit not in UNITS:
        raise RecipeError(f"unit '{unit}' must be one of {UNITS}")
    return int(value) if unit == "iters" else math.ceil(value * n_images / global_batch)


@dataclass(frozen=True)
class Deviation:
    """A place where vqbench deliberately differs from an official value, and why."""

    ours: str  # what differs: a tests/data/official_configs.yaml `ours` target, or a behaviour
    source: str  # the official file (or paper section) whose value we do not follow
    official: str
    vqbench: str
    reason: str


# The one deviations table (REPRODUCE.md shows it; tests/test_recipes.py keeps the two in sync).
DEVIATIONS: tuple[Deviation, ...] = (
    Deviation("recipe:taming/imagenet:batch_per_gpu", "taming configs/imagenet_vqgan.yaml data.params.batch_size",
              "3 per GPU (GPU count unpublished)", "12 per GPU x 8 GPUs",
              "the released model's batch is unpublished; RQ-VAE's config notes VQGAN at batch 12; lr scales with it"),
    Deviation("recipe:vqganlc/imagenet:length", "VQGAN-LC vqgan-gpt-lc/runTrainVQ.sh --epochs", "100 epochs",
              "20 epochs (paper Sec. 4.1)", "the tables are the paper's; its text states 20 ImageNet epochs"),
    Deviation("recipe:vqganlc/imagenet:train.base_lr", "VQGAN-LC vqgan-gpt-lc/runTrainVQ.sh --lr", "1e-4",
              "5e-4 (paper Sec. 4.1)", "the paper's stated value; override train.base_lr=1e-4 for the script's"),
    Deviation("cited rows", "VQGAN-LC Tables 2-3 RQ-VAE rows; SeQ-GAN Table 2 VQGAN / RQ-VAE / MoVQ rows",
              "numbers cited from their own papers", "each cited row trains with its own paper's recipe",
              "a paper suite applies its recipe to the families that paper trained itself (models/recipes.py "
              "PAPER_TRAINS); cited rows were not retrained by the citing paper"),
    Deviation("taming length", "taming-transformers (no stated length)", "trained until convergence",
              "500,000 iterations", "unpublished; long enough for the ImageNet GAN start at 250,001"),
    Deviation("smoke recipes", "taming / VQGAN-LC / RQ-VAE trainers (random crop, D on a fresh reconstruction, "
              "LPIPS dropout on, VQGAN-LC GAN at step > disc_start)", "as the paper recipes set them",
              "smoke entries keep centre crop, reused reconstruction, LPIPS in eval mode, GAN at step >= disc_start",
              "the default suite's golden numbers (vqgan_f16_1024 smoke) must not move; paper scale follows "
              "the sources"),
    Deviation("seqgan recipe", "SeQ-GAN builds on MaskGIT's trainer (maskgit/configs/vqgan_config.py)",
              "StyleGAN discriminator, non-saturating loss + R1 10, adversarial weight 0.1, Adam (0, 0.99), "
              "variance-scaling codebook init",
              "all of it (the default seqgan recipe; recipe=seqgan_taming gives taming's GAN) except the codebook "
              "init, which stays the registry's",
              "MaskGIT's trainer code is not public: the codebook init, the perceptual weight next to SeQ-GAN's "
              "semantic loss and the discriminator step order are unpublished; smoke entries keep taming's GAN"),
    Deviation("multi-GPU GAN", "all three official trainers (DDP on the whole model, buffers broadcast)",
              "discriminator gradients averaged across GPUs; BatchNorm buffers from rank 0",
              "discriminator gradients averaged across GPUs (bench/core/distributed.py average_gradients, tested with "
              "two gloo processes); epoch usage OR-ed over ranks; EMA statistics all-reduced",
              "the discriminator is not DDP-wrapped (it runs forward twice a step), so its BatchNorm running "
              "statistics, unused in train mode, stay per rank and the saved ones are rank 0's"),
    Deviation("vqganlc codebook", "VQGAN-LC codebook_generation/minibatch_kmeans_per_class.py",
              "k-means, 100 centres per class over all features",
              "model.kmeans_scope=all (default): one K-means over a seeded 2M-feature subset; kmeans_scope=per_class "
              "runs the code's per-class k-means, one class at a time",
              "paper and code disagree (Sec. 3.2: K-means on all features): both run; the paper's is the default "
              "and build_codebook records which (kmeans_scope)"),
    Deviation("movq params", "MoVQ Table 2 (82.7M)", "82.7M", "73.2M (paper reading) / 78.2M (ai-forever code)",
              "the remaining layers are unpublished (registry param_gap)"),
    Deviation("lsun recipes", "SeQ-GAN Sec. 4.1 (LSUN: fine-tune the ImageNet tokenizer one epoch)",
              "ImageNet model + 1 epoch", "the FFHQ recipe, trained on the LSUN set",
              "fine-tuning from another stage's weights is not wired for one-phase entries yet"),
    # --- priors (issue #15)
    Deviation("prior:ldm_cin:train.lr", "VQGAN-LC ldm-lc/configs/imagenet-f16-vqgan-lc-100K.yaml and "
              "imagenet-f8-vqgan-lc-100K.yaml base_learning_rate, scaled by ldm-lc/main.py --scale_lr (default True)",
              "f16: 4.5e-5 x 8 GPUs x 56 per GPU = 2.016e-2; f8: 1.0e-5 x 8 x 32 = 2.56e-3 (main.py: lr = "
              "accumulate x ngpu x batch x base_lr, runTrainLDM.sh --gpus 0,...,7)",
              "4.5e-4 for both (App. A; the prior's sources name the rule)",
              "paper and code disagree by 45x (f16): the paper's stated Adam 4.5e-4 at batch 448 is the default; "
              "prior_overrides {ldm_cin: {train: {lr: 2.016e-2}}} runs the code's rule"),
    Deviation("prior:ldm_cin:process.cfg_scale", "VQGAN-LC App. A (guidance 1.4) vs ldm-lc/runTestLDM.sh --scale",
              "1.6 (script, f16) / 1.4 (paper)", "1.6 (sample.source=code, default); sample.source=paper gives 1.4",
              "paper and code disagree: both run, records carry sample_source"),
    Deviation("prior:gpt_vqganlc:sample.top_k", "VQGAN-LC App. A (10% of the vocabulary) vs vqgan-gpt-lc/runTestGPT.sh",
              "--top_k 100000 (script: no filtering over 100K codes) / 10% (paper)",
              "100,000 (sample.source=code, default); sample.source=paper: 10% of the bound vocabulary",
              "paper and code disagree: both run, records carry sample_source and top_k"),
    Deviation("ldm_cin model", "VQGAN-LC App. A ('four UNet layers with channel dimensions {256, 1024, 1024, 256}')",
              "the paper's sentence", "ldm-lc/configs/imagenet-f16-vqgan-lc-100K.yaml (model_channels 256, mult "
              "[1, 4], 3 res blocks, attention at factors [4, 1], 32 channels per head): 270.3M",
              "the paper's widths read as the config's down/up path (256 -> 1024 -> 1024 -> 256); the config is the "
              "released model, whose count (UNet without the ClassEmbedder) is the published 270.3M"),
    Deviation("dit/sit flip", "DiT / SiT train.py (and dit-lc train.py): RandomHorizontalFlip on the images",
              "a flip drawn per image per step, the flipped image encoded on the fly",
              "two latent caches (the images and their flipped copies, token_cache hflip=true); each step draws one "
              "of the two per sample (p = 0.5, seeded by the step)", "latents are cached once; an encoder is not "
              "flip-equivariant, so the flipped images are encoded, never the latents flipped"),
    Deviation("dit_xl2 optimiser", "VQGAN-LC dit-lc/train.py (AdamW lr 1e-4, --epochs default 1400) vs App. A",
              "AdamW 1e-4, 1400 epochs (script defaults)", "Adam(W, wd 0) 4.5e-4, 400,000 iterations (App. A)",
              "the paper's stated values; override train.lr=1e-4 for the script's"),
    Deviation("prior label dropout", "google-research/maskgit, vqgan-gpt-lc, ldm-lc (no label dropout); DiT / SiT "
              "(class_dropout_prob 0.1)", "as each code does", "class_dropout 0 for GPT, MaskGIT and LDM (option "
              "model.class_dropout), 0.1 for DiT / SiT", "each prior follows its own code; LDM's unconditional row "
              "(class 1000) is never trained, as in ldm-lc"),
    Deviation("maskgit_movq / movq / seqgan priors", "MoVQ Sec. 4.3, SeQ-GAN Sec. 4.2 (no prior code published)",
              "unpublished", "pre-LN minGPT blocks (MoVQ: 'built upon the VQGAN baseline'); the BERT-style post-LN "
              "tied-head form only for the MaskGIT entry", "the official MaskGIT network is used where its code is "
              "the source; the other papers publish only sizes"),
    Deviation("smoke priors", "DiT / SiT / LDM trainers (EMA 0.9999)", "EMA 0.9999", "smoke: EMA 0.9, 60 steps",
              "a 0.9999 average does not move in 60 steps; the same EMA path runs"),
    Deviation("classifier augmentation", "facebookresearch/mae FINETUNE.md (ViT-B: --mixup 0.8 --cutmix 1.0 "
              "--reprob 0.25), main_finetune.py (timm Mixup, SoftTargetCrossEntropy), util/datasets.py (timm "
              "create_transform: RandomResizedCrop, flip, rand-m9-mstd0.5-inc1, RandomErasing pixel)",
              "all of them on the 224 x 224 images", "timm's own RandomErasing (p 0.25, pixel) then Mixup 0.8 / "
              "CutMix 1.0 (switch 0.5, batch, soft targets with smoothing 0.1) on the token-embedding grid "
              "(tasks/classification.py TokenAugment): CutMix pastes whole tokens, Mixup blends embeddings; no "
              "RandAugment, RandomResizedCrop or flip; smoke: none",
              "VQGAN-LC's classification code is unpublished and its classifier trains on token maps: the "
              "image-space operations would need every augmented image re-encoded by the tokenizer each epoch "
              "(100 x 1.28M forwards), and discrete tokens cannot be blended, so the batch mixing acts on the "
              "embeddings"),
)


def deviations_markdown() -> str:
    """The deviations table as markdown, as REPRODUCE.md shows it."""
    rows = ["| what | official source | official | vqbench | why |", "|---|---|---|---|---|"]
    rows += [f"| `{d.ours}` | {d.source} | {d.official} | {d.vqbench} | {d.reason} |" for d in DEVIATIONS]
    return "\n".join(rows)
