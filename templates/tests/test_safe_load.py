"""safe_load: real checkpoints round-trip, hostile pickles are refused before anything runs,
and broken files fail with clear messages."""
from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Dict, Optional

import pytest
import torch

from conftest import checkpoint_path
from frameworm.safe_load import (CheckpointError, UnsafeCheckpointError, load_checkpoint,
                                 load_pickle_from_zip)

ARCHS = ["vae", "dcgan", "ddpm", "vqvae2", "vitgan", "cfg_ddpm"]


def _write_torch_style_zip(path: Path, data_pkl: bytes, prefix: str = "archive",
                           extra: Optional[Dict[str, bytes]] = None) -> None:
    """The layout torch.save writes: <prefix>/data.pkl, <prefix>/version, <prefix>/data/<key>."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{prefix}/data.pkl", data_pkl)
        zf.writestr(f"{prefix}/version", b"3\n")
        for name, payload in (extra or {}).items():
            zf.writestr(f"{prefix}/{name}", payload)


def _hostile_pickle(module: str, name: str, arg_ops: bytes) -> bytes:
    """{"model_state_dict": <module.name>(args)} as protocol-2 opcodes: GLOBAL + REDUCE."""
    return (b"\x80\x02}q\x00X\x10\x00\x00\x00model_state_dictq\x01"
            + b"c" + module.encode() + b"\n" + name.encode() + b"\n"
            + arg_ops + b"R" + b"s.")


def _str_op(s: str) -> bytes:
    raw = s.encode()
    return b"X" + len(raw).to_bytes(4, "little") + raw


@pytest.mark.parametrize("arch", ARCHS)
def test_trainer_checkpoints_match_torch_load(arch: str) -> None:
    """Every tensor equals what (trusted) torch.load gives, in the same order and dtype."""
    path = checkpoint_path(arch)
    sd, meta = load_checkpoint(path)
    reference = torch.load(path, map_location="cpu")["model_state_dict"]  # trusted test data
    assert list(sd) == list(reference)
    for key, tensor in reference.items():
        assert sd[key].dtype == tensor.dtype and torch.equal(sd[key], tensor), key
    assert meta["format"] == "trainer"
    assert isinstance(meta["epoch"], int)
    ts = meta["training_state"]
    assert isinstance(ts["best_metric"], float) and ts["lr_history"] == [0.01]


def test_older_format_and_bare_state_dict(tmp_path: Path) -> None:
    sd, meta = load_checkpoint(checkpoint_path("vae", "final.pt"))
    assert meta == {"format": "state_dict+config", "epoch": None, "training_state": None,
                    "config": {"model": {"type": "vae", "latent_dim": 8}}}
    bare = tmp_path / "bare.pt"
    torch.save(collections.OrderedDict(sd), bare)
    sd2, meta2 = load_checkpoint(bare)
    assert meta2["format"] == "state_dict" and list(sd2) == list(sd)


def test_torch2_style_trainer_file_with_adam_state(tmp_path: Path) -> None:
    """Upstream's torch-2.x files carry Adam state (tensors, tuples) and extra keys."""
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    path = tmp_path / "adam.pt"
    torch.save({"epoch": 7, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": opt.state_dict(), "scheduler_state_dict": {"last_epoch": 7},
                "training_state": {"best_metric": float("inf"), "should_stop": True,
                                   "global_step": 2 ** 40}}, path)
    sd, meta = load_checkpoint(path)
    assert torch.equal(sd["weight"], model.weight.detach())
    # JSON has no Infinity: non-finite floats become None; big ints survive (LONG1).
    assert meta["training_state"] == {"best_metric": None, "should_stop": True, "global_step": 2 ** 40}


def test_dtypes_offsets_and_strides_round_trip(tmp_path: Path) -> None:
    base = torch.arange(24, dtype=torch.float32)
    tensors = {
        "slice_with_offset": base[5:17],
        "transposed": base.view(4, 6).t(),
        "strided": base[1::3],
        "scalar_int64": torch.tensor(100),
        "empty": torch.zeros(0, 3),
    }
    for dtype in (torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
                  torch.int16, torch.int8, torch.uint8, torch.bool):
        tensors[f"dtype_{dtype}"] = (torch.arange(-3, 9) % 5).to(dtype).view(3, 4)
    path = tmp_path / "many.pt"
    torch.save(tensors, path)
    sd, _ = load_checkpoint(path)
    for key, want in tensors.items():
        got = sd[key]
        assert got.dtype == want.dtype and list(got.shape) == list(want.shape), key
        assert torch.equal(got, want), key
    # Views of one storage stay views of one storage, as torch.load would give.
    assert sd["slice_with_offset"].storage_offset() == 5


@pytest.mark.parametrize("module,name,args", [
    ("os", "system", "(" + "S'touch {marker}'\n" + "t"),
    ("posix", "system", "(" + "S'touch {marker}'\n" + "t"),
    ("subprocess", "Popen", "((S'touch'\nS'{marker}'\nlt"),
    ("builtins", "eval", "(S'open(\"{marker}\", \"w\").close()'\nt"),
    ("builtins", "exec", "(S'open(\"{marker}\", \"w\").close()'\nt"),
    ("torch", "load", "(S'{marker}'\nt"),
])
def test_hostile_pickles_are_refused_and_nothing_runs(tmp_path: Path, module: str, name: str,
                                                      args: str) -> None:
    marker = tmp_path / "pwned"
    payload = _hostile_pickle(module, name, args.format(marker=marker).encode())
    # Sanity check of the test itself: an unrestricted unpickler would run the payload.
    if (module, name) == ("builtins", "eval"):
        pickle.loads(payload)
        assert marker.exists()
        marker.unlink()
    path = tmp_path / "evil.pt"
    _write_torch_style_zip(path, payload)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert f"{module}.{name}" in message and "nothing was executed" in message
    assert not marker.exists()


def test_reduce_class_payload_is_refused(tmp_path: Path) -> None:
    """The classic attack: an object whose __reduce__ returns (os.system, (cmd,))."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # noqa: D105
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.pt"
    _write_torch_style_zip(path, pickle.dumps({"model_state_dict": Evil()}, protocol=2))
    with pytest.raises(UnsafeCheckpointError, match="system"):
        load_checkpoint(path)
    assert not marker.exists()


def test_hostile_global_hidden_after_real_tensors(tmp_path: Path) -> None:
    """A real torch checkpoint with a payload appended to its state dict is still refused."""
    sd = {"w": torch.ones(2)}
    buf = io.BytesIO()
    torch.save(sd, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    prefix = next(n for n in entries if n.endswith("/data.pkl"))[: -len("data.pkl")]
    marker = tmp_path / "pwned"
    pkl = entries[prefix + "data.pkl"]
    assert pkl.endswith(b"u.") or pkl.endswith(b"s.")
    evil = pkl[:-1] + b"0" + b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    path = tmp_path / "mixed.pt"
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in entries.items():
            zf.writestr(name, evil if name == prefix + "data.pkl" else payload)
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.pt"
    path.write_bytes(os.urandom(4096).replace(b"PK", b"QQ"))
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(path)


def test_legacy_or_bare_pickle(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(CheckpointError, match="legacy"):
        load_checkpoint(path)


def test_truncated_zip(tmp_path: Path) -> None:
    data = checkpoint_path("vqvae2").read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_zip_without_data_pkl(tmp_path: Path) -> None:
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", b"hello")
    with pytest.raises(CheckpointError, match="no <folder>/data.pkl"):
        load_checkpoint(path)


def test_missing_storage_entry(tmp_path: Path) -> None:
    with zipfile.ZipFile(checkpoint_path("vqvae2")) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    path = tmp_path / "missing.pt"
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in entries.items():
            if not name.endswith("/data/3"):
                zf.writestr(name, payload)
    with pytest.raises(CheckpointError, match="missing the entry best/data/3"):
        load_checkpoint(path)


def test_short_storage_entry(tmp_path: Path) -> None:
    with zipfile.ZipFile(checkpoint_path("vqvae2")) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    path = tmp_path / "short.pt"
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in entries.items():
            zf.writestr(name, payload[:8] if name.endswith("/data/0") else payload)
    with pytest.raises(CheckpointError, match="data/0 holds 8 bytes"):
        load_checkpoint(path)


def test_prefix_is_not_hard_coded(tmp_path: Path) -> None:
    """torch names the folder after the file stem or 'archive'; any name must work."""
    with zipfile.ZipFile(checkpoint_path("dcgan")) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    path = tmp_path / "renamed.pt"
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in entries.items():
            zf.writestr("some_other_name/" + name.split("/", 1)[1], payload)
    sd, _ = load_checkpoint(path)
    assert len(sd) == 45


def test_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_checkpoint(path)
    path = tmp_path / "dict.pt"
    torch.save({"hello": "world"}, path)
    with pytest.raises(CheckpointError, match="no model_state_dict"):
        load_checkpoint(path)
    assert load_pickle_from_zip(path) == {"hello": "world"}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
