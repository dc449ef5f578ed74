"""Shared helpers for the Python-side tests.

The FRAMEWORM compat data set (checkpoints, goldens, state-dict listings) is read-only: it is the
repository's own copy, ``<repo>/test/fixtures/compat``. Tests write only under ``tmp_path``.
"""
from __future__ import annotations

import collections
import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import pytest
import torch

TEMPLATES_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = TEMPLATES_DIR.parent
if str(TEMPLATES_DIR) not in sys.path:
    sys.path.insert(0, str(TEMPLATES_DIR))

torch.set_num_threads(1)  # the goldens were computed single-threaded

#: Hyper-parameters the weights cannot carry (compat README, "Not recoverable from the weights");
#: detect() reports upstream's defaults for them, which need not equal a golden's config.
NOT_RECOVERABLE = {
    "vae": {"beta"},
    "vqvae2": {"commitment_cost"},
    "vitgan": {"vit_heads"},
}


def compat_dir() -> Path:
    # No environment override: the suite must test the data it ships with, nothing beside it.
    return REPO_DIR / "test" / "fixtures" / "compat"


def require_compat() -> Path:
    """The compat directory; a missing data set fails the calling test (it is part of the
    repository, so its absence is a broken checkout, never a reason to skip)."""
    d = compat_dir()
    if not (d / "state-dicts.json").is_file():
        pytest.fail(f"FRAMEWORM compat data set missing at {d} (it ships in the repository)")
    return d


@functools.lru_cache(maxsize=None)
def load_golden(arch: str) -> Dict[str, Any]:
    return json.loads((require_compat() / arch / "golden.json").read_text())


@functools.lru_cache(maxsize=None)
def state_dict_listing(arch: str) -> List[Dict[str, Any]]:
    """The three reference entries of state-dicts.json for ``arch``."""
    return json.loads((require_compat() / "state-dicts.json").read_text())[arch]


def checkpoint_path(arch: str, name: str = "best.pt") -> Path:
    return require_compat() / arch / name


def tensor_from_json(entry: Mapping[str, Any]) -> torch.Tensor:
    """``{shape, dtype, data}`` (flat, row-major) → tensor of that dtype."""
    dtype = {"float32": torch.float32, "int64": torch.int64}[entry["dtype"]]
    return torch.tensor(entry["data"], dtype=dtype).reshape(entry["shape"])


def golden_inputs(arch: str) -> Dict[str, torch.Tensor]:
    return {k: tensor_from_json(v) for k, v in load_golden(arch)["inputs"].items()}


def max_abs_diff(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return (actual.detach().double() - expected.double()).abs().max().item()


def assert_matches_golden(arch: str, name: str, actual: torch.Tensor,
                          golden_name: Optional[str] = None) -> float:
    """Check one output against the golden with its ``tolerance.recommended``; returns the
    max abs error (0 for exact integer outputs)."""
    g = load_golden(arch)
    key = golden_name or name
    expected = tensor_from_json(g["outputs"][key])
    tol = g["tolerance"]["recommended"][key]
    assert list(actual.shape) == list(expected.shape), f"{arch}.{name}: shape {list(actual.shape)}"
    if tol.get("exact"):
        assert torch.equal(actual.to(expected.dtype), expected), f"{arch}.{name} differs"
        return 0.0
    err = (actual.detach().double() - expected.double()).abs()
    limit = tol["atol"] + tol["rtol"] * expected.double().abs()
    assert bool((err <= limit).all()), f"{arch}.{name}: max abs error {err.max().item():.3g}"
    return err.max().item()


def zeros_state_dict(entry: Mapping[str, Any]) -> "collections.OrderedDict[str, torch.Tensor]":
    """A state dict with the names, shapes and dtypes of a state-dicts.json entry."""
    dtypes = {"float32": torch.float32, "int64": torch.int64}
    return collections.OrderedDict(
        (name, torch.zeros(shape, dtype=dtypes[dtype])) for name, shape, dtype in entry["state_dict"])


def listing_of(module: torch.nn.Module) -> List[List[Any]]:
    """``[[name, shape, dtype], …]`` of a module's state dict, in state-dicts.json's form."""
    return [[k, list(v.shape), str(v.dtype).replace("torch.", "")]
            for k, v in module.state_dict().items()]


def assert_recovers_effective(arch: str, hp: Mapping[str, Any]) -> None:
    """detect()'s hyper-parameters equal golden ``config.effective`` for every recoverable name."""
    effective = load_golden(arch)["config"]["effective"]
    skip = NOT_RECOVERABLE.get(arch, set())
    for name, value in effective.items():
        assert name in hp, f"{arch}: detect() lacks {name}"
        if name not in skip:
            assert hp[name] == value, f"{arch}: {name} = {hp[name]!r}, golden says {value!r}"


def run_cli(args: Sequence[str], timeout: float = 300) -> Tuple[int, List[Dict[str, Any]], str]:
    """Run ``python3 -m frameworm.export`` from templates/; returns (exit code, parsed stdout
    lines, stderr). Fails the test if any stdout line is not a JSON object."""
    proc = subprocess.run(
        [sys.executable, "-m", "frameworm.export", *args],
        cwd=TEMPLATES_DIR, capture_output=True, text=True, timeout=timeout,
        env=dict(os.environ, PYTHONWARNINGS="default"),
    )
    lines = []
    for line in proc.stdout.splitlines():
        obj = json.loads(line)  # nothing but JSON objects may reach stdout
        assert isinstance(obj, dict), line
        lines.append(obj)
    return proc.returncode, lines, proc.stderr


def assert_cli_error(result: Tuple[int, List[Dict[str, Any]], str], code: str) -> str:
    """The run failed with exit 2 and one final error line of ``code``; returns its message."""
    rc, lines, stderr = result
    assert rc == 2, (rc, lines, stderr[-2000:])
    assert lines and "error" in lines[-1], lines
    assert all("progress" in ln for ln in lines[:-1]), lines
    err = lines[-1]["error"]
    assert err["code"] == code, err
    assert "\n" not in err["message"]
    return err["message"]


# ------------------------------------------------------- shared by the diffusion tests

def round7(values: Sequence[float]) -> List[float]:
    """How golden.json writes floats: 7 significant digits."""
    return [float(f"{v:.7g}") for v in values]


def seeded_noise(shape: Sequence[int], count: int, seed: int) -> List[torch.Tensor]:
    """A reproducible list of per-step noise tensors for the reference samplers."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=gen) for _ in range(count)]


def run_reference_cli(checkpoint: Path, payload: Dict[str, Any], tmp_path: Path) -> Dict[str, Any]:
    """Runs ``python -m frameworm.diffusion_reference`` on a noise JSON and returns its answer."""
    noise_file = tmp_path / "noise.json"
    noise_file.write_text(json.dumps(payload))
    env = dict(os.environ, PYTHONPATH=str(TEMPLATES_DIR), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "frameworm.diffusion_reference", "--checkpoint", str(checkpoint),
         "--noise-json", str(noise_file)],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
