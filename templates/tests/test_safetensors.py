"""Safetensors bodies in the generated server: the codec (templates/server/safetensors_codec.py)
against the format's rules and the TypeScript codec's messages, and a live uvicorn server whose
safetensors answers equal its JSON ones exactly, whose safetensors request bodies equal JSON
requests, and which answers a malformed body 400 without counting an error."""
from __future__ import annotations

import http.client
import json
import struct
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import numpy as np
import pytest
import torch

SERVER_DIR = Path(__file__).resolve().parents[1] / "server"
if str(SERVER_DIR) not in sys.path:
    sys.path.insert(0, str(SERVER_DIR))

import safetensors_codec as st  # noqa: E402
from test_server_hostile import LATENT, SIDE, Server, _model_dir, _start  # noqa: E402

ST = "application/vnd.safetensors"


def _file(header: Any, data: bytes = b"", declared: int | None = None) -> bytes:
    text = (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack("<Q", len(text) if declared is None else declared) + text + data


def _refusal(buf: bytes, **kwargs: Any) -> str:
    with pytest.raises(st.SafetensorsFormatError) as info:
        st.decode(buf, **kwargs)
    return str(info.value)


# ------------------------------------------------------------------------------------- codec

def test_round_trip_keeps_order_dtypes_metadata_and_aligns_the_data() -> None:
    tensors = [("images", np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2) / 3),
               ("0", np.array([-(2 ** 62), 7], dtype=np.int64)), ("d", np.array([np.pi])),
               ("h", np.array([1, -1, 0], dtype=np.float16)), ("b", np.array([True, False, True])),
               ("empty", np.zeros((0, 4), dtype=np.float32)), ("scalar", np.array(-5, dtype=np.int32))]
    metadata = {"model": "dcgan", "seed": "42", "ünï": 'line\nbreak "quoted"'}
    body = st.encode(tensors, metadata)
    (n,) = struct.unpack_from("<Q", body)
    assert (8 + n) % 8 == 0
    assert body[8:8 + n].decode().index("__metadata__") == 2
    decoded, meta = st.decode(body)
    assert meta == metadata
    assert list(decoded) == [name for name, _ in tensors]
    for name, array in tensors:
        dtype, shape, data = decoded[name]
        back = st.to_array(dtype, shape, data)
        assert back.dtype == array.dtype and back.shape == array.shape
        assert np.array_equal(back, array)


def test_every_malformed_body_is_refused_with_the_typescript_codecs_message() -> None:
    x = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    eight = bytes(8)
    cases = [
        (bytes(5), "5 bytes, fewer than the 8-byte header length"),
        (_file({"x": x}, eight, 2 ** 40), "header length is 1099511627776 bytes, more than the limit"),
        (_file({"x": x}, eight, 500), "header length is 500 bytes but only"),
        (_file("{", b"", 1), "too short for a JSON object"),
        (struct.pack("<Q", 4) + b"{\xff\xfe}", "not valid UTF-8"),
        (_file(" {}"), "must be a JSON object starting with '{'"),
        (_file('{"x": }'), "the header is not valid JSON"),
        (_file('{"a":1}'), "tensor 'a' must be an object"),
        (_file({"__metadata__": {"seed": 4}}), "'__metadata__' value 'seed' must be a string (got 4)"),
        (_file({"__metadata__": ["a"]}), "'__metadata__' must be an object of strings"),
        (_file({"x": {**x, "extra": 1}}, eight), "tensor 'x' has an unknown key 'extra'"),
        (_file({"x": {**x, "dtype": "F128"}}, eight), "tensor 'x' has unknown dtype \"F128\""),
        (_file({"x": {**x, "shape": [-2]}}, eight), "tensor 'x' shape must be an array of non-negative integers"),
        (_file({"x": {**x, "shape": [1.5]}}, eight), "shape must be an array of non-negative integers"),
        (_file({"x": {**x, "data_offsets": [0]}}, eight), "data_offsets must be [begin, end]"),
        (_file({"x": {**x, "data_offsets": [8, 0]}}, eight), "end before they begin"),
        (_file({"x": {**x, "data_offsets": [0, 16]}}, eight), "reach past the 8 bytes of data"),
        (_file({"x": {**x, "shape": [3]}}, eight), "shape [3] of F32 (12 bytes) but data_offsets [0, 8] span 8 bytes"),
        (_file({"x": {**x, "shape": [2 ** 40, 2 ** 40]}}, eight), "has too many elements"),
        (_file({"x": x, "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, eight), "overlap the previous tensor's"),
        (_file({"y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, eight), "the bytes 0 to 4 of the data belong to no tensor"),
        (_file({"x": x}, bytes(12)), "4 bytes after the last tensor's data"),
        (_file({}, bytes(3)), "3 bytes after the last tensor's data"),
    ]
    for body, message in cases:
        text = _refusal(body)
        assert text.startswith("invalid safetensors body: ") and message in text, (message, text)
    assert "more than the limit of 16" in _refusal(_file({"x": x}, eight), max_header_bytes=16)


# ------------------------------------------------------------------------------- a live server

class _Vae(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return torch.sigmoid(x), x.mean(dim=(2, 3)), x.amax(dim=(2, 3))


def _vae_dir(root: Path) -> Path:
    d = root / "vae"
    d.mkdir()
    torch.jit.script(_Vae()).save(str(d / "model.torchscript.pt"))
    manifest = {
        "type": "vae", "hyper_parameters": {"image_size": SIDE, "channels": 3},
        "inputs": [{"name": "x", "dtype": "float32", "shape": ["batch", 3, SIDE, SIDE]}],
        "outputs": [{"name": "reconstruction", "dtype": "float32", "shape": ["batch", 3, SIDE, SIDE]},
                    {"name": "mu", "dtype": "float32", "shape": ["batch", 3]},
                    {"name": "log_var", "dtype": "float32", "shape": ["batch", 3]}],
    }
    (d / "manifest.json").write_text(json.dumps(manifest))
    (d / "deployment.json").write_text(json.dumps({"name": "tensors-vae", "version": "v1"}))
    return d


@pytest.fixture(scope="module")
def gan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _start(_model_dir(tmp_path_factory.mktemp("models"), "dcgan"))


@pytest.fixture(scope="module")
def vae(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _start(_vae_dir(tmp_path_factory.mktemp("models")))


def _post(server: Server, body: bytes, headers: Dict[str, str]) -> Tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("POST", "/predict", body=body, headers={"content-length": str(len(body)), **headers})
        res = conn.getresponse()
        return res.status, res.getheader("content-type") or "", res.read()
    finally:
        conn.close()


def _json(server: Server, body: Any, headers: Dict[str, str] | None = None) -> Tuple[int, str, bytes]:
    return _post(server, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})})


def _answer(reply: Tuple[int, str, bytes]) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    status, mime, body = reply
    assert status == 200, body[:300]
    assert mime == ST
    tensors, metadata = st.decode(body)
    return {k: st.to_array(*v) for k, v in tensors.items()}, metadata


def _same(array: np.ndarray, nested: Any) -> None:
    assert array.dtype == np.float32
    expected = np.asarray(nested, dtype=np.float64)
    assert array.shape == expected.shape
    assert np.array_equal(array.astype(np.float64), expected)


def test_gan_safetensors_answer_equals_json_and_accept_chooses_it(gan: Server) -> None:
    status, _, body = _json(gan, {"batch_size": 3, "seed": 5})
    assert status == 200
    as_json = json.loads(body)
    tensors, metadata = _answer(_json(gan, {"batch_size": 3, "seed": 5, "output_format": "safetensors"}))
    assert list(tensors) == ["images"]
    _same(tensors["images"], as_json["images"])
    assert metadata["seed"] == "5" and metadata["model"] == "hostile-dcgan" and metadata["version"] == "v1"
    assert float(metadata["latency_ms"]) >= 0
    by_accept, _ = _answer(_json(gan, {"batch_size": 3, "seed": 5}, {"accept": ST}))
    assert np.array_equal(by_accept["images"], tensors["images"])
    status, mime, _ = _json(gan, {"batch_size": 3, "seed": 5}, {"accept": f"application/json, {ST}"})
    assert status == 200 and mime.startswith("application/json")


def test_gan_z_and_metadata_fields_from_a_safetensors_body(gan: Server) -> None:
    z = (np.sin(np.arange(2 * LATENT)) * 2).astype(np.float32).reshape(2, LATENT)
    as_json = json.loads(_json(gan, {"z": z.tolist()})[2])
    tensors, _ = _answer(_post(gan, st.encode([("z", z)], {"output_format": "safetensors"}), {"content-type": ST}))
    _same(tensors["images"], as_json["images"])
    seeded, _ = _answer(_post(gan, st.encode([], {"batch_size": "2", "seed": "77"}), {"content-type": ST, "accept": ST}))
    _same(seeded["images"], json.loads(_json(gan, {"batch_size": 2, "seed": 77})[2])["images"])
    status, _, body = _post(gan, st.encode([], {"batch_size": "many"}), {"content-type": ST})
    assert status == 400 and json.loads(body)["error"] == "'batch_size' must be an integer from 1 to 64 (got \"many\")"


def test_vae_safetensors_request_equals_json_request(vae: Server) -> None:
    x = ((np.arange(2 * 3 * SIDE * SIDE) * 7919 % 1000) / 999).astype(np.float32).reshape(2, 3, SIDE, SIDE)
    status, _, body = _json(vae, {"x": x.tolist()})
    assert status == 200
    from_json = json.loads(body)
    status, mime, body = _post(vae, st.encode([("x", x)]), {"content-type": ST})
    assert status == 200 and mime.startswith("application/json")
    from_tensors = json.loads(body)
    for key in ("reconstruction", "mu", "log_var"):
        assert from_tensors[key] == from_json[key]
    both, _ = _answer(_post(vae, st.encode([("x", x)], {"output_format": "safetensors"}), {"content-type": ST}))
    assert list(both) == ["reconstruction", "mu", "log_var"]
    for key in ("reconstruction", "mu", "log_var"):
        _same(both[key], from_json[key])


def test_malformed_bodies_are_400s_and_the_next_request_is_fine(vae: Server) -> None:
    x = np.full((1, 3, SIDE, SIDE), 0.5, dtype=np.float32)
    good = st.encode([("x", x)])
    nan = x.copy()
    nan.reshape(-1)[7] = np.nan
    cases = [
        (good[:5], "invalid safetensors body: the body has 5 bytes, fewer than the 8-byte header length"),
        (good + b"\x01\x02\x03", "3 bytes after the last tensor's data"),
        (good[:-4], "bytes of data"),
        (b"", "fewer than the 8-byte header length"),
        (st.encode([("x", x.astype(np.float64))]), "input 'x' has dtype float64 in the safetensors body, the model expects float32"),
        (st.encode([("x", nan)]), "input 'x' must contain float32 values: element 7 is NaN"),
        (st.encode([("x", x)], {"x": "1"}), "'x' is given twice in the safetensors body"),
        (st.encode([("x", np.zeros((1, 3, 2, 2), dtype=np.float32))]), "input 'x' has shape [1,3,2,2], the model expects [B,3,4,4]"),
    ]
    for body, message in cases:
        status, _, answer = _post(vae, body, {"content-type": ST})
        assert status == 400, message
        assert message in json.loads(answer)["error"], (message, answer)
    assert _post(vae, good, {"content-type": ST})[0] == 200
    metrics = vae.get("/metrics")[1]
    assert metrics["errors"] == 0 and metrics["error_rate"] == 0
