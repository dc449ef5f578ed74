"""Hostile requests to the generated server (templates/server/server.py), run as a real uvicorn
process over tiny TorchScript models: deep nesting, missing or wrong media types, unbounded
numbers. None may be a 5xx or count toward the error rate. Also checks the nesting scan itself
(request_checks.py) against a plain reference loop, across its chunk boundaries."""
from __future__ import annotations

import http.client
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest
import torch

SERVER_DIR = Path(__file__).resolve().parents[1] / "server"
if str(SERVER_DIR) not in sys.path:
    sys.path.insert(0, str(SERVER_DIR))

import request_checks  # noqa: E402

SIDE = 4
LATENT = 8
JSON_TYPE = {"content-type": "application/json"}
DEPTH_ERROR = {"error": "request body nests arrays and objects more than 16 levels deep, deeper than any model's request",
               "detail": {"max_depth": 16}}


# ------------------------------------------------------------------------------- the scan itself

def _reference_exceeds(raw: bytes, limit: int) -> bool:
    """The scan's rule as a plain loop: a quote after an even run of backslashes toggles a string."""
    depth, in_string, run = 0, False, 0
    for b in raw:
        if b == 0x22 and run % 2 == 0:
            in_string = not in_string
        elif not in_string and b in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif not in_string and b in (0x5D, 0x7D):
            depth -= 1
        run = run + 1 if b == 0x5C else 0
    return False


def _depth_of(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            deepest = max(deepest, d)
            stack.extend((e, d + 1) for e in (v.values() if isinstance(v, dict) else v))
    return deepest


def _random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(4 if depth < 20 else 2)
    if kind == 0:
        return rng.choice([1, -2.5, True, None])
    if kind == 1:
        return "".join(rng.choice('[]{}"\\ab\n') for _ in range(rng.randrange(6)))
    if kind == 2:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {str(i) + rng.choice('"[{\\'): _random_value(rng, depth + 1) for i in range(rng.randrange(3))}


def test_depth_scan_matches_the_parsed_depth_of_valid_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request_checks, "_CHUNK", 7)  # many chunk boundaries inside strings and escapes
    rng = random.Random(5)
    for _ in range(400):
        value = _random_value(rng, 0)
        raw = json.dumps(value).encode()
        depth = _depth_of(value)
        for limit in (depth - 1, depth, max(depth, 1) + 1):
            if limit >= 0:
                assert request_checks.json_depth_exceeds(raw, limit) is (depth > limit), (raw, limit)


def test_depth_scan_matches_the_reference_loop_on_arbitrary_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    for chunk in (1, 3, 64, 1 << 18):
        monkeypatch.setattr(request_checks, "_CHUNK", chunk)
        for _ in range(300):
            raw = bytes(rng.choice(b'[[[{]}"\\\\a') for _ in range(rng.randrange(60)))
            for limit in (0, 2, 5):
                assert request_checks.json_depth_exceeds(raw, limit) is _reference_exceeds(raw, limit), (raw, limit, chunk)


def test_depth_scan_handles_huge_bodies() -> None:
    assert request_checks.json_depth_exceeds(b"[" * 5_000_000)
    assert not request_checks.json_depth_exceeds(b"[" + b"[]," * 3_000_000 + b"[]]")
    assert not request_checks.json_depth_exceeds(b'["' + b"[" * 100_000 + b'"]')
    assert request_checks.json_depth_exceeds(b'["\\\\"' + b"[" * 20 + b"]")  # the escaped backslash closes the string


# ------------------------------------------------------------------------------- a live server

class _CfgEps(torch.nn.Module):
    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_label: torch.Tensor) -> torch.Tensor:
        shift = (t.to(torch.float32) * 0.001 + class_label.to(torch.float32) * 0.01).view(-1, 1, 1, 1)
        return x_t * 0.1 + shift


class _Generator(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(LATENT, 3 * SIDE * SIDE)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(z).view(-1, 3, 4, 4))  # SIDE: TorchScript cannot read globals


def _cfg_schedule(steps: int) -> Dict[str, list]:
    betas = torch.linspace(1e-4, 0.2, steps, dtype=torch.float32)
    alphas = 1.0 - betas
    return {"betas": betas.tolist(), "alphas": alphas.tolist(), "alphas_cumprod": torch.cumprod(alphas, 0).tolist()}


def _model_dir(root: Path, kind: str) -> Path:
    d = root / kind
    d.mkdir()
    torch.manual_seed(0)
    if kind == "cfg_ddpm":
        module = torch.jit.script(_CfgEps())
        manifest = {
            "type": "cfg_ddpm", "hyper_parameters": {"image_size": SIDE, "channels": 3, "num_classes": 2},
            "schedule": _cfg_schedule(20),
            "inputs": [{"name": "x_t", "dtype": "float32", "shape": ["batch", 3, SIDE, SIDE]},
                       {"name": "t", "dtype": "int64", "shape": ["batch"]},
                       {"name": "class_label", "dtype": "int64", "shape": ["batch"]}],
            "outputs": [{"name": "eps", "dtype": "float32", "shape": ["batch", 3, SIDE, SIDE]}],
        }
    else:
        module = torch.jit.script(_Generator())
        manifest = {
            "type": "dcgan", "hyper_parameters": {"latent_dim": LATENT, "image_size": SIDE, "channels": 3},
            "inputs": [{"name": "z", "dtype": "float32", "shape": ["batch", LATENT]}],
            "outputs": [{"name": "images", "dtype": "float32", "shape": ["batch", 3, SIDE, SIDE]}],
        }
    module.save(str(d / "model.torchscript.pt"))
    (d / "manifest.json").write_text(json.dumps(manifest))
    (d / "deployment.json").write_text(json.dumps({"name": f"hostile-{kind}", "version": "v1"}))
    return d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, port: int, proc: subprocess.Popen) -> None:
        self.port, self.proc = port, proc

    def post(self, body: bytes, headers: Dict[str, str]) -> Tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("POST", "/predict", body=body, headers={"content-length": str(len(body)), **headers})
            res = conn.getresponse()
            return res.status, json.loads(res.read())
        finally:
            conn.close()

    def predict(self, body: Any) -> Tuple[int, Any]:
        return self.post(json.dumps(body).encode(), JSON_TYPE)

    def get(self, route: str) -> Tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", route)
            res = conn.getresponse()
            return res.status, json.loads(res.read())
        finally:
            conn.close()


def _start(model_dir: Path) -> Iterator[Server]:
    port = _free_port()
    env = {**os.environ, "FRAMEWORM_MODEL_DIR": str(model_dir), "FRAMEWORM_RUNTIME": "torchscript",
           "FRAMEWORM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "server:app", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], cwd=SERVER_DIR, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    server = Server(port, proc)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited: {proc.stdout.read().decode(errors='replace') if proc.stdout else ''}")
            try:
                if server.get("/ready")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become ready within 120 s")
            time.sleep(0.1)
        yield server
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def cfg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _start(_model_dir(tmp_path_factory.mktemp("models"), "cfg_ddpm"))


@pytest.fixture(scope="module")
def gan_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _start(_model_dir(tmp_path_factory.mktemp("models"), "dcgan"))


def _nested(depth: int, inner: str = "") -> str:
    return "[" * depth + inner + "]" * depth


def _errors(server: Server) -> int:
    return server.get("/metrics")[1]["errors"]


def test_deep_nesting_is_a_400_not_a_recursion_error(cfg_server: Server) -> None:
    bodies = [_nested(5_000), '{"class_labels": ' + _nested(100_000, "1") + "}",
              '{"a":' * 20_000 + "1" + "}" * 20_000, '{"x": ' + _nested(16, "1") + "}"]
    for body in bodies:
        status, answer = cfg_server.post(body.encode(), JSON_TYPE)
        assert (status, answer) == (400, DEPTH_ERROR), body[:40]
    # At the limit the body is parsed and refused by the schema; brackets in strings do not count.
    status, answer = cfg_server.post(('{"class_labels": ' + _nested(15, "1") + "}").encode(), JSON_TYPE)
    assert status == 400 and answer["error"].startswith("class_labels[0] is [[[[")
    status, answer = cfg_server.predict({"class_labels": ["[" * 10_000]})
    assert status == 400 and answer["error"].startswith('class_labels[0] is "[[[[')
    assert _errors(cfg_server) == 0


def test_content_type_must_be_application_json(cfg_server: Server) -> None:
    body = json.dumps({"batch_size": 1, "num_steps": 2, "seed": 1}).encode()
    status, answer = cfg_server.post(body, {})
    assert status == 415
    assert answer == {"error": "the request has no content-type: send the body as JSON with the header "
                               "'content-type: application/json' (or tensors with 'content-type: "
                               "application/vnd.safetensors')",
                      "detail": {"content_type": None, "accepted": ["application/json", "application/vnd.safetensors"]}}
    for mime in ("text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "application/jsonp"):
        status, answer = cfg_server.post(body, {"content-type": mime})
        assert status == 415, mime
        assert answer["error"] == (f"the content-type {mime.split(';')[0]} is not supported: send the body as JSON "
                                   "with the header 'content-type: application/json' (or tensors with "
                                   "'content-type: application/vnd.safetensors')")
    assert cfg_server.post(_nested(50_000).encode(), {})[0] == 415
    for mime in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        assert cfg_server.post(body, {"content-type": mime})[0] == 200, mime
    assert _errors(cfg_server) == 0


def test_guidance_scale_is_bounded_and_outputs_stay_finite(cfg_server: Server) -> None:
    for w in ("1e308", "-1e308", "100.5", "1e309", "true"):
        status, answer = cfg_server.post(
            f'{{"class_labels": [0], "guidance_scale": {w}, "num_steps": 2, "seed": 1}}'.encode(), JSON_TYPE)
        assert status == 400, w
        assert answer["error"].startswith("'guidance_scale' must be a number from -100 to 100 (got "), w
        assert answer["detail"] == {"field": "guidance_scale", "min": -100, "max": 100}
    status, answer = cfg_server.post(b'{"class_labels": [0], "guidance_scale": 1e308}', JSON_TYPE)
    assert answer["error"] == "'guidance_scale' must be a number from -100 to 100 (got 1e+308)"
    for w in (100, -100):
        status, answer = cfg_server.predict({"class_labels": [0, 1], "guidance_scale": w, "num_steps": 20, "seed": 1})
        assert status == 200
        pixels = torch.tensor(answer["images"])
        assert pixels.shape == (2, 3, SIDE, SIDE) and bool(torch.isfinite(pixels).all())
    assert _errors(cfg_server) == 0


def test_latent_z_is_bounded(gan_server: Server) -> None:
    z = [1.0] * LATENT
    status, answer = gan_server.predict({"z": [[1e30 if i == 3 else v for i, v in enumerate(z)]]})
    assert status == 400
    assert answer["error"] == "input 'z' values must be in [-1000,1000] (element 3 is 1.0000000150474662e+30)"
    status, answer = gan_server.predict({"z": [[-1000.0] * LATENT]})
    assert status == 200
    assert _errors(gan_server) == 0
