"""Export a FRAMEWORM checkpoint to TorchScript + ONNX, with a parity check and a manifest.

Usage (from ``templates/``)::

    python3 -m frameworm.export --checkpoint PATH --out DIR [--type auto|vae|dcgan|ddpm|vqvae2|
        vitgan|cfg_ddpm] [--opset 17] [--image-size N]
    python3 -m frameworm.export --python-info

With ``--exit-with-stdin`` the exporter stops as soon as its stdin reaches end-of-file: the
control plane keeps that pipe open for the export's lifetime and never writes to it, so its
death — even by SIGKILL, which leaves no chance to signal children — ends the export instead of
leaving it running orphaned. Partial output files are removed first.

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
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Dict, IO, List, Mapping, Optional, Sequence, Tuple

from .artifacts import (  # noqa: F401 - re-exported: tests and callers import them from here
    PARITY_TOLERANCE,
    ExportError,
    _dtype_name,
    _weights_problem,
    check_onnx,
    check_parity,
    export_onnx,
    export_torchscript,
    tag_onnx_metadata,
    write_reference,
)

FORMAT_VERSION = 1
DEFAULT_OPSET = 17
ARCH_CHOICES = ("auto", "vae", "dcgan", "ddpm", "vqvae2", "vitgan", "cfg_ddpm")
STEPS = ("load", "detect", "build", "torchscript", "onnx", "parity", "manifest")

ONNX_FILE = "model.onnx"
TORCHSCRIPT_FILE = "model.torchscript.pt"
REFERENCE_FILE = "parity_reference.json"
MANIFEST_FILE = "manifest.json"


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
    p.add_argument("--exit-with-stdin", action="store_true",
                   help="exit (removing partial output) when stdin reaches end-of-file: the "
                        "caller holds it open while it wants the export")
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
        _PARTIAL_OUTPUTS.clear()  # complete now: nothing for the stdin watcher to remove
        return manifest
    except BaseException:
        # Never leave a half-written export behind: the control plane trusts what it finds.
        for path in paths.values():
            if path.exists():
                path.unlink()
        raise


#: Output files of the export in progress, removed by the stdin watcher if the caller dies.
_PARTIAL_OUTPUTS: List[Path] = []


def _remove_partial_outputs() -> None:
    for path in list(_PARTIAL_OUTPUTS):
        try:
            path.unlink()
        except OSError:
            pass


def watch_stdin_for_parent_death() -> threading.Thread:
    """Start a daemon thread that ends the process once stdin reaches end-of-file.

    The caller's end of the pipe closes when the caller exits for any reason, so this is the
    one signal that survives a SIGKILL of the caller; polling ``os.getppid()`` would also miss
    callers running under a subreaper.
    """
    def watch() -> None:
        try:
            while os.read(0, 65536):
                pass  # the caller never writes; anything it does write is ignored
        except OSError:
            pass
        _remove_partial_outputs()
        os._exit(3)  # not sys.exit: the main thread may be deep inside torch

    thread = threading.Thread(target=watch, name="frameworm-parent-watch", daemon=True)
    thread.start()
    return thread


def _prepare_out_dir(out_dir: Path) -> Dict[str, Path]:
    """Create the output directory and remove artefacts of an earlier export there."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError("E_INPUT", f"cannot create the output directory {out_dir}: {e}") from None
    paths = {name: out_dir / name for name in (TORCHSCRIPT_FILE, ONNX_FILE, REFERENCE_FILE, MANIFEST_FILE)}
    _PARTIAL_OUTPUTS[:] = list(paths.values())
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
        if args.exit_with_stdin:
            watch_stdin_for_parent_death()
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
