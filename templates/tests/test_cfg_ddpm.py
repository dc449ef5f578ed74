"""FRAMEWORM CFG-DDPM: fingerprint, strict loading, golden parity (conditional, null and guided
ε), export with attention, and the guided reference sampler.

Compat data (read-only): ``<repo>/test/fixtures/compat``. Anything
written goes to ``tmp_path``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import onnx  # a prerequisite (scripts/setup.sh): when missing the module fails, never skips
import pytest
import torch

from conftest import (round7, run_reference_cli, seeded_noise,
                      assert_matches_golden, assert_recovers_effective,
                      checkpoint_path, golden_inputs, listing_of, load_golden,
                      state_dict_listing, zeros_state_dict)
from frameworm import diffusion_reference as ref
from frameworm.export import PARITY_TOLERANCE, export_onnx, export_torchscript
from frameworm.models import ARCHITECTURES, cfg_ddpm
from frameworm.safe_load import load_checkpoint

torch.set_num_threads(1)  # the goldens are defined at 1 intra-op thread

NULL = 4  # num_classes of the tiny config = index of the null class


def _rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual.double() - expected).abs() / (1 + expected.abs())).max().item()


# ----------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def golden() -> Dict[str, Any]:
    return load_golden("cfg_ddpm")


@pytest.fixture(scope="module")
def state_dict() -> Dict[str, torch.Tensor]:
    sd, _meta = load_checkpoint(checkpoint_path("cfg_ddpm"))
    return sd


@pytest.fixture(scope="module")
def hp(state_dict: Dict[str, torch.Tensor]) -> Dict[str, Any]:
    found = cfg_ddpm.detect(state_dict)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def model(state_dict: Dict[str, torch.Tensor], hp: Dict[str, Any]) -> cfg_ddpm.CFGDDPM:
    net = cfg_ddpm.build(hp)
    net.load_state_dict(state_dict, strict=True)
    return net.eval()


@pytest.fixture(scope="module")
def sched(state_dict: Dict[str, torch.Tensor], hp: Dict[str, Any]) -> Dict[str, Any]:
    return cfg_ddpm.schedule(state_dict, hp)


# ---------------------------------------------------------------------- fingerprint and build

def test_detect_recovers_golden_effective_config(hp: Dict[str, Any]) -> None:
    assert_recovers_effective("cfg_ddpm", hp)
    assert hp["channels"] == hp["image_channels"] == 3
    # image_size is not in the weights: the default, FRAMEWORM's configured 32.
    assert hp["image_size"] == cfg_ddpm.DEFAULT_IMAGE_SIZE == 32
    assert hp["image_size"] % 4 == 0


def test_only_cfg_ddpm_claims_the_checkpoint(state_dict: Dict[str, torch.Tensor]) -> None:
    assert [name for name, arch in ARCHITECTURES.items() if arch.detect(state_dict)] == ["cfg_ddpm"]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_listed_configs_build_with_exact_keys_shapes_and_order(index: int) -> None:
    entry = state_dict_listing("cfg_ddpm")[index]
    found = cfg_ddpm.detect(zeros_state_dict(entry))
    assert found is not None
    config = entry["config"]
    assert found["timesteps"] == config["timesteps"]
    assert found["num_classes"] == config.get("num_classes", 10)  # FRAMEWORM's defaults
    assert found["model_channels"] == config.get("model_channels", 128)
    assert listing_of(cfg_ddpm.build(found)) == entry["state_dict"]
    assert len(entry["state_dict"]) == entry["n_tensors"]


def test_detect_ignores_other_architectures() -> None:
    assert cfg_ddpm.detect(zeros_state_dict(state_dict_listing("ddpm")[2])) is None
    assert cfg_ddpm.detect({}) is None


def test_best_pt_loads_strictly(state_dict: Dict[str, torch.Tensor],
                                model: cfg_ddpm.CFGDDPM) -> None:
    assert list(model.state_dict().keys()) == list(state_dict.keys())
    result = cfg_ddpm.build(cfg_ddpm.detect(state_dict)).load_state_dict(state_dict, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


# ----------------------------------------------------------------------------------- parity

def test_eager_eps_matches_golden(model: cfg_ddpm.CFGDDPM, golden: Dict[str, Any]) -> None:
    inputs = golden_inputs("cfg_ddpm")
    x_t, t = inputs["x_t"], inputs["t"]
    w = inputs["guidance_scale"]
    with torch.no_grad():
        eps = model(x_t, t, inputs["class_label"])
        eps_cond = model(x_t, t, inputs["guided_class_label"])
        eps_uncond = model(x_t, t, torch.full((2,), NULL, dtype=torch.int64))
        eps_none = model(x_t, t)  # no label ≡ null class for every sample, bitwise
    assert torch.equal(eps_none, eps_uncond)
    actual = {"eps": eps, "eps_cond": eps_cond, "eps_uncond": eps_uncond,
              "eps_guided": eps_uncond + w * (eps_cond - eps_uncond)}
    for name, value in actual.items():
        err = assert_matches_golden("cfg_ddpm", name, value)
        print(f"cfg {name} max |err| vs golden = {err:.3g}")
    assert golden["tolerance"]["recommended"]["eps_guided"]["atol"] == 3e-5


def test_schedule_is_read_from_checkpoint(state_dict: Dict[str, torch.Tensor],
                                          sched: Dict[str, Any], golden: Dict[str, Any]) -> None:
    json.dumps(sched)  # goes into manifest.json as is
    assert sched["timesteps"] == 50 and sched["null_class_index"] == NULL
    for key in ("betas", "alphas", "alphas_cumprod"):
        assert torch.equal(torch.tensor(sched[key], dtype=torch.float32), state_dict[key]), key
    for key in ("betas", "alphas_cumprod"):
        assert round7(sched[key]) == golden["outputs"][key]["data"], key
    assert sched["betas"][-1] == pytest.approx(0.999)  # the cosine clip (README)
    # The stored alphas are 1 − β in float32, as the sampler's docstring states.
    assert torch.equal(state_dict["alphas"], 1.0 - state_dict["betas"])


# ----------------------------------------------------------------------------------- export

def test_export_spec_shape(model: cfg_ddpm.CFGDDPM, hp: Dict[str, Any]) -> None:
    spec = cfg_ddpm.export_spec(model, hp)
    assert spec.input_names == ["x_t", "t", "class_label"] and spec.output_names == ["eps"]
    x_t, t, labels = spec.example_inputs
    assert x_t.dtype == torch.float32 and list(x_t.shape) == [2, 3, 32, 32]
    assert t.dtype == torch.int64 and labels.dtype == torch.int64
    assert labels.tolist() == [0, NULL]  # one real class, one unconditional
    for name in ("x_t", "eps"):
        assert spec.dynamic_axes[name] == {0: "batch", 2: "height", 3: "width"}
    assert spec.dynamic_axes["t"] == spec.dynamic_axes["class_label"] == {0: "batch"}
    with pytest.raises(ValueError):
        cfg_ddpm.with_image_size(hp, 30)
    assert cfg_ddpm.with_image_size(hp, 12)["image_size"] == 12


def test_onnx_export_opset17(model: cfg_ddpm.CFGDDPM, hp: Dict[str, Any], tmp_path: Path) -> None:
    spec = cfg_ddpm.export_spec(model, hp)
    path = tmp_path / "cfg_ddpm.onnx"
    export_onnx(spec, path, opset=17)  # the product's torch.onnx.export call
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert [op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")] == [17]
    assert [i.name for i in proto.graph.input] == ["x_t", "t", "class_label"]
    assert [o.name for o in proto.graph.output] == ["eps"]
    types = {i.name: i.type.tensor_type for i in list(proto.graph.input) + list(proto.graph.output)}
    assert types["x_t"].elem_type == onnx.TensorProto.FLOAT
    assert types["t"].elem_type == types["class_label"].elem_type == onnx.TensorProto.INT64
    for name in ("x_t", "eps"):
        dims = types[name].shape.dim
        assert [dims[0].dim_param, dims[2].dim_param, dims[3].dim_param] == ["batch", "height", "width"]
    for name in ("t", "class_label"):
        assert types[name].shape.dim[0].dim_param == "batch"
    # Attention is plain MatMul/Softmax: nothing torch 1.13 cannot express at opset 17.
    assert {"MatMul", "Softmax"} <= {node.op_type for node in proto.graph.node}


def test_torchscript_trace_parity(model: cfg_ddpm.CFGDDPM, hp: Dict[str, Any],
                                  tmp_path: Path) -> None:
    spec = cfg_ddpm.export_spec(model, hp)
    path = tmp_path / "cfg_ddpm.torchscript.pt"
    export_torchscript(spec, path)  # traced at 32×32, batch 2
    traced = torch.jit.load(str(path))
    x_t, t, labels = spec.example_inputs
    g = golden_inputs("cfg_ddpm")
    cases = [
        spec.example_inputs,
        (g["x_t"], g["t"], g["class_label"]),  # 16×16: H·W tokens differ from the trace
        (torch.cat([x_t, x_t[:1].flip(-1)]), torch.cat([t, t[:1]]), torch.tensor([3, NULL, 1])),
    ]
    worst = 0.0
    for inputs in cases:
        with torch.no_grad():
            eager = spec.module(*inputs)[0]
            scripted = traced(*inputs)[0]
        assert eager.shape == scripted.shape == inputs[0].shape
        worst = max(worst, (eager - scripted).abs().max().item())
    print(f"cfg TorchScript vs eager max |err| = {worst:.3g}")
    assert worst <= PARITY_TOLERANCE
    # The traced graph reproduces the golden too (the graph, not just the eager module).
    with torch.no_grad():
        assert_matches_golden("cfg_ddpm", "eps", traced(g["x_t"], g["t"], g["class_label"])[0])


# ---------------------------------------------------------------------------------- sampler

def _independent_cfg(model: cfg_ddpm.CFGDDPM, sd: Dict[str, torch.Tensor], x_T: torch.Tensor,
                     noises: Sequence[torch.Tensor], labels: Sequence[Optional[int]], w: float,
                     taus: Sequence[int], full: bool) -> torch.Tensor:
    """The README's CFG update in float64 from the checkpoint buffers, written independently
    of diffusion_reference: ε = ε_u + w(ε_c − ε_u) for every w, then √β_t (or √β_eff) noise."""
    ac, betas, alphas = (sd[k].double() for k in ("alphas_cumprod", "betas", "alphas"))
    cond = torch.tensor([NULL if lab is None else lab for lab in labels])
    uncond = torch.full_like(cond, NULL)
    x = x_T.double()
    for i, t in enumerate(taus):
        last = i == len(taus) - 1
        tt = torch.full((x.shape[0],), t, dtype=torch.int64)
        with torch.no_grad():
            eps_c = model(x.float(), tt, cond).double()
            eps_u = model(x.float(), tt, uncond).double()
        eps = eps_u + w * (eps_c - eps_u)
        if full:
            alpha, beta = alphas[t], betas[t]
        else:
            ac_prev = ac[taus[i + 1]] if not last else torch.tensor(1.0, dtype=torch.float64)
            alpha = ac[t] / ac_prev
            beta = 1 - alpha
        mean = (x - beta / torch.sqrt(1 - ac[t]) * eps) / torch.sqrt(alpha)
        x = mean if last else mean + torch.sqrt(beta) * noises[i].double()
    return x


def test_reference_sampler_full_T_is_deterministic_and_bounded(
        model: cfg_ddpm.CFGDDPM, sched: Dict[str, Any], hp: Dict[str, Any]) -> None:
    T = hp["timesteps"]
    x_T, *noises = seeded_noise((2, 3, 8, 8), T, seed=21)
    labels = [2, None]
    first = ref.cfg_sample(model, sched, x_T, noises, labels, 3.0)
    second = ref.cfg_sample(model, sched, x_T.clone(), [z.clone() for z in noises], [2, NULL],
                            3.0, num_steps=T)
    assert torch.equal(first, second)  # None and the null index are the same label
    assert first.shape == x_T.shape and first.dtype == torch.float32
    assert first.min().item() >= -1.0 and first.max().item() <= 1.0
    with pytest.raises(ValueError):
        ref.cfg_sample(model, sched, x_T, noises[:-1], labels, 3.0)
    with pytest.raises(ValueError):
        ref.cfg_sample(model, sched, x_T, noises, [NULL + 1, 0], 3.0)


@pytest.mark.parametrize("w", [3.0, 0.5])
def test_reference_sampler_full_T_matches_upstream_formulas(
        model: cfg_ddpm.CFGDDPM, state_dict: Dict[str, torch.Tensor], sched: Dict[str, Any],
        hp: Dict[str, Any], w: float) -> None:
    T = hp["timesteps"]
    x_T, *noises = seeded_noise((2, 3, 8, 8), T, seed=22)
    labels = [0, None]  # class 0 is a real class even when w ≤ 1 (upstream's bug avoided)
    raw = ref.cfg_sample(model, sched, x_T, noises, labels, w, clamp=False)
    expected = _independent_cfg(model, state_dict, x_T, noises, labels, w,
                                list(range(T - 1, -1, -1)), True)
    err = _rel_err(raw, expected)
    print(f"cfg full-T sampler (w={w}) vs float64 transcription: max rel err {err:.3g}")
    assert err <= 1e-4


def test_reference_sampler_strided(model: cfg_ddpm.CFGDDPM, state_dict: Dict[str, torch.Tensor],
                                   sched: Dict[str, Any], hp: Dict[str, Any]) -> None:
    taus = ref.strided_timesteps(hp["timesteps"], 8)
    x_T, *noises = seeded_noise((2, 3, 8, 8), 8, seed=23)
    noises = noises[:7]
    out = ref.cfg_sample(model, sched, x_T, noises, [1, 3], 2.0, num_steps=8)
    assert torch.equal(out, ref.cfg_sample(model, sched, x_T, noises, [1, 3], 2.0, num_steps=8))
    assert out.min().item() >= -1.0 and out.max().item() <= 1.0
    raw = ref.cfg_sample(model, sched, x_T, noises, [1, 3], 2.0, num_steps=8, clamp=False)
    expected = _independent_cfg(model, state_dict, x_T, noises, [1, 3], 2.0, taus, False)
    err = _rel_err(raw, expected)
    print(f"cfg strided sampler vs float64 transcription: max rel err {err:.3g}")
    assert err <= 1e-4


def test_guidance_applies_for_every_scale_and_label(model: cfg_ddpm.CFGDDPM,
                                                    sched: Dict[str, Any]) -> None:
    x_T, *noises = seeded_noise((2, 3, 8, 8), 6, seed=24)
    noises = noises[:5]

    def run(labels: Any, w: float) -> torch.Tensor:
        return ref.cfg_sample(model, sched, x_T, noises, labels, w, num_steps=6, clamp=False)

    uncond = run(None, 3.0)
    assert torch.equal(uncond, run([None, None], 0.7))  # all null: w is irrelevant
    assert torch.equal(uncond, run([0, 2], 0.0))  # w = 0 is exactly unconditional
    # Upstream would silently drop class 0 for w ≤ 1; here class 0 conditions at w = 1 …
    cond0 = run([0, 0], 1.0)
    assert not torch.allclose(cond0, uncond)
    # … and w = 1 is the plain conditional prediction (ε_u + 1·(ε_c − ε_u) ≈ ε_c).
    with torch.no_grad():
        t = torch.full((2,), 49, dtype=torch.int64)
        eps_c = model(x_T, t, torch.tensor([0, 0]))
        eps_u = model(x_T, t, torch.tensor([NULL, NULL]))
    assert torch.allclose(eps_u + 1.0 * (eps_c - eps_u), eps_c, atol=1e-6)
    # Per-sample labels: the null-labelled sample follows the unconditional trajectory.
    mixed = run([1, None], 4.0)
    assert torch.allclose(mixed[1], uncond[1], rtol=1e-6, atol=1e-6)
    assert not torch.allclose(mixed[0], uncond[0])


def test_cli_prints_the_reference_images(model: cfg_ddpm.CFGDDPM, sched: Dict[str, Any],
                                         tmp_path: Path) -> None:
    x_T, *noises = seeded_noise((2, 3, 4, 4), 4, seed=25)
    payload = {
        "x_T": {"shape": list(x_T.shape), "data": x_T.reshape(-1).tolist()},
        "noises": [{"shape": list(z.shape), "data": z.reshape(-1).tolist()} for z in noises[:3]],
        "class_labels": [3, None],
        "guidance_scale": 2.5,
        "num_steps": 4,
    }
    out = run_reference_cli(checkpoint_path("cfg_ddpm"), payload, tmp_path)
    assert out["arch"] == "cfg_ddpm"
    assert out["timesteps"] == ref.strided_timesteps(50, 4)
    assert out["images"]["shape"] == [2, 3, 4, 4]
    expected = ref.cfg_sample(model, sched, x_T, noises[:3], [3, None], 2.5, num_steps=4)
    got = torch.tensor(out["images"]["data"], dtype=torch.float32).reshape(2, 3, 4, 4)
    assert torch.equal(got, expected)  # floats travel as exact float32 values
