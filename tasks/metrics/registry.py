"""Metric registry: each metric's direction, unit and the protocol facts that must travel with its numbers."""
from __future__ import annotations

from dataclasses import dataclass, field

from bench.registry import Registry


@dataclass(frozen=True)
class MetricEntry:
    """A metric's reporting facts; `protocol` is copied into every record of it."""

    name: str
    direction: str  # 'higher' or 'lower' is better
    unit: str
    description: str
    protocol: dict[str, str] = field(default_factory=dict)


METRICS: Registry[MetricEntry] = Registry("metric")
for _m in (
    MetricEntry("psnr_rgb", "higher", "dB", "PSNR on RGB, uint8 images, mean over images",
                {"psnr_colour": "rgb", "psnr_data_range": "255"}),
    MetricEntry("psnr_y", "higher", "dB", "PSNR on BT.601 Y (MATLAB rgb2ycbcr), mean over images",
                {"psnr_colour": "y-bt601", "psnr_data_range": "255"}),
    MetricEntry("ssim", "higher", "fraction", "SSIM, Gaussian 11x11 sigma 1.5, population covariance, mean over RGB",
                {"ssim_impl": "vqbench (= skimage gaussian_weights=True, use_sample_covariance=False)",
                 "ssim_data_range": "1.0"}),
    MetricEntry("lpips_vgg", "lower", "distance", "LPIPS v0.1 with the VGG16 backbone (lpips package)",
                {"lpips_impl": "lpips 0.1.4 net=vgg v0.1"}),
    MetricEntry("lpips_alex", "lower", "distance", "LPIPS v0.1 with the AlexNet backbone (lpips package)",
                {"lpips_impl": "lpips 0.1.4 net=alex v0.1"}),
    MetricEntry("rfid", "lower", "FID", "FID of reconstructions vs the same real images",
                {"fid_impl": "torch-fidelity 0.4 inception-v3-compat pool3-2048 (streaming mean/cov, float64)",
                 "fid_reference": "same split's real images, same crop"}),
    MetricEntry("usage", "higher", "fraction", "codes hit at least once over the eval set / K",
                {"usage_def": "hit-rate over eval set (VQGAN-LC)"}),
    MetricEntry("perplexity", "higher", "codes", "exp(entropy) of the code histogram over the eval set",
                {"perplexity_def": "exp(entropy) of code histogram over eval set"}),
    MetricEntry("fid", "lower", "FID", "FID of generated samples vs the reference split (train, as the papers)",
                {"fid_impl": "torch-fidelity 0.4 inception-v3-compat pool3-2048 (streaming mean/cov, float64)"}),
    MetricEntry("is", "higher", "score", "Inception Score, 10 splits (torch-fidelity, logits_unbiased)",
                {"is_impl": "torch-fidelity 0.4 isc, 10 splits"}),
    MetricEntry("precision", "higher", "fraction", "improved precision (Kynkaanniemi et al. 2019), k=3, VGG16 fc2",
                {"prc_impl": "torch-fidelity 0.4 prc, VGG16 fc2, k=3"}),
    MetricEntry("recall", "higher", "fraction", "improved recall (Kynkaanniemi et al. 2019), k=3, VGG16 fc2",
                {"prc_impl": "torch-fidelity 0.4 prc, VGG16 fc2, k=3"}),
    MetricEntry("top1", "higher", "percent", "top-1 accuracy of the token-map classifier on the val split",
                {"top1_def": "argmax over the classifier's logits on the val token maps"}),
    MetricEntry("token_accuracy", "higher", "fraction", "teacher-forced top-1 AR predictions equal to the tokens",
                {"token_accuracy_def": "mean over positions and channels, ground-truth context (SeQ-GAN Sec. 3.2)"}),
    MetricEntry("params_m", "lower", "M", "encoder + quantizer + decoder parameters, counted on the meta device",
                {"params_def": "nn.Parameter elements of the tokenizer (no discriminator, no LPIPS, no EMA buffers)"}),
    MetricEntry("tokens_per_image", "lower", "tokens", "h * w * c tokens for one image at the configured resolution",
                {"tokens_def": "h * w * c of the tokenizer's latent map"}),
    MetricEntry("codebook_size", "higher", "codes", "K, the number of codebook entries",
                {"codebook_size_def": "entries of the (shared) codebook"}),
):
    METRICS.add(_m.name, _m)
