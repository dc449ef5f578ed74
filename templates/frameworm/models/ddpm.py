"""FRAMEWORM's DDPM (registry key ``ddpm``): a small UNet ε-network plus a linear β schedule.

What gets deployed is the ε-network only (``x_t, t -> eps``); the reverse-diffusion loop runs on
the host (see ``frameworm.diffusion_reference`` for the reference loop) because a whole loop
exported as one graph unrolls into minutes of export time.

Structure, as pinned down by the compat README ("DDPM UNet"):

- Time embedding of size 128 whatever the width: frequencies exp(-ln(10000)·i/63), i = 0…63
  (divisor half-1, unlike CFG-DDPM), laid out [sin | cos], then Linear 128→512, ReLU, →128.
- Residual block: relu(conv1(x)) + Linear(relu(emb)), then relu(conv2(·)), plus a skip that is a
  1×1 conv when the channel count changes (identity otherwise).
- Three levels with MaxPool 2 down and nearest ×2 up, concatenation [upsampled, skip], 1×1 out.
  Hence H and W must be multiples of 8.

State dict (checkpoint order): the six schedule buffers, then ``model.*``. ``nn.Module`` puts a
module's own buffers before its children's entries, which is exactly that order.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..export_spec import ExportSpec

#: Upstream hard-codes the timestep-embedding size (``get_timestep_embedding(t, 128)``).
TIME_EMB_DIM = 128
#: Image size is not recoverable from a fully convolutional UNet's weights; FRAMEWORM's DDPM
#: config has no image-size key, so the product default is 32 (CIFAR-sized). Must be a multiple
#: of ``SPATIAL_MULTIPLE``.
DEFAULT_IMAGE_SIZE = 32
#: Three MaxPool-2 levels: H and W must be multiples of 2**3.
SPATIAL_MULTIPLE = 8
#: Upstream's fixed linear schedule endpoints (used by ``build`` when hp has none).
DEFAULT_BETA_START = 1e-4
DEFAULT_BETA_END = 0.02

#: Buffer names in checkpoint order (compat/state-dicts.json, key ``ddpm``).
SCHEDULE_BUFFERS = (
    "betas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "posterior_variance",
)
#: What ``schedule()`` hands to the host sampler (the rest derive from these).
SCHEDULE_KEYS = ("betas", "alphas_cumprod", "alphas_cumprod_prev", "posterior_variance")

FINGERPRINT_WEIGHT = "model.down1.conv1.weight"


def timestep_embedding(t: torch.Tensor, dim: int = TIME_EMB_DIM) -> torch.Tensor:
    """Sinusoidal embedding [sin | cos] computed in float32, as torch does upstream.

    The divisor is ``half - 1`` (README: exp(-ln(10000)·i/63) for dim 128). The scalar
    ``ln(10000)/(half-1)`` is a Python double; the exponent is taken in float32, which the
    README's "Timestep embedding precision" note says tracks the goldens most closely.
    """
    half = dim // 2
    scale = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=t.device) * -scale)
    args = t.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2 == 1:
        emb = F.pad(emb, (0, 1))
    return emb


class ResidualBlock(nn.Module):
    """relu(conv1(x)) + Linear(relu(emb)) → relu(conv2(·)) → + skip(x).

    The ReLU is applied to the *shared* embedding before each block's own Linear (README quirk);
    the skip is added after the second ReLU, so the block output can be negative.
    """

    def __init__(self, in_ch: int, out_ch: int, time_emb_dim: int) -> None:
        super().__init__()
        # Registration order fixes the state-dict order: conv1, time_mlp, conv2, skip.
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_mlp = nn.Linear(time_emb_dim, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip: nn.Module = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(x))
        h = h + self.time_mlp(F.relu(emb))[:, :, None, None]
        h = F.relu(self.conv2(h))
        return h + self.skip(x)


class UNet(nn.Module):
    """FRAMEWORM's DDPM ε-network: ``forward(x_t [B,C,H,W] float, t [B] int64) -> eps``."""

    def __init__(self, channels: int = 3, base_channels: int = 128,
                 time_emb_dim: int = TIME_EMB_DIM) -> None:
        super().__init__()
        b = base_channels
        self.time_emb_dim = time_emb_dim
        self.time_mlp = nn.Sequential(
            nn.Linear(time_emb_dim, time_emb_dim * 4),
            nn.ReLU(),
            nn.Linear(time_emb_dim * 4, time_emb_dim),
        )
        self.down1 = ResidualBlock(channels, b, time_emb_dim)
        self.down2 = ResidualBlock(b, 2 * b, time_emb_dim)
        self.down3 = ResidualBlock(2 * b, 4 * b, time_emb_dim)
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = ResidualBlock(4 * b, 4 * b, time_emb_dim)
        # Decoder inputs are [upsampled, skip] concatenations, hence the doubled widths.
        self.up1 = ResidualBlock(8 * b, 2 * b, time_emb_dim)
        self.up2 = ResidualBlock(4 * b, b, time_emb_dim)
        self.up3 = ResidualBlock(2 * b, b, time_emb_dim)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.out = nn.Conv2d(b, channels, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.time_emb_dim))
        d1 = self.down1(x, emb)
        d2 = self.down2(self.pool(d1), emb)
        d3 = self.down3(self.pool(d2), emb)
        mid = self.bottleneck(self.pool(d3), emb)
        u1 = self.up1(torch.cat([self.upsample(mid), d3], dim=1), emb)
        u2 = self.up2(torch.cat([self.upsample(u1), d2], dim=1), emb)
        u3 = self.up3(torch.cat([self.upsample(u2), d1], dim=1), emb)
        return self.out(u3)


def linear_schedule(timesteps: int, beta_start: float = DEFAULT_BETA_START,
                    beta_end: float = DEFAULT_BETA_END) -> Dict[str, torch.Tensor]:
    """The six buffers exactly as upstream computes them (all float32 ops, README "Noise
    schedules"). Only used for a freshly built model; a loaded checkpoint overwrites them."""
    betas = torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float32)
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    alphas_cumprod_prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
    return {
        "betas": betas,
        "alphas_cumprod": alphas_cumprod,
        "alphas_cumprod_prev": alphas_cumprod_prev,
        "sqrt_alphas_cumprod": torch.sqrt(alphas_cumprod),
        "sqrt_one_minus_alphas_cumprod": torch.sqrt(1.0 - alphas_cumprod),
        "posterior_variance": betas * (1 - alphas_cumprod_prev) / (1 - alphas_cumprod),
    }


class DDPM(nn.Module):
    """Checkpoint-compatible container: schedule buffers + ``model`` (the UNet).

    ``forward(x_t, t)`` is the ε-prediction, the same call FRAMEWORM's ``DDPM.forward`` makes.
    """

    betas: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    posterior_variance: torch.Tensor

    def __init__(self, timesteps: int, channels: int, base_channels: int,
                 time_emb_dim: int = TIME_EMB_DIM, beta_start: float = DEFAULT_BETA_START,
                 beta_end: float = DEFAULT_BETA_END) -> None:
        super().__init__()
        self.timesteps = timesteps
        self.model = UNet(channels, base_channels, time_emb_dim)
        for name, value in linear_schedule(timesteps, beta_start, beta_end).items():
            self.register_buffer(name, value)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.model(x_t, t)


class _EpsGraph(nn.Module):
    """The exported graph: ``(x_t, t) -> (eps,)``; holds only the UNet, not the schedule (the
    schedule travels in manifest.json via ``schedule()``)."""

    def __init__(self, unet: UNet) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> Tuple[torch.Tensor]:
        return (self.unet(x_t, t),)


def _shape(sd: Mapping[str, Any], key: str) -> List[int]:
    return list(sd[key].shape)


def _round7(x: float) -> float:
    """float32 buffer value → the decimal constant it was made from (7 significant digits)."""
    return float(f"{x:.7g}")


def detect(state_dict: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """FRAMEWORM DDPM hyper-parameters from a state dict, or None if it is not a DDPM.

    Fingerprint (README "Fingerprints"): ``model.down1.conv1.weight`` together with
    ``posterior_variance`` — only DDPM has ``posterior_variance`` and the ``model.`` prefix.
    ``image_size`` is not in the weights (fully convolutional): the default is reported.
    """
    if FINGERPRINT_WEIGHT not in state_dict or "posterior_variance" not in state_dict:
        return None
    if "betas" not in state_dict or "model.time_mlp.0.weight" not in state_dict:
        return None
    conv1 = _shape(state_dict, FINGERPRINT_WEIGHT)
    betas = state_dict["betas"]
    return {
        "timesteps": int(betas.shape[0]),
        "base_channels": conv1[0],
        "channels": conv1[1],
        "time_emb_dim": _shape(state_dict, "model.time_mlp.0.weight")[1],
        # Read back from the stored schedule; rounding undoes float32 (1e-4 → 9.99999975e-05).
        "beta_start": _round7(float(betas[0])),
        "beta_end": _round7(float(betas[-1])),
        "beta_schedule": "linear",
        "image_size": DEFAULT_IMAGE_SIZE,
        "spatial_multiple": SPATIAL_MULTIPLE,
    }


def build(hp: Mapping[str, Any]) -> DDPM:
    """A DDPM whose ``load_state_dict(sd, strict=True)`` accepts FRAMEWORM's checkpoint."""
    return DDPM(
        timesteps=int(hp["timesteps"]),
        channels=int(hp.get("channels", 3)),
        base_channels=int(hp["base_channels"]),
        time_emb_dim=int(hp.get("time_emb_dim", TIME_EMB_DIM)),
        beta_start=float(hp.get("beta_start", DEFAULT_BETA_START)),
        beta_end=float(hp.get("beta_end", DEFAULT_BETA_END)),
    )


def _image_size(hp: Mapping[str, Any]) -> int:
    size = int(hp.get("image_size", DEFAULT_IMAGE_SIZE))
    if size <= 0 or size % SPATIAL_MULTIPLE:
        raise ValueError(f"DDPM image_size must be a positive multiple of {SPATIAL_MULTIPLE} "
                         f"(three 2× poolings), got {size}")
    return size


def with_image_size(hp: Mapping[str, Any], size: int) -> Dict[str, Any]:
    """The exporter's ``--image-size`` hook: any positive multiple of 8 is valid (the weights
    do not fix it); it only sets the example inputs, H and W stay dynamic in the graph."""
    out = dict(hp, image_size=int(size))
    _image_size(out)
    return out


def export_spec(model: DDPM, hp: Mapping[str, Any]) -> ExportSpec:
    """``x_t`` float32 [B,C,H,W], ``t`` int64 [B] → ``eps`` [B,C,H,W].

    Batch, H and W are dynamic (the UNet is fully convolutional; H, W multiples of 8). The
    example inputs are seeded so the exporter's parity check is reproducible.
    """
    model.eval()
    size = _image_size(hp)
    channels = int(hp.get("channels", model.model.out.out_channels))
    timesteps = int(hp.get("timesteps", model.timesteps))
    gen = torch.Generator().manual_seed(0)
    x_t = torch.randn(2, channels, size, size, generator=gen)
    t = torch.randint(0, timesteps, (2,), generator=gen, dtype=torch.int64)
    spatial = {0: "batch", 2: "height", 3: "width"}
    return ExportSpec(
        module=_EpsGraph(model.model).eval(),
        input_names=["x_t", "t"],
        output_names=["eps"],
        example_inputs=(x_t, t),
        dynamic_axes={"x_t": dict(spatial), "t": {0: "batch"}, "eps": dict(spatial)},
        export_with_grad=False,
    )


def _as_list(value: Any) -> List[float]:
    return [float(v) for v in torch.as_tensor(value).detach().to(torch.float32).reshape(-1)]


def schedule(state_dict: Mapping[str, Any], hp: Optional[Mapping[str, Any]] = None
             ) -> Dict[str, Any]:
    """The schedule READ FROM THE CHECKPOINT as Python lists, for manifest.json and the host
    sampler. Each float is a float32 value widened to a double, so it round-trips exactly.

    Keys: ``betas``, ``alphas_cumprod``, ``alphas_cumprod_prev``, ``posterior_variance``;
    ``kind: "ddpm"`` and ``timesteps`` say how to read them.
    """
    out: Dict[str, Any] = {"kind": "ddpm", "timesteps": int(state_dict["betas"].shape[0])}
    for key in SCHEDULE_KEYS:
        out[key] = _as_list(state_dict[key])
    return out
