"""Small helpers shared by the architecture modules (fingerprint reading, seeded inputs)."""
from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

StateDict = Mapping[str, torch.Tensor]

#: Seed of the example inputs every ExportSpec traces with (deterministic exports).
EXAMPLE_SEED = 0


def shape_of(sd: StateDict, key: str) -> Optional[Tuple[int, ...]]:
    """The shape of ``sd[key]`` as a tuple, or None when the key is absent."""
    t = sd.get(key)
    return None if t is None else tuple(int(d) for d in t.shape)


def exact_sqrt(value: float) -> Optional[int]:
    """The integer square root of ``value`` when it is a perfect square, else None."""
    if value < 0 or value != int(value):
        return None
    root = math.isqrt(int(value))
    return root if root * root == int(value) else None


def count_indexed(sd: StateDict, prefix: str) -> int:
    """How many consecutive ``<prefix><i>.`` children (i = 0, 1, …) the state dict has."""
    present = {k[len(prefix):].split(".", 1)[0] for k in sd if k.startswith(prefix)}
    n = 0
    while str(n) in present:
        n += 1
    return n


def seeded_normal(shape: Sequence[int], seed: int = EXAMPLE_SEED) -> torch.Tensor:
    """Standard-normal float32 example input from a private generator (global RNG untouched)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float32)


def seeded_uniform(shape: Sequence[int], low: float, high: float, seed: int = EXAMPLE_SEED) -> torch.Tensor:
    """Uniform float32 example input in [low, high) from a private generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=torch.float32) * (high - low) + low


class Reshape(nn.Module):
    """``x.reshape(-1, *shape)``: a parameter-free stand-in for ``nn.Unflatten(1, shape)``.

    It keeps FRAMEWORM's Sequential indices (so state-dict names match) while staying
    exportable: torch 1.13's ONNX exporter has no ``aten::unflatten`` (MACHINE.md). The -1
    keeps the batch dimension dynamic in traced graphs.
    """

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape((-1,) + self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
