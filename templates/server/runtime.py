"""The model runtime: onnxruntime when it is importable (model.onnx), else TorchScript
(model.torchscript.pt). Both take and give numpy arrays keyed by the manifest's names."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Mapping

import numpy as np


def _threads() -> int:
    try:
        return max(1, int(os.environ.get("FRAMEWORM_THREADS", "1")))
    except ValueError:
        return 1


class OnnxRuntime:
    name = "onnxruntime"

    def __init__(self, model_dir: Path, manifest: Mapping[str, Any]) -> None:
        import onnxruntime as ort  # type: ignore

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = _threads()
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(None, feeds)))


class TorchScriptRuntime:
    name = "torchscript"

    def __init__(self, model_dir: Path, manifest: Mapping[str, Any]) -> None:
        import torch

        torch.set_num_threads(_threads())
        self.torch = torch
        self.module = torch.jit.load(str(model_dir / "model.torchscript.pt"), map_location="cpu")
        self.module.eval()
        self.input_names: List[str] = [i["name"] for i in manifest.get("inputs") or []]
        self.output_names: List[str] = [o["name"] for o in manifest.get("outputs") or []]

    def run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        torch = self.torch
        args = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self.input_names]
        with torch.no_grad():
            out = self.module(*args)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return {n: t.detach().cpu().numpy() for n, t in zip(self.output_names, outs)}


def load_runtime(model_dir: Path, manifest: Mapping[str, Any]):
    """onnxruntime if installed (and model.onnx exists), else TorchScript; FRAMEWORM_RUNTIME
    = onnx | torchscript forces one."""
    forced = os.environ.get("FRAMEWORM_RUNTIME", "").lower()
    if forced != "torchscript" and (model_dir / "model.onnx").exists():
        try:
            import onnxruntime  # type: ignore  # noqa: F401
        except ImportError:
            if forced == "onnx":
                raise
        else:
            return OnnxRuntime(model_dir, manifest)
    return TorchScriptRuntime(model_dir, manifest)


def warmup_feeds(manifest: Mapping[str, Any]) -> Dict[str, np.ndarray]:
    """Batch 1 and, where H/W are dynamic, the model's image size (as the embedded runtime)."""
    from codec import NP_DTYPES

    hp = manifest.get("hyper_parameters") or {}
    size = hp.get("image_size") if isinstance(hp.get("image_size"), int) else 32
    feeds = {}
    for i in manifest.get("inputs") or []:
        dims = [d if isinstance(d, int) else (1 if axis == 0 else size) for axis, d in enumerate(i["shape"])]
        feeds[i["name"]] = np.zeros(dims, dtype=NP_DTYPES.get(i["dtype"], np.float32))
    return feeds
