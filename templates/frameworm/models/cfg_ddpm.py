"""FRAMEWORM's CFG-DDPM (registry key ``cfg_ddpm``): a class-conditional UNet ε-network trained
for classifier-free guidance, with a cosine β schedule.

What gets deployed is the ε-network only (``x_t, t, class_label -> eps``); guidance and the
reverse loop run on the host (reference: ``frameworm.diffusion_reference.cfg_sample``).

Structure, as pinned down by the compat README ("CFG UNet"):

- Time embedding of size model_channels (mc), frequencies exp(-ln(10000)·i/(mc/2)) — divisor
  half, NOT half-1 as in DDPM — laid out [sin | cos]; MLP mc → 4mc, SiLU, → 4mc; then the class
  embedding row is added. ``class_emb`` has num_classes + 1 rows: index num_classes is the null
  (unconditional) class, and "no label" means exactly that index.
- ResBlock: GN, SiLU, conv3×3; Linear(SiLU(emb)) split into (scale, shift);
  GN₂(h)·(1+scale)+shift; SiLU, dropout (inactive in eval), conv3×3; + residual (1×1 conv when
  the width changes). GroupNorm: 8 groups (largest divisor ≤ 8), eps 1e-5.
- channel_mult (1, 2, 4), 2 res blocks per level, stride-2 conv downsampling between levels
  (so H, W multiples of 4). Skips: conv_in output, every encoder block output and every
  downsample output (9). Each of the 3·levels decoder blocks pops the latest skip and
  concatenates [h, skip]; upsampling is nearest ×2 then conv3×3.
- Middle: ResBlock, GN + 4-head self-attention over the H·W tokens (residual), ResBlock.
- Output: GN, SiLU, conv3×3.

Attention is written with plain matmuls over ``nn.MultiheadAttention``-compatible parameters:
the state dict is identical (``attn.in_proj_weight``, ``attn.in_proj_bias``,
``attn.out_proj.*``), and the graph exports to ONNX opset 17 on torch 1.13 without the eval-mode
fast path or ``aten::unflatten`` (both unexportable there), with no autograd trick needed. The
README measures the fast-vs-slow-path difference at ≤ 1.1e-6, well inside the 1e-5 tolerance.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..export_spec import ExportSpec

#: FRAMEWORM's config (and the golden tiny config) use 32; CFGDDPM's own constructor default
#: is 64. Not recoverable from the weights. Must be a multiple of ``SPATIAL_MULTIPLE``.
DEFAULT_IMAGE_SIZE = 32
#: Two stride-2 downsamples with the default channel_mult (1, 2, 4).
SPATIAL_MULTIPLE = 4
DEFAULT_CHANNEL_MULT = (1, 2, 4)
DEFAULT_NUM_RES_BLOCKS = 2
NUM_HEADS = 4  # not recoverable (in_proj is 3E×E for any head count); upstream hard-codes 4
COSINE_S = 0.008
BETA_MAX = 0.999
DEFAULT_P_UNCOND = 0.15  # training-only, not recoverable; reported for completeness

#: Buffer names in checkpoint order (compat/state-dicts.json, key ``cfg_ddpm``).
SCHEDULE_BUFFERS = ("betas", "alphas", "alphas_cumprod", "sqrt_alphas_cumprod",
                    "sqrt_one_minus_alphas_cumprod")
#: What ``schedule()`` hands to the host sampler.
SCHEDULE_KEYS = ("betas", "alphas", "alphas_cumprod")

FINGERPRINT_WEIGHT = "unet.class_emb.weight"


def _groups(channels: int, max_groups: int = 8) -> int:
    """Largest divisor of ``channels`` that is ≤ 8 (README: "GroupNorm uses 8 groups")."""
    return max(g for g in range(1, max_groups + 1) if channels % g == 0)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[sin | cos] with frequencies exp(-ln(10000)·i/(dim/2)), in float32 like upstream.

    Upstream multiplies the int64 ``arange`` by the Python double ``-ln(10000)`` (giving
    float32) and only then divides by ``half``; that operation order is kept so the float32
    rounding matches.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
    args = t[:, None].float() * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class SinusoidalEmbedding(nn.Module):
    """Parameter-free ``time_mlp.0`` (it is why the Linear layers are ``time_mlp.1``/``.3``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return timestep_embedding(t, self.dim)


class ResBlock(nn.Module):
    """AdaGN residual block; see the module docstring for the exact sequence."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        # Registration order fixes the state-dict order:
        # norm1, conv1, time_proj.1, norm2, conv2, residual.
        self.norm1 = nn.GroupNorm(_groups(in_ch), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_proj = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, 2 * out_ch))
        self.norm2 = nn.GroupNorm(_groups(out_ch), out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.residual: nn.Module = (nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch
                                    else nn.Identity())

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.time_proj(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return h + self.residual(x)


class MultiheadSelfAttention(nn.Module):
    """Self-attention with ``nn.MultiheadAttention``'s parameter names and maths (packed
    in-projection, q scaled by 1/√head_dim, softmax, out-projection), in plain matmuls so it
    traces and exports identically on torch 1.13 and 2.x."""

    def __init__(self, embed_dim: int, num_heads: int = NUM_HEADS) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by {num_heads} heads")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, N, E] (batch first) → [B, N, E]."""
        b, n, e = x.shape
        heads = self.num_heads
        head_dim = self.embed_dim // heads
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        # [B, N, E] → [B, heads, N, head_dim]; reshape (not unflatten) for torch 1.13's exporter.
        q = q.reshape(b, n, heads, head_dim).transpose(1, 2)
        k = k.reshape(b, n, heads, head_dim).transpose(1, 2)
        v = v.reshape(b, n, heads, head_dim).transpose(1, 2)
        q = q * (1.0 / math.sqrt(head_dim))
        weights = torch.softmax(torch.matmul(q, k.transpose(-2, -1)), dim=-1)
        out = torch.matmul(weights, v).transpose(1, 2).reshape(b, n, e)
        return self.out_proj(out)


class SelfAttentionBlock(nn.Module):
    """x + attn(GN(x)) over the H·W tokens (NCHW row-major flattening)."""

    def __init__(self, channels: int, num_heads: int = NUM_HEADS) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.attn = MultiheadSelfAttention(channels, num_heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x).reshape(b, c, h * w).transpose(1, 2)
        out = self.attn(tokens).transpose(1, 2).reshape(b, c, h, w)
        return x + out


class CFGUNet(nn.Module):
    """``forward(x [B,C,H,W], t [B] int64, class_label [B] int64 | None) -> eps``."""

    def __init__(self, in_channels: int = 3, model_channels: int = 128,
                 channel_mult: Sequence[int] = DEFAULT_CHANNEL_MULT, num_classes: int = 10,
                 num_res_blocks: int = DEFAULT_NUM_RES_BLOCKS, dropout: float = 0.1) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.model_channels = model_channels
        self.num_res_blocks = num_res_blocks
        emb_dim = 4 * model_channels
        widths = [model_channels * m for m in channel_mult]

        self.time_mlp = nn.Sequential(
            SinusoidalEmbedding(model_channels),
            nn.Linear(model_channels, emb_dim),
            nn.SiLU(),
            nn.Linear(emb_dim, emb_dim),
        )
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim)  # last row = null class
        self.conv_in = nn.Conv2d(in_channels, widths[0], 3, padding=1)

        self.encoder = nn.ModuleList()
        self.downsample = nn.ModuleList()
        ch = widths[0]
        for level, out_ch in enumerate(widths):
            for _ in range(num_res_blocks):
                self.encoder.append(ResBlock(ch, out_ch, emb_dim, dropout))
                ch = out_ch
            if level < len(widths) - 1:
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))

        self.mid_block1 = ResBlock(ch, ch, emb_dim, dropout)
        self.mid_attn = SelfAttentionBlock(ch)
        self.mid_block2 = ResBlock(ch, ch, emb_dim, dropout)

        # Skip widths in push order, to size each decoder block's concatenated input.
        skip_widths = [widths[0]]
        for level, out_ch in enumerate(widths):
            skip_widths += [out_ch] * num_res_blocks
            if level < len(widths) - 1:
                skip_widths.append(out_ch)

        self.decoder = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, out_ch in enumerate(reversed(widths)):
            for _ in range(num_res_blocks + 1):
                self.decoder.append(ResBlock(ch + skip_widths.pop(), out_ch, emb_dim, dropout))
                ch = out_ch
            if level < len(widths) - 1:
                self.upsample.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                   nn.Conv2d(ch, ch, 3, padding=1)))

        self.conv_out = nn.Sequential(nn.GroupNorm(_groups(ch), ch), nn.SiLU(),
                                      nn.Conv2d(ch, in_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor,
                class_label: Optional[torch.Tensor] = None) -> torch.Tensor:
        if class_label is None:
            # README: no label is bitwise identical to passing num_classes for every sample.
            class_label = torch.full((x.shape[0],), self.num_classes, dtype=torch.long,
                                     device=x.device)
        emb = self.time_mlp(t) + self.class_emb(class_label)

        h = self.conv_in(x)
        skips = [h]
        blocks = iter(self.encoder)
        for level in range(len(self.downsample) + 1):
            for _ in range(self.num_res_blocks):
                h = next(blocks)(h, emb)
                skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
                skips.append(h)

        h = self.mid_block1(h, emb)
        h = self.mid_attn(h)
        h = self.mid_block2(h, emb)

        blocks = iter(self.decoder)
        for level in range(len(self.upsample) + 1):
            for _ in range(self.num_res_blocks + 1):
                h = next(blocks)(torch.cat([h, skips.pop()], dim=1), emb)
            if level < len(self.upsample):
                h = self.upsample[level](h)
        return self.conv_out(h)


def cosine_schedule(timesteps: int, s: float = COSINE_S, beta_max: float = BETA_MAX
                    ) -> torch.Tensor:
    """Upstream's cosine betas: float64 maths, clip to [0, beta_max], cast to float32."""
    steps = torch.arange(timesteps + 1, dtype=torch.float64)
    f = torch.cos((steps / timesteps + s) / (1 + s) * math.pi / 2) ** 2
    f = f / f[0]
    betas = 1 - f[1:] / f[:-1]
    return torch.clamp(betas, 0, beta_max).float()


class CFGDDPM(nn.Module):
    """Checkpoint-compatible container: cosine schedule buffers + ``unet``.

    ``forward(x_t, t, class_label=None)`` is ``unet(x_t, t, class_label)``, the ε-prediction.
    """

    betas: torch.Tensor
    alphas: torch.Tensor
    alphas_cumprod: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor

    def __init__(self, timesteps: int, num_classes: int, model_channels: int,
                 channels: int = 3, channel_mult: Sequence[int] = DEFAULT_CHANNEL_MULT,
                 num_res_blocks: int = DEFAULT_NUM_RES_BLOCKS, dropout: float = 0.1) -> None:
        super().__init__()
        self.timesteps = timesteps
        self.num_classes = num_classes
        self.unet = CFGUNet(channels, model_channels, channel_mult, num_classes,
                            num_res_blocks, dropout)
        betas = cosine_schedule(timesteps)
        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        self.register_buffer("betas", betas)
        self.register_buffer("alphas", alphas)
        self.register_buffer("alphas_cumprod", alphas_cumprod)
        self.register_buffer("sqrt_alphas_cumprod", torch.sqrt(alphas_cumprod))
        self.register_buffer("sqrt_one_minus_alphas_cumprod", torch.sqrt(1.0 - alphas_cumprod))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor,
                class_label: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.unet(x_t, t, class_label)


class _EpsGraph(nn.Module):
    """The exported graph: ``(x_t, t, class_label) -> (eps,)``. The label is always an input
    (num_classes = unconditional), so one graph serves conditional and unconditional passes."""

    def __init__(self, unet: CFGUNet) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x_t: torch.Tensor, t: torch.Tensor,
                class_label: torch.Tensor) -> Tuple[torch.Tensor]:
        return (self.unet(x_t, t, class_label),)


def _shape(sd: Mapping[str, Any], key: str) -> List[int]:
    return list(sd[key].shape)


def _count_indexed(sd: Mapping[str, Any], prefix: str) -> int:
    """Number of distinct ``<prefix><i>.`` entries (e.g. encoder blocks)."""
    idx = {k[len(prefix):].split(".", 1)[0] for k in sd if k.startswith(prefix)}
    return len({int(i) for i in idx if i.isdigit()})


def detect(state_dict: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """FRAMEWORM CFG-DDPM hyper-parameters from a state dict, or None.

    Fingerprint: ``unet.class_emb.weight`` (README "Fingerprints"). num_classes = rows − 1 (the
    extra row is the null class); model_channels and C from ``unet.conv_in.weight``.
    channel_mult and num_res_blocks are read from the block layout (always the defaults
    upstream). image_size, p_uncond and the head count are not in the weights: defaults.
    """
    if FINGERPRINT_WEIGHT not in state_dict or "unet.conv_in.weight" not in state_dict:
        return None
    if "betas" not in state_dict:
        return None
    rows, emb_dim = _shape(state_dict, FINGERPRINT_WEIGHT)
    mc, channels = _shape(state_dict, "unet.conv_in.weight")[:2]
    levels = _count_indexed(state_dict, "unet.downsample.") + 1
    n_enc = _count_indexed(state_dict, "unet.encoder.")
    if n_enc % levels:
        return None
    num_res_blocks = n_enc // levels
    level_out = [f"unet.encoder.{(lvl + 1) * num_res_blocks - 1}.conv2.weight"
                 for lvl in range(levels)]
    if num_res_blocks < 1 or any(key not in state_dict for key in level_out):
        return None
    channel_mult = [_shape(state_dict, key)[0] // mc for key in level_out]
    num_classes = rows - 1
    return {
        "timesteps": int(state_dict["betas"].shape[0]),
        "num_classes": num_classes,
        "null_class_index": num_classes,
        "model_channels": mc,
        "channels": channels,
        "image_channels": channels,  # FRAMEWORM's config name for the same thing
        "time_emb_dim": emb_dim,
        "channel_mult": channel_mult,
        "num_res_blocks": num_res_blocks,
        "image_size": DEFAULT_IMAGE_SIZE,
        "spatial_multiple": 2 ** (levels - 1),
        "beta_schedule": "cosine",
        "cosine_s": COSINE_S,
        "beta_max": BETA_MAX,
        "p_uncond": DEFAULT_P_UNCOND,
    }


def build(hp: Mapping[str, Any]) -> CFGDDPM:
    """A CFG-DDPM whose ``load_state_dict(sd, strict=True)`` accepts FRAMEWORM's checkpoint."""
    return CFGDDPM(
        timesteps=int(hp["timesteps"]),
        num_classes=int(hp["num_classes"]),
        model_channels=int(hp["model_channels"]),
        channels=int(hp.get("channels", hp.get("image_channels", 3))),
        channel_mult=tuple(hp.get("channel_mult", DEFAULT_CHANNEL_MULT)),
        num_res_blocks=int(hp.get("num_res_blocks", DEFAULT_NUM_RES_BLOCKS)),
    )


def _image_size(hp: Mapping[str, Any]) -> int:
    size = int(hp.get("image_size", DEFAULT_IMAGE_SIZE))
    multiple = int(hp.get("spatial_multiple", SPATIAL_MULTIPLE))
    if size <= 0 or size % multiple:
        raise ValueError(f"CFG-DDPM image_size must be a positive multiple of {multiple}, "
                         f"got {size}")
    return size


def with_image_size(hp: Mapping[str, Any], size: int) -> Dict[str, Any]:
    """The exporter's ``--image-size`` hook: any positive multiple of 4 (with the default
    channel_mult) is valid; it only sets the example inputs, H and W stay dynamic."""
    out = dict(hp, image_size=int(size))
    _image_size(out)
    return out


def export_spec(model: CFGDDPM, hp: Mapping[str, Any]) -> ExportSpec:
    """``x_t`` [B,C,H,W], ``t`` int64 [B], ``class_label`` int64 [B] → ``eps``.

    ``class_label == num_classes`` is the unconditional pass; guidance is done by the host with
    two calls. Batch, H and W are dynamic. The example labels mix a real and the null class so
    the parity check covers both embedding paths.
    """
    model.eval()
    size = _image_size(hp)
    channels = int(hp.get("channels", model.unet.conv_in.in_channels))
    timesteps = int(hp.get("timesteps", model.timesteps))
    num_classes = int(hp.get("num_classes", model.num_classes))
    gen = torch.Generator().manual_seed(0)
    x_t = torch.randn(2, channels, size, size, generator=gen)
    t = torch.randint(0, timesteps, (2,), generator=gen, dtype=torch.int64)
    labels = torch.tensor([0, num_classes], dtype=torch.int64)
    spatial = {0: "batch", 2: "height", 3: "width"}
    return ExportSpec(
        module=_EpsGraph(model.unet).eval(),
        input_names=["x_t", "t", "class_label"],
        output_names=["eps"],
        example_inputs=(x_t, t, labels),
        dynamic_axes={"x_t": dict(spatial), "t": {0: "batch"}, "class_label": {0: "batch"},
                      "eps": dict(spatial)},
        # Plain-matmul attention: no MultiheadAttention fast path to dodge.
        export_with_grad=False,
    )


def _as_list(value: Any) -> List[float]:
    return [float(v) for v in torch.as_tensor(value).detach().to(torch.float32).reshape(-1)]


def schedule(state_dict: Mapping[str, Any], hp: Optional[Mapping[str, Any]] = None
             ) -> Dict[str, Any]:
    """The cosine schedule READ FROM THE CHECKPOINT as Python lists (float32 values widened to
    doubles, so exact). Recomputing it in float64 would be off by up to 1.3e-5 relative in the
    tail of alphas_cumprod (README "Noise schedules"), hence the checkpoint is the source.

    Keys: ``betas``, ``alphas``, ``alphas_cumprod``; plus ``kind: "cfg_ddpm"``, ``timesteps``
    and ``null_class_index``.
    """
    rows = int(state_dict[FINGERPRINT_WEIGHT].shape[0])
    out: Dict[str, Any] = {
        "kind": "cfg_ddpm",
        "timesteps": int(state_dict["betas"].shape[0]),
        "null_class_index": rows - 1,
    }
    for key in SCHEDULE_KEYS:
        out[key] = _as_list(state_dict[key])
    return out
