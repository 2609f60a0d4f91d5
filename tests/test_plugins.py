"""Tokenizer plugins (issue 23.1): the README's worked example, pip-installed into a temporary folder, runs through
suite=recon and a shortened suite=smoke_downstream from the CLI and appears in the tables with its provenance;
bad plugins stop the run with one line before any stage."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch

from conftest import REPO, compose, run_cli
from models.plugins import PluginError


def _readme_package(root: Path) -> Path:
    """Write the README's example package (its fenced blocks after the plugin-example markers) under root."""
    text = (REPO / "README.md").read_text()
    pkg = root / "patchvq_tok"
    for rel, body in re.findall(r"<!-- plugin-example:(\S+) -->\n```\w+\n(.*?)```", text, flags=re.S):
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(body)
    (pkg / "patchvq_tok" / "__init__.py").write_text("")
    assert (pkg / "pyproject.toml").is_file() and (pkg / "patchvq_tok" / "model.py").is_file()
    return pkg


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The example installed with pip into its own folder (never the shared environment), found by PYTHONPATH."""
    root = tmp_path_factory.mktemp("plugin")
    pkg = _readme_package(root)
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(pkg)], check=True, capture_output=True, timeout=300)
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    return root, env


@pytest.mark.slow
def test_listing_shows_the_installed_plugin(installed) -> None:
    root, env = installed
    out = run_cli(["list=tokenizers"], cwd=root, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("patchvq "))
    assert "0.00M" in row and "8x8x1" in row and "plugin patchvq-tok 0.1.0" in row, row


@pytest.mark.slow
def test_plugin_runs_recon_and_downstream_and_lands_in_the_tables(installed) -> None:
    root, env = installed
    common = [f"paths.work_dir={root / 'w'}", f"paths.results_dir={root / 'r'}", "launcher=debug"]
    out = run_cli(["suite=recon", "tokenizer=patchvq", "scale.eval.max_images=16", *common], cwd=root, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    run = ("suite.runs=[{tokenizer:patchvq,datasets:[mini_digits],tasks:[generation,classification,"
           "token_replacement],priors:[gpt_vqganlc],prior_overrides:{gpt_vqganlc:{train:{steps:4,ckpt_every:4},"
           "sample:{n_samples:8}}}}]")
    out = run_cli(["suite=smoke_downstream", run, "scale.eval.max_ref_images=16", *common], cwd=root, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    source = (root / "patchvq_tok" / "patchvq_tok" / "model.py").read_bytes()
    for suite, metrics in (("recon", {"psnr_rgb", "rfid", "usage"}),
                           ("smoke_downstream", {"fid", "top1", "psnr_rgb"})):
        df = pd.read_csv(root / "r" / suite / "results.csv")
        assert metrics <= set(df["metric"]), (suite, sorted(set(df["metric"])))
        assert set(df["plugin"]) == {"patchvq-tok"} and set(df["plugin_version"]) == {"0.1.0"}
        assert set(df["plugin_sha256"]) == {hashlib.sha256(source).hexdigest()}  # the installed file's hash
        assert "patchvq" in (root / "r" / suite / "results.md").read_text()  # the comparison table


# Bad plugins: each module is written to a folder on sys.path and selected with tokenizer=plugin.
GOOD = """
import torch
from torch import nn

class Tok(nn.Module):
    codebook_size, resolution, token_grid = 16, 32, (8, 8)
    def __init__(self):
        super().__init__()
        self.enc = nn.Conv2d(3, 16, 4, stride=4)
    def encode(self, x):
        return self.enc(x).argmax(1)
    def decode(self, codes):
        return torch.zeros(codes.shape[0], 3, 32, 32)
"""
BUILD = "\ndef build():\n    return Tok()\n"
BAD = {
    "not_importable": ("import not_a_module_anywhere\n", "cannot import module"),
    "no_builder": (GOOD, "has no 'build'"),
    "missing_decode": (GOOD.replace("def decode", "def _decode") + BUILD, "lacks decode"),
    "wrong_shape": (GOOD.replace("(8, 8)", "(4, 4)") + BUILD, "must give integer codes"),
    "float_codes": (GOOD.replace(".argmax(1)", ".argmax(1).float()") + BUILD,
                    "must give integer codes"),
    "outside_codebook": (GOOD.replace("argmax(1)", "argmax(1) + 16") + BUILD,
                         "outside the codebook"),
    "bad_decode": (GOOD.replace("32, 32)", "16, 16)") + BUILD, "decode(codes) must give"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_plugins_fail_with_one_line_before_any_stage(case, tmp_path, monkeypatch) -> None:
    from bench.suite import run_suite

    source, expected = BAD[case]
    mod = f"h7_bad_{case}"
    (tmp_path / f"{mod}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = compose(["suite=recon", "tokenizer=plugin", f"tokenizer.target={mod}:build", "launcher=debug",
                   f"paths.work_dir={tmp_path / 'w'}", f"paths.results_dir={tmp_path / 'r'}"])
    with pytest.raises(SystemExit) as err:
        run_suite(cfg)
    msg = str(err.value.code)
    assert msg.startswith("error: tokenizer plugin") and expected in msg and "\n" not in msg, msg
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").rglob("stage.json"))


def test_adapter_gives_the_plugins_own_codes_and_images(tmp_path, monkeypatch) -> None:
    """vqbench's (b, h, w, 1) codes and decodes are the plugin's own, and token replacement uses its codebook."""
    from models.registry import build_tokenizer, create_entry
    from models.token_ops import replace_with_mth_nearest

    pkg = _readme_package(tmp_path)
    monkeypatch.syspath_prepend(str(pkg))
    entry = create_entry("plugin:patchvq_tok.model:build", "smoke")
    assert (entry.model.n_embed, entry.model.downsample, entry.model.embed_dim) == (64, 4, 8)
    tok = build_tokenizer(entry)
    from patchvq_tok.model import build

    ref = build()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    codes, z = ref.encode(x)
    enc = tok.encode(x)
    assert torch.equal(enc.indices[..., 0], codes) and torch.equal(enc.latents, z)
    assert torch.equal(tok.decode_indices(enc.indices), ref.decode(codes))
    assert torch.equal(replace_with_mth_nearest(tok, x, 1), enc.indices)  # M=1: its own codes
    second = torch.cdist(z.permute(0, 2, 3, 1).reshape(-1, 8), ref.codebook).argsort(1)[:, 1].view(3, 8, 8)
    assert torch.equal(replace_with_mth_nearest(tok, x, 2)[..., 0], second)
    with pytest.raises(PluginError, match="tokenizer.target=<module>:<function>"):
        create_entry("plugin:None", "smoke")
