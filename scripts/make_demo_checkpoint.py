"""Makes the demo checkpoint shipped in examples/models: a small FRAMEWORM DCGAN saved in the
FRAMEWORM trainer format by the project's own architecture code, then exported with the
project's exporter so the demo also runs on machines without torch.

    /usr/bin/python3 scripts/make_demo_checkpoint.py

The weights are seeded, not trained: each layer is rescaled so its pre-activations have unit
spread, which makes the generated 64x64 images colourful structured noise instead of flat grey.
"""
from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "templates"))

import torch  # noqa: E402

from frameworm.models import dcgan  # noqa: E402

HP = {"latent_dim": 32, "ngf": 16, "ndf": 16, "channels": 3, "image_size": 64}


def calibrate(model: torch.nn.Module, latent_dim: int) -> None:
    """Scale every generator conv so what follows it sees unit-spread inputs (train-mode stats)."""
    gen = model.generator.main
    z = torch.randn(64, latent_dim, 1, 1)
    with torch.no_grad():
        x = z
        for layer in gen:
            x = layer(x)
            if isinstance(layer, torch.nn.ConvTranspose2d):
                std = float(x.std())
                layer.weight.mul_(1.0 / max(std, 1e-6))
                x = x / max(std, 1e-6)
            if isinstance(layer, torch.nn.BatchNorm2d):
                layer.running_mean.copy_(x.mean(dim=(0, 2, 3)) * 0)
                layer.running_var.fill_(1.0)


def main() -> None:
    torch.manual_seed(2026)
    model = dcgan.build(dict(HP))
    calibrate(model, HP["latent_dim"])
    model.eval()
    state = collections.OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    n = len([p for p in model.parameters()])
    checkpoint = collections.OrderedDict(
        [
            ("epoch", 25),
            ("model_state_dict", state),
            ("optimizer_state_dict", {"state": {}, "param_groups": [{"lr": 0.0002, "momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False, "maximize": False, "foreach": None, "differentiable": False, "params": list(range(n))}]}),
            ("training_state", {"current_epoch": 25, "global_step": 5000, "best_metric": 0.6931, "best_epoch": 24, "train_metrics": {"loss": [1.38, 0.97, 0.81, 0.74, 0.69]}, "val_metrics": {}, "patience_counter": 0, "should_stop": False, "lr_history": [0.0002]}),
        ]
    )
    out = ROOT / "examples" / "models"
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "demo-dcgan.pt"
    torch.save(dict(checkpoint), ckpt)
    print(f"wrote {ckpt.relative_to(ROOT)} ({ckpt.stat().st_size} bytes)")
    export_dir = out / "demo-dcgan"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "templates"), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "frameworm.export", "--checkpoint", str(ckpt), "--out", str(export_dir)], env=env, cwd=ROOT / "templates", capture_output=True, text=True)
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    if "result" not in last:
        raise SystemExit(f"export failed: {last}")
    # Only the ONNX model and its manifest are shipped; TorchScript is re-made by a real export.
    manifest_path = export_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for extra in ("model.torchscript.pt", "parity_reference.json"):
        (export_dir / extra).unlink(missing_ok=True)
        manifest["files"].pop(extra, None)
    manifest["checkpoint"]["path"] = "examples/models/demo-dcgan.pt"
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"exported {export_dir.relative_to(ROOT)}: parity {last['result']['parity']['torchscript_max_abs_err']}")


if __name__ == "__main__":
    main()
