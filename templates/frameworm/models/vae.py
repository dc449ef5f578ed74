"""FRAMEWORM's vanilla VAE (registry key ``vae``), rebuilt to load its checkpoints strictly.

Structure (names as in the checkpoint):

- ``encoder.conv_layers``: four Conv2d(k4, s2, p1) with ReLU, widths 32/64/128/256 (hard-coded
  upstream whatever the latent size), then ``fc_mu`` / ``fc_logvar`` on the NCHW flatten.
- ``decoder.fc`` → reshape to [256, s, s] → four ConvTranspose2d(k4, s2, p1) with ReLU, Sigmoid.

The exported graph is the deterministic path ``recon = decode(mu)``: upstream's ``forward``
samples ``mu + exp(logvar/2)·randn`` and is random even in eval (compat README, "Golden cases").
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from ..export_spec import ExportSpec
from ._common import StateDict, exact_sqrt, seeded_uniform, shape_of

_WIDTHS = (32, 64, 128, 256)


class Encoder(nn.Module):
    """Images → (mu, logvar). ``grid`` is the spatial size after the four stride-2 convs."""

    def __init__(self, channels: int, latent_dim: int, grid: int):
        super().__init__()
        layers = []
        c_in = channels
        for width in _WIDTHS:
            layers += [nn.Conv2d(c_in, width, 4, 2, 1), nn.ReLU()]
            c_in = width
        self.conv_layers = nn.Sequential(*layers)
        self.fc_mu = nn.Linear(_WIDTHS[-1] * grid * grid, latent_dim)
        self.fc_logvar = nn.Linear(_WIDTHS[-1] * grid * grid, latent_dim)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = torch.flatten(self.conv_layers(x), 1)  # NCHW row-major, as upstream's view(B, -1)
        return self.fc_mu(h), self.fc_logvar(h)


class Decoder(nn.Module):
    """Latents → images in (0, 1); output size is 16·``grid``."""

    def __init__(self, latent_dim: int, channels: int, grid: int):
        super().__init__()
        self.grid = grid
        self.fc = nn.Linear(latent_dim, _WIDTHS[-1] * grid * grid)
        widths = list(reversed(_WIDTHS)) + [channels]
        layers = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.ReLU()]
        layers[-1] = nn.Sigmoid()
        self.deconv_layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).reshape(-1, _WIDTHS[-1], self.grid, self.grid)
        return self.deconv_layers(h)


class VAE(nn.Module):
    """Encoder + decoder; ``forward`` is the deterministic (recon of mu, mu, logvar)."""

    def __init__(self, latent_dim: int, channels: int = 3, image_size: int = 32,
                 reconstruction_size: Optional[int] = None):
        super().__init__()
        self.encoder = Encoder(channels, latent_dim, image_size // 16)
        self.decoder = Decoder(latent_dim, channels, (reconstruction_size or image_size) // 16)

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x)
        return self.decoder(mu), mu, logvar


def detect(state_dict: StateDict) -> Optional[Dict[str, Any]]:
    """Fingerprint ``encoder.fc_mu.weight`` (compat README, "Fingerprints").

    The image size comes from the flatten width: encoder size = 16·√(in/256). Upstream's
    decoder rounds the other way (16·⌈S/16⌉ vs the encoder's 16·⌊S/16⌋), so for sizes that are
    not multiples of 16 the reconstruction is larger than the input; ``reconstruction_size`` is
    then reported too. ``beta`` only weights the training loss and is not in the weights.
    """
    mu = shape_of(state_dict, "encoder.fc_mu.weight")
    conv0 = shape_of(state_dict, "encoder.conv_layers.0.weight")
    dec_fc = shape_of(state_dict, "decoder.fc.weight")
    if mu is None or conv0 is None or dec_fc is None or len(mu) != 2 or len(conv0) != 4:
        return None
    enc_grid = exact_sqrt(mu[1] / _WIDTHS[-1])
    dec_grid = exact_sqrt(dec_fc[0] / _WIDTHS[-1])
    if not enc_grid or not dec_grid:
        return None
    hp: Dict[str, Any] = {
        "latent_dim": mu[0],
        "channels": conv0[1],
        "beta": 1.0,
        "image_size": 16 * enc_grid,
    }
    if dec_grid != enc_grid:
        hp["reconstruction_size"] = 16 * dec_grid
    return hp


def build(hp: Dict[str, Any]) -> VAE:
    return VAE(int(hp["latent_dim"]), int(hp.get("channels", 3)), int(hp.get("image_size", 32)),
               hp.get("reconstruction_size"))


def with_image_size(hp: Dict[str, Any], size: int) -> Dict[str, Any]:
    """The encoder accepts any S with ⌊S/16⌋ equal to its grid; other sizes cannot load."""
    if size // 16 != int(hp["image_size"]) // 16:
        raise ValueError(
            f"this VAE's weights fix the input size to {hp['image_size']} "
            f"(any size in {hp['image_size']}..{int(hp['image_size']) + 15} works); got {size}"
        )
    return dict(hp, image_size=size)


class _Exported(nn.Module):
    def __init__(self, vae: VAE):
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.vae(x)


def export_spec(model: VAE, hp: Dict[str, Any]) -> ExportSpec:
    size = int(hp.get("image_size", 32))
    x = seeded_uniform((2, int(hp.get("channels", 3)), size, size), 0.0, 1.0)
    return ExportSpec(
        module=_Exported(model).eval(),
        input_names=["x"],
        output_names=["reconstruction", "mu", "log_var"],
        example_inputs=(x,),
    )
