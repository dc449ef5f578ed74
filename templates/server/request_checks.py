"""Checks a /predict request must pass before its body is parsed: the declared media type and the
nesting depth of the JSON text. Same rules and messages as main/serving/request-checks.ts.

A body nested thousands of levels deep makes json.loads raise RecursionError (a 500) and anything
recursive after it fail the same way; refusing it first, without recursion, keeps it a 400. A
missing or non-JSON content type is refused (415) because a web page may POST text/plain or a
form to 127.0.0.1 without a CORS preflight, but not application/json.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

#: Deepest nesting of arrays and objects a /predict body may have (see request-checks.ts).
MAX_JSON_DEPTH = 16
#: Media types a /predict body may have: JSON, or tensors in one safetensors body.
ACCEPTED_REQUEST_TYPES = ["application/json", "application/vnd.safetensors"]

#: (status, body) of a refused request.
Refusal = Tuple[int, Dict[str, Any]]

_QUOTE, _BACKSLASH = 0x22, 0x5C
#: +1 for an opening bracket, -1 for a closing one, 0 for any other byte.
_STEP = np.zeros(256, dtype=np.int64)
_STEP[[0x5B, 0x7B]] = 1
_STEP[[0x5D, 0x7D]] = -1
#: Bytes scanned per numpy pass: bounds the scan's memory whatever the body limit.
_CHUNK = 1 << 18


def media_type(header: Optional[str]) -> Optional[str]:
    """The media type of a Content-Type header, lower case, without parameters; None when absent."""
    if header is None:
        return None
    mime = header.split(";")[0].strip().lower()
    return mime or None


def check_content_type(header: Optional[str]) -> Optional[Refusal]:
    """415 unless the Content-Type is an accepted type (parameters such as charset allowed)."""
    mime = media_type(header)
    if mime is not None and mime in ACCEPTED_REQUEST_TYPES:
        return None
    what = "the request has no content-type" if mime is None else f"the content-type {mime} is not supported"
    return 415, {"error": f"{what}: send the body as JSON with the header 'content-type: application/json' "
                          "(or tensors with 'content-type: application/vnd.safetensors')",
                 "detail": {"content_type": header, "accepted": ACCEPTED_REQUEST_TYPES}}


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects more than ``limit`` levels deep.

    Brackets inside strings do not count; a quote is a string delimiter unless an odd run of
    backslashes precedes it. Vectorised with numpy in fixed-size chunks (a Python loop over a
    10 MB body would hold the event loop for seconds); the state carried between chunks is the
    depth, whether a string is open, and the run of backslashes at the chunk's end.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:  # cannot be deeper: skip the scan
        return False
    depth, in_string, backslashes = 0, 0, 0
    for start in range(0, len(raw), _CHUNK):
        a = np.frombuffer(raw, dtype=np.uint8, count=min(_CHUNK, len(raw) - start), offset=start)
        n = a.size
        idx = np.arange(n, dtype=np.int64)
        is_bs = a == _BACKSLASH
        # Index of the last non-backslash at or before i (a run continuing from the previous
        # chunk counts as starting before index 0), so run_at[i] = backslashes ending at i.
        last_other = np.where(is_bs, -1 - backslashes, idx)
        np.maximum.accumulate(last_other, out=last_other)
        run_at = idx - last_other
        run_before = np.empty(n, dtype=np.int64)
        run_before[0] = backslashes
        run_before[1:] = run_at[:-1]
        quotes = (a == _QUOTE) & (run_before % 2 == 0)
        # Quotes seen before position i, plus the carried open string, decide if i is in a string.
        seen = np.cumsum(quotes, dtype=np.int64) - quotes + in_string
        steps = np.where(seen % 2 == 0, _STEP[a], 0)
        levels = np.cumsum(steps) + depth
        if int(levels.max()) > limit:
            return True
        depth = int(levels[-1])
        in_string = int(seen[-1] + quotes[-1]) % 2
        backslashes = int(run_at[-1])
    return False


def check_json_depth(raw: bytes, limit: int = MAX_JSON_DEPTH) -> Optional[Refusal]:
    """The 400 for a body nested deeper than ``limit``, or None."""
    if not json_depth_exceeds(raw, limit):
        return None
    return 400, {"error": f"request body nests arrays and objects more than {limit} levels deep, "
                          "deeper than any model's request",
                 "detail": {"max_depth": limit}}
