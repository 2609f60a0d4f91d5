"""Evaluation protocols: which implementation computes each metric, as facts copied into every record.

One table for every consumer: the runners write `protocol_facts(metric, protocol)` into each record, and
`bench/report/compare.py` reads the same facts back from the records and holds them against the protocol each paper
used (`PAPER_PROTOCOL`), so a record and the comparison cannot disagree about how a number was measured.

- 'torch-fidelity' (default): today's vqbench numbers (uint8 images, torch-fidelity Inception / VGG16 prc).
- 'vqganlc': zh460045050/VQGAN-LC `vqgan-gpt-lc/eval_reconstruction.py` (clean-fid rFID, pyiqa PSNR-Y on
  floats, piq SSIM, pyiqa LPIPS fed [-1, 1] images); see `tasks/metrics/vqganlc.py`.
- 'clean-fid': VQGAN-LC's generation scripts (clean-fid mode='clean' FID of the sample files against the raw train
  folder); see `tasks/metrics/fid_clean.py`.
- 'adm': openai/guided-diffusion `evaluations/evaluator.py` (Inception pool features for FID and k=3 manifold
  precision/recall against a random 10k reference batch, IS over 5,000-image splits); see `tasks/metrics/adm.py`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from tasks.metrics.recon_hooks import FLOAT_CLEAN_HOOKS, UINT8_HOOKS, ReconHooks
from tasks.metrics.registry import METRICS

DEFAULT_PROTOCOL = "torch-fidelity"
TF_FID = {"fid_impl": "torch-fidelity", "fid_features": "torch-fidelity 0.4 inception-v3-compat pool3-2048 "
          "(uint8 input, TF1 bilinear resize to 299, streaming mean/cov float64)"}
_USAGE = {"usage_def": "hit-rate over eval set (VQGAN-LC)"}
_PERPLEXITY = {"perplexity_def": "exp(entropy) of code histogram over eval set"}
# metrics whose definition does not depend on the evaluation protocol
_PROTOCOL_FREE = {
    "top1": {"top1_def": "argmax over the classifier's logits on the val token maps"},
    "token_accuracy": {"token_accuracy_def": "mean over positions and channels, ground-truth context "
                                             "(SeQ-GAN Sec. 3.2)"},
    "params_m": {"params_def": "nn.Parameter elements of the tokenizer (no discriminator, no LPIPS, no EMA buffers)"},
    "tokens_per_image": {"tokens_def": "h * w * c of the tokenizer's latent map"},
    "codebook_size": {"codebook_size_def": "entries of the (shared) codebook"},
}


def register_protocol_free(metric: str, facts: dict[str, str]) -> None:
    """Record the facts of a metric no protocol changes (called by the metric's own module)."""
    _PROTOCOL_FREE[metric] = dict(facts)


# eval_reconstruction.py prepares its inputs with albumentations SmallestMaxSize(256) + CenterCrop(256): cv2
# INTER_LINEAR without antialiasing. vqbench reproduces it bit for bit (tasks/metrics/vqganlc.py cv2_resize_linear,
# tested against cv2 5.1 / albumentations 2.0.8 in tests/test_official_metrics.py); selecting the protocol selects
# that resize for the evaluation images (EvalProtocol.interpolation, applied by `protocol_dataset`).
_LC_INPUT = {"input_resize": "albumentations SmallestMaxSize(256) = cv2 INTER_LINEAR, no antialiasing; center crop"}


_ADM_PRC = ("adm-evaluator ManifoldEstimator, Inception pool_3, k=3, squared L2 in float16 as DistanceBlock (float32 "
            "when a 10k x 10k block overflows), <= ties inside")
# tests/test_official_metrics.py against evaluator.py run with TensorFlow 2.21: precision equal, recall within one point
_ADM_PRC_INEXACT = ("TensorFlow sums the float16 squared norms in a CPU-dependent order that vqbench does not copy: "
                    "radii can differ by up to two float16 steps (0.5-1 at pool_3 norms), so a point near a ball's "
                    "edge may count differently")


# VQGAN-LC scores generation with clean-fid mode=clean against the raw train folder (tasks/metrics/fid_clean.py);
# the official scripts report FID only, so IS, precision and recall stay vqbench's default (torch-fidelity)
CLEAN_FID = "clean-fid"
_CLEAN_GEN_FID = ("clean-fid", "cleanfid.fid.compute_fid(samples, <split folder>, mode='clean'): PIL bicubic float "
                  "resize to 299, Inception pool3-2048, np.cov")
_CLEAN_GEN_INEXACT = ("vqbench keeps uint8 samples rounded where eval_generation.py (GPT) and run_evaluations.py (LDM) "
                      "truncate with np.uint8; run_evaluations.py's JPEG is written by OpenCV, vqbench's by PIL at the "
                      "same quality; Inception is torch-fidelity's port of clean-fid's 2015-12-05 weights")


@dataclass(frozen=True)
class EvalProtocol:
    """A named evaluation protocol: per-metric facts, what it follows, and where it cannot follow exactly."""

    name: str
    source: str
    facts: dict[str, dict[str, str]]
    inexact: dict[str, str] = field(default_factory=dict)  # metric -> what differs from the original scripts
    interpolation: str | None = None  # the evaluation images' resize the protocol implies (None: dataset's own)
    recon: ReconHooks | None = None  # how tasks/reconstruction.py computes its metrics (None: no reconstruction task)


PROTOCOLS: dict[str, EvalProtocol] = {p.name: p for p in (
    EvalProtocol("torch-fidelity", "taming-transformers / torch-fidelity 0.4 (vqbench default)", {
        "psnr_rgb": {"psnr_colour": "rgb", "psnr_data_range": "255", "psnr_input": "uint8 (rounded)"},
        "psnr_y": {"psnr_colour": "y-bt601", "psnr_data_range": "255", "psnr_input": "uint8 (rounded)"},
        "ssim": {"ssim_impl": "vqbench (= skimage gaussian_weights=True, use_sample_covariance=False)",
                 "ssim_data_range": "1", "ssim_input": "uint8 (rounded)"},
        "lpips_vgg": {"lpips_impl": "lpips 0.1.4 net=vgg v0.1", "lpips_input": "uint8 (rounded) mapped to [-1,1]"},
        "lpips_alex": {"lpips_impl": "lpips 0.1.4 net=alex v0.1", "lpips_input": "uint8 (rounded) mapped to [-1,1]"},
        "rfid": {**TF_FID, "fid_reference": "same split's real images, same crop"},
        "usage": _USAGE, "perplexity": _PERPLEXITY,
        "fid": {**TF_FID, "fid_reference": "reference split statistics"},
        "is": {"is_impl": "torch-fidelity 0.4 isc, 10 splits"},
        "precision": {"prc_impl": "torch-fidelity 0.4 prc, VGG16 fc2, k=3"},
        "recall": {"prc_impl": "torch-fidelity 0.4 prc, VGG16 fc2, k=3"},
    }, recon=UINT8_HOOKS),
    EvalProtocol("vqganlc", "zh460045050/VQGAN-LC vqgan-gpt-lc/eval_reconstruction.py", {
        "psnr_rgb": {"psnr_colour": "rgb", "psnr_data_range": "1", "psnr_input": "float [0,1], recon clamped",
                     **_LC_INPUT},
        "psnr_y": {"psnr_colour": "y-bt601", "psnr_data_range": "1",
                   "psnr_input": "float [0,1], recon clamped (pyiqa psnr test_y_channel ycbcr, eps 1e-8)", **_LC_INPUT},
        "ssim": {"ssim_impl": "piq.ssim (11x11 sigma 1.5, avg-pool by round(min(H,W)/256))", "ssim_data_range": "1",
                 "ssim_input": "float [0,1], recon clamped", **_LC_INPUT},
        "lpips_vgg": {"lpips_impl": "pyiqa lpips-vgg v0.1 (lpips 0.1.4 weights)",
                      "lpips_input": "[-1,1] images into pyiqa (mapped again to [-3,1]), recon unclamped", **_LC_INPUT},
        "lpips_alex": {"lpips_impl": "pyiqa lpips (alex) v0.1 (lpips 0.1.4 weights)",
                       "lpips_input": "[-1,1] images into pyiqa (mapped again to [-3,1]), recon unclamped",
                       **_LC_INPUT},
        "rfid": {"fid_impl": "clean-fid", "fid_features": "clean-fid mode=clean: PIL bicubic float resize to 299, "
                 "Inception pool3-2048, np.cov", "fid_reference": "raw split images (no crop), clean resize"},
        "usage": _USAGE, "perplexity": _PERPLEXITY,
    }, inexact={
        "rfid": "VQGAN-LC's DistributedSampler(drop_last=True) drops the last val images that do not fill a GPU "
                "batch; its reconstructions go through plt.imsave PNG after np.uint8 truncation (reproduced)",
    }, interpolation="cv2_linear", recon=FLOAT_CLEAN_HOOKS),
    EvalProtocol(CLEAN_FID, "zh460045050/VQGAN-LC vqgan-gpt-lc/eval_generation.py, ldm-lc/run_evaluations.py, "
                 "dit-lc/evaluation.py, sit-lc/evaluation.py (cleanfid.fid.compute_fid mode='clean')", {
        "fid": {"fid_impl": _CLEAN_GEN_FID[0], "fid_features": _CLEAN_GEN_FID[1],
                "fid_reference": "every raw image (no crop) of the train split (FFHQ: train + val, paper Sec. 4.1), "
                                 "clean resize",
                "fid_samples": "re-read from the official script's sample files (PNG, or JPEG at its quality)"},
        "is": {"is_impl": "torch-fidelity 0.4 isc, 10 splits (VQGAN-LC's scripts report FID only)"},
        "precision": {"prc_impl": "torch-fidelity 0.4 prc, VGG16 fc2, k=3 (VQGAN-LC's scripts report FID only)"},
        "recall": {"prc_impl": "torch-fidelity 0.4 prc, VGG16 fc2, k=3 (VQGAN-LC's scripts report FID only)"},
    }, inexact={"fid": _CLEAN_GEN_INEXACT}),
    EvalProtocol("adm", "openai/guided-diffusion evaluations/evaluator.py", {
        "fid": {"fid_impl": "adm-evaluator", "fid_features": "Inception pool_3 2048 (torch-fidelity's port of the "
                "2015-12-05 graph)", "fid_reference": "reference split statistics"},
        "is": {"is_impl": "adm-evaluator: softmax of unbiased Inception logits, 5,000-image splits"},
        "precision": {"prc_impl": _ADM_PRC},
        "recall": {"prc_impl": _ADM_PRC},
    }, inexact={
        "precision": _ADM_PRC_INEXACT,
        "recall": _ADM_PRC_INEXACT,
        "fid": "the evaluator runs the TF Inception graph; vqbench runs torch-fidelity's port of the same weights",
        "is": "the evaluator runs the TF Inception graph; vqbench runs torch-fidelity's port of the same weights",
    }),
)}

# The protocol each paper's numbers were measured with, by task (REFERENCE_NOTES, last section): VQGAN-LC's
# reconstruction script and its generation scripts' clean-fid; taming's torch-fidelity for MoVQ's reconstructions;
# generation numbers printed next to ADM / MaskGIT come from the ADM evaluator. None: the paper's evaluation code is
# not public.
PAPER_PROTOCOL: dict[str, dict[str, str | None]] = {
    "vqganlc": {"reconstruction": "vqganlc", "generation": CLEAN_FID},
    "movq": {"reconstruction": "torch-fidelity", "generation": "adm"},
    "seqgan": {"reconstruction": None, "generation": "adm"},
}
# Which of our metrics a paper's column is, where the paper says (VQGAN-LC: pyiqa PSNR on Y, pyiqa 'lpips' = alex)
PAPER_VARIANT: dict[str, dict[str, str]] = {"vqganlc": {"psnr": "psnr_y", "lpips": "lpips_alex"}}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def protocols_markdown() -> str:
    """REPRODUCE.md's protocol table: each protocol's metrics and implementation facts, where it cannot follow its
    source exactly, and which paper's task it measures (tools/reproduce_tables.py pastes it)."""
    used = {p: [f"{paper} {task}" for paper, tasks in PAPER_PROTOCOL.items() for task, q in tasks.items() if q == p]
            for p in PROTOCOLS}
    rows = ["| protocol | follows | metric | facts recorded | inexact | papers' numbers it measures |",
            "|---|---|---|---|---|---|"]
    for p in PROTOCOLS.values():
        for i, (metric, facts) in enumerate(p.facts.items()):
            head = (f"`{p.name}`", _cell(p.source) + (f"; images resized `{p.interpolation}`" if p.interpolation
                                                      else "")) if i == 0 else ("", "")
            fact_text = "; ".join(f"{k}: {_cell(v)}" for k, v in facts.items())
            rows.append(f"| {head[0]} | {head[1]} | {metric} | {fact_text} | {_cell(p.inexact.get(metric, ''))} | "
                        f"{', '.join(used[p.name]) if i == 0 else ''} |")
    unverified = [f"{paper} {task}" for paper, tasks in PAPER_PROTOCOL.items()
                  for task, q in tasks.items() if q is None]
    rows.append(f"\nNo public evaluation code (compared as \"protocol unverified\", measured with "
                f"`{DEFAULT_PROTOCOL}`): {', '.join(unverified)}.")
    return "\n".join(rows)


def get_protocol(name: str | None) -> EvalProtocol:
    """The named protocol (None: the default), or a ValueError naming the choices."""
    name = name or DEFAULT_PROTOCOL
    if name not in PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol '{name}'; choose one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]


def protocol_dataset(d: Any, protocol: str | None) -> Any:
    """The dataset config (a dict or a frozen dataclass) an evaluation under `protocol` opens: the protocol's own
    resize where it implies one (vqganlc: eval_reconstruction.py's cv2 INTER_LINEAR), whatever
    dataset.interpolation says."""
    interp = get_protocol(protocol).interpolation
    if interp is None:
        return d
    if dataclasses.is_dataclass(d):
        return dataclasses.replace(d, interpolation=interp)  # type: ignore[type-var]
    return {**d, "interpolation": interp}


def supports(protocol: str | None, metric: str) -> bool:
    """Whether `protocol` defines how to compute `metric`."""
    return metric in _PROTOCOL_FREE or metric in get_protocol(protocol).facts


def protocol_facts(metric: str, protocol: str | None = None) -> dict[str, str]:
    """The facts a record of `metric` carries under `protocol`, 'eval_protocol' included."""
    if metric in _PROTOCOL_FREE:
        return dict(_PROTOCOL_FREE[metric])
    p = get_protocol(protocol)
    if metric not in p.facts:
        raise ValueError(f"protocol '{p.name}' does not define metric '{metric}' (it defines {sorted(p.facts)})")
    out = {"eval_protocol": p.name, **p.facts[metric]}
    if metric in p.inexact:
        out["protocol_inexact"] = p.inexact[metric]
    return out


# scale.eval.protocol=paper: every stage takes its own paper's protocol for its task (PAPER_PROTOCOL), so one paper
# run measures VQGAN-LC's reconstructions with its eval_reconstruction.py and its generations with the ADM evaluator
PAPER_CHOICE = "paper"


def protocol_for(choice: str | None, task: str, paper: str | None = None) -> str:
    """The protocol a stage of `task` uses under `scale.eval.protocol=choice`: 'paper' resolves to the suite's paper's
    own protocol for that task (the default where the paper's code is unknown or the suite has no paper)."""
    if choice == PAPER_CHOICE:
        return (PAPER_PROTOCOL.get(paper or "") or {}).get(task) or DEFAULT_PROTOCOL
    return get_protocol(choice).name


def eval_stage_options(eval_cfg: dict, task: str = "reconstruction", paper: str | None = None) -> dict[str, str]:
    """The stage spec's `protocol` for a non-default protocol (scale.eval.protocol, or the paper's own with 'paper')
    that defines `task`'s metrics; {} (the spec's default) otherwise."""
    p = get_protocol(protocol_for(eval_cfg.get("protocol"), task, paper))
    covers = any(METRICS.get(m).task == task for m in p.facts)
    return {} if p.name == DEFAULT_PROTOCOL or not covers else {"protocol": p.name}
