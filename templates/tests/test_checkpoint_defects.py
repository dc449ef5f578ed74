"""Issue 8 regressions on the Python side: a deflate bomb in optimizer state is never inflated
(defect 6), checkpoints of every pickle protocol load (defect 12), and the exporter stops
when its caller dies (--exit-with-stdin)."""
from __future__ import annotations

import collections
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
import torch

from conftest import TEMPLATES_DIR, checkpoint_path
from frameworm.safe_load import (MAX_DEFLATE_RATIO, CheckpointError, load_checkpoint,
                                 load_pickle_from_zip)

MIB = 1024 * 1024
#: The bomb inflates to 1 GiB; a loader that reads it holds at least that much at once.
BOMB_BYTES = 1024 * MIB
#: Far above what an export of the small compat DCGAN needs, far below what reading the bomb costs.
RSS_LIMIT_KIB = 900 * 1024


def _deflate_bomb(size: int) -> Tuple[bytes, int]:
    """(raw deflate stream of ``size`` zero bytes, its CRC-32), without holding the zeros:
    one 1 MiB block compressed with a full flush is independent of the others, so it repeats."""
    zeros = bytes(MIB)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(zeros, crc)
    return block * (size // MIB) + end, crc


def _write_raw_zip(path: Path, entries: List[Tuple[str, bytes, Optional[Tuple[int, int]]]]) -> None:
    """A zip whose deflated entries are written from ready streams (zipfile cannot do that):
    ``(name, body, None)`` is stored; ``(name, stream, (size, crc))`` is deflated."""
    out = io.BytesIO()
    central = []
    for name, body, deflated in entries:
        raw_name = name.encode()
        method, size, crc = (8, *deflated) if deflated else (0, len(body), zlib.crc32(body))
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(body),
                              size, len(raw_name), 0) + raw_name + body)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21,
                                   crc, len(body), size, len(raw_name), 0, 0, 0, 0, 0, offset)
                       + raw_name)
    cd_offset = out.tell()
    cd = b"".join(central)
    out.write(cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(cd),
                               cd_offset, 0))
    path.write_bytes(out.getvalue())


class _Storage:
    """A storage for :class:`_TorchStylePickler`: pickled as torch's persistent id."""

    def __init__(self, cls: Any, key: str, numel: int):
        self.cls, self.key, self.numel = cls, key, numel


class _Tensor:
    """A tensor over a :class:`_Storage`, pickled as torch pickles one (_rebuild_tensor_v2)."""

    def __init__(self, storage: _Storage, shape: Tuple[int, ...]):
        self.storage, self.shape = storage, shape

    def __reduce__(self) -> Any:
        stride = tuple(int(torch.tensor(self.shape[i + 1:]).prod()) for i in range(len(self.shape)))
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, 0, self.shape, stride, False, collections.OrderedDict()))


class _TorchStylePickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _Storage):
            return ("storage", obj.cls, obj.key, "cpu", obj.numel)
        return None


_STORAGE_CLASSES = {torch.float32: torch.FloatStorage, torch.int64: torch.LongStorage}


def _bomb_checkpoint(path: Path, where: str = "optimizer", declared_numel: Optional[int] = None) -> None:
    """The compat DCGAN trainer checkpoint, laid out as torch.save lays it out, plus Adam-like
    optimizer state; one storage is a 1 GiB deflate bomb: the optimizer's ``exp_avg``
    (``where="optimizer"``) or the first model tensor's (``where="model"``).
    ``declared_numel`` is what the pickle declares for the bomb storage (default: exactly the
    float32 elements it inflates to)."""
    ckpt = torch.load(checkpoint_path("dcgan"), map_location="cpu")  # trusted test data
    numel = declared_numel if declared_numel is not None else BOMB_BYTES // 4
    storages: Dict[str, bytes] = {}
    model = collections.OrderedDict()
    bomb_key = ""
    for i, (name, tensor) in enumerate(ckpt["model_state_dict"].items()):
        key = str(i)
        if where == "model" and i == 0:
            bomb_key = key
            model[name] = _Tensor(_Storage(torch.FloatStorage, key, numel), (numel,))
            continue
        storages[key] = tensor.contiguous().numpy().tobytes()
        model[name] = _Tensor(_Storage(_STORAGE_CLASSES[tensor.dtype], key, tensor.numel()),
                              tuple(tensor.shape))
    optimizer_state: Dict[str, Any] = {"step": 1}
    if where == "optimizer":
        bomb_key = str(len(model))
        optimizer_state["exp_avg"] = _Tensor(_Storage(torch.FloatStorage, bomb_key, numel), (numel,))
    root = {"epoch": ckpt["epoch"], "model_state_dict": model,
            "optimizer_state_dict": {"state": {0: optimizer_state},
                                     "param_groups": [{"lr": 2e-4, "betas": (0.5, 0.999), "params": [0]}]},
            "training_state": ckpt["training_state"]}
    pkl = io.BytesIO()
    _TorchStylePickler(pkl, protocol=2).dump(root)
    bomb, crc = _deflate_bomb(BOMB_BYTES)
    rows: List[Tuple[str, bytes, Optional[Tuple[int, int]]]] = [("best/data.pkl", pkl.getvalue(), None)]
    rows += [(f"best/data/{k}", v, None) for k, v in storages.items()]
    rows += [(f"best/data/{bomb_key}", bomb, (BOMB_BYTES, crc)), ("best/version", b"3\n", None)]
    _write_raw_zip(path, rows)


def _run_exporter(args: List[str]) -> Tuple[int, List[Dict[str, Any]], int]:
    """Runs the exporter CLI; (exit code, protocol lines, peak resident set in KiB) of that
    process alone (wait4 reports the child's own rusage)."""
    proc = subprocess.Popen([sys.executable, "-m", "frameworm.export", *args], cwd=TEMPLATES_DIR,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return proc.returncode, lines, usage.ru_maxrss


def test_exporter_never_inflates_an_optimizer_state_bomb(tmp_path: Path) -> None:
    """Defect 6: 2 MB on disk, 1 GiB inflated; the export reads the model's storages only."""
    path = tmp_path / "bomb.pt"
    _bomb_checkpoint(path)
    assert path.stat().st_size < 5 * MIB
    rc, lines, maxrss_kib = _run_exporter(["--checkpoint", str(path), "--out", str(tmp_path / "out")])
    assert rc == 0, lines[-1:]
    assert lines[-1]["result"]["type"] == "dcgan"
    assert maxrss_kib < RSS_LIMIT_KIB, f"the exporter peaked at {maxrss_kib // 1024} MiB"


def test_optimizer_bomb_declared_small_is_ignored_too(tmp_path: Path) -> None:
    """The pickle says 1 element, the archive says 1 GiB: still never opened."""
    path = tmp_path / "bomb-small.pt"
    _bomb_checkpoint(path, declared_numel=1)
    sd, meta = load_checkpoint(path)
    reference = torch.load(checkpoint_path("dcgan"), map_location="cpu")["model_state_dict"]
    assert list(sd) == list(reference)
    assert all(torch.equal(sd[k], v) for k, v in reference.items())
    assert meta["epoch"] is not None


def test_a_bomb_in_a_model_storage_is_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "model-bomb.pt"
    _bomb_checkpoint(path, where="model")
    rc, lines, maxrss_kib = _run_exporter(["--checkpoint", str(path), "--out", str(tmp_path / "out")])
    assert rc == 2
    err = lines[-1]["error"]
    assert err["code"] == "E_INPUT"
    assert "deflate bomb" in err["message"] and "nothing was inflated" in err["message"]
    assert maxrss_kib < RSS_LIMIT_KIB
    with pytest.raises(CheckpointError, match="deflate bomb"):
        load_pickle_from_zip(path)


def test_a_deflated_data_pkl_past_the_ratio_cap_is_refused(tmp_path: Path) -> None:
    pkl = b"\x80\x02}q\x00." + b"\x00" * (4 * MIB)  # trailing bytes: only the ratio matters here
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = stream.compress(pkl) + stream.flush()
    assert len(pkl) > MAX_DEFLATE_RATIO * len(body)
    path = tmp_path / "pkl-bomb.pt"
    _write_raw_zip(path, [("archive/data.pkl", body, (len(pkl), zlib.crc32(pkl))),
                          ("archive/version", b"3\n", None)])
    with pytest.raises(CheckpointError, match="deflate bomb.*nothing was inflated"):
        load_checkpoint(path)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_pickle_protocol_loads(tmp_path: Path, protocol: int) -> None:
    """Defect 12: torch.save(..., pickle_protocol=N) for N = 2..5 reads the same."""
    ckpt = torch.load(checkpoint_path("dcgan"), map_location="cpu")  # trusted test data
    path = tmp_path / f"p{protocol}.pt"
    torch.save(ckpt, path, pickle_protocol=protocol)
    sd, meta = load_checkpoint(path)
    assert list(sd) == list(ckpt["model_state_dict"])
    assert all(torch.equal(sd[k], v) for k, v in ckpt["model_state_dict"].items())
    assert meta["format"] == "trainer" and meta["epoch"] == ckpt["epoch"]


def test_exporter_exits_when_its_stdin_closes(tmp_path: Path) -> None:
    """The caller holds stdin open; closing it (what its death does) ends the export and
    removes the partial output."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "frameworm.export", "--checkpoint", str(checkpoint_path("vqvae2")),
         "--out", str(out), "--exit-with-stdin"],
        cwd=TEMPLATES_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert first["progress"]["step"] == "load"
    proc.stdin.close()
    rc = proc.wait(timeout=120)
    assert rc == 3
    leftovers = [p.name for p in out.iterdir()] if out.exists() else []
    assert leftovers == []
