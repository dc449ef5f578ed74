"""The exporter CLI end to end: JSON-lines protocol, artefacts, manifest, ONNX structure,
TorchScript parity, and every kind of refusal."""
from __future__ import annotations

import collections
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import onnx
import pytest
import torch

from conftest import (assert_cli_error, assert_matches_golden, assert_recovers_effective,
                      checkpoint_path, golden_inputs, load_golden, run_cli)
from frameworm.safe_load import load_checkpoint

STEPS = ["load", "detect", "build", "torchscript", "onnx", "parity", "manifest"]
IO_NAMES = {
    "vae": (["x"], ["reconstruction", "mu", "log_var"]),
    "dcgan": (["z"], ["images"]),
    "vitgan": (["z"], ["images"]),
    "vqvae2": (["x"], ["reconstruction", "commitment_loss"]),
}
ARCHS = list(IO_NAMES)

Export = Tuple[Path, List[Dict[str, Any]], Dict[str, Any]]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Export]:
    """Each arch's best.pt exported once: (out dir, protocol lines, manifest)."""
    done: Dict[str, Export] = {}
    for arch in ARCHS:
        out = tmp_path_factory.mktemp(f"export-{arch}")
        rc, lines, stderr = run_cli(["--checkpoint", str(checkpoint_path(arch)), "--out", str(out)])
        assert rc == 0, (lines, stderr[-3000:])
        done[arch] = (out, lines, lines[-1]["result"])
    return done


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("arch", ARCHS)
def test_protocol_lines(exports: Dict[str, Export], arch: str) -> None:
    out, lines, manifest = exports[arch]
    assert all(set(line) == {"progress"} for line in lines[:-1])
    assert set(lines[-1]) == {"result"}
    steps = [line["progress"]["step"] for line in lines[:-1]]
    assert all(isinstance(line["progress"]["message"], str) for line in lines[:-1])
    assert sorted(set(steps), key=STEPS.index) == STEPS  # every step reported …
    assert [STEPS.index(s) for s in steps] == sorted(STEPS.index(s) for s in steps)  # … in order
    assert json.loads((out / "manifest.json").read_text()) == manifest


@pytest.mark.parametrize("arch", ARCHS)
def test_manifest(exports: Dict[str, Export], arch: str) -> None:
    out, _, m = exports[arch]
    assert m["format_version"] == 1 and m["type"] == arch
    assert_recovers_effective(arch, m["hyper_parameters"])
    inputs, outputs = IO_NAMES[arch]
    assert [i["name"] for i in m["inputs"]] == inputs
    assert [o["name"] for o in m["outputs"]] == outputs
    for io in m["inputs"] + m["outputs"]:
        assert io["shape"][0] == "batch" and io["dtype"] == "float32"
    assert set(m["files"]) == {"model.onnx", "model.torchscript.pt", "parity_reference.json"}
    for name, entry in m["files"].items():
        assert entry["sha256"] == _sha256(out / name)
        assert entry["size_bytes"] == (out / name).stat().st_size
    assert m["parity"]["tolerance"] == 1e-4
    assert set(m["parity"]["torchscript_max_abs_err"]) == set(outputs)
    assert all(0 <= e <= 1e-4 for e in m["parity"]["torchscript_max_abs_err"].values())
    assert m["opset"] == 17
    assert m["torch_version"] == torch.__version__ and m["python_version"].count(".") == 2
    assert 0 < m["export_seconds"] < 120
    ck = m["checkpoint"]
    assert ck["sha256"] == load_golden(arch)["checkpoints"]["best.pt"]["sha256"]
    assert Path(ck["path"]) == checkpoint_path(arch).resolve()
    assert ck["format"] == "trainer" and isinstance(ck["epoch"], int)
    assert ck["training_state"]["current_epoch"] == ck["epoch"]
    assert "schedule" not in m  # only the diffusion architectures have one


def test_vqvae2_shapes_are_fully_dynamic(exports: Dict[str, Export]) -> None:
    m = exports["vqvae2"][2]
    assert m["inputs"][0]["shape"] == ["batch", 3, "height", "width"]
    assert m["outputs"] == [
        {"name": "reconstruction", "shape": ["batch", 3, "height", "width"], "dtype": "float32"},
        {"name": "commitment_loss", "shape": ["batch"], "dtype": "float32"},
    ]


@pytest.mark.parametrize("arch", ARCHS)
def test_onnx_graph(exports: Dict[str, Export], arch: str) -> None:
    model = onnx.load(str(exports[arch][0] / "model.onnx"))
    onnx.checker.check_model(model)
    inputs, outputs = IO_NAMES[arch]
    assert [i.name for i in model.graph.input] == inputs
    assert [o.name for o in model.graph.output] == outputs
    assert any(op.version == 17 for op in model.opset_import if op.domain in ("", "ai.onnx"))
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch", (value.name, dims)
        if arch == "vqvae2" and len(dims) == 4:
            assert [d.dim_param for d in dims[2:]] == ["height", "width"]


@pytest.mark.parametrize("arch", ARCHS)
def test_torchscript_reproduces_golden(exports: Dict[str, Export], arch: str) -> None:
    """The saved TorchScript file itself computes FRAMEWORM's numbers, at batch 2 and 1."""
    ts = torch.jit.load(str(exports[arch][0] / "model.torchscript.pt"))
    inputs = golden_inputs(arch)
    x = next(iter(inputs.values()))
    with torch.no_grad():
        out = ts(x)
        single = ts(x[:1])
    if arch == "vae":
        for name, golden, i in (("reconstruction", "recon", 0), ("mu", "mu", 1), ("log_var", "logvar", 2)):
            assert_matches_golden(arch, name, out[i], golden)
    elif arch == "vqvae2":
        assert_matches_golden(arch, "reconstruction", out[0], "recon")
        assert_matches_golden(arch, "commitment_loss (batch mean)", out[1].mean(), "vq_loss")
    else:
        assert_matches_golden(arch, "images", out, "image")
    first = out[0] if isinstance(out, tuple) else out
    first_single = single[0] if isinstance(single, tuple) else single
    assert torch.allclose(first_single, first[:1], atol=1e-5)


def test_vqvae2_torchscript_other_sizes(exports: Dict[str, Export]) -> None:
    """H and W are dynamic in the traced graph too (the nearest resize is always present)."""
    ts = torch.jit.load(str(exports["vqvae2"][0] / "model.torchscript.pt"))
    from frameworm.models import vqvae2

    sd, _ = load_checkpoint(checkpoint_path("vqvae2"))
    eager = vqvae2.build(vqvae2.detect(sd))
    eager.load_state_dict(sd)
    eager.eval()
    x = torch.rand(3, 3, 48, 40) * 2 - 1
    with torch.no_grad():
        recon, loss = ts(x)
        want = eager(x)
    assert list(recon.shape) == [3, 3, 48, 40]
    assert (recon - want["recon"]).abs().max() <= 1e-5
    assert (loss - want["vq_loss_per_sample"]).abs().max() <= 1e-6


@pytest.mark.parametrize("arch", ARCHS)
def test_parity_reference(exports: Dict[str, Export], arch: str) -> None:
    out, _, m = exports[arch]
    ref = json.loads((out / "parity_reference.json").read_text())
    inputs, outputs = IO_NAMES[arch]
    assert list(ref["inputs"]) == inputs and list(ref["outputs"]) == outputs
    ts = torch.jit.load(str(out / "model.torchscript.pt"))
    args = []
    for name in inputs:
        entry = ref["inputs"][name]
        assert entry["shape"][0] == 2 and entry["dtype"] == "float32"
        args.append(torch.tensor(entry["data"], dtype=torch.float32).reshape(entry["shape"]))
    with torch.no_grad():
        got = ts(*args)
    got = got if isinstance(got, tuple) else (got,)
    for name, tensor, declared in zip(outputs, got, m["outputs"]):
        entry = ref["outputs"][name]
        assert entry["shape"] == list(tensor.shape)
        assert [d for d in declared["shape"] if not isinstance(d, str)] == [
            d for d, s in zip(entry["shape"], declared["shape"]) if not isinstance(s, str)]
        expected = torch.tensor(entry["data"], dtype=torch.float32).reshape(entry["shape"])
        assert (tensor - expected).abs().max() <= 1e-4


def test_older_format_and_image_size_option(tmp_path: Path) -> None:
    rc, lines, stderr = run_cli(["--checkpoint", str(checkpoint_path("vae", "final.pt")),
                                 "--out", str(tmp_path / "vae"), "--type", "vae"])
    assert rc == 0, stderr[-2000:]
    assert lines[-1]["result"]["checkpoint"]["format"] == "state_dict+config"
    rc, lines, stderr = run_cli(["--checkpoint", str(checkpoint_path("vqvae2")),
                                 "--out", str(tmp_path / "vq"), "--image-size", "48"])
    assert rc == 0, stderr[-2000:]
    ref = json.loads((tmp_path / "vq" / "parity_reference.json").read_text())
    assert ref["inputs"]["x"]["shape"] == [2, 3, 48, 48]
    assert lines[-1]["result"]["hyper_parameters"]["image_size"] == 48


# ------------------------------------------------------------------------------ refusals


def test_type_contradicting_the_weights(tmp_path: Path) -> None:
    msg = assert_cli_error(run_cli(["--checkpoint", str(checkpoint_path("vae")), "--out",
                                    str(tmp_path), "--type", "dcgan"]), "E_INPUT")
    assert msg.startswith("--type dcgan contradicts the checkpoint: its weights look like vae (")
    assert "latent_dim=8" in msg
    assert not any(tmp_path.iterdir())


def test_right_names_wrong_shapes(tmp_path: Path) -> None:
    sd, _ = load_checkpoint(checkpoint_path("vae"))
    sd = collections.OrderedDict(sd)
    sd["encoder.fc_logvar.weight"] = torch.zeros(8, 512)
    path = tmp_path / "reshaped.pt"
    torch.save({"epoch": 1, "model_state_dict": sd}, path)
    msg = assert_cli_error(run_cli(["--checkpoint", str(path), "--out", str(tmp_path / "o")]), "E_INPUT")
    assert "encoder.fc_logvar.weight" in msg and "[8, 512]" in msg and "[8, 1024]" in msg
    assert not (tmp_path / "o" / "model.onnx").exists()


def test_missing_and_unexpected_keys(tmp_path: Path) -> None:
    sd, _ = load_checkpoint(checkpoint_path("dcgan"))
    sd = collections.OrderedDict(sd)
    del sd["discriminator.main.11.weight"]
    sd["generator.extra.weight"] = torch.zeros(1)
    path = tmp_path / "edited.pt"
    torch.save(sd, path)
    msg = assert_cli_error(run_cli(["--checkpoint", str(path), "--out", str(tmp_path / "o")]), "E_INPUT")
    assert "missing key(s): discriminator.main.11.weight" in msg
    assert "unexpected key(s): generator.extra.weight" in msg


def test_unknown_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pt"
    torch.save({"model_state_dict": {"conv1.weight": torch.zeros(4, 3, 3, 3),
                                     "fc.weight": torch.zeros(10, 4)}, "epoch": 3}, path)
    msg = assert_cli_error(run_cli(["--checkpoint", str(path), "--out", str(tmp_path / "o")]), "E_INPUT")
    assert "match no FRAMEWORM architecture" in msg and "conv1.weight" in msg


def test_hostile_checkpoint(tmp_path: Path) -> None:
    import zipfile

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("evil/data.pkl", b"\x80\x02cos\nsystem\n(X" + len(f"touch {marker}").to_bytes(4, "little")
                    + f"touch {marker}".encode() + b"tR.")
    msg = assert_cli_error(run_cli(["--checkpoint", str(path), "--out", str(tmp_path / "o")]), "E_UNSAFE")
    assert "os.system" in msg and "nothing was executed" in msg
    assert not marker.exists()


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("definitely not a checkpoint")
    msg = assert_cli_error(run_cli(["--checkpoint", str(path), "--out", str(tmp_path / "o")]), "E_INPUT")
    assert "not a PyTorch checkpoint" in msg


def test_bad_arguments_and_fixed_image_size(tmp_path: Path) -> None:
    assert "--checkpoint and --out" in assert_cli_error(run_cli(["--out", str(tmp_path)]), "E_INPUT")
    assert "bad arguments" in assert_cli_error(run_cli(["--type", "resnet"]), "E_INPUT")
    msg = assert_cli_error(run_cli(["--checkpoint", str(checkpoint_path("dcgan")), "--out",
                                    str(tmp_path), "--image-size", "32"]), "E_INPUT")
    assert "64x64" in msg


def test_python_info() -> None:
    rc, lines, _ = run_cli(["--python-info"])
    assert rc == 0 and len(lines) == 1
    info = lines[0]
    assert info["torch"] == torch.__version__ and info["onnx"] == onnx.__version__
    assert info["python"].count(".") == 2
