"""/predict bodies in the safetensors format, both ways: the same contract as
main/serving/tensor-body.ts.

Request: tensors by input name (for a generic model they become its ``inputs``), every other
field as a string in ``__metadata__``, read back as the JSON value it spells ("16" -> 16), or as
the string itself when it is not JSON ("png"). Answer: every BinaryTensor of the result (top
level, or in ``outputs`` for a generic model) as a tensor of that name, every other field as a
metadata string (strings as they are, anything else as JavaScript's JSON.stringify writes it).
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

import safetensors_codec as st
from codec import BinaryTensor
from errors import RequestError, js_json

MEDIA_TYPE = st.MEDIA_TYPE


def accepts_safetensors(accept: Optional[str]) -> bool:
    """Whether Accept lists the safetensors type before any JSON one (JSON stays the default)."""
    for item in (accept or "").split(","):
        mime = item.split(";")[0].strip().lower()
        if mime == MEDIA_TYPE:
            return True
        if mime == "application/json":
            return False
    return False


def apply_accept(body: Any, accept: Optional[str]) -> Any:
    """``body`` with output_format "safetensors" when Accept asks for it and the body did not choose."""
    if not accepts_safetensors(accept) or not isinstance(body, dict) or "output_format" in body:
        return body
    return {**body, "output_format": "safetensors"}


def _metadata_value(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except ValueError:
        return text


def decode_request(raw: bytes, model_type: str) -> Dict[str, Any]:
    """The request object a safetensors body stands for; RequestError(400) naming the problem."""
    try:
        tensors, metadata = st.decode(raw)
    except st.SafetensorsFormatError as err:
        raise RequestError(400, str(err)) from None
    given: Dict[str, BinaryTensor] = {}
    for name, (dtype, shape, data) in tensors.items():
        if dtype not in st.NP_OF:
            raise RequestError(400, f"tensor '{name}' has dtype {dtype}, which no model input takes; send {name} "
                                    "as F32 (or the input's own type)", {"input": name, "dtype": dtype})
        if dtype == "BOOL":
            # numpy would read any non-zero byte as True; the TypeScript runtime refuses them.
            bad = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) > 1)
            if bad.size:
                i = int(bad[0])
                raise RequestError(400, f"input '{name}' must contain bool values: element {i} is the byte "
                                        f"{int(np.frombuffer(data, dtype=np.uint8)[i])}, not 0 or 1",
                                   {"input": name, "at": i, "expected": "bool"})
        given[name] = BinaryTensor(st.to_array(dtype, shape, data))
    body: Dict[str, Any] = {}
    for key, text in metadata.items():
        if key in given:
            raise RequestError(400, f"'{key}' is given twice in the safetensors body: as a tensor and in __metadata__",
                               {"field": key})
        body[key] = _metadata_value(text)
    if model_type == "generic":
        if "inputs" in body:
            raise RequestError(400, "a safetensors body gives a generic model's inputs as tensors, not as an "
                                    "'inputs' metadata field")
        body["inputs"] = given
    else:
        body.update(given)
    return body


def is_tensor_answer(result: Mapping[str, Any]) -> bool:
    """Whether a result holds binary tensors, i.e. is answered as safetensors."""
    if any(isinstance(v, BinaryTensor) for v in result.values()):
        return True
    outputs = result.get("outputs")
    return isinstance(outputs, dict) and any(isinstance(v, BinaryTensor) for v in outputs.values())


def encode_answer(result: Mapping[str, Any]) -> bytes:
    """The result as one safetensors body (see the module comment)."""
    entries: List[Tuple[str, np.ndarray]] = []
    metadata: Dict[str, str] = {}

    def add(name: str, t: BinaryTensor) -> None:
        if t.array.dtype == object:
            raise RequestError(400, f"output '{name}' is a string tensor, which safetensors cannot carry; ask for JSON",
                               {"output": name})
        entries.append((name, t.array))

    for key, value in result.items():
        if isinstance(value, BinaryTensor):
            add(key, value)
        elif key == "outputs" and isinstance(value, dict) and any(isinstance(v, BinaryTensor) for v in value.values()):
            for name, t in value.items():
                if isinstance(t, BinaryTensor):
                    add(name, t)
        else:
            metadata[key] = value if isinstance(value, str) else js_json(value)
    return st.encode(entries, metadata)
