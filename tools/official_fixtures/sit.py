"""Fixtures from willisma/SiT, run unchanged on the CPU: a tiny SiT's forward, the training loss (linear path,
velocity), the dopri5 ODE sampler and the Euler-Maruyama SDE sampler with the 'Mean' last step (sample.py's
defaults: diffusion form 'sigma', norm 1, last step size 0.04), with every noise draw recorded.

Run from the repository root:  python -m tools.official_fixtures.sit [--mirror /work/.mirror/willisma+SiT/repo]
Stubs: none (models.py needs timm, transport/ needs torchdiffeq; both installed). torch.randn_like, torch.rand and
torch.randn are wrapped only to record the draws of Transport.sample and sde.__Euler_Maruyama_step (seeded)."""
from __future__ import annotations

import argparse
import sys

import torch

from tools.official_fixtures.common import mirror_commit, save_fixture
from tools.official_fixtures.dit import checkout

REPO, DIR = "willisma/SiT", "SiT"
TINY = dict(input_size=8, patch_size=2, in_channels=4, hidden_size=32, depth=2, num_heads=2, num_classes=10,
            class_dropout_prob=0.1, learn_sigma=True)


class Record:
    """Replace torch.<name> by a seeded draw of the same shape and keep the draws."""

    def __init__(self, name: str, seed: int) -> None:
        self.name, self.gen, self.draws, self.orig = name, torch.Generator().manual_seed(seed), [], getattr(torch, name)

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        like = args[0] if isinstance(args[0], torch.Tensor) else None
        shape = like.shape if like is not None else (args[0] if isinstance(args[0], (tuple, torch.Size)) else args)
        draw = torch.rand if self.name == "rand" else torch.randn
        out = (self.orig if draw is self else draw)(tuple(shape), generator=self.gen)
        self.draws.append(out)
        return out

    def __enter__(self) -> Record:
        setattr(torch, self.name, self)
        return self

    def __exit__(self, *exc) -> None:
        setattr(torch, self.name, self.orig)


def main(mirror: str) -> None:
    commit = mirror_commit(mirror)
    sys.path.insert(0, str(checkout(mirror)))
    from transport import Sampler, create_transport

    import models  # SiT models.py

    meta = dict(repo=REPO, commit=commit)
    torch.manual_seed(0)
    model = models.SiT(**TINY)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    model.eval()
    state = {f"state.{k}": v for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, 8, 8, generator=g)
    t, y = torch.tensor([0.0, 0.3, 0.97]), torch.tensor([1, 7, 10])
    with torch.no_grad():
        out = model(x, t, y)
    save_fixture(DIR, "forward", {**state, "x": x, "t": t, "y": y, "out": out}, source="models.py",
                 function="SiT.forward", notes=f"SiT({TINY}), seed 0, weights + 0.05 N(0,1); eval mode", **meta)

    transport = create_transport("Linear", "velocity")  # train.py defaults
    x1, y = torch.randn(4, 4, 8, 8, generator=g), torch.tensor([0, 3, 9, 2])
    with torch.no_grad(), Record("randn_like", 2) as noise, Record("rand", 3) as times:
        terms = transport.training_losses(model, x1, dict(y=y))
    save_fixture(DIR, "loss", {"x1": x1, "y": y, "x0": noise.draws[0], "t": times.draws[0], "loss": terms["loss"]},
                 source="transport/transport.py", function="Transport.training_losses",
                 notes="create_transport('Linear', 'velocity'); x0 = the randn_like draw, t = the rand draw", **meta)

    sampler = Sampler(transport)
    z, y = torch.randn(2, 4, 8, 8, generator=g), torch.tensor([3, 8])
    with torch.no_grad():
        ode = sampler.sample_ode(sampling_method="dopri5", num_steps=50, atol=1e-6, rtol=1e-3)(z, model.forward,
                                                                                                 y=y)[-1]
    save_fixture(DIR, "ode", {"z": z, "y": y, "out": ode}, source="transport/transport.py",
                 function="Sampler.sample_ode", notes="dopri5, num_steps 50, atol 1e-6, rtol 1e-3 (sample.py ODE)",
                 **meta)
    with torch.no_grad(), Record("randn", 4) as rec:
        sde = sampler.sample_sde(sampling_method="Euler", diffusion_form="sigma", diffusion_norm=1.0,
                                 last_step="Mean", last_step_size=0.04, num_steps=6)(z, model.forward, y=y)[-1]
    save_fixture(DIR, "sde", {"z": z, "y": y, "draws": torch.stack(rec.draws), "out": sde},
                 source="transport/transport.py + transport/integrators.py",
                 function="Sampler.sample_sde (sde.__Euler_Maruyama_step)",
                 notes="Euler, form 'sigma', norm 1, last step 'Mean' 0.04, num_steps 6 (5 noisy steps + the "
                       "last); draws[i] is step i's randn", **meta)
    print("SiT fixtures written at", commit)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", default="/work/.mirror/willisma+SiT/repo")
    main(ap.parse_args().mirror)
