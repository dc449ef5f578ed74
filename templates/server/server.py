"""Frameworm Deploy's generated model server (DESIGN §5): the same HTTP contract as the
embedded runtime's stable endpoint (main/serving/stable-endpoint.ts).

    POST /predict   per-architecture JSON (schemas.py), or a safetensors body / answer
                    (tensor_body.py); 400/413 for bad requests, 415 unless the content-type is
                    application/json or application/vnd.safetensors, 503 before the model is
                    ready, 504 after FRAMEWORM_REQUEST_TIMEOUT_MS
    GET  /health    200 while the process lives
    GET  /ready     503 until the model is loaded and warmed, then 200
    GET  /metrics   JSON, or Prometheus text (?format=prometheus or Accept: text/plain)

Run: ``uvicorn server:app --host 0.0.0.0 --port 8080`` in this folder. Environment:
FRAMEWORM_MODEL_DIR (default ./model beside this file, else this folder), FRAMEWORM_MODEL_NAME,
FRAMEWORM_MODEL_VERSION (defaults: model/deployment.json), FRAMEWORM_THREADS (torch/onnxruntime intra-op threads, default 1),
FRAMEWORM_WORKERS (inference threads, default 1), FRAMEWORM_MAX_BATCH_SIZE (64),
FRAMEWORM_MAX_BODY_BYTES (10 MiB), FRAMEWORM_REQUEST_TIMEOUT_MS (30000), FRAMEWORM_RUNTIME
(onnx | torchscript to force one). Works with FastAPI 0.92 / pydantic 1 and current releases:
requests are validated by hand, not by pydantic models.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Optional
from urllib.parse import parse_qs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import frameworm.noise  # noqa: F401
except ImportError:  # running from the source tree: templates/frameworm beside templates/server
    sys.path.insert(1, str(HERE.parent))

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import Response  # noqa: E402

from errors import RequestError, ServerFault  # noqa: E402
from metrics import PROMETHEUS_CONTENT_TYPE, LatencyRecorder, to_prometheus  # noqa: E402
from request_checks import check_content_type, check_json_depth, media_type  # noqa: E402
from runtime import load_runtime, warmup_feeds  # noqa: E402
from schemas import SCHEMAS, Context  # noqa: E402
from tensor_body import MEDIA_TYPE, apply_accept, decode_request, encode_answer, is_tensor_answer  # noqa: E402


def _env_int(key: str, default: int) -> int:
    try:
        return int(os.environ.get(key, default))
    except ValueError:
        return default


def _model_dir() -> Path:
    env = os.environ.get("FRAMEWORM_MODEL_DIR")
    if env:
        return Path(env)
    return HERE / "model" if (HERE / "model" / "manifest.json").exists() else HERE


MODEL_DIR = _model_dir()
MANIFEST: Dict[str, Any] = json.loads((MODEL_DIR / "manifest.json").read_text(encoding="utf-8"))
MODEL_TYPE: str = MANIFEST.get("type", "generic")
_DEPLOYMENT_FILE = MODEL_DIR / "deployment.json"  # written by the generator: name, version
DEPLOYMENT: Dict[str, Any] = (json.loads(_DEPLOYMENT_FILE.read_text(encoding="utf-8"))
                              if _DEPLOYMENT_FILE.exists() else {})
NAME = os.environ.get("FRAMEWORM_MODEL_NAME") or str(DEPLOYMENT.get("name", "model"))
VERSION = os.environ.get("FRAMEWORM_MODEL_VERSION") or str(DEPLOYMENT.get("version", "v1"))
MAX_BATCH = _env_int("FRAMEWORM_MAX_BATCH_SIZE", 64)
MAX_BODY = _env_int("FRAMEWORM_MAX_BODY_BYTES", 10 * 1024 * 1024)
TIMEOUT_MS = _env_int("FRAMEWORM_REQUEST_TIMEOUT_MS", 30_000)
ROUTES = "POST /predict, GET /health, GET /ready, GET /metrics"

if MODEL_TYPE not in SCHEMAS:
    raise SystemExit(f"no request schema for model type '{MODEL_TYPE}' (available: {', '.join(SCHEMAS)})")

app = FastAPI(title=f"Frameworm Deploy: {NAME}", docs_url=None, redoc_url=None, openapi_url=None)
executor = ThreadPoolExecutor(max_workers=max(1, _env_int("FRAMEWORM_WORKERS", 1)), thread_name_prefix="infer")
recorder = LatencyRecorder()
state: Dict[str, Any] = {"ctx": None, "runtime": None, "error": None, "warmup_ms": None}
STARTED = time.time()


def _load() -> None:
    try:
        runtime = load_runtime(MODEL_DIR, MANIFEST)
        t0 = time.perf_counter()
        try:
            runtime.run(warmup_feeds(MANIFEST))
        except Exception:
            if MODEL_TYPE != "generic":  # a generic graph may not accept the guessed shapes
                raise
        state["warmup_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        state["runtime"] = runtime
        state["ctx"] = Context(runtime.run, MANIFEST, MAX_BATCH)
    except Exception as err:  # /ready stays 503 and says why
        state["error"] = f"{type(err).__name__}: {err}"
        traceback.print_exc()


@app.on_event("startup")
async def _start_loading() -> None:
    threading.Thread(target=_load, name="load-model", daemon=True).start()


def _json(status: int, body: Any, headers: Optional[Dict[str, str]] = None) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status_code=status, media_type="application/json; charset=utf-8",
                    headers={"cache-control": "no-store", **(headers or {})})


class _TooLarge(Exception):
    def __init__(self, seen: int, declared: bool) -> None:
        self.seen, self.declared = seen, declared


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise _TooLarge(int(declared), True)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge(size, False)
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _predict_sync(body: Any, cancelled: threading.Event) -> dict:
    ctx = state["ctx"].for_request(cancelled)
    t0 = time.perf_counter()
    result = SCHEMAS[MODEL_TYPE](body, ctx)
    return {**result, "model": NAME, "version": VERSION,
            "latency_ms": round((time.perf_counter() - t0) * 1000, 3)}


async def _predict(request: Request) -> Response:
    refused = check_content_type(request.headers.get("content-type"))
    if refused:
        return _json(*refused)
    try:
        raw = await _read_body(request)
    except _TooLarge as err:
        detail: Dict[str, Any] = {"limit_bytes": MAX_BODY}
        if err.declared:
            detail["content_length"] = err.seen
        return _json(413, {"error": f"request body is too large: the limit is {MAX_BODY} bytes", "detail": detail},
                     {"connection": "close"})
    if media_type(request.headers.get("content-type")) == MEDIA_TYPE:
        try:
            body = decode_request(raw, MODEL_TYPE)
        except RequestError as err:
            return _json(err.status, {"error": err.message, "detail": err.detail})
    else:
        if not raw:
            return _json(400, {"error": "request body is not valid JSON: the body is empty"})
        # Before parsing: json.loads recurses, and a body nested thousands deep is a RecursionError.
        refused = check_json_depth(raw)
        if refused:
            return _json(*refused)
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as err:
            return _json(400, {"error": f"request body is not valid JSON: {err}"})
    body = apply_accept(body, request.headers.get("accept"))
    if state["ctx"] is None:
        return _json(503, {"error": "no model is loaded" if state["error"] is None
                           else f"the model failed to load: {state['error']}"})
    loop = asyncio.get_running_loop()
    # The executor runs requests first come, first served; one that times out while waiting is
    # dropped from its queue, and one already sampling stops at its next step (see Context).
    cancelled = threading.Event()
    try:
        result = await asyncio.wait_for(loop.run_in_executor(executor, _predict_sync, body, cancelled), TIMEOUT_MS / 1000)
        if is_tensor_answer(result):
            return Response(encode_answer(result), status_code=200, media_type=MEDIA_TYPE,
                            headers={"cache-control": "no-store"})
        return _json(200, result)
    except asyncio.TimeoutError:
        cancelled.set()
        return _json(504, {"error": f"the model did not answer within {TIMEOUT_MS} ms", "detail": {"timeout_ms": TIMEOUT_MS}})
    except RequestError as err:
        return _json(err.status, {"error": err.message, "detail": err.detail})
    except ServerFault as err:
        return _json(500, {"error": str(err), "code": err.code})
    except Exception as err:  # a server fault: logged here, the client gets the message
        traceback.print_exc()
        return _json(500, {"error": str(err) or type(err).__name__, "code": "E_INTERNAL"})


def _snapshot() -> Dict[str, Any]:
    snap = recorder.snapshot()
    ready = state["ctx"] is not None
    # Fault drills are injected at the control plane's stable endpoint, never in this server;
    # requests are not batched here (one at a time per worker): no batching section, as on an
    # embedded deployment with batching off.
    return {**snap, "model": NAME, "version": VERSION if ready else None, "drill": None, "batching": None,
            "version_metrics": {"version": VERSION, **snap} if ready else None}


def _metrics(request: Request) -> Response:
    fmt = (parse_qs(request.url.query).get("format") or [None])[0]
    accept = request.headers.get("accept", "").lower()
    prometheus = fmt == "prometheus" or (fmt != "json" and ("text/plain" in accept or "application/openmetrics-text" in accept))
    if not prometheus:
        return _json(200, _snapshot())
    snap = recorder.snapshot()
    series = [(snap, {"scope": "endpoint"})]
    if state["ctx"] is not None:
        series.append((snap, {"scope": "version", "version": VERSION}))
    return Response(to_prometheus(series, {"model": NAME}), media_type=PROMETHEUS_CONTENT_TYPE,
                    headers={"cache-control": "no-store", "content-type": PROMETHEUS_CONTENT_TYPE})


METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@app.api_route("/{path:path}", methods=METHODS)
async def dispatch(request: Request, path: str) -> Response:
    method = request.method
    route = "/" + path.strip("/") if path.strip("/") else "/"
    route = route.rstrip("/") or "/"
    if route == "/predict":
        if method != "POST":
            return _json(405, {"error": f"method {method} is not allowed on {route} (allowed: POST)"}, {"allow": "POST"})
        start = time.perf_counter()
        response = await _predict(request)
        code = response.status_code
        outcome = "timeout" if code == 504 else "server_error" if code >= 500 else "client_error" if code >= 400 else "ok"
        recorder.record((time.perf_counter() - start) * 1000, outcome, "x-frameworm-probe" in request.headers)
        return response
    if route not in ("/health", "/ready", "/metrics"):
        return _json(404, {"error": f"no route {method} {request.url.path}; routes: {ROUTES}"})
    if method not in ("GET", "HEAD"):
        return _json(405, {"error": f"method {method} is not allowed on {route} (allowed: GET, HEAD)"}, {"allow": "GET, HEAD"})
    ready = state["ctx"] is not None
    if route == "/health":
        return _json(200, {"status": "ok", "model": NAME, "version": VERSION if ready else None,
                           "uptime_s": round(time.time() - STARTED), "ready": ready})
    if route == "/ready":
        if ready:
            return _json(200, {"ready": True, "model": NAME, "version": VERSION})
        return _json(503, {"ready": False, "model": NAME,
                           "error": "no model is loaded" if state["error"] is None else f"the model failed to load: {state['error']}"})
    return _metrics(request)
