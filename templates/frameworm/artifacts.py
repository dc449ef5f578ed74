"""The artifacts of an export and their checks: TorchScript and ONNX files, the ONNX metadata
tag, eager ↔ TorchScript parity and the reference outputs the control plane checks
onnxruntime against. Split from export.py, which drives the steps and the protocol."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Dict, Mapping, Sequence, Tuple

PARITY_TOLERANCE = 1e-4


class ExportError(Exception):
    """A failure with a protocol error code (E_INPUT, E_UNSAFE, E_EXPORT, E_PARITY)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _grad_mode(spec: Any) -> Any:
    import torch

    return torch.enable_grad() if spec.export_with_grad else torch.no_grad()


def export_torchscript(spec: Any, path: Path) -> None:
    import torch

    with _grad_mode(spec), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(spec.module, spec.example_inputs, check_trace=False)
    traced.save(str(path))


def export_onnx(spec: Any, path: Path, opset: int) -> None:
    import inspect

    import torch

    kwargs: Dict[str, Any] = dict(
        opset_version=opset,
        input_names=list(spec.input_names),
        output_names=list(spec.output_names),
        dynamic_axes={k: dict(v) for k, v in spec.dynamic_axes.items()},
        do_constant_folding=True,
    )
    # torch >= 2.9 defaults to the dynamo exporter, which ignores dynamic_axes; keep the
    # TorchScript-based exporter everywhere (1.13 has no such parameter).
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with _grad_mode(spec), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(spec.module, tuple(spec.example_inputs), str(path), **kwargs)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string_field(field: int, text: str) -> bytes:
    data = text.encode("utf-8")
    return _varint((field << 3) | 2) + _varint(len(data)) + data


def tag_onnx_metadata(path: Path, arch: str, hp: Mapping[str, Any]) -> None:
    """Record the architecture and hyper-parameters in the ONNX model's metadata_props, so the
    control plane can serve the .onnx alone with its architecture's schema.

    Protobuf merges repeated fields that appear later in a message, so appending
    ``ModelProto.metadata_props`` (field 14) entries to the file is a valid edit that needs no
    onnx package.
    """
    from .safe_load import to_jsonable

    entries = {"frameworm_type": arch, "frameworm_hyper_parameters": json.dumps(to_jsonable(dict(hp)), sort_keys=True)}
    with open(path, "ab") as f:
        for key, value in entries.items():
            entry = _string_field(1, key) + _string_field(2, value)
            f.write(_varint((14 << 3) | 2) + _varint(len(entry)) + entry)


def check_onnx(path: Path) -> str:
    """Run onnx.checker when the onnx package is present (it is optional for exporting)."""
    try:
        import onnx
    except ImportError:
        return "skipped (onnx not installed)"
    try:
        onnx.checker.check_model(onnx.load(str(path)))
    except Exception as e:  # noqa: BLE001
        raise ExportError("E_EXPORT", f"onnx.checker rejected {path.name}: {e}") from None
    return "passed"


def _as_tuple(out: Any) -> Tuple[Any, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def batch3_variant(inputs: Sequence[Any]) -> Tuple[Any, ...]:
    """A batch of 3 built from the batch-2 example (rows 0, 1, 0 flipped), to prove the
    traced graph is not specialised to batch 2."""
    import torch

    return tuple(torch.cat([x, x[:1].flip(-1) if x.dim() > 1 else x[:1]], dim=0) for x in inputs)


def check_parity(spec: Any, torchscript_path: Path) -> Tuple[Dict[str, float], Tuple[Any, ...]]:
    """Max |eager − TorchScript| per output over the batch-2 example and a batch-3 variant.

    Returns the errors and the eager outputs for the batch-2 example.
    """
    import torch

    loaded = torch.jit.load(str(torchscript_path))
    errors = {name: 0.0 for name in spec.output_names}
    reference: Tuple[Any, ...] = ()
    for inputs in (tuple(spec.example_inputs), batch3_variant(spec.example_inputs)):
        with torch.no_grad():
            eager = _as_tuple(spec.module(*inputs))
            scripted = _as_tuple(loaded(*inputs))
        if not reference:
            reference = eager
        for name, a in zip(spec.output_names, eager):
            # NaN/inf from the eager model is a broken checkpoint, not a TorchScript mismatch
            # (NaN − NaN would otherwise be reported as "TorchScript differs ... inf").
            if a.is_floating_point() and not bool(torch.isfinite(a).all()):
                raise ExportError("E_INPUT", f"the model computes NaN or infinite values in output "
                                  f"'{name}' on the export's example inputs: the checkpoint's "
                                  f"weights are broken ({_weights_problem(spec.module)})")
        if len(eager) != len(spec.output_names) or len(scripted) != len(eager):
            raise ExportError("E_PARITY", f"expected {len(spec.output_names)} outputs, eager gave "
                              f"{len(eager)} and TorchScript {len(scripted)}")
        for name, a, b in zip(spec.output_names, eager, scripted):
            if a.shape != b.shape:
                raise ExportError("E_PARITY", f"{name}: eager shape {list(a.shape)} but "
                                  f"TorchScript {list(b.shape)} at batch {inputs[0].shape[0]}")
            if a.numel():
                err = (a.double() - b.double()).abs().max().item()
                errors[name] = max(errors[name], err if err == err else float("inf"))
    bad = {k: v for k, v in errors.items() if not v <= PARITY_TOLERANCE}
    if bad:
        detail = ", ".join(f"{k} {v:.3g}" for k, v in bad.items())
        raise ExportError("E_PARITY", f"TorchScript differs from eager beyond {PARITY_TOLERANCE}: "
                          f"max abs error {detail}")
    return errors, reference


def _weights_problem(module: Any) -> str:
    """The first tensor of ``module`` that explains non-finite outputs, in words."""
    import torch

    for name, t in module.state_dict().items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return f"{name} holds NaN or infinite values"
        if name.endswith("running_var") and bool((t < 0).any()):
            return f"{name} has negative entries, but a variance must be >= 0"
    return "no NaN, infinite or negative-variance tensor found; the values overflow"


def _dtype_name(t: Any) -> str:
    return str(t.dtype).replace("torch.", "")


def _tensor_json(t: Any) -> Dict[str, Any]:
    return {"shape": list(t.shape), "dtype": _dtype_name(t), "data": t.detach().reshape(-1).tolist()}


def write_reference(spec: Any, outputs: Sequence[Any], path: Path) -> None:
    ref = {
        "inputs": {n: _tensor_json(t) for n, t in zip(spec.input_names, spec.example_inputs)},
        "outputs": {n: _tensor_json(t) for n, t in zip(spec.output_names, outputs)},
    }
    path.write_text(json.dumps(ref, allow_nan=False, separators=(",", ":")))
