"""Trains the demo model shipped in examples/models: a small FRAMEWORM DCGAN (the project's own
architecture code, ``templates/frameworm/models/dcgan.py``) on a data set this script draws
itself, saves it in the FRAMEWORM trainer checkpoint format and exports it with the project's
exporter, so the demo also runs on machines without torch.

    /usr/bin/python3 scripts/train_demo_dcgan.py            # about 8 minutes on one CPU thread
    /usr/bin/python3 scripts/train_demo_dcgan.py --steps 40 --out /tmp/x   # a quick smoke run

The data set ("shapes"): 64x64 RGB pictures of one to two filled circles, squares and triangles
in saturated colours on a pale, softly graded background, drawn with numpy. Shapes with smooth
(anti-aliased) edges are something a tiny GAN learns in a few CPU minutes, and its samples then
visibly look like the data set. Everything is seeded: the same command makes the same weights
on the same torch build (CPU, float32, one thread: the default, since the order of float sums
depends on the thread count, and one thread is also the fastest on a busy machine).

Next to the checkpoint it writes ``demo-dcgan-samples.png`` (a grid of generated images, top)
over a grid of training images (bottom) for a look at what was learned.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "templates"))
# OpenMP threads that spin while waiting at barriers crawl on a busy machine (each step waits for
# a thread that has no core); passive waiting keeps the run's speed close to its CPU share.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from frameworm.models import dcgan  # noqa: E402

#: The same hyper-parameters as the compat DCGAN fixture: what the inspector detects and the
#: exporter exports (generator always 64x64; discriminator judges 64x64).
HP: Dict[str, int] = {"latent_dim": 32, "ngf": 16, "ndf": 16, "channels": 3, "image_size": 64}
SIZE = 64
SEED = 2026
LR = 2e-4
BETAS = (0.5, 0.999)


def draw_shapes(rng: np.random.Generator, n: int) -> np.ndarray:
    """n pictures [n, 3, 64, 64] in [-1, 1]: a graded pale background and 1-2 filled shapes."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    out = np.empty((n, 3, SIZE, SIZE), dtype=np.float32)
    for i in range(n):
        # Pale background, a gentle vertical gradient between two light tints.
        top = rng.uniform(0.78, 0.95, 3).astype(np.float32)
        bottom = top - rng.uniform(0.0, 0.15, 3).astype(np.float32)
        g = (yy / SIZE)[None]
        img = top[:, None, None] * (1 - g) + bottom[:, None, None] * g
        for _ in range(rng.integers(1, 3)):
            kind = rng.integers(0, 3)
            r = rng.uniform(9, 17)
            cx, cy = rng.uniform(r, SIZE - r, 2)
            if kind == 0:  # circle: signed distance to the rim
                d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) - r
            elif kind == 1:  # axis-aligned square
                d = np.maximum(np.abs(xx - cx), np.abs(yy - cy)) - r * 0.85
            else:  # upward triangle: the largest of three half-plane distances
                h = r * 1.1
                d1 = (yy - cy) - h * 0.6  # bottom edge
                s = 0.894  # sin/cos of the side slope (2:1)
                d2 = s * (xx - cx) - 0.447 * (yy - cy) - h * 0.5
                d3 = -s * (xx - cx) - 0.447 * (yy - cy) - h * 0.5
                d = np.maximum(d1, np.maximum(d2, d3))
            alpha = np.clip(0.5 - d, 0.0, 1.0)[None]  # one-pixel anti-aliased edge
            hue = rng.uniform(0, 1)
            color = hsv_to_rgb(hue, rng.uniform(0.7, 1.0), rng.uniform(0.55, 0.9))
            img = img * (1 - alpha) + color[:, None, None] * alpha
        out[i] = img * 2 - 1
    return out


def hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, dtype=np.float32)


def init_weights(m: nn.Module) -> None:
    """The DCGAN paper's initialisation: N(0, 0.02) convs, N(1, 0.02) BatchNorm scales."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def save_grid(path: Path, rows: List[np.ndarray]) -> None:
    """Each row: [k, 3, 64, 64] in [-1, 1]; written as one PNG with 2 px gutters."""
    from PIL import Image

    k = max(r.shape[0] for r in rows)
    cell = SIZE + 2
    canvas = np.full((len(rows) * cell + 2, k * cell + 2, 3), 255, dtype=np.uint8)
    for ri, row in enumerate(rows):
        for ci, img in enumerate(row):
            pix = ((np.clip(img, -1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(1, 2, 0)
            canvas[2 + ri * cell: 2 + ri * cell + SIZE, 2 + ci * cell: 2 + ci * cell + SIZE] = pix
    Image.fromarray(canvas).save(path, optimize=True)


def train(steps: int, batch: int, dataset_size: int, log_every: int, preview: Optional[Path] = None) -> tuple:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    data = torch.from_numpy(draw_shapes(rng, dataset_size))
    model = dcgan.build(dict(HP))
    model.apply(init_weights)
    gen, disc = model.generator, model.discriminator
    opt_g = torch.optim.Adam(gen.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(disc.parameters(), lr=LR, betas=BETAS)
    bce = nn.BCELoss()
    ones, zeros = torch.full((batch,), 0.9), torch.zeros(batch)  # one-sided label smoothing
    losses_g: List[float] = []
    losses_d: List[float] = []
    t0 = time.monotonic()
    model.train()
    for step in range(1, steps + 1):
        real = data[torch.randint(0, dataset_size, (batch,))]
        z = torch.randn(batch, HP["latent_dim"], 1, 1)
        fake = gen(z)
        opt_d.zero_grad(set_to_none=True)
        loss_d = bce(disc(real), ones) + bce(disc(fake.detach()), zeros)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        loss_g = bce(disc(fake), torch.ones(batch))
        loss_g.backward()
        opt_g.step()
        losses_g.append(float(loss_g))
        losses_d.append(float(loss_d))
        if step % log_every == 0 or step == steps:
            print(f"step {step}/{steps}  loss_d {np.mean(losses_d[-log_every:]):.3f}  loss_g {np.mean(losses_g[-log_every:]):.3f}  {time.monotonic() - t0:.0f} s", flush=True)
        if preview is not None and step % (log_every * 4) == 0:
            # A look at progress (eval-mode BatchNorm, as served); not part of the seeded stream.
            model.eval()
            with torch.no_grad():
                save_grid(preview, [model(torch.randn(8, HP["latent_dim"], generator=torch.Generator().manual_seed(7))).numpy()])
            model.train()
    model.eval()
    return model, data, losses_g, losses_d, time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--dataset-size", type=int, default=6000)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1; the weights depend on it)")
    ap.add_argument("--out", type=Path, default=ROOT / "examples" / "models")
    ap.add_argument("--preview", type=Path, default=None, help="rewrite this PNG with 8 samples every 200 steps")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model, data, losses_g, losses_d, seconds = train(args.steps, args.batch, args.dataset_size, 50, args.preview)
    print(f"trained {args.steps} steps of {args.batch} in {seconds:.0f} s")
    state = collections.OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    n_gen = len(list(model.generator.parameters()))
    # Per-epoch-ish generator loss summary (one entry per 10% of training) for the lineage view.
    chunk = max(1, len(losses_g) // 10)
    loss_curve = [round(float(np.mean(losses_g[i:i + chunk])), 4) for i in range(0, len(losses_g), chunk)]
    epochs = max(1, round(args.steps * args.batch / args.dataset_size))
    checkpoint = collections.OrderedDict(
        [
            ("epoch", epochs),
            ("model_state_dict", state),
            # The Adam moments are not shipped (they would double the file); the hyper-parameters are.
            ("optimizer_state_dict", {"state": {}, "param_groups": [{"lr": LR, "betas": BETAS, "eps": 1e-08, "weight_decay": 0, "amsgrad": False, "maximize": False, "foreach": None, "capturable": False, "differentiable": False, "fused": None, "params": list(range(n_gen))}]}),
            ("training_state", {"current_epoch": epochs, "global_step": args.steps, "best_metric": round(float(np.mean(losses_d[-chunk:])), 4), "best_epoch": epochs, "train_metrics": {"loss": loss_curve}, "val_metrics": {}, "patience_counter": 0, "should_stop": False, "lr_history": [LR]}),
        ]
    )
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "demo-dcgan.pt"
    torch.save(dict(checkpoint), ckpt)
    print(f"wrote {ckpt} ({ckpt.stat().st_size} bytes)")

    with torch.no_grad():
        g = torch.Generator().manual_seed(7)
        samples = model(torch.randn(24, HP["latent_dim"], generator=g)).numpy()
    grid = out / "demo-dcgan-samples.png"
    save_grid(grid, [samples[:8], samples[8:16], samples[16:24], data[:8].numpy()])
    print(f"wrote {grid} (3 rows of samples over 1 row of training pictures)")

    export_dir = out / "demo-dcgan"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "templates"), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "frameworm.export", "--checkpoint", str(ckpt.resolve()), "--out", str(export_dir.resolve())], env=env, cwd=ROOT / "templates", capture_output=True, text=True)
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    if "result" not in last:
        raise SystemExit(f"export failed: {last}")
    # Only the ONNX model and its manifest are shipped; TorchScript is re-made by a real export.
    manifest_path = export_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for extra in ("model.torchscript.pt", "parity_reference.json"):
        (export_dir / extra).unlink(missing_ok=True)
        manifest["files"].pop(extra, None)
    try:
        manifest["checkpoint"]["path"] = str(ckpt.resolve().relative_to(ROOT))
    except ValueError:
        manifest["checkpoint"]["path"] = str(ckpt)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"exported {export_dir}: parity {last['result']['parity']['torchscript_max_abs_err']}")


if __name__ == "__main__":
    main()
