"""Weight-only int8 quantization of an exported ONNX model.

Every large float32 weight feeding a Conv, ConvTranspose, Gemm or MatMul is stored as int8 with
a float scale per output channel (symmetric, zero point 0) and turned back into float32 by a
``DequantizeLinear`` node at load time. Activations stay float32, so the graph runs on any
onnxruntime and the file is about a quarter of the size; the price is a small, reported error.

    python3 -m frameworm.quantize --model model.onnx --out model.quant.onnx

Prints one JSON line: ``{"result": {"size_bytes", "original_size_bytes", "size_ratio",
"quantized_tensors"}}`` or ``{"error": {"code", "message"}}`` (exit 2). Needs the ``onnx`` package.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

#: Smaller weights (biases, norms, tiny layers) stay float: quantizing them saves nothing.
MIN_ELEMENTS = 1024

#: Which axis of the weight holds the output channels, per consuming operator.
CHANNEL_AXIS = {"Conv": 0, "ConvTranspose": 1, "Gemm": None, "MatMul": None}


def _channel_axis(op: str, node_attrs: Dict[str, int], weight_ndim: int) -> Optional[int]:
    if op in ("Conv", "ConvTranspose"):
        return CHANNEL_AXIS[op]
    if op == "Gemm":
        return 0 if node_attrs.get("transB", 0) else 1
    if op == "MatMul" and weight_ndim == 2:
        return 1
    return None


def quantize_model(src: Path, dst: Path) -> Dict[str, object]:
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    consumers: Dict[str, List[onnx.NodeProto]] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if i == 1:  # the weight slot of Conv/ConvTranspose/Gemm/MatMul
                consumers.setdefault(name, []).append(node)

    new_inits = []
    dequant_nodes = []
    quantized = 0
    for init in graph.initializer:
        users = consumers.get(init.name, [])
        arr = numpy_helper.to_array(init)
        ops = {n.op_type for n in users}
        if arr.dtype != np.float32 or arr.size < MIN_ELEMENTS or not users or not ops <= set(CHANNEL_AXIS):
            new_inits.append(init)
            continue
        first = users[0]
        attrs = {a.name: a.i for a in first.attribute if a.type == onnx.AttributeProto.INT}
        axis = _channel_axis(first.op_type, attrs, arr.ndim)
        if len(ops) > 1 or axis is None:
            new_inits.append(init)
            continue
        reduce_axes = tuple(d for d in range(arr.ndim) if d != axis)
        max_abs = np.max(np.abs(arr), axis=reduce_axes)
        scale = np.where(max_abs > 0, max_abs / 127.0, 1.0).astype(np.float32)
        shape = [1] * arr.ndim
        shape[axis] = -1
        q = np.clip(np.round(arr / scale.reshape(shape)), -127, 127).astype(np.int8)
        base = init.name
        new_inits += [
            numpy_helper.from_array(q, f"{base}__q"),
            numpy_helper.from_array(scale, f"{base}__scale"),
            numpy_helper.from_array(np.zeros(scale.shape, dtype=np.int8), f"{base}__zp"),
        ]
        dequant_nodes.append(helper.make_node("DequantizeLinear", [f"{base}__q", f"{base}__scale", f"{base}__zp"], [base], axis=axis, name=f"{base}__dequant"))
        quantized += 1

    if quantized == 0:
        raise ValueError("no float32 weight of a Conv/ConvTranspose/Gemm/MatMul is large enough to quantize")
    del graph.initializer[:]
    graph.initializer.extend(new_inits)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(dequant_nodes + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    original = src.stat().st_size
    size = dst.stat().st_size
    return {"size_bytes": size, "original_size_bytes": original, "size_ratio": size / original, "quantized_tensors": quantized, "method": "int8 weight-only, per output channel, symmetric"}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    try:
        result = quantize_model(Path(args.model), Path(args.out))
    except ImportError:
        print(json.dumps({"error": {"code": "E_EXPORT", "message": "quantization needs the onnx package (pip install onnx, or apt-get install python3-onnx)"}}))
        return 2
    except Exception as e:  # noqa: BLE001 - reported as one line to the control plane
        print(json.dumps({"error": {"code": "E_EXPORT", "message": f"quantization failed: {type(e).__name__}: {e}"}}))
        return 2
    print(json.dumps({"result": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
