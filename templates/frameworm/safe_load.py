"""Load a PyTorch zip checkpoint without executing anything it contains.

Why not ``torch.load``? Full unpickling runs whatever callables the pickle names (a checkpoint
can call ``os.system``), and torch 1.13's ``weights_only=True`` cannot read the Python floats
FRAMEWORM's trainer stores (``lr``, ``best_metric`` …: compat README, "Loading with torch",
pytorch/pytorch#94670). So this module reads the archive itself:

- ``data.pkl`` is unpickled by :class:`RestrictedUnpickler`, whose ``find_class`` hands out
  only ``collections.OrderedDict``, our own tensor-rebuild functions (standing in for
  ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter``) and dtype markers for the
  typed-storage classes. Any other global is refused before anything is called.
- Unpickling reads no tensor data: every tensor comes out as a :class:`LazyTensor` (storage
  key, declared size, offset, shape, strides). Only the tensors the caller needs (the
  ``model_state_dict``) are then read, so storages nobody needs — optimizer state, which can
  be a deflate bomb (issue 8, defect 6) — are never inflated or even opened.
- A storage that is read must pass the TypeScript inspector's rules first, from the zip's
  central directory alone (``main/inspect/torch-checkpoint.ts`` ``checkStorages``): it is
  stored, not deflated (torch never compresses tensor data), and it holds exactly the declared
  numel x element size. ``data.pkl`` is capped at :data:`MAX_PICKLE_BYTES` and a deflated one
  at :data:`MAX_DEFLATE_RATIO`, the inspector's numbers.
- Storages are raw little-endian bytes, viewed through numpy and ``torch.from_numpy``;
  tensors are cut out of them with ``torch.as_strided`` (storage offset and strides
  honoured). No torch storage API is used, so the same code runs on torch 1.13 and 2.x.
"""
from __future__ import annotations

import collections
import io
import math
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

import numpy as np
import torch

__all__ = [
    "MAX_DEFLATE_RATIO",
    "MAX_PICKLE_BYTES",
    "CheckpointError",
    "LazyTensor",
    "UnsafeCheckpointError",
    "RestrictedUnpickler",
    "load_checkpoint",
    "load_pickle_from_zip",
    "to_jsonable",
]


class CheckpointError(Exception):
    """The file is not a checkpoint we can read (not a zip, truncated, malformed …)."""


class UnsafeCheckpointError(CheckpointError):
    """The pickle references something other than tensors and plain containers."""


#: Largest ``data.pkl`` accepted; the same cap as the inspector's (torch-checkpoint.ts).
MAX_PICKLE_BYTES = 256 * 1024 * 1024
#: Highest uncompressed:compressed ratio a deflated entry may declare (zip-reader.ts).
MAX_DEFLATE_RATIO = 100


# Storage class name → (numpy dtype used to read the bytes, torch dtype of the tensor).
# bfloat16 has no numpy dtype: its bytes are read as int16 and reinterpreted by torch.
_STORAGE_DTYPES: Dict[str, Tuple[str, torch.dtype]] = {
    "FloatStorage": ("<f4", torch.float32),
    "DoubleStorage": ("<f8", torch.float64),
    "HalfStorage": ("<f2", torch.float16),
    "BFloat16Storage": ("<i2", torch.bfloat16),
    "LongStorage": ("<i8", torch.int64),
    "IntStorage": ("<i4", torch.int32),
    "ShortStorage": ("<i2", torch.int16),
    "CharStorage": ("i1", torch.int8),
    "ByteStorage": ("u1", torch.uint8),
    "BoolStorage": ("?", torch.bool),
}


@dataclass(frozen=True)
class _StorageType:
    """What ``find_class`` returns for ``torch.<X>Storage``: a dtype marker, not a class."""

    name: str
    np_dtype: str
    dtype: torch.dtype


@dataclass(frozen=True)
class _StorageRef:
    """A storage as the pickle declares it; nothing is read until a tensor on it is needed."""

    kind: _StorageType
    key: str
    numel: int


@dataclass(frozen=True)
class LazyTensor:
    """A tensor as ``torch._utils._rebuild_tensor_v2`` describes it, before any data is read.

    ``load_checkpoint`` turns the ones the model needs into real tensors; the rest (optimizer
    state …) stay descriptions, so their storages are never read.
    """

    storage: _StorageRef
    storage_offset: int
    size: Tuple[int, ...]
    stride: Tuple[int, ...]

    @property
    def shape(self) -> Tuple[int, ...]:
        return self.size

    @property
    def dtype(self) -> torch.dtype:
        return self.storage.kind.dtype

    def numel(self) -> int:
        return math.prod(self.size)


def _rebuild_tensor(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> LazyTensor:
    """Stand-in for ``torch._utils._rebuild_tensor_v2`` that only accepts our own storages.

    Backward hooks and metadata are ignored: a restricted pickle cannot contain callables, and
    a state dict needs neither. The view is checked against the storage's declared size here;
    the declared size is checked against the archive when (if) the storage is read.
    """
    if not isinstance(storage, _StorageRef):
        raise CheckpointError("malformed checkpoint: a tensor does not point at a storage")
    if not isinstance(storage_offset, int) or storage_offset < 0:
        raise CheckpointError(f"malformed checkpoint: bad storage offset {storage_offset!r:.40}")
    if not _is_int_tuple(size) or not _is_int_tuple(stride) or len(size) != len(stride):
        raise CheckpointError("malformed checkpoint: bad tensor size/stride")
    if all(s > 0 for s in size):
        # Highest element index the view touches; must lie inside the storage.
        last = storage_offset + sum((n - 1) * st for n, st in zip(size, stride))
        if last >= storage.numel:
            raise CheckpointError(
                f"malformed checkpoint: tensor of size {tuple(size)} reaches element {last} "
                f"of data/{storage.key}, which holds {storage.numel}"
            )
    return LazyTensor(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None) -> Any:
    """Stand-in for ``torch._utils._rebuild_parameter``: a state dict only needs the data."""
    if not isinstance(data, LazyTensor):
        raise CheckpointError("malformed checkpoint: a parameter does not wrap a tensor")
    return data


def _is_int_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, int) and v >= 0 for v in value)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles ``data.pkl`` allowing only tensors and plain containers.

    ``find_class`` is the only way a pickle can obtain a callable (GLOBAL, STACK_GLOBAL, INST,
    OBJ and the EXT opcodes all go through it), so refusing there means a hostile pickle fails
    before REDUCE can call anything.
    """

    _ALLOWED: Dict[Tuple[str, str], Callable[..., Any]] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, file: Any, declare_storage: Callable[[_StorageType, str, int], _StorageRef]):
        super().__init__(file)
        self._declare_storage = declare_storage

    def find_class(self, module: str, name: str) -> Any:
        allowed = self._ALLOWED.get((module, name))
        if allowed is not None:
            return allowed
        if module == "torch" and name in _STORAGE_DTYPES:
            np_dtype, dtype = _STORAGE_DTYPES[name]
            return _StorageType(name, np_dtype, dtype)
        raise UnsafeCheckpointError(
            f"refused: the pickle references {module}.{name}, which is not a tensor or a plain "
            "container; nothing was executed"
        )

    def persistent_load(self, pid: Any) -> _StorageRef:
        # torch writes ("storage", <storage class>, "<key>", "<location>", <numel>); the
        # location ("cpu", "cuda:0" …) is irrelevant because everything is loaded on the CPU.
        if (
            not isinstance(pid, tuple)
            or len(pid) != 5
            or pid[0] != "storage"
            or not isinstance(pid[1], _StorageType)
            or not isinstance(pid[2], str)
            or not isinstance(pid[4], int)
        ):
            raise CheckpointError("malformed checkpoint: a persistent id is not a torch storage reference")
        return self._declare_storage(pid[1], pid[2], pid[4])


class _ZipCheckpoint:
    """The zip archive torch.save writes: ``<prefix>/data.pkl`` plus ``<prefix>/data/<key>``."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint not found: {path}") from None
        except IsADirectoryError:
            raise CheckpointError(f"checkpoint path is a directory: {path}") from None
        except zipfile.BadZipFile:
            raise CheckpointError(self._not_zip_message()) from None
        except OSError as e:
            raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror or e}") from None
        # The top-level folder is the file stem ("best/") or "archive/" depending on the
        # writer (compat README, "On-disk layout"): find it instead of hard-coding it.
        pkl = [n for n in self.zip.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkl:
            self.zip.close()
            raise CheckpointError(
                f"{path.name} is a zip archive but not a PyTorch checkpoint (no <folder>/data.pkl)"
            )
        self.prefix = pkl[0][: -len("data.pkl")]
        self.big_endian = self._read_optional("byteorder") == b"big"
        self._declared: Dict[str, _StorageRef] = {}
        self._flat: Dict[str, torch.Tensor] = {}

    def _not_zip_message(self) -> str:
        # Says what the file looks like without ever echoing its bytes.
        try:
            with open(self.path, "rb") as f:
                head = f.read(4)
        except OSError:
            head = b""
        if head.startswith(b"PK"):
            return f"{self.path.name} is a truncated or corrupt zip archive (no central directory)"
        if head[:1] == b"\x80":
            return (
                f"{self.path.name} is a legacy (pre-1.6, non-zip) torch.save file or a bare "
                "pickle; only zip checkpoints are supported (re-save it with torch >= 1.6)"
            )
        return f"{self.path.name} is not a PyTorch checkpoint (not a zip archive)"

    def _info(self, name: str) -> zipfile.ZipInfo:
        try:
            return self.zip.getinfo(self.prefix + name)
        except KeyError:
            raise CheckpointError(f"checkpoint is missing the entry {self.prefix}{name}") from None

    def _read(self, name: str, max_bytes: int) -> bytes:
        """An entry's bytes, refused before inflating when it declares more than ``max_bytes``
        or a bomb-like ratio (the inspector's zip-reader.ts ``deflateRefusal``)."""
        info = self._info(name)
        if info.file_size > max_bytes:
            raise CheckpointError(
                f"checkpoint entry {self.prefix}{name} declares {info.file_size} bytes, more than "
                f"the {max_bytes} allowed; nothing was inflated"
            )
        if (info.compress_type != zipfile.ZIP_STORED
                and info.file_size > MAX_DEFLATE_RATIO * max(info.compress_size, 1)):
            raise CheckpointError(
                f"checkpoint entry {self.prefix}{name} is a deflate bomb: {info.compress_size} "
                f"compressed bytes declare {info.file_size}; nothing was inflated"
            )
        try:
            with self.zip.open(info) as f:
                # Never more than declared, whatever the deflate stream would produce.
                return f.read(info.file_size)
        except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as e:
            raise CheckpointError(f"checkpoint entry {self.prefix}{name} is corrupt: {e}") from None

    def _read_optional(self, name: str) -> Optional[bytes]:
        try:
            self.zip.getinfo(self.prefix + name)
        except KeyError:
            return None
        return self._read(name, 64).strip()

    def declare_storage(self, kind: _StorageType, key: str, numel: int) -> _StorageRef:
        """Record a storage the pickle references; nothing is read here."""
        if "/" in key or key.startswith(".") or numel < 0:
            raise CheckpointError("malformed checkpoint: bad storage key or size")
        ref = _StorageRef(kind, key, numel)
        earlier = self._declared.get(key)
        if earlier is not None and earlier != ref:
            raise CheckpointError(f"malformed checkpoint: storage {key} is declared twice with different sizes")
        self._declared[key] = ref
        return ref

    def _storage(self, ref: _StorageRef) -> torch.Tensor:
        """Read ``data/<key>`` once, after the inspector's checks; tensors that share a storage
        get views of one flat tensor."""
        cached = self._flat.get(ref.key)
        if cached is not None:
            return cached
        name = "data/" + ref.key
        info = self._info(name)
        itemsize = np.dtype(ref.kind.np_dtype).itemsize
        declared = ref.numel * itemsize
        if info.compress_type != zipfile.ZIP_STORED:
            if info.file_size > declared or info.file_size > MAX_DEFLATE_RATIO * max(info.compress_size, 1):
                raise CheckpointError(
                    f"checkpoint storage {self.prefix}{name} is a deflate bomb ({info.compress_size} "
                    f"compressed bytes declare {info.file_size}, the pickle declares {declared}); "
                    "nothing was inflated"
                )
            raise CheckpointError(
                f"checkpoint stores tensor data compressed ({self.prefix}{name}); torch never "
                "does, so the file was repacked: re-save it with torch.save"
            )
        if info.file_size != declared:
            raise CheckpointError(
                f"checkpoint entry {name} holds {info.file_size} bytes; {ref.numel} x "
                f"{ref.kind.name} needs {declared}"
            )
        raw = self._read(name, declared)
        np_dtype = np.dtype(ref.kind.np_dtype)
        if self.big_endian:
            np_dtype = np_dtype.newbyteorder(">")
        # bytearray → a writable buffer, so torch.from_numpy does not warn about read-only data.
        array = np.frombuffer(bytearray(raw), dtype=np_dtype, count=ref.numel)
        if self.big_endian:
            array = array.astype(np_dtype.newbyteorder("="))
        flat = torch.from_numpy(array)
        if ref.kind.dtype == torch.bfloat16:
            flat = flat.view(torch.bfloat16)
        self._flat[ref.key] = flat
        return flat

    def materialize(self, lazy: LazyTensor) -> torch.Tensor:
        """The real tensor of a :class:`LazyTensor`, reading its storage if not read yet."""
        flat = self._storage(lazy.storage)
        return torch.as_strided(flat, lazy.size, lazy.stride, lazy.storage_offset)

    def load(self) -> Any:
        """The unpickled object, with every tensor a :class:`LazyTensor` (nothing read yet)."""
        data = self._read("data.pkl", MAX_PICKLE_BYTES)
        try:
            return RestrictedUnpickler(io.BytesIO(data), self.declare_storage).load()
        except CheckpointError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                IndexError, KeyError, RecursionError) as e:
            raise CheckpointError(f"data.pkl is malformed: {type(e).__name__}: {str(e)[:200]}") from None

    def close(self) -> None:
        self.zip.close()


def _materialize_all(ckpt: _ZipCheckpoint, value: Any, depth: int = 0) -> Any:
    """``value`` with every LazyTensor inside it read (containers rebuilt, depth-limited)."""
    if depth > 100:
        raise CheckpointError("checkpoint nests containers more than 100 deep")
    if isinstance(value, LazyTensor):
        return ckpt.materialize(value)
    if isinstance(value, collections.OrderedDict):
        out = collections.OrderedDict((k, _materialize_all(ckpt, v, depth + 1)) for k, v in value.items())
        if hasattr(value, "_metadata"):
            out._metadata = value._metadata  # type: ignore[attr-defined]
        return out
    if isinstance(value, dict):
        return {k: _materialize_all(ckpt, v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_materialize_all(ckpt, v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(_materialize_all(ckpt, v, depth + 1) for v in value)
    return value


def load_pickle_from_zip(path: Union[str, Path]) -> Any:
    """The whole unpickled object of a torch zip checkpoint, read with the restricted unpickler,
    every tensor read (each storage checked first). To read only the model's tensors, use
    :func:`load_checkpoint`."""
    ckpt = _ZipCheckpoint(Path(path))
    try:
        return _materialize_all(ckpt, ckpt.load())
    finally:
        ckpt.close()


def load_checkpoint(path: Union[str, Path]) -> Tuple["collections.OrderedDict[str, torch.Tensor]", Dict[str, Any]]:
    """Read a FRAMEWORM checkpoint: ``(state_dict, meta)``.

    Accepted layouts (compat README, "Checkpoint formats"):

    - ``trainer``: ``{epoch, model_state_dict, optimizer_state_dict, training_state, …}``
      (``best.pt``); unknown extra keys (scheduler, EMA, grad scaler) are ignored.
    - ``state_dict+config``: ``{model_state_dict, config}`` (older ``final.pt``).
    - ``state_dict``: a bare name → tensor mapping.

    Only the state dict's storages are read; everything else (optimizer state …) is never
    read, so a hostile or huge storage there costs nothing. ``meta`` holds ``format``,
    ``epoch``, ``training_state`` and ``config`` (None when absent), made JSON-safe (tensors
    become short descriptions, non-finite floats None).
    """
    ckpt = _ZipCheckpoint(Path(path))
    try:
        obj = ckpt.load()
        if not isinstance(obj, Mapping):
            raise CheckpointError(
                f"checkpoint holds a {type(obj).__name__}, not a state dict or a dict with "
                "model_state_dict"
            )
        if "model_state_dict" in obj:
            state = obj["model_state_dict"]
            fmt = "trainer" if ("epoch" in obj or "training_state" in obj) else (
                "state_dict+config" if "config" in obj else "model_state_dict"
            )
        elif obj and all(isinstance(v, LazyTensor) for v in obj.values()):
            state, fmt = obj, "state_dict"
        else:
            keys = ", ".join(str(k)[:60] for k in list(obj.keys())[:8])
            raise CheckpointError(
                f"checkpoint has no model_state_dict and is not a bare state dict (top-level keys: "
                f"{keys or 'none'})"
            )
        state_dict = _validated_state_dict(ckpt, state)
    finally:
        ckpt.close()
    meta = {
        "format": fmt,
        "epoch": to_jsonable(obj.get("epoch")) if fmt != "state_dict" else None,
        "training_state": to_jsonable(obj.get("training_state")) if fmt != "state_dict" else None,
        "config": to_jsonable(obj.get("config")) if fmt != "state_dict" else None,
    }
    return state_dict, meta


def _validated_state_dict(ckpt: _ZipCheckpoint, state: Any) -> "collections.OrderedDict[str, torch.Tensor]":
    """The state dict with its tensors read: the only storages this module ever reads."""
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError("model_state_dict is empty or not a mapping")
    out: "collections.OrderedDict[str, torch.Tensor]" = collections.OrderedDict()
    for k, v in state.items():
        if not isinstance(k, str) or not isinstance(v, LazyTensor):
            raise CheckpointError(
                f"model_state_dict entry {str(k)[:60]!r} is a {type(v).__name__}, not a tensor"
            )
        out[k] = ckpt.materialize(v)
    # Keep the per-module version info load_state_dict may consult (BatchNorm etc.).
    metadata = getattr(state, "_metadata", None)
    if metadata is not None:
        out._metadata = metadata  # type: ignore[attr-defined]
    return out


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """Plain JSON data: JSON (and JavaScript's JSON.parse) has no NaN/Infinity, so → None."""
    if depth > 20:
        return None
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return to_jsonable(value.item(), depth + 1)
        return f"<tensor {list(value.shape)} {str(value.dtype).replace('torch.', '')}>"
    if isinstance(value, LazyTensor):
        # Metadata tensors are described, never read: their storages may be anything.
        return f"<tensor {list(value.shape)} {str(value.dtype).replace('torch.', '')}>"
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, depth + 1) for v in value]
    return repr(value)[:200]
