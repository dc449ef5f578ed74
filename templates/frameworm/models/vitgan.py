"""FRAMEWORM's ViT-GAN (registry key ``vitgan``), rebuilt to load its checkpoints strictly.

- ``generator`` (a flat Sequential): Linear(latent → 8h·s²), reshape to [8h, s, s] with
  s = image_size/16, then three ConvTranspose2d(k4, s2, p1) + BatchNorm + ReLU halving the
  width (8h → 4h → 2h → h) and a final ConvTranspose2d → C with Tanh.
- ``discriminator``: a pre-LN Vision Transformer (patch conv, CLS token, positional embedding,
  ``depth`` blocks of LayerNorm → MultiheadAttention → LayerNorm → MLP(4×, GELU), final
  LayerNorm and a Linear head on the CLS token). Only loaded, never exported.

Upstream's ``forward(real_images)`` is the training loss, so ``generator(z)`` is the only
generation path (compat README, "Golden cases").
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from torch import nn

from ..export_spec import ExportSpec
from ._common import Reshape, StateDict, count_indexed, exact_sqrt, seeded_normal, shape_of

#: Upstream's default head count; see ``detect`` for why it is only a guess.
_DEFAULT_HEADS = 6


def make_generator(latent_dim: int, image_size: int, channels: int, gen_hidden: int) -> nn.Sequential:
    """The generator Sequential with upstream's indices (0 Linear, 1 reshape, 2 ConvT, 3 BN …).

    Upstream's index 1 is ``nn.Unflatten``; :class:`Reshape` computes the same NCHW row-major
    reshape and exports on torch 1.13 (which lacks ``aten::unflatten`` in ONNX).
    """
    s = image_size // 16
    widths = [gen_hidden * 8, gen_hidden * 4, gen_hidden * 2, gen_hidden]
    layers: list = [nn.Linear(latent_dim, widths[0] * s * s), Reshape(widths[0], s, s)]
    for c_in, c_out in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out),
                   nn.ReLU(inplace=True)]
    layers += [nn.ConvTranspose2d(gen_hidden, channels, 4, stride=2, padding=1), nn.Tanh()]
    return nn.Sequential(*layers)


class PatchEmbedding(nn.Module):
    def __init__(self, image_size: int, patch_size: int, in_channels: int, embed_dim: int):
        super().__init__()
        n_patches = (image_size // patch_size) ** 2
        self.projection = nn.Conv2d(in_channels, embed_dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embedding = nn.Parameter(torch.zeros(1, n_patches + 1, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.projection(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return torch.cat([cls, x], dim=1) + self.pos_embedding


class TransformerEncoderBlock(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.1):
        super().__init__()
        hidden = int(embed_dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(embed_dim)
        self.mlp = nn.Sequential(nn.Linear(embed_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, embed_dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViTDiscriminator(nn.Module):
    def __init__(self, image_size: int, patch_size: int, in_channels: int, embed_dim: int,
                 depth: int, num_heads: int):
        super().__init__()
        self.patch_embed = PatchEmbedding(image_size, patch_size, in_channels, embed_dim)
        self.transformer_blocks = nn.Sequential(
            *[TransformerEncoderBlock(embed_dim, num_heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.transformer_blocks(self.patch_embed(x)))
        return self.head(x[:, 0])


class ViTGAN(nn.Module):
    def __init__(self, latent_dim: int = 128, image_size: int = 64, image_channels: int = 3,
                 gen_hidden: int = 256, vit_embed_dim: int = 384, vit_depth: int = 6,
                 vit_heads: int = 6, patch_size: int = 8):
        super().__init__()
        self.latent_dim = latent_dim
        self.generator = make_generator(latent_dim, image_size, image_channels, gen_hidden)
        self.discriminator = ViTDiscriminator(image_size, patch_size, image_channels,
                                              vit_embed_dim, vit_depth, vit_heads)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, latent] → images [B, C, S, S]."""
        return self.generator(z)


def _guess_heads(embed_dim: int) -> int:
    return max(h for h in range(1, _DEFAULT_HEADS + 1) if embed_dim % h == 0)


def detect(state_dict: StateDict) -> Optional[Dict[str, Any]]:
    """Fingerprint ``generator.0.weight`` + ``discriminator.patch_embed.pos_embedding``.

    ``vit_heads`` is not recoverable: attention in-projections are 3E×E for any head count
    (compat README). It only affects the discriminator, which is not exported; we report the
    largest head count ≤ upstream's default 6 that divides the embedding size.
    """
    lin = shape_of(state_dict, "generator.0.weight")
    conv = shape_of(state_dict, "generator.2.weight")
    last = shape_of(state_dict, "generator.11.weight")
    proj = shape_of(state_dict, "discriminator.patch_embed.projection.weight")
    if (lin is None or conv is None or last is None or proj is None or len(lin) != 2
            or "discriminator.patch_embed.pos_embedding" not in state_dict or conv[0] % 8):
        return None
    gen_hidden = conv[0] // 8
    grid = exact_sqrt(lin[0] / (8 * gen_hidden))
    if not grid:
        return None
    return {
        "latent_dim": lin[1],
        "image_size": 16 * grid,
        "image_channels": last[1],
        "gen_hidden": gen_hidden,
        "vit_embed_dim": proj[0],
        "vit_depth": count_indexed(state_dict, "discriminator.transformer_blocks."),
        "vit_heads": _guess_heads(proj[0]),
        "patch_size": proj[2],
    }


def build(hp: Dict[str, Any]) -> ViTGAN:
    embed = int(hp.get("vit_embed_dim", 384))
    return ViTGAN(
        latent_dim=int(hp.get("latent_dim", 128)),
        image_size=int(hp.get("image_size", 64)),
        image_channels=int(hp.get("image_channels", 3)),
        gen_hidden=int(hp.get("gen_hidden", 256)),
        vit_embed_dim=embed,
        vit_depth=int(hp.get("vit_depth", 6)),
        vit_heads=int(hp.get("vit_heads") or _guess_heads(embed)),
        patch_size=int(hp.get("patch_size", 8)),
    )


def with_image_size(hp: Dict[str, Any], size: int) -> Dict[str, Any]:
    if size != int(hp["image_size"]):
        raise ValueError(f"this ViT-GAN's weights fix the image size to {hp['image_size']}; "
                         f"--image-size {size} cannot apply")
    return dict(hp)


def export_spec(model: ViTGAN, hp: Dict[str, Any]) -> ExportSpec:
    z = seeded_normal((2, int(hp["latent_dim"])))
    return ExportSpec(
        module=model.generator.eval(),
        input_names=["z"],
        output_names=["images"],
        example_inputs=(z,),
    )
