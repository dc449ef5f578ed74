"""Per-architecture /predict handling, mirroring main/serving/schemas/*.ts field by field:
same field names, defaults, validation and 4xx messages."""
from __future__ import annotations

import secrets
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from codec import BinaryTensor, decode_tensor, encode_tensor, format_shape
from errors import RequestError, is_integer, is_number, js_json
from png import images_to_png_base64
import sampler
from frameworm.noise import INITIAL_NOISE_STREAM, gaussian_tensor

MAX_SEED = 2 ** 53 - 1
DEFAULT_GUIDANCE = 3.0
#: Largest |guidance_scale| (diffusion.ts MAX_GUIDANCE): beyond it ε overflows float32 into NaN images.
MAX_GUIDANCE = 100
#: Largest |z| element (gan.ts MAX_LATENT): latents are standard normal draws.
MAX_LATENT = 1000

#: runs the model: {input name: array} -> {output name: array}
RunFn = Callable[[Dict[str, np.ndarray]], Dict[str, np.ndarray]]


class RequestCancelled(Exception):
    """Nobody waits for this request's answer any more (it timed out): stop its work."""


class Context:
    def __init__(self, run: RunFn, manifest: Mapping[str, Any], max_batch_size: int,
                 cancelled: Optional[threading.Event] = None) -> None:
        self.run = run
        self.manifest = manifest
        self.hp: Mapping[str, Any] = manifest.get("hyper_parameters") or {}
        self.schedule: Mapping[str, Any] = manifest.get("schedule") or {}
        self.max_batch = max_batch_size
        self.cancelled = cancelled

    def for_request(self, cancelled: threading.Event) -> "Context":
        """The same model, for one request that may be cancelled."""
        return Context(self.run, self.manifest, self.max_batch, cancelled)


# ------------------------------------------------------------------------------------ fields

def request_object(body: Any, accepted: Sequence[str]) -> Dict[str, Any]:
    if not isinstance(body, dict):
        raise RequestError(400, f"the request body must be a JSON object with fields {', '.join(accepted)}")
    unknown = [k for k in body if k not in accepted]
    if unknown:
        raise RequestError(400, f"unknown field '{unknown[0]}' (accepted: {', '.join(accepted)})",
                           {"unknown": unknown})
    return body


def int_field(body: Mapping[str, Any], key: str, lo: int, hi: int, fallback: int) -> int:
    v = body.get(key)
    if v is None:
        return fallback
    if not is_integer(v) or v < lo or v > hi:
        raise RequestError(400, f"'{key}' must be an integer from {lo} to {hi} (got {js_json(v)})",
                           {"field": key, "min": lo, "max": hi})
    return int(v)


def bounded_number_field(body: Mapping[str, Any], key: str, lo: float, hi: float, fallback: float) -> float:
    """A number in [lo, hi], or the default: bounds keep the model's arithmetic finite."""
    v = body.get(key)
    if v is None:
        return fallback
    if not is_number(v) or not lo <= v <= hi:
        raise RequestError(400, f"'{key}' must be a number from {js_json(lo)} to {js_json(hi)} (got {js_json(v)})",
                           {"field": key, "min": lo, "max": hi})
    return v


def seed_field(body: Mapping[str, Any]) -> int:
    if body.get("seed") is None:
        return secrets.randbelow(2 ** 48 - 1)
    return int_field(body, "seed", 0, MAX_SEED, 0)


def output_format(body: Mapping[str, Any]) -> str:
    v = body.get("output_format")
    if v is None or v == "array":
        return "array"
    if v in ("png", "safetensors"):
        return v
    raise RequestError(400, f"'output_format' must be \"array\", \"png\" or \"safetensors\" (got {js_json(v)})")


def hp_int(hp: Mapping[str, Any], key: str, fallback: Optional[int] = None) -> int:
    v = hp.get(key)
    if v is None:
        v = fallback
    if not is_integer(v) or v <= 0:
        raise RuntimeError(f"the export manifest lacks hyper-parameter '{key}'")
    return int(v)


def image_batch_field(body: Mapping[str, Any], key: str, channels: int, pixel_range: str,
                      max_batch: int, height: Optional[int] = None, width: Optional[int] = None,
                      multiple_of: Optional[int] = None) -> np.ndarray:
    if key not in body:
        raise RequestError(400, f"'{key}' is required: an image batch [B,{channels},H,W]")
    t = decode_tensor(key, body[key], "float32")
    dims = list(t.shape)
    expected = format_shape(["B", channels, height if height is not None else "H",
                             width if width is not None else "W"])
    if (len(dims) != 4 or dims[1] != channels or (height is not None and dims[2] != height)
            or (width is not None and dims[3] != width)):
        raise RequestError(400, f"input '{key}' has shape {format_shape(dims)}, the model expects {expected}",
                           {"expected": expected, "got": dims})
    b, _, h, w = dims
    if multiple_of and (h % multiple_of or w % multiple_of or h < multiple_of):
        raise RequestError(400, f"input '{key}' height and width must be multiples of {multiple_of} (got {h}×{w})")
    if b < 1 or b > max_batch:
        raise RequestError(400, f"input '{key}' has batch {b}, allowed 1 to {max_batch}")
    lo, hi = (0.0, 1.0) if pixel_range == "[0,1]" else (-1.0, 1.0)
    bad = np.flatnonzero((t < lo) | (t > hi))
    if bad.size:
        i = int(bad[0])
        raise RequestError(400, f"input '{key}' values must be in {pixel_range} (element {i} is {js_json(float(t.reshape(-1)[i]))})")
    return t


def encode_images(images: np.ndarray, pixel_range: str, fmt: str) -> Any:
    if fmt == "safetensors":
        return BinaryTensor(np.asarray(images))
    return images_to_png_base64(images, pixel_range) if fmt == "png" else encode_tensor(images)


def encode_output(a: np.ndarray, fmt: str) -> Any:
    """An output as nested lists, or raw for a safetensors answer."""
    return BinaryTensor(np.asarray(a)) if fmt == "safetensors" else encode_tensor(a)


# ------------------------------------------------------------------------------- architectures

def vae(raw: Any, ctx: Context) -> dict:
    body = request_object(raw, ["x", "output_format"])
    size = hp_int(ctx.hp, "image_size", 32)
    x = image_batch_field(body, "x", hp_int(ctx.hp, "channels", 3), "[0,1]", ctx.max_batch, size, size)
    out = ctx.run({"x": x})
    fmt = output_format(body)
    return {"reconstruction": encode_images(out["reconstruction"], "[0,1]", fmt),
            "mu": encode_output(out["mu"], fmt), "log_var": encode_output(out["log_var"], fmt)}


def vqvae2(raw: Any, ctx: Context) -> dict:
    body = request_object(raw, ["x", "output_format"])
    channels = hp_int(ctx.hp, "channels", hp_int(ctx.hp, "in_channels", 3))
    x = image_batch_field(body, "x", channels, "[-1,1]", ctx.max_batch, multiple_of=16)
    out = ctx.run({"x": x})
    fmt = output_format(body)
    return {"reconstruction": encode_images(out["reconstruction"], "[-1,1]", fmt),
            "commitment_loss": encode_output(out["commitment_loss"], fmt)}


def _latent(body: Mapping[str, Any], latent_dim: int, max_batch: int) -> Tuple[np.ndarray, Optional[int]]:
    if "z" in body:
        if "batch_size" in body or "seed" in body:
            raise RequestError(400, "give either 'z' or 'batch_size'/'seed', not both")
        z = decode_tensor("z", body["z"], "float32")
        if z.ndim != 2 or z.shape[1] != latent_dim:
            raise RequestError(400, f"input 'z' has shape {format_shape(list(z.shape))}, the model expects [B,{latent_dim}]")
        if z.shape[0] < 1 or z.shape[0] > max_batch:
            raise RequestError(400, f"input 'z' has batch {z.shape[0]}, allowed 1 to {max_batch}")
        bad = np.flatnonzero(np.abs(z) > MAX_LATENT)
        if bad.size:
            i = int(bad[0])
            raise RequestError(400, f"input 'z' values must be in [-{MAX_LATENT},{MAX_LATENT}] "
                               f"(element {i} is {js_json(float(z.reshape(-1)[i]))})")
        return z, None
    batch = int_field(body, "batch_size", 1, max_batch, 1)
    seed = seed_field(body)
    return gaussian_tensor(seed, INITIAL_NOISE_STREAM, [batch, latent_dim]), seed


def gan(raw: Any, ctx: Context) -> dict:
    body = request_object(raw, ["z", "batch_size", "seed", "output_format"])
    fmt = output_format(body)
    z, seed = _latent(body, hp_int(ctx.hp, "latent_dim"), ctx.max_batch)
    out = ctx.run({"z": z})
    result: Dict[str, Any] = {"images": encode_images(out["images"], "[-1,1]", fmt)}
    if seed is not None:
        result["seed"] = seed
    return result


def _image_shape(ctx: Context, batch: int) -> Tuple[int, int, int, int]:
    size = hp_int(ctx.hp, "image_size", 32)
    return (batch, hp_int(ctx.hp, "channels", hp_int(ctx.hp, "image_channels", 3)), size, size)


def _eps_fn(ctx: Context) -> sampler.EpsFn:
    def eps(x: np.ndarray, t: np.ndarray, label: Optional[np.ndarray]) -> np.ndarray:
        if ctx.cancelled is not None and ctx.cancelled.is_set():
            raise RequestCancelled()
        feeds = {"x_t": np.ascontiguousarray(x, dtype=np.float32), "t": t}
        if label is not None:
            feeds["class_label"] = label
        return ctx.run(feeds)["eps"]
    return eps


def _schedule_len(ctx: Context, key: str = "betas") -> int:
    v = ctx.schedule.get(key)
    if not isinstance(v, list) or not v:
        raise RuntimeError(f"the export manifest has no '{key}' schedule; re-export the checkpoint")
    return len(v)


def _sampling(work: Callable[[], np.ndarray]) -> np.ndarray:
    try:
        return work()
    except sampler.SamplerInputError as err:
        raise RequestError(400, str(err)) from err


def ddpm(raw: Any, ctx: Context) -> dict:
    body = request_object(raw, ["batch_size", "num_steps", "seed", "output_format"])
    steps = _schedule_len(ctx)
    batch = int_field(body, "batch_size", 1, ctx.max_batch, 1)
    num_steps = int_field(body, "num_steps", 1, steps, steps)
    seed = seed_field(body)
    fmt = output_format(body)
    images = _sampling(lambda: sampler.sample_ddpm(_eps_fn(ctx), ctx.schedule, _image_shape(ctx, batch), num_steps, seed))
    return {"images": encode_images(images, "[-1,1]", fmt), "seed": seed, "num_steps": num_steps}


def _class_labels(body: Mapping[str, Any], num_classes: int, max_batch: int) -> Tuple[List[Optional[int]], int]:
    given = body.get("class_labels")
    if given is None:
        batch = int_field(body, "batch_size", 1, max_batch, 1)
        return [None] * batch, batch
    if not isinstance(given, list) or len(given) < 1 or len(given) > max_batch:
        raise RequestError(400, f"'class_labels' must be an array of 1 to {max_batch} class indices or nulls")
    labels: List[Optional[int]] = []
    for i, lab in enumerate(given):
        if lab is None:
            labels.append(None)
            continue
        if not is_integer(lab) or lab < 0 or lab >= num_classes:
            raise RequestError(400, f"class_labels[{i}] is {js_json(lab)}: this model has {num_classes} classes "
                               f"(0 to {num_classes - 1}); use null for unconditional", {"num_classes": num_classes})
        labels.append(int(lab))
    if body.get("batch_size") is not None:
        batch = int_field(body, "batch_size", 1, max_batch, len(labels))
        if batch != len(labels):
            raise RequestError(400, f"'batch_size' is {batch} but 'class_labels' has {len(labels)} entries")
    return labels, len(labels)


def cfg_ddpm(raw: Any, ctx: Context) -> dict:
    body = request_object(raw, ["batch_size", "class_labels", "guidance_scale", "num_steps", "seed", "output_format"])
    for key in ("betas", "alphas", "alphas_cumprod"):
        _schedule_len(ctx, key)
    steps = _schedule_len(ctx)
    num_classes = hp_int(ctx.hp, "num_classes")
    labels, batch = _class_labels(body, num_classes, ctx.max_batch)
    guidance = bounded_number_field(body, "guidance_scale", -MAX_GUIDANCE, MAX_GUIDANCE, DEFAULT_GUIDANCE)
    num_steps = int_field(body, "num_steps", 1, steps, steps)
    seed = seed_field(body)
    fmt = output_format(body)
    images = _sampling(lambda: sampler.sample_cfg(_eps_fn(ctx), ctx.schedule, _image_shape(ctx, batch), num_steps,
                                                  seed, labels, num_classes, guidance))
    return {"images": encode_images(images, "[-1,1]", fmt), "seed": seed, "num_steps": num_steps,
            "class_labels": labels, "guidance_scale": guidance}


# ------------------------------------------------------------------------------------- generic

def _signature(inputs: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{i['name']} {format_shape(i['shape'])} {i['dtype']}" for i in inputs)


def generic(raw: Any, ctx: Context) -> dict:
    graph_inputs = ctx.manifest.get("inputs") or []
    if not isinstance(raw, dict) or not isinstance(raw.get("inputs"), dict):
        raise RequestError(400, 'the request must be a JSON object with an "inputs" object mapping input names to '
                           f"nested arrays (the model expects: {_signature(graph_inputs)})",
                           {"expected_inputs": graph_inputs})
    given = raw["inputs"]
    known = {i["name"] for i in graph_inputs}
    for name in given:
        if name not in known:
            raise RequestError(400, f"unknown input '{name}'; the model's inputs are: {_signature(graph_inputs)}",
                               {"input": name, "expected_inputs": graph_inputs})
    feeds: Dict[str, np.ndarray] = {}
    bindings: Dict[str, Tuple[int, str]] = {}
    for info in graph_inputs:
        name = info["name"]
        if name not in given:
            raise RequestError(400, f"missing input '{name}' ({format_shape(info['shape'])} {info['dtype']}); "
                               f"the model's inputs are: {_signature(graph_inputs)}",
                               {"input": name, "expected_inputs": graph_inputs})
        t = decode_tensor(name, given[name], info["dtype"])
        _check_shape(info, list(t.shape), bindings, ctx.max_batch)
        feeds[name] = t
    # "png" is accepted and answered as arrays (outputs are not known to be images).
    fmt = output_format(raw)
    out = ctx.run(feeds)
    return {"outputs": {o["name"]: encode_output(out[o["name"]], fmt) for o in ctx.manifest.get("outputs") or []
                        if o["name"] in out}}


def _check_shape(info: Mapping[str, Any], dims: List[int], bindings: Dict[str, Tuple[int, str]], max_batch: int) -> None:
    name, shape = info["name"], info["shape"]
    detail = {"input": name, "shape": dims, "expected": shape}
    mismatch = RequestError(400, f"input '{name}' has shape {format_shape(dims)}, the model expects {format_shape(shape)}", detail)
    if len(dims) != len(shape):
        raise mismatch
    for axis, want in enumerate(shape):
        got = dims[axis]
        if isinstance(want, int):
            if want != got:
                raise mismatch
            continue
        if got == 0:
            raise RequestError(400, f"input '{name}' has shape {format_shape(dims)}: dimension '{want}' must not be empty", detail)
        if axis == 0 and got > max_batch:
            raise RequestError(400, f"input '{name}' has a batch of {got}; the limit is {max_batch}",
                               {**detail, "max_batch_size": max_batch})
        if want is None:
            continue
        bound = bindings.get(want)
        if bound and bound[0] != got:
            raise RequestError(400, f"input '{name}' has {want} = {got} but input '{bound[1]}' has {want} = {bound[0]}; "
                               f"inputs must agree on dimension '{want}'", {**detail, "dimension": want})
        if not bound:
            bindings[want] = (got, name)


SCHEMAS: Dict[str, Callable[[Any, Context], dict]] = {
    "generic": generic, "vae": vae, "dcgan": gan, "vitgan": gan, "ddpm": ddpm, "cfg_ddpm": cfg_ddpm,
    "vqvae2": vqvae2,
}
