"""The generated server's numpy sampler (templates/server/sampler.py) against the executable
specification (frameworm.diffusion_reference), bit for bit, with the same x_T and noise."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

SERVER_DIR = Path(__file__).resolve().parents[1] / "server"
if str(SERVER_DIR) not in sys.path:
    sys.path.insert(0, str(SERVER_DIR))

import sampler  # noqa: E402
from frameworm import diffusion_reference as ref  # noqa: E402
from frameworm.noise import INITIAL_NOISE_STREAM, normals, step_noise_stream  # noqa: E402

T = 20
SHAPE = (2, 3, 4, 4)


def _schedule(kind: str):
    betas = torch.linspace(1e-4, 0.3, T, dtype=torch.float32)
    alphas = 1.0 - betas
    ac = torch.cumprod(alphas, 0)
    ac_prev = torch.cat([torch.ones(1), ac[:-1]])
    pv = betas * (1.0 - ac_prev) / (1.0 - ac)
    return {"betas": betas.tolist(), "alphas": alphas.tolist(), "alphas_cumprod": ac.tolist(),
            "posterior_variance": pv.tolist(), "null_class_index": 3}


class _Net(torch.nn.Module):
    """A deterministic nonlinear ε-network: depends on x, t and the class label."""

    num_classes = 3

    def forward(self, x, t, label=None):
        out = torch.tanh(x * 0.7 + t.to(torch.float32).view(-1, 1, 1, 1) * 0.01)
        if label is not None:
            out = out + label.to(torch.float32).view(-1, 1, 1, 1) * 0.05
        return out


def _noises(seed: int, steps: int):
    size = int(np.prod(SHAPE))
    x_T = normals(seed, INITIAL_NOISE_STREAM, size).reshape(SHAPE)
    return x_T, [normals(seed, step_noise_stream(k), size).reshape(SHAPE) for k in range(steps - 1)]


def _np_eps(net):
    def eps(x, t, label):
        args = [torch.from_numpy(x), torch.from_numpy(t)] + ([] if label is None else [torch.from_numpy(label)])
        with torch.no_grad():
            return net(*args).numpy()
    return eps


@pytest.mark.parametrize("num_steps", [T, 7, 2, 1])
def test_ddpm_matches_reference_bitwise(num_steps):
    sched, net = _schedule("ddpm"), _Net()
    x_T, zs = _noises(123, num_steps)
    want = ref.ddpm_sample(lambda x, t: net(x, t), sched, torch.from_numpy(x_T), [torch.from_numpy(z) for z in zs],
                           num_steps, clamp=False).numpy()
    got = sampler.sample_ddpm(_np_eps(net), sched, SHAPE, num_steps, 123, clamp=False)
    assert got.dtype == np.float32
    assert np.array_equal(got, want)


@pytest.mark.parametrize("num_steps,labels,w", [(T, [0, None], 2.5), (5, [1, 2], 0.0), (3, [None, None], 4.0),
                                                (4, [2, 0], -1.5)])
def test_cfg_matches_reference_bitwise(num_steps, labels, w):
    sched, net = _schedule("cfg"), _Net()
    x_T, zs = _noises(77, num_steps)
    want = ref.cfg_sample(lambda x, t, c: net(x, t, c), sched, torch.from_numpy(x_T), [torch.from_numpy(z) for z in zs],
                          labels, w, num_steps, null_class_index=3, clamp=False).numpy()
    calls = []

    def eps(x, t, label):
        calls.append(x.shape[0])
        return _np_eps(net)(x, t, label)

    got = sampler.sample_cfg(eps, sched, SHAPE, num_steps, 77, labels, 3, w, clamp=False)
    assert np.array_equal(got, want)
    conditional = w != 0 and any(lab is not None for lab in labels)
    assert calls == [2 * SHAPE[0] if conditional else SHAPE[0]] * num_steps  # one ε call per step


def test_strided_timesteps_match_reference():
    for total in (1, 2, 10, 50, 1000):
        for steps in sorted(s for s in {1, 2, 3, total // 2 or 1, total} if s <= total):
            assert sampler.strided_timesteps(total, steps) == ref.strided_timesteps(total, steps)


def test_metrics_window_is_bounded_and_counts_only_server_errors():
    import metrics

    rec = metrics.LatencyRecorder(window_s=60, slots=12)
    for i in range(5000):
        rec.record(1 + (i % 100), "ok" if i % 10 else "client_error")
    rec.record(5, "server_error")
    rec.record(5, "timeout")
    snap = rec.snapshot()
    assert snap["requests"] == 5002 and snap["window_requests"] == 5002
    assert snap["client_errors"] == 500 and snap["errors"] == 2 and snap["timeouts"] == 1
    assert snap["error_rate"] == pytest.approx(2 / 5002)
    assert 49 <= snap["p50_ms"] <= 51 and 94 <= snap["p95_ms"] <= 96 and snap["max_ms"] == 100
    assert len(rec._ring) == 12
    assert sum(len(b.hist) for _, b in rec._ring) <= 12 * 101  # sparse histograms, not a list of samples
    text = metrics.to_prometheus([(snap, {"scope": "endpoint"})], {"model": "m"})
    assert 'frameworm_requests_total{model="m",scope="endpoint"} 5002' in text


def test_codec_messages_match_typescript():
    import codec
    from errors import RequestError

    with pytest.raises(RequestError) as e:
        codec.decode_tensor("x", [[1, 2], [3]], "float32")
    assert e.value.message == "input 'x' is not a rectangular array: x[1] has 1 elements where x[0] has 2"
    with pytest.raises(RequestError) as e:
        codec.decode_tensor("x", [[1, True]], "float32")
    assert e.value.message == "input 'x' must contain float32 values: x[0][1] is true, not a number"
    with pytest.raises(RequestError) as e:
        codec.decode_tensor("t", [1.5], "int64")
    assert e.value.message == "input 't' must contain int64 values: t[0] is 1.5, not an integer"
    assert codec.decode_tensor("t", [3.0, 4], "int64").tolist() == [3, 4]
