"""FRAMEWORM's VQ-VAE-2 (registry key ``vqvae2``), rebuilt to load its checkpoints strictly.

Two quantised levels: ``enc_bottom`` (÷4, grid H/4) and ``enc_top`` on top of the bottom
encoder's *unquantised* output (another ÷4, grid H/16); one codebook each. The decoder sees
[bottom codes, top codes upsampled by ``top_to_bottom``], produces 2H−4 square, and the result
is tanh'd and then bilinearly resized back to the input size.

Quirks reproduced on purpose (compat README, "Structural details the goldens will catch"):

- Residual blocks start with an in-place ReLU, so the skip path carries relu(x), not x.
- ``top_to_bottom`` output is nearest-resized to the bottom grid when the sizes differ.
- Tanh comes *before* the bilinear resize (align_corners=False, no antialias).
  Both resizes are spelled out as gathers (see ``resize_bilinear``) for runtime parity.
- The nearest code is the first argmin of ‖z‖² + ‖e‖² − 2 z·e, as upstream computes it.
- Each level's loss is codebook + 0.25 × commitment = 1.25 · mean((e − z)²).

The model is fully convolutional: the image size is not in the weights.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..export_spec import ExportSpec
from ._common import StateDict, seeded_uniform, shape_of

#: Example-input size when the caller gives none (the size the compat goldens use).
DEFAULT_IMAGE_SIZE = 32


# ---------------------------------------------------------------------------------------------
# Resizing. F.interpolate would compute the same values in torch, but it exports as an ONNX
# Resize whose runtimes derive coordinates from out/in scales and drift by ~1e-5 from torch
# (onnxruntime: 1.1e-5 on a 60 → 32 bilinear resize of tanh'd values). Spelling torch's CPU
# arithmetic out as gathers keeps every runtime within float rounding of eager torch.
# ---------------------------------------------------------------------------------------------


def _linear_taps(in_size: Any, out_size: Any, like: torch.Tensor
                 ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices and weights of align_corners=False linear resampling along one axis:
    src = max(scale·(dst + 0.5) − 0.5, 0) with scale = in/out rounded to float32,
    i0 = ⌊src⌋, i1 = min(i0 + 1, in − 1), λ1 = src − i0, λ0 = 1 − λ1.

    Probing torch's CPU kernel (impulse responses, e.g. 188 → 96) shows it evaluates src and
    the fractions in double precision from the float32 scale and rounds only the weights to
    float32, so this does the same.
    """
    dst = torch.arange(out_size, device=like.device, dtype=torch.float64)
    scale = _size_ratio(in_size, out_size, like).double()
    src = ((dst + 0.5) * scale - 0.5).clamp(min=0.0)
    floor = src.floor()
    lam1 = (src - floor).clamp(0.0, 1.0)
    i0 = floor.long()
    i1 = _at_most_last(i0 + 1, in_size)
    return i0, i1, (1.0 - lam1).float(), lam1.float()


def _at_most_last(idx: torch.Tensor, in_size: Any) -> torch.Tensor:
    """min(idx, in_size − 1), the bound built as a tensor so a trace keeps it size-generic."""
    return torch.minimum(idx, torch.ones_like(idx[:1]) * (in_size - 1))


def _size_ratio(in_size: Any, out_size: Any, like: torch.Tensor) -> torch.Tensor:
    """in/out as a float32 0-d tensor (built from tensors so traced graphs stay size-generic)."""
    num = torch.ones((), device=like.device, dtype=torch.float32) * in_size
    return num / out_size


def resize_bilinear(x: torch.Tensor, height: Any, width: Any) -> torch.Tensor:
    """``F.interpolate(x, (height, width), mode="bilinear", align_corners=False)``, evaluated
    in torch's order: first along W (a·λ0 + b·λ1), then along H."""
    w0, w1, lw0, lw1 = _linear_taps(x.shape[-1], width, x)
    h0, h1, lh0, lh1 = _linear_taps(x.shape[-2], height, x)
    rows = x.index_select(3, w0) * lw0 + x.index_select(3, w1) * lw1
    return rows.index_select(2, h0) * lh0[:, None] + rows.index_select(2, h1) * lh1[:, None]


def _nearest_index(in_size: Any, out_size: Any, like: torch.Tensor) -> torch.Tensor:
    """torch's nearest source index: min(⌊dst · (in/out)⌋, in − 1), scale in float32."""
    dst = torch.arange(out_size, device=like.device, dtype=torch.float32)
    idx = (dst * _size_ratio(in_size, out_size, like)).floor().long()
    return _at_most_last(idx, in_size)


def resize_nearest(x: torch.Tensor, height: Any, width: Any) -> torch.Tensor:
    """``F.interpolate(x, (height, width), mode="nearest")`` as two gathers (identity when the
    size does not change)."""
    rows = x.index_select(2, _nearest_index(x.shape[-2], height, x))
    return rows.index_select(3, _nearest_index(x.shape[-1], width, x))


class ResidualBlock(nn.Module):
    """relu(x) + conv1×1(relu(conv3×3(relu(x)))).

    Upstream's block is ``x + block(x)`` with an in-place ReLU as the block's first layer, so
    by the time the addition happens x itself has been rectified. We write that explicitly
    (no in-place ops, which tracing and export handle poorly).
    """

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, hidden, 3, padding=1, bias=False),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        return x + self.block[1:](x)


class VQEncoder(nn.Module):
    """÷4 encoder: Conv(k4 s2) ReLU Conv(k4 s2) ReLU Conv3×3, 2 residual blocks, ReLU, 1×1 → D."""

    def __init__(self, in_channels: int, hidden: int, embedding_dim: int):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(in_channels, hidden, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            ResidualBlock(hidden, hidden // 2),
            ResidualBlock(hidden, hidden // 2),
            nn.ReLU(),
            nn.Conv2d(hidden, embedding_dim, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


class VQDecoder(nn.Module):
    """Conv3×3, 2 residual blocks, ReLU, ConvT(k4 s4 p1) ReLU ConvT(k4 s2 p1) ReLU, Conv3×3.

    From an h×h grid it produces (4h − 2)·2 = 8h − 4, i.e. 2H − 4 for the bottom grid H/4.
    """

    def __init__(self, in_channels: int, hidden: int, out_channels: int):
        super().__init__()
        self.decoder = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1),
            ResidualBlock(hidden, hidden // 2),
            ResidualBlock(hidden, hidden // 2),
            nn.ReLU(),
            nn.ConvTranspose2d(hidden, hidden, 4, stride=4, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(hidden, hidden, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, out_channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(x)


class VectorQuantizer(nn.Module):
    """Nearest-code lookup. Returns (quantised, per-sample loss [B], indices [B, h·w])."""

    def __init__(self, num_embeddings: int, embedding_dim: int, commitment_cost: float = 0.25):
        super().__init__()
        self.commitment_cost = commitment_cost
        self.embedding = nn.Embedding(num_embeddings, embedding_dim)

    def forward(self, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, d = z.shape[0], z.shape[1]
        codebook = self.embedding.weight
        z_nhwc = z.permute(0, 2, 3, 1)
        flat = z_nhwc.reshape(-1, d)
        # Same expansion and evaluation order as upstream, so ties break identically.
        distances = (flat.pow(2).sum(dim=1, keepdim=True) + codebook.pow(2).sum(dim=1)
                     - 2 * flat @ codebook.t())
        indices = distances.argmin(dim=1)
        e = codebook[indices].reshape(z_nhwc.shape).permute(0, 3, 1, 2)
        # Upstream: mse(e.detach(), z) + cost · mse(e, z.detach()); equal values, so
        # (1 + cost) · mean((e − z)²), here per sample (mean over that sample's elements) so
        # the loss stays meaningful for every batch size; its batch mean is upstream's scalar.
        sq = (e - z).pow(2)
        loss = (1.0 + self.commitment_cost) * sq.reshape(b, -1).mean(dim=1)
        quantised = z + (e - z).detach()  # straight-through; equals e to within 1e-8
        return quantised, loss, indices.reshape(b, -1)


class VQVAE2(nn.Module):
    def __init__(self, in_channels: int = 3, hidden_channels: int = 128, embedding_dim: int = 64,
                 num_embeddings: int = 512, commitment_cost: float = 0.25):
        super().__init__()
        self.enc_bottom = VQEncoder(in_channels, hidden_channels, embedding_dim)
        self.enc_top = VQEncoder(embedding_dim, hidden_channels, embedding_dim)
        self.vq_top = VectorQuantizer(num_embeddings, embedding_dim, commitment_cost)
        self.vq_bottom = VectorQuantizer(num_embeddings, embedding_dim, commitment_cost)
        self.top_to_bottom = nn.Sequential(
            nn.ConvTranspose2d(embedding_dim, embedding_dim, 4, stride=4, padding=0), nn.ReLU())
        self.dec_bottom = VQDecoder(embedding_dim * 2, hidden_channels, in_channels)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Upstream's outputs (recon, recon_loss, vq_loss, loss as batch scalars) plus the
        per-sample ``vq_loss_per_sample`` and the code indices of both levels."""
        z_bottom = self.enc_bottom(x)
        z_top = self.enc_top(z_bottom)
        q_top, loss_top, idx_top = self.vq_top(z_top)
        q_bottom, loss_bottom, idx_bottom = self.vq_bottom(z_bottom)
        # Upstream resizes only when the grids differ; resizing to the same size with
        # 'nearest' is the identity, so doing it always keeps the traced graph size-generic.
        top_up = resize_nearest(self.top_to_bottom(q_top), q_bottom.shape[-2], q_bottom.shape[-1])
        decoded = torch.tanh(self.dec_bottom(torch.cat([q_bottom, top_up], dim=1)))
        recon = resize_bilinear(decoded, x.shape[-2], x.shape[-1])
        vq_per_sample = loss_top + loss_bottom
        recon_loss = (recon - x).pow(2).mean()
        vq_loss = vq_per_sample.mean()
        return {
            "recon": recon,
            "recon_loss": recon_loss,
            "vq_loss": vq_loss,
            "loss": recon_loss + vq_loss,
            "vq_loss_per_sample": vq_per_sample,
            "indices_top": idx_top,
            "indices_bottom": idx_bottom,
        }


def detect(state_dict: StateDict) -> Optional[Dict[str, Any]]:
    """Fingerprint ``vq_top.embedding.weight`` (compat README, "Fingerprints").

    ``commitment_cost`` is not in the weights; upstream's default 0.25 is reported.
    """
    codebook = shape_of(state_dict, "vq_top.embedding.weight")
    enc0 = shape_of(state_dict, "enc_bottom.encoder.0.weight")
    enc2 = shape_of(state_dict, "enc_bottom.encoder.2.weight")
    if codebook is None or enc0 is None or enc2 is None or len(codebook) != 2:
        return None
    return {
        "in_channels": enc0[1],
        "hidden_channels": enc2[0],
        "embedding_dim": codebook[1],
        "num_embeddings": codebook[0],
        "commitment_cost": 0.25,
    }


def build(hp: Dict[str, Any]) -> VQVAE2:
    return VQVAE2(int(hp.get("in_channels", 3)), int(hp.get("hidden_channels", 128)),
                  int(hp.get("embedding_dim", 64)), int(hp.get("num_embeddings", 512)),
                  float(hp.get("commitment_cost", 0.25)))


def with_image_size(hp: Dict[str, Any], size: int) -> Dict[str, Any]:
    """Any size works (both grids are at least 1×1 from 16 px on); it sets the example input."""
    if size < 16:
        raise ValueError(f"VQ-VAE-2 needs images of at least 16x16; got {size}")
    return dict(hp, image_size=size)


class _Exported(nn.Module):
    """x → (reconstruction, commitment_loss [B]).

    commitment_loss is FRAMEWORM's vq_loss per sample: top + bottom, each 1.25·mean((e − z)²)
    over that sample's elements; its batch mean equals upstream's scalar vq_loss.
    """

    def __init__(self, model: VQVAE2):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        out = self.model(x)
        return out["recon"], out["vq_loss_per_sample"]


def export_spec(model: VQVAE2, hp: Dict[str, Any]) -> ExportSpec:
    size = int(hp.get("image_size", DEFAULT_IMAGE_SIZE))
    x = seeded_uniform((2, int(hp.get("in_channels", 3)), size, size), -1.0, 1.0)
    image_axes = {0: "batch", 2: "height", 3: "width"}
    return ExportSpec(
        module=_Exported(model).eval(),
        input_names=["x"],
        output_names=["reconstruction", "commitment_loss"],
        example_inputs=(x,),
        dynamic_axes={"x": dict(image_axes), "reconstruction": dict(image_axes),
                      "commitment_loss": {0: "batch"}},
    )
