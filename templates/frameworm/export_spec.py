"""What an architecture hands to the exporter: a deterministic module and how to call it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import torch


@dataclass
class ExportSpec:
    """A module whose forward takes the inputs in ``input_names`` order and returns a tuple of
    tensors in ``output_names`` order. Noise never comes from inside the graph: it is an input.

    ``example_inputs`` are seeded batch-2 inputs used for tracing and for the parity check.
    ``dynamic_axes`` marks axis 0 (batch) of every input and output as dynamic.
    ``export_with_grad`` is true where torch 1.13's ONNX exporter needs autograd enabled (e.g.
    eval-mode MultiheadAttention's fast path is not exportable there).
    """

    module: torch.nn.Module
    input_names: List[str]
    output_names: List[str]
    example_inputs: Tuple[torch.Tensor, ...]
    dynamic_axes: Dict[str, Dict[int, str]] = field(default_factory=dict)
    export_with_grad: bool = False

    def __post_init__(self) -> None:
        if not self.dynamic_axes:
            self.dynamic_axes = {n: {0: "batch"} for n in self.input_names + self.output_names}
