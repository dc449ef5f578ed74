"""Nested JSON arrays <-> numpy tensors, with the TypeScript tensor codec's validation and
messages (main/serving/schemas/tensor-codec.ts)."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from errors import RequestError, describe_value, is_integer, is_number, js_number

NP_DTYPES: Dict[str, Any] = {
    "float32": np.float32, "float64": np.float64, "float16": np.float16,
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
    "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
    "bool": np.bool_,
}

_MAX_SAFE = 2 ** 53 - 1
INT_RANGES: Dict[str, Tuple[int, int]] = {
    "int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "uint16": (0, 65535),
    "int32": (-2147483648, 2147483647), "uint32": (0, 4294967295),
    "int64": (-_MAX_SAFE, _MAX_SAFE), "uint64": (0, _MAX_SAFE),
}
FLOAT_MAX: Dict[str, float] = {"float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308,
                               "float16": 65504.0}


def format_shape(shape: Sequence[Any]) -> str:
    return "[" + ",".join("null" if d is None else str(d) for d in shape) + "]"


def shape_of(value: Any) -> List[int]:
    shape: List[int] = []
    v = value
    while isinstance(v, list):
        shape.append(len(v))
        if not v:
            break
        v = v[0]
    return shape


def reject_reason(v: Any, dtype: str):
    if dtype == "bool":
        return None if isinstance(v, bool) else f"{describe_value(v)}, not true or false"
    if dtype == "string":
        return None if isinstance(v, str) else f"{describe_value(v)}, not a string"
    if not is_number(v):
        return f"{describe_value(v)}, not a number"
    if not math.isfinite(v):
        return f"{js_number(v)}, not a finite number"
    fmax = FLOAT_MAX.get(dtype)
    if fmax is not None:
        return f"{js_number(v)}, outside the {dtype} range" if abs(v) > fmax else None
    lo, hi = INT_RANGES[dtype]
    if not is_integer(v):
        return f"{js_number(v)}, not an integer"
    if v < lo or v > hi:
        return f"{js_number(v)}, outside the {dtype} range {lo}..{hi}"
    return None


class BinaryTensor:
    """A tensor that travels as binary (a safetensors body) instead of nested lists: in a
    request where a field's nested list would be, in a result where the answer is safetensors."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def _check_binary(name: str, a: np.ndarray, dtype: str) -> np.ndarray:
    """A binary input as the graph needs it (tensor-codec.ts checkBinary): same dtype, finite floats."""
    got = next((k for k, v in NP_DTYPES.items() if a.dtype == v), str(a.dtype))
    if got != dtype:
        raise RequestError(400, f"input '{name}' has dtype {got} in the safetensors body, the model expects {dtype}",
                           {"input": name, "expected": dtype, "got": got})
    if dtype in ("float32", "float64", "float16"):
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            i = int(bad[0])
            raise RequestError(400, f"input '{name}' must contain {dtype} values: element {i} is "
                                    f"{js_number(float(a.reshape(-1)[i]))}, not a finite number",
                               {"input": name, "at": i, "expected": dtype})
    return a


def decode_tensor(name: str, value: Any, dtype: str) -> np.ndarray:
    """Decodes input ``name`` into an array of ``dtype``; RequestError(400) when the array is
    not rectangular or an element does not fit the dtype. A BinaryTensor (from a safetensors
    body) must have that dtype and finite values."""
    if isinstance(value, BinaryTensor):
        return _check_binary(name, value.array, dtype)
    dims = shape_of(value)
    is_float = dtype in ("float32", "float64")
    fmax = FLOAT_MAX.get(dtype, 0.0)
    flat: List[Any] = []
    idx: List[int] = []

    def at(last=None) -> str:
        return name + "".join(f"[{i}]" for i in idx) + ("" if last is None else f"[{last}]")

    def first(depth: int) -> str:
        return name + "[0]" * depth

    def fail(where: str, message: str, detail=None):
        raise RequestError(400, f"input '{name}' {message}", {"input": name, "at": where, **(detail or {})})

    def bad_leaf(v: Any, where: str, depth: int):
        if isinstance(v, list):
            fail(where, f"is not a rectangular array: {where} is an array where {first(depth)} is not")
        fail(where, f"must contain {dtype} values: {where} is {reject_reason(v, dtype) or 'invalid'}",
             {"expected": dtype})

    def walk(v: Any, depth: int) -> None:
        if not isinstance(v, list):
            fail(at(), f"is not a rectangular array: {at()} is {describe_value(v)} where {first(depth)} is an array")
        want = dims[depth]
        if len(v) != want:
            fail(at(), f"is not a rectangular array: {at()} has {len(v)} elements where {first(depth)} has {want}")
        if depth < len(dims) - 1:
            for i in range(want):
                idx.append(i)
                walk(v[i], depth + 1)
                idx.pop()
            return
        if is_float and all((type(e) is float or type(e) is int) and -fmax <= e <= fmax for e in v):
            flat.extend(v)  # the fast path: every element a finite number in range
            return
        for i, e in enumerate(v):
            if isinstance(e, list) or reject_reason(e, dtype) is not None:
                bad_leaf(e, at(i), depth + 1)
            flat.append(e)

    if not dims:
        if reject_reason(value, dtype) is not None:
            bad_leaf(value, name, 0)
        flat.append(value)
    else:
        walk(value, 0)
    if dtype == "string":
        return np.array(flat, dtype=object).reshape(dims)
    if dtype in INT_RANGES:
        flat = [int(e) for e in flat]
    return np.asarray(flat, dtype=NP_DTYPES[dtype]).reshape(dims)


def encode_tensor(a: Any) -> Any:
    """A tensor as nested lists (float32 values become the doubles they stand for)."""
    arr = np.asarray(a)
    if arr.dtype == np.float16 or arr.dtype == np.float32:
        arr = arr.astype(np.float64)
    return arr.tolist()
