"""Export a FRAMEWORM checkpoint to TorchScript + ONNX, with a parity check and a manifest.

Usage (from ``templates/``)::

    python3 -m frameworm.export --checkpoint PATH --out DIR [--type auto|vae|dcgan|ddpm|vqvae2|
        vitgan|cfg_ddpm] [--opset 17] [--image-size N]
    python3 -m frameworm.export --python-info

Stdout is a machine protocol read by the TypeScript control plane: one JSON object per line,
``{"progress": {"step", "message"}}`` while working, then ``{"result": <manifest>}``; on failure
``{"error": {"code", "message"}}`` and exit code 2. Everything else torch or Python prints
(TracerWarnings, exporter chatter, even C-level writes) is routed to stderr: the real stdout
is duplicated for the protocol and file descriptor 1 is pointed at stderr.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Dict, IO, List, Mapping, Optional, Sequence, Tuple

FORMAT_VERSION = 1
PARITY_TOLERANCE = 1e-4
DEFAULT_OPSET = 17
ARCH_CHOICES = ("auto", "vae", "dcgan", "ddpm", "vqvae2", "vitgan", "cfg_ddpm")
STEPS = ("load", "detect", "build", "torchscript", "onnx", "parity", "manifest")

ONNX_FILE = "model.onnx"
TORCHSCRIPT_FILE = "model.torchscript.pt"
REFERENCE_FILE = "parity_reference.json"
MANIFEST_FILE = "manifest.json"


class ExportError(Exception):
    """A failure with a protocol error code (E_INPUT, E_UNSAFE, E_EXPORT, E_PARITY)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class Protocol:
    """Writes the JSON-lines protocol to a private copy of the original stdout."""

    def __init__(self, stream: IO[str]):
        self.stream = stream

    def emit(self, obj: Mapping[str, Any]) -> None:
        self.stream.write(json.dumps(obj, allow_nan=False) + "\n")
        self.stream.flush()

    def progress(self, step: str, message: str) -> None:
        assert step in STEPS, step
        self.emit({"progress": {"step": step, "message": _one_line(message)}})

    def result(self, manifest: Mapping[str, Any]) -> None:
        self.emit({"result": manifest})

    def error(self, code: str, message: str) -> None:
        self.emit({"error": {"code": code, "message": _one_line(message)}})


def _one_line(text: str, limit: int = 2000) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _ArgParser(argparse.ArgumentParser):
    """argparse that reports usage errors through the protocol instead of printing usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ExportError("E_INPUT", f"bad arguments: {message}")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = _ArgParser(prog="python3 -m frameworm.export", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", help="FRAMEWORM checkpoint (.pt, torch zip format)")
    p.add_argument("--out", help="output directory (created if missing)")
    p.add_argument("--type", default="auto", choices=ARCH_CHOICES,
                   help="architecture; 'auto' detects it from the weights (default)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default 17)")
    p.add_argument("--image-size", type=int, default=None,
                   help="example image size where the weights do not fix it")
    p.add_argument("--python-info", action="store_true",
                   help="print the Python/torch/onnx versions as JSON and exit")
    args = p.parse_args(list(argv))
    if not args.python_info and (not args.checkpoint or not args.out):
        raise ExportError("E_INPUT", "bad arguments: --checkpoint and --out are required")
    if args.image_size is not None and args.image_size <= 0:
        raise ExportError("E_INPUT", f"bad arguments: --image-size must be positive, got {args.image_size}")
    return args


def python_info() -> Dict[str, Optional[str]]:
    """Versions for discovery; a missing torch or onnx is reported as null, not an error."""
    info: Dict[str, Optional[str]] = {"python": platform.python_version(), "torch": None, "onnx": None}
    try:
        import torch

        info["torch"] = torch.__version__
    except Exception:  # noqa: BLE001 - any import failure means "not usable"
        pass
    try:
        import onnx

        info["onnx"] = onnx.__version__
    except Exception:  # noqa: BLE001
        pass
    return info


# --------------------------------------------------------------------------------------------
# Pipeline steps
# --------------------------------------------------------------------------------------------


def detect_architecture(state_dict: Mapping[str, Any], requested: str) -> Tuple[str, Any, Dict[str, Any]]:
    """(name, module, hyper-parameters) of the one architecture whose fingerprint matches."""
    from .models import ARCHITECTURES

    matches: Dict[str, Dict[str, Any]] = {}
    for name, module in ARCHITECTURES.items():
        try:
            hp = module.detect(state_dict)
        except Exception as e:  # noqa: BLE001 - a detector crash means "not this architecture"
            print(f"warning: {name}.detect raised {type(e).__name__}: {e}", file=sys.stderr)
            hp = None
        if hp is not None:
            matches[name] = hp
    if not matches:
        keys = ", ".join(list(state_dict.keys())[:6])
        raise ExportError(
            "E_INPUT",
            f"the weights match no FRAMEWORM architecture ({len(state_dict)} tensors; first keys: "
            f"{keys})",
        )
    if requested != "auto":
        if requested in matches:
            return requested, ARCHITECTURES[requested], matches[requested]
        other, hp = next(iter(matches.items()))
        raise ExportError(
            "E_INPUT",
            f"--type {requested} contradicts the checkpoint: its weights look like {other} "
            f"({_describe_hp(hp)})",
        )
    if len(matches) > 1:
        raise ExportError(
            "E_INPUT",
            "the weights match several architectures (" + ", ".join(matches) + "); pass --type",
        )
    name, hp = next(iter(matches.items()))
    return name, ARCHITECTURES[name], hp


def _describe_hp(hp: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in hp.items())


def apply_image_size(module: Any, hp: Dict[str, Any], size: Optional[int]) -> Dict[str, Any]:
    """Apply ``--image-size``: the arch's optional ``with_image_size`` hook validates it (sizes
    fixed by the weights cannot change); without a hook it becomes ``hp["image_size"]``."""
    if size is None:
        return hp
    hook = getattr(module, "with_image_size", None)
    if hook is None:
        return dict(hp, image_size=size)
    try:
        return hook(hp, size)
    except ValueError as e:
        raise ExportError("E_INPUT", str(e)) from None


def build_and_load(arch: str, module: Any, hp: Dict[str, Any], state_dict: Mapping[str, Any]) -> Any:
    """Build the module and load the weights strictly; explain any mismatch by name."""
    import torch

    try:
        model = module.build(hp)
    except Exception as e:  # noqa: BLE001
        raise ExportError("E_INPUT", f"cannot build {arch} with {_describe_hp(hp)}: {e}") from None
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k} (checkpoint {list(state_dict[k].shape)}, {arch} expects {list(v.shape)})"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatch(es): " + "; ".join(mismatched[:4]))
        if missing:
            parts.append(f"{len(missing)} missing key(s): " + ", ".join(missing[:5]))
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): " + ", ".join(unexpected[:5]))
        raise ExportError(
            "E_INPUT",
            f"the checkpoint does not fit {arch} ({_describe_hp(hp)}): " + " | ".join(parts),
        )
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise ExportError("E_INPUT", f"strict load into {arch} failed: {e}") from None
    return model.to(torch.float32).eval()


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


def _symbolic_shape(t: Any, axes: Mapping[int, str]) -> List[Any]:
    return [axes.get(i, int(d)) for i, d in enumerate(t.shape)]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _file_entry(path: Path) -> Dict[str, Any]:
    return {"sha256": sha256_of(path), "size_bytes": path.stat().st_size}


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


def run_export(args: argparse.Namespace, proto: Protocol) -> Dict[str, Any]:
    """Run every step; returns the manifest (also written to ``<out>/manifest.json``)."""
    started = time.monotonic()
    import torch

    from .safe_load import CheckpointError, UnsafeCheckpointError, load_checkpoint, to_jsonable

    torch.set_num_threads(1)  # faster and steadier on small shared machines (MACHINE.md)
    ckpt_path, out_dir = Path(args.checkpoint), Path(args.out)

    proto.progress("load", f"reading {ckpt_path.name} with the restricted unpickler")
    try:
        state_dict, meta = load_checkpoint(ckpt_path)
    except UnsafeCheckpointError as e:
        raise ExportError("E_UNSAFE", str(e)) from None
    except CheckpointError as e:
        raise ExportError("E_INPUT", str(e)) from None
    proto.progress("load", f"{len(state_dict)} tensors, {meta['format']} format"
                   + (f", epoch {meta['epoch']}" if meta.get("epoch") is not None else ""))

    proto.progress("detect", "matching the weights against the architecture fingerprints")
    arch, module, hp = detect_architecture(state_dict, args.type)
    hp = apply_image_size(module, hp, args.image_size)
    proto.progress("detect", f"{arch}: {_describe_hp(hp)}")

    proto.progress("build", f"building {arch} and loading the weights strictly")
    model = build_and_load(arch, module, hp, state_dict)
    try:
        spec = module.export_spec(model, hp)
    except Exception as e:  # noqa: BLE001
        raise ExportError("E_EXPORT", f"{arch}.export_spec failed: {type(e).__name__}: {e}") from None

    paths = _prepare_out_dir(out_dir)
    try:
        proto.progress("torchscript", f"tracing {arch} to {TORCHSCRIPT_FILE}")
        try:
            export_torchscript(spec, paths[TORCHSCRIPT_FILE])
        except Exception as e:  # noqa: BLE001
            raise ExportError("E_EXPORT", f"TorchScript tracing failed: {type(e).__name__}: {e}") from None

        proto.progress("onnx", f"exporting {ONNX_FILE} (opset {args.opset})")
        try:
            export_onnx(spec, paths[ONNX_FILE], args.opset)
        except Exception as e:  # noqa: BLE001
            raise ExportError("E_EXPORT", f"ONNX export failed: {type(e).__name__}: {e}") from None
        tag_onnx_metadata(paths[ONNX_FILE], arch, hp)
        checker = check_onnx(paths[ONNX_FILE])
        proto.progress("onnx", f"onnx.checker: {checker}")

        proto.progress("parity", "comparing eager and TorchScript outputs at batch 2 and 3")
        errors, reference = check_parity(spec, paths[TORCHSCRIPT_FILE])
        write_reference(spec, reference, paths[REFERENCE_FILE])
        proto.progress("parity", "max abs error " + ", ".join(f"{k} {v:.3g}" for k, v in errors.items()))

        proto.progress("manifest", f"writing {MANIFEST_FILE}")
        manifest = build_manifest(arch, hp, spec, reference, errors, checker, args.opset, out_dir,
                                  ckpt_path, meta)
        schedule_fn = getattr(module, "schedule", None)
        if schedule_fn is not None:
            manifest["schedule"] = to_jsonable(schedule_fn(state_dict, hp))
        manifest["export_seconds"] = round(time.monotonic() - started, 3)
        paths[MANIFEST_FILE].write_text(json.dumps(manifest, indent=2, allow_nan=False))
        return manifest
    except BaseException:
        # Never leave a half-written export behind: the control plane trusts what it finds.
        for path in paths.values():
            if path.exists():
                path.unlink()
        raise


def _prepare_out_dir(out_dir: Path) -> Dict[str, Path]:
    """Create the output directory and remove artefacts of an earlier export there."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError("E_INPUT", f"cannot create the output directory {out_dir}: {e}") from None
    paths = {name: out_dir / name for name in (TORCHSCRIPT_FILE, ONNX_FILE, REFERENCE_FILE, MANIFEST_FILE)}
    for path in paths.values():
        if path.exists():
            path.unlink()
    return paths


def build_manifest(arch: str, hp: Mapping[str, Any], spec: Any, reference: Sequence[Any],
                   errors: Mapping[str, float], checker: str, opset: int, out_dir: Path,
                   ckpt_path: Path, meta: Mapping[str, Any]) -> Dict[str, Any]:
    """The manifest without ``schedule`` and ``export_seconds`` (added by the caller)."""
    import torch

    from .safe_load import to_jsonable

    def io_entries(names: Sequence[str], tensors: Sequence[Any]) -> List[Dict[str, Any]]:
        return [{"name": n, "shape": _symbolic_shape(t, spec.dynamic_axes.get(n, {})),
                 "dtype": _dtype_name(t)} for n, t in zip(names, tensors)]

    return {
        "format_version": FORMAT_VERSION,
        "type": arch,
        "hyper_parameters": to_jsonable(dict(hp)),
        "inputs": io_entries(spec.input_names, spec.example_inputs),
        "outputs": io_entries(spec.output_names, reference),
        "files": {name: _file_entry(out_dir / name)
                  for name in (ONNX_FILE, TORCHSCRIPT_FILE, REFERENCE_FILE)},
        "parity": {"torchscript_max_abs_err": dict(errors), "tolerance": PARITY_TOLERANCE},
        "onnx_checker": checker,
        "opset": opset,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "checkpoint": {
            "path": str(ckpt_path.resolve()),
            "sha256": sha256_of(ckpt_path),
            "format": meta["format"],
            "epoch": meta["epoch"],
            "training_state": meta["training_state"],
        },
    }


def _claim_stdout() -> IO[str]:
    """A private stream on the original stdout; fd 1 (and sys.stdout) then go to stderr so
    nothing but protocol lines can reach the control plane."""
    sys.stdout.flush()
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(proto_fd, "w", buffering=1, encoding="utf-8")


def main(argv: Optional[Sequence[str]] = None) -> int:
    proto = Protocol(_claim_stdout())
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        if args.python_info:
            proto.emit(python_info())
            return 0
        proto.result(run_export(args, proto))
        return 0
    except ExportError as e:
        proto.error(e.code, str(e))
        return 2
    except Exception as e:  # noqa: BLE001 - anything unexpected is still reported in-protocol
        traceback.print_exc(file=sys.stderr)
        proto.error("E_EXPORT", f"unexpected {type(e).__name__}: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
