"""FRAMEWORM DDPM: fingerprint, strict loading, golden parity, export and the reference sampler.

Compat data (read-only): ``<repo>/test/fixtures/compat``. Anything
written goes to ``tmp_path``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Sequence

import onnx  # a prerequisite (scripts/setup.sh): when missing the module fails, never skips
import pytest
import torch

from conftest import (round7, run_reference_cli, seeded_noise,
                      assert_matches_golden, assert_recovers_effective,
                      checkpoint_path, golden_inputs, listing_of, load_golden,
                      state_dict_listing, zeros_state_dict)
from frameworm import diffusion_reference as ref
from frameworm.export import PARITY_TOLERANCE, export_onnx, export_torchscript
from frameworm.models import ARCHITECTURES, ddpm
from frameworm.safe_load import load_checkpoint

torch.set_num_threads(1)  # the goldens are defined at 1 intra-op thread


# ----------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def golden() -> Dict[str, Any]:
    return load_golden("ddpm")


@pytest.fixture(scope="module")
def state_dict() -> Dict[str, torch.Tensor]:
    sd, _meta = load_checkpoint(checkpoint_path("ddpm"))
    return sd


@pytest.fixture(scope="module")
def hp(state_dict: Dict[str, torch.Tensor]) -> Dict[str, Any]:
    found = ddpm.detect(state_dict)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def model(state_dict: Dict[str, torch.Tensor], hp: Dict[str, Any]) -> ddpm.DDPM:
    net = ddpm.build(hp)
    net.load_state_dict(state_dict, strict=True)
    return net.eval()


# ---------------------------------------------------------------------- fingerprint and build

def test_detect_recovers_golden_effective_config(hp: Dict[str, Any]) -> None:
    assert_recovers_effective("ddpm", hp)
    # Not in the weights: the product default, which must suit three 2× poolings.
    assert hp["image_size"] == ddpm.DEFAULT_IMAGE_SIZE == 32
    assert hp["image_size"] % 8 == 0


def test_only_ddpm_claims_the_checkpoint(state_dict: Dict[str, torch.Tensor]) -> None:
    assert [name for name, arch in ARCHITECTURES.items() if arch.detect(state_dict)] == ["ddpm"]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_listed_configs_build_with_exact_keys_shapes_and_order(index: int) -> None:
    entry = state_dict_listing("ddpm")[index]
    found = ddpm.detect(zeros_state_dict(entry))
    assert found is not None
    assert found["timesteps"] == entry["config"]["timesteps"]
    assert found["base_channels"] == entry["config"]["base_channels"]
    assert listing_of(ddpm.build(found)) == entry["state_dict"]
    assert len(entry["state_dict"]) == entry["n_tensors"]


def test_detect_ignores_other_architectures() -> None:
    assert ddpm.detect(zeros_state_dict(state_dict_listing("cfg_ddpm")[2])) is None
    assert ddpm.detect({"model.down1.conv1.weight": torch.zeros(16, 3, 3, 3)}) is None
    assert ddpm.detect({}) is None


def test_best_pt_loads_strictly(state_dict: Dict[str, torch.Tensor], model: ddpm.DDPM) -> None:
    assert list(model.state_dict().keys()) == list(state_dict.keys())
    result = ddpm.build(ddpm.detect(state_dict)).load_state_dict(state_dict, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


# ----------------------------------------------------------------------------------- parity

def test_eager_eps_matches_golden(model: ddpm.DDPM) -> None:
    inputs = golden_inputs("ddpm")
    with torch.no_grad():
        eps = model(inputs["x_t"], inputs["t"])
    err = assert_matches_golden("ddpm", "eps", eps)
    print(f"ddpm eps max |err| vs golden = {err:.3g}")


def test_schedule_is_read_from_checkpoint(state_dict: Dict[str, torch.Tensor],
                                          hp: Dict[str, Any], golden: Dict[str, Any]) -> None:
    sched = ddpm.schedule(state_dict, hp)
    json.dumps(sched)  # goes into manifest.json as is
    assert sched["timesteps"] == 50
    for key in ("betas", "alphas_cumprod", "alphas_cumprod_prev", "posterior_variance"):
        # Exact: each value is the checkpoint's float32, widened to a double.
        assert torch.equal(torch.tensor(sched[key], dtype=torch.float32), state_dict[key]), key
    for key in ("betas", "alphas_cumprod"):
        # golden.json stores 7 significant digits of the same float32 values.
        assert round7(sched[key]) == golden["outputs"][key]["data"], key
    # The sampler recomputes √(1−ᾱ) in float32; it must be the stored buffer bit for bit.
    assert torch.equal(torch.sqrt(1.0 - state_dict["alphas_cumprod"]),
                       state_dict["sqrt_one_minus_alphas_cumprod"])


# ----------------------------------------------------------------------------------- export

def test_export_spec_shape(model: ddpm.DDPM, hp: Dict[str, Any]) -> None:
    spec = ddpm.export_spec(model, hp)
    assert spec.input_names == ["x_t", "t"] and spec.output_names == ["eps"]
    x_t, t = spec.example_inputs
    assert x_t.dtype == torch.float32 and list(x_t.shape) == [2, 3, 32, 32]
    assert t.dtype == torch.int64 and list(t.shape) == [2]
    assert spec.dynamic_axes["x_t"] == {0: "batch", 2: "height", 3: "width"}
    assert spec.dynamic_axes["eps"] == {0: "batch", 2: "height", 3: "width"}
    assert spec.dynamic_axes["t"] == {0: "batch"}
    again = ddpm.export_spec(model, hp)  # seeded: reproducible
    assert all(torch.equal(a, b) for a, b in zip(spec.example_inputs, again.example_inputs))
    with pytest.raises(ValueError):
        ddpm.with_image_size(hp, 20)
    assert ddpm.with_image_size(hp, 64)["image_size"] == 64


def test_onnx_export_opset17(model: ddpm.DDPM, hp: Dict[str, Any], tmp_path: Path) -> None:
    spec = ddpm.export_spec(model, hp)
    path = tmp_path / "ddpm.onnx"
    export_onnx(spec, path, opset=17)  # the product's torch.onnx.export call
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert [op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")] == [17]
    assert [i.name for i in proto.graph.input] == ["x_t", "t"]
    assert [o.name for o in proto.graph.output] == ["eps"]
    types = {i.name: i.type.tensor_type for i in list(proto.graph.input) + list(proto.graph.output)}
    assert types["x_t"].elem_type == onnx.TensorProto.FLOAT
    assert types["t"].elem_type == onnx.TensorProto.INT64
    for name in ("x_t", "eps"):
        dims = types[name].shape.dim
        assert [dims[0].dim_param, dims[2].dim_param, dims[3].dim_param] == ["batch", "height", "width"]
        assert dims[1].dim_value == 3
    assert types["t"].shape.dim[0].dim_param == "batch"


def test_torchscript_trace_parity(model: ddpm.DDPM, hp: Dict[str, Any], tmp_path: Path) -> None:
    spec = ddpm.export_spec(model, hp)
    path = tmp_path / "ddpm.torchscript.pt"
    export_torchscript(spec, path)  # traced at 32×32, batch 2
    traced = torch.jit.load(str(path))
    x_t, t = spec.example_inputs
    golden = golden_inputs("ddpm")
    cases = [
        spec.example_inputs,
        (golden["x_t"], golden["t"]),  # other H, W
        (torch.cat([x_t, x_t[:1].flip(-1)]), torch.cat([t, t[:1]])),  # batch 3
    ]
    worst = 0.0
    for inputs in cases:
        with torch.no_grad():
            eager = spec.module(*inputs)[0]
            scripted = traced(*inputs)[0]
        assert eager.shape == scripted.shape == inputs[0].shape
        worst = max(worst, (eager - scripted).abs().max().item())
    print(f"ddpm TorchScript vs eager max |err| = {worst:.3g}")
    assert worst <= PARITY_TOLERANCE
    with torch.no_grad():
        assert_matches_golden("ddpm", "eps", traced(golden["x_t"], golden["t"])[0])


# ---------------------------------------------------------------------------------- sampler

def _independent_ddpm(model: ddpm.DDPM, sd: Dict[str, torch.Tensor], x_T: torch.Tensor,
                      noises: Sequence[torch.Tensor], taus: Sequence[int], full: bool
                      ) -> torch.Tensor:
    """The README's formulas transcribed in float64 from the checkpoint buffers (using the
    stored √(1−ᾱ) and posterior variance), independently of diffusion_reference's code."""
    ac, betas = sd["alphas_cumprod"].double(), sd["betas"].double()
    x = x_T.double()
    for i, t in enumerate(taus):
        last = i == len(taus) - 1
        with torch.no_grad():
            eps = model(x.float(), torch.full((x.shape[0],), t, dtype=torch.int64)).double()
        if full:
            beta = betas[t]
            var = sd["posterior_variance"][t].double()
            s = sd["sqrt_one_minus_alphas_cumprod"][t].double()
        else:
            ac_prev = ac[taus[i + 1]] if not last else torch.tensor(1.0, dtype=torch.float64)
            beta = 1 - ac[t] / ac_prev
            var = beta * (1 - ac_prev) / (1 - ac[t])
            s = torch.sqrt(1 - ac[t])
        mean = (x - beta / s * eps) / torch.sqrt(1 - beta)
        x = mean if last else mean + torch.sqrt(var) * noises[i].double()
    return x


def test_reference_sampler_full_T_is_deterministic_and_bounded(
        model: ddpm.DDPM, state_dict: Dict[str, torch.Tensor], hp: Dict[str, Any]) -> None:
    sched = ddpm.schedule(state_dict, hp)
    T = hp["timesteps"]
    x_T, *noises = seeded_noise((2, 3, 16, 16), T, seed=11)
    first = ref.ddpm_sample(model, sched, x_T, noises)
    second = ref.ddpm_sample(model, sched, x_T.clone(), [z.clone() for z in noises], num_steps=T)
    assert torch.equal(first, second)
    assert first.shape == x_T.shape and first.dtype == torch.float32
    assert first.min().item() >= -1.0 and first.max().item() <= 1.0
    # A trailing noise for t = 0 is accepted and ignored; a short sequence is refused.
    assert torch.equal(first, ref.ddpm_sample(model, sched, x_T, noises + [noises[0]]))
    with pytest.raises(ValueError):
        ref.ddpm_sample(model, sched, x_T, noises[:-1])
    # A different noise sequence gives different images: the noise really is used.
    other = ref.ddpm_sample(model, sched, x_T, [z.flip(-1) for z in noises])
    assert not torch.equal(first, other)


def test_reference_sampler_full_T_matches_upstream_formulas(
        model: ddpm.DDPM, state_dict: Dict[str, torch.Tensor], hp: Dict[str, Any]) -> None:
    sched = ddpm.schedule(state_dict, hp)
    T = hp["timesteps"]
    x_T, *noises = seeded_noise((2, 3, 16, 16), T, seed=12)
    raw = ref.ddpm_sample(model, sched, x_T, noises, clamp=False)
    expected = _independent_ddpm(model, state_dict, x_T, noises, list(range(T - 1, -1, -1)), True)
    err = ((raw.double() - expected).abs() / (1 + expected.abs())).max().item()
    print(f"ddpm full-T sampler vs float64 transcription: max rel err {err:.3g}")
    assert err <= 1e-4
    assert torch.equal(ref.ddpm_sample(model, sched, x_T, noises), raw.clamp(-1, 1))


def test_reference_sampler_strided(model: ddpm.DDPM, state_dict: Dict[str, torch.Tensor],
                                   hp: Dict[str, Any]) -> None:
    sched = ddpm.schedule(state_dict, hp)
    taus = ref.strided_timesteps(hp["timesteps"], 10)
    assert taus == [49, 44, 38, 33, 27, 22, 16, 11, 5, 0]
    x_T, *noises = seeded_noise((2, 3, 16, 16), 10, seed=13)
    noises = noises[:9]
    out = ref.ddpm_sample(model, sched, x_T, noises, num_steps=10)
    assert torch.equal(out, ref.ddpm_sample(model, sched, x_T, noises, num_steps=10))
    assert out.min().item() >= -1.0 and out.max().item() <= 1.0
    raw = ref.ddpm_sample(model, sched, x_T, noises, num_steps=10, clamp=False)
    expected = _independent_ddpm(model, state_dict, x_T, noises, taus, False)
    err = ((raw.double() - expected).abs() / (1 + expected.abs())).max().item()
    print(f"ddpm strided sampler vs float64 transcription: max rel err {err:.3g}")
    assert err <= 1e-4


def test_single_step_is_the_x0_prediction(model: ddpm.DDPM, state_dict: Dict[str, torch.Tensor],
                                          hp: Dict[str, Any]) -> None:
    """With S = 1, β_eff = 1 − ᾱ_t and the update collapses to (x − √(1−ᾱ)·ε)/√ᾱ."""
    sched = ddpm.schedule(state_dict, hp)
    (x_T,) = seeded_noise((1, 3, 8, 8), 1, seed=14)
    out = ref.ddpm_sample(model, sched, x_T, [], num_steps=1, clamp=False)
    t = hp["timesteps"] - 1
    ac = state_dict["alphas_cumprod"][t].double()
    with torch.no_grad():
        eps = model(x_T, torch.tensor([t])).double()
    x0 = (x_T.double() - torch.sqrt(1 - ac) * eps) / torch.sqrt(ac)
    assert torch.allclose(out.double(), x0, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("T", [1, 2, 7, 50, 1000])
def test_strided_timesteps(T: int) -> None:
    for S in sorted(s for s in {1, 2, 3, T // 3, T - 1, T} if 1 <= s <= T):
        taus = ref.strided_timesteps(T, S)
        assert len(taus) == S and taus[0] == T - 1
        assert all(a > b for a, b in zip(taus, taus[1:]))
        if S > 1:
            assert taus[-1] == 0
            # round-half-up of the evenly spaced grid
            assert taus == [math.floor((T - 1) * (S - 1 - i) / (S - 1) + 0.5) for i in range(S)]
    assert ref.strided_timesteps(T) == list(range(T - 1, -1, -1))
    with pytest.raises(ValueError):
        ref.strided_timesteps(T, T + 1)
    with pytest.raises(ValueError):
        ref.strided_timesteps(T, 0)


def test_cli_prints_the_reference_images(model: ddpm.DDPM, state_dict: Dict[str, torch.Tensor],
                                         hp: Dict[str, Any], tmp_path: Path) -> None:
    x_T, *noises = seeded_noise((1, 3, 8, 8), 5, seed=15)
    payload = {
        "x_T": {"shape": list(x_T.shape), "data": x_T.reshape(-1).tolist()},
        "noises": [z.tolist() for z in noises[:4]],  # nested lists are accepted too
        "num_steps": 5,
    }
    out = run_reference_cli(checkpoint_path("ddpm"), payload, tmp_path)
    assert out["arch"] == "ddpm"
    assert out["timesteps"] == ref.strided_timesteps(hp["timesteps"], 5)
    assert out["images"]["shape"] == [1, 3, 8, 8] and out["images"]["dtype"] == "float32"
    expected = ref.ddpm_sample(model, ddpm.schedule(state_dict, hp), x_T, noises[:4], num_steps=5)
    got = torch.tensor(out["images"]["data"], dtype=torch.float32).reshape(1, 3, 8, 8)
    assert torch.equal(got, expected)  # floats travel as exact float32 values
