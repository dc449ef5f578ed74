"""FRAMEWORM's DCGAN (registry key ``dcgan``), rebuilt to load its checkpoints strictly.

- ``generator.main``: five bias-free ConvTranspose2d (1 → 4 → 8 → 16 → 32 → 64) with
  BatchNorm + ReLU between them and Tanh at the end. It always produces 64×64, whatever
  ``image_size`` says upstream (compat README, "Not recoverable from the weights").
- ``discriminator.main``: Conv(C, ndf) + LeakyReLU(0.2), then n blocks of
  Conv + BatchNorm + LeakyReLU doubling the width, then Conv(k4, s1, p0) → 1 and Sigmoid; the
  image size it judges is 2^(n+3) (64 → n = 3). Only loaded, never exported.

Upstream's generator takes z as [B, latent, 1, 1] and rejects a 2-D z; the exported graph
takes [B, latent] and adds the two unit axes itself.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from torch import nn

from ..export_spec import ExportSpec
from ._common import StateDict, seeded_normal, shape_of

#: Fixed by the generator's five transposed convolutions.
GENERATOR_OUTPUT_SIZE = 64


class Generator(nn.Module):
    def __init__(self, latent_dim: int, ngf: int, channels: int):
        super().__init__()
        widths = [ngf * 8, ngf * 4, ngf * 2, ngf]
        layers = [nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.BatchNorm2d(c_in), nn.ReLU(True),
                       nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)]
        layers += [nn.BatchNorm2d(ngf), nn.ReLU(True),
                   nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


class Discriminator(nn.Module):
    def __init__(self, ndf: int, channels: int, image_size: int = 64):
        super().__init__()
        n_blocks = image_size.bit_length() - 4  # image_size = 2^(n+3)
        layers = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        width = ndf
        for _ in range(n_blocks):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2),
                       nn.LeakyReLU(0.2, inplace=True)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.main(img).reshape(-1)


class DCGAN(nn.Module):
    def __init__(self, latent_dim: int, ngf: int = 64, ndf: int = 64, channels: int = 3,
                 discriminator_image_size: int = 64):
        super().__init__()
        self.latent_dim = latent_dim
        self.generator = Generator(latent_dim, ngf, channels)
        self.discriminator = Discriminator(ndf, channels, discriminator_image_size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: [B, latent] or [B, latent, 1, 1] → images [B, C, 64, 64]."""
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.generator(z)


def detect(state_dict: StateDict) -> Optional[Dict[str, Any]]:
    """Fingerprint ``generator.main.0.weight`` (compat README, "Fingerprints").

    DCGAN keeps its layers under ``.main.``, which tells it apart from ViT-GAN's
    ``generator.<i>`` layout.
    """
    g0 = shape_of(state_dict, "generator.main.0.weight")
    g12 = shape_of(state_dict, "generator.main.12.weight")
    d0 = shape_of(state_dict, "discriminator.main.0.weight")
    if g0 is None or g12 is None or d0 is None or len(g0) != 4 or g0[1] % 8:
        return None
    n_bn = sum(1 for k in state_dict
               if k.startswith("discriminator.main.") and k.endswith(".running_mean"))
    return {
        "latent_dim": g0[0],
        "ngf": g0[1] // 8,
        "ndf": d0[0],
        "channels": g12[1],
        "generator_output_size": GENERATOR_OUTPUT_SIZE,
        "discriminator_image_size": 2 ** (n_bn + 3),
    }


def build(hp: Dict[str, Any]) -> DCGAN:
    return DCGAN(int(hp["latent_dim"]), int(hp.get("ngf", 64)), int(hp.get("ndf", 64)),
                 int(hp.get("channels", 3)), int(hp.get("discriminator_image_size", 64)))


def with_image_size(hp: Dict[str, Any], size: int) -> Dict[str, Any]:
    if size != GENERATOR_OUTPUT_SIZE:
        raise ValueError(f"a DCGAN generator always produces {GENERATOR_OUTPUT_SIZE}x"
                         f"{GENERATOR_OUTPUT_SIZE} images; --image-size {size} cannot apply")
    return dict(hp)


class _Exported(nn.Module):
    """z [B, latent] → images; the reshape to [B, latent, 1, 1] is inside the graph."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z[:, :, None, None])


def export_spec(model: DCGAN, hp: Dict[str, Any]) -> ExportSpec:
    z = seeded_normal((2, int(hp["latent_dim"])))
    return ExportSpec(
        module=_Exported(model.generator).eval(),
        input_names=["z"],
        output_names=["images"],
        example_inputs=(z,),
    )
