"""Request errors (4xx) and JavaScript-style value formatting for messages that match the
TypeScript endpoint's wording."""
from __future__ import annotations

import json
import math
from typing import Any


class RequestError(Exception):
    """A 4xx answer: the request is wrong, not the server. Never counts toward the error rate."""

    def __init__(self, status: int, message: str, detail: Any = None) -> None:
        super().__init__(message)
        if not 400 <= status <= 499:
            raise ValueError(f"RequestError status must be 4xx, got {status}")
        self.status = status
        self.message = message
        self.detail = detail


class ServerFault(Exception):
    """A server-side fault (5xx) with an error code, like FramewormError on the TypeScript side."""

    def __init__(self, message: str, code: str = "E_RUNTIME") -> None:
        super().__init__(message)
        self.code = code


def js_number(v: float) -> str:
    """A number as JavaScript's String(n) writes it (for the common cases)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    text = repr(v)
    if "e" in text:
        mant, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        text = f"{mant}e{sign}{int(exp.lstrip('+-'))}"
    return text


def js_json(v: Any) -> str:
    """JSON.stringify of a parsed JSON value (numbers written the JavaScript way)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return js_number(v) if not (isinstance(v, float) and not math.isfinite(v)) else "null"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(js_json(e) for e in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{js_json(e)}" for k, e in v.items()) + "}"
    return json.dumps(str(v))


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_integer(v: Any) -> bool:
    """Number.isInteger: 3 and 3.0 are integers, True is not."""
    if not is_number(v):
        return False
    return isinstance(v, int) or (math.isfinite(v) and float(v).is_integer())


def as_int(v: Any) -> int:
    return int(v)


def describe_value(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, str):
        s = v if len(v) <= 40 else v[:40] + "…"
        return "the string " + json.dumps(s, ensure_ascii=False)
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return js_number(v) if is_number(v) or isinstance(v, bool) else str(v)


