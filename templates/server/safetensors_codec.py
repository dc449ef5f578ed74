"""The safetensors format, read and written with numpy alone (the generated image has no
``safetensors`` package): the same rules, messages and bytes as main/common/safetensors.ts.

    [8 bytes: header length N, u64 little-endian][N bytes: JSON header][data]
    header = {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [b, e]}, ...}

Decoding is strict (bounded header, known dtypes, shapes that match their bytes, tensors that
tile the data exactly). Encoding writes metadata first and tensors in the order given, and pads
the header with spaces so the data starts 8-byte aligned.
"""
from __future__ import annotations

import json
import struct
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

MEDIA_TYPE = "application/vnd.safetensors"
DEFAULT_MAX_HEADER_BYTES = 1024 * 1024

#: dtype name -> bytes per element (the format's whole list).
DTYPE_BYTES: Dict[str, int] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}
#: dtype name -> numpy dtype (little-endian), for the types a model input or output can have.
NP_OF: Dict[str, Any] = {
    "BOOL": np.dtype(np.bool_), "U8": np.dtype("u1"), "I8": np.dtype("i1"), "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"), "F16": np.dtype("<f2"), "I32": np.dtype("<i4"), "U32": np.dtype("<u4"),
    "F32": np.dtype("<f4"), "I64": np.dtype("<i8"), "U64": np.dtype("<u8"), "F64": np.dtype("<f8"),
}
#: numpy kind+size -> dtype name, for encoding.
_NAME_OF: Dict[Tuple[str, int], str] = {(d.kind, d.itemsize): name for name, d in NP_OF.items()}

_TENSOR_KEYS = {"dtype", "shape", "data_offsets"}


class SafetensorsFormatError(ValueError):
    """A body that is not a well-formed safetensors file; the message names the problem."""


def _fail(message: str) -> None:
    raise SafetensorsFormatError(f"invalid safetensors body: {message}")


def _describe(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return text[:60] + "…" if len(text) > 60 else text


def _is_count(v: Any) -> bool:
    # As JavaScript's Number.isSafeInteger: 16.0 counts as 16, like in the TypeScript codec.
    return (type(v) is int or (type(v) is float and v.is_integer())) and 0 <= v <= 2 ** 53 - 1


def decode(buf: bytes, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> Tuple[Dict[str, Tuple[str, List[int], memoryview]], Dict[str, str]]:
    """Decodes a safetensors file: ({name: (dtype, shape, bytes view)} in data order, metadata)."""
    if len(buf) < 8:
        _fail(f"the body has {len(buf)} bytes, fewer than the 8-byte header length")
    (n,) = struct.unpack_from("<Q", buf, 0)
    if n > max_header_bytes:
        _fail(f"the header length is {n} bytes, more than the limit of {max_header_bytes}")
    if n < 2:
        _fail(f"the header length is {n} bytes, too short for a JSON object")
    if 8 + n > len(buf):
        _fail(f"the header length is {n} bytes but only {len(buf) - 8} bytes follow it")
    try:
        text = bytes(buf[8:8 + n]).decode("utf-8")
    except UnicodeDecodeError:
        _fail("the header is not valid UTF-8")
    if not text.startswith("{"):
        _fail(f"the header must be a JSON object starting with '{{' (it starts with {_describe(text[:10])})")
    try:
        header = json.loads(text, parse_constant=lambda c: _fail(f"the header is not valid JSON: {c}"))
    except SafetensorsFormatError:
        raise
    except (ValueError, RecursionError) as err:
        _fail(f"the header is not valid JSON: {err}")
    if not isinstance(header, dict):
        _fail("the header must be a JSON object")
    data_length = len(buf) - 8 - n
    metadata: Dict[str, str] = {}
    entries: List[Tuple[int, int, str, str, List[int]]] = []
    for name, value in header.items():
        if name == "__metadata__":
            if not isinstance(value, dict):
                _fail("'__metadata__' must be an object of strings")
            for k, v in value.items():
                if not isinstance(v, str):
                    _fail(f"'__metadata__' value '{k}' must be a string (got {_describe(v)})")
                metadata[k] = v
            continue
        if not isinstance(value, dict):
            _fail(f"tensor '{name}' must be an object with dtype, shape and data_offsets")
        extra = [k for k in value if k not in _TENSOR_KEYS]
        if extra:
            _fail(f"tensor '{name}' has an unknown key '{extra[0]}' (allowed: dtype, shape, data_offsets)")
        dtype = value.get("dtype")
        if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
            _fail(f"tensor '{name}' has unknown dtype {_describe(dtype)} (known: {', '.join(DTYPE_BYTES)})")
        shape = value.get("shape")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            _fail(f"tensor '{name}' shape must be an array of non-negative integers (got {_describe(shape)})")
        offsets = value.get("data_offsets")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets):
            _fail(f"tensor '{name}' data_offsets must be [begin, end], two non-negative integers (got {_describe(offsets)})")
        begin, end = int(offsets[0]), int(offsets[1])
        shape = [int(d) for d in shape]
        if end < begin:
            _fail(f"tensor '{name}' data_offsets [{begin}, {end}] end before they begin")
        if end > data_length:
            _fail(f"tensor '{name}' data_offsets [{begin}, {end}] reach past the {data_length} bytes of data")
        elements = 1
        for d in shape:
            elements *= d
            if elements > 2 ** 53 - 1:
                _fail(f"tensor '{name}' shape {_describe(shape)} has too many elements")
        size = elements * DTYPE_BYTES[dtype]
        if end - begin != size:
            _fail(f"tensor '{name}' has shape {_describe(shape)} of {dtype} ({size} bytes) but data_offsets "
                  f"[{begin}, {end}] span {end - begin} bytes")
        entries.append((begin, end, name, dtype, shape))
    entries.sort(key=lambda e: (e[0], e[1]))
    at = 0
    for begin, end, name, _, _ in entries:
        if begin < at:
            _fail(f"tensor '{name}' data_offsets [{begin}, {end}] overlap the previous tensor's (which ends at {at})")
        if begin > at:
            _fail(f"the bytes {at} to {begin} of the data belong to no tensor (before tensor '{name}')")
        at = end
    if at != data_length:
        _fail(f"the body has {data_length - at} bytes after the last tensor's data")
    view = memoryview(buf)
    base = 8 + n
    tensors = {name: (dtype, shape, view[base + begin:base + end]) for begin, end, name, dtype, shape in entries}
    return tensors, metadata


def to_array(dtype: str, shape: Sequence[int], data: memoryview) -> np.ndarray:
    """A decoded tensor as a numpy array of the machine's byte order (a copy: the body may go)."""
    np_dtype = NP_OF[dtype]
    return np.frombuffer(data, dtype=np_dtype).astype(np_dtype.newbyteorder("="), copy=True).reshape(shape)


def _js_string(s: str) -> str:
    # JSON.stringify's escaping: the same as json.dumps with ensure_ascii=False.
    return json.dumps(s, ensure_ascii=False)


def dtype_name(a: np.ndarray) -> str:
    """The safetensors dtype of an array; ValueError for types the format cannot carry."""
    name = "BOOL" if a.dtype == np.bool_ else _NAME_OF.get((a.dtype.kind, a.dtype.itemsize))
    if name is None:
        raise ValueError(f"arrays of {a.dtype} cannot be written as safetensors")
    return name


def encode(tensors: Sequence[Tuple[str, np.ndarray]], metadata: Mapping[str, str] | None = None) -> bytes:
    """Encodes tensors (in the order given) and metadata strings as one safetensors body."""
    fields: List[str] = []
    if metadata:
        fields.append('"__metadata__":{' + ",".join(f"{_js_string(k)}:{_js_string(v)}" for k, v in metadata.items()) + "}")
    chunks: List[bytes] = []
    offset = 0
    seen = set()
    for name, array in tensors:
        if name == "__metadata__" or name in seen:
            raise ValueError(f"tensor name '{name}' is reserved or used twice")
        seen.add(name)
        a = np.asarray(array)
        dtype = dtype_name(a)
        data = np.ascontiguousarray(a, dtype=NP_OF[dtype]).tobytes()
        shape = ",".join(str(int(d)) for d in a.shape)
        fields.append(f'{_js_string(name)}:{{"dtype":"{dtype}","shape":[{shape}],"data_offsets":[{offset},{offset + len(data)}]}}')
        offset += len(data)
        chunks.append(data)
    head = ("{" + ",".join(fields) + "}").encode("utf-8")
    padded = len(head) + (8 - (8 + len(head)) % 8) % 8
    return struct.pack("<Q", padded) + head + b" " * (padded - len(head)) + b"".join(chunks)
