"""ε-network server for sampler-reference.test.ts: the eager PyTorch model of a FRAMEWORM ddpm /
cfg_ddpm checkpoint, loaded exactly as templates/frameworm/diffusion_reference.py loads it, so the
TypeScript sampler can run around the *same* ε function as the Python reference.

Protocol (one JSON object per line each way):
  request  {"shape": [B,C,H,W], "x": base64 float32 LE, "t": [B ints], "labels": [B ints] | null}
  answer   {"eps": base64 float32 LE}   or   {"error": "..."}
The first line written is {"ready": true, "arch": "..."}.
"""
import base64
import json
import sys

import numpy as np
import torch

from frameworm.diffusion_reference import _eps, _load_model


def main() -> int:
    torch.set_num_threads(1)  # as the reference CLI
    arch, model, _hp, _sched = _load_model(sys.argv[1])
    out = sys.stdout
    out.write(json.dumps({"ready": True, "arch": arch}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            x = torch.from_numpy(np.frombuffer(base64.b64decode(req["x"]), dtype="<f4").copy()).reshape(req["shape"])
            t = torch.tensor(req["t"], dtype=torch.int64)
            with torch.no_grad():
                if arch == "ddpm":
                    eps = _eps(model(x, t))
                else:
                    eps = _eps(model(x, t, torch.tensor(req["labels"], dtype=torch.int64)))
            data = eps.to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
            out.write(json.dumps({"eps": base64.b64encode(data).decode("ascii")}) + "\n")
        except Exception as e:  # noqa: BLE001
            out.write(json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
