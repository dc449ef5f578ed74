"""Host-side reverse diffusion around the exported ε-network, in numpy float32.

The formulas and float32 operation order are those of frameworm/diffusion_reference.py (the
executable specification, which needs torch) and main/sampling/reverse-step.ts; this module
needs only numpy so an onnxruntime server runs without torch. The tests check it against
diffusion_reference bit for bit. Noise: frameworm.noise, drawn as the TypeScript sampler does
(x_T from stream 0, the noise added at loop iteration k from step_noise_stream(k)).
"""
from __future__ import annotations

from typing import Callable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from frameworm.noise import INITIAL_NOISE_STREAM, normals, step_noise_stream

F = np.float32
#: ε(x [N,C,H,W] float32, t [N] int64, class_label [N] int64 or None) -> ε [N,C,H,W]
EpsFn = Callable[[np.ndarray, np.ndarray, Optional[np.ndarray]], np.ndarray]


class SamplerInputError(ValueError):
    pass


def strided_timesteps(total: int, num_steps: Optional[int] = None) -> List[int]:
    """Same as diffusion_reference.strided_timesteps (exact integer arithmetic)."""
    steps = total if num_steps is None else int(num_steps)
    if total < 1:
        raise SamplerInputError(f"the schedule must have at least 1 timestep, got {total}")
    if not 1 <= steps <= total:
        raise SamplerInputError(f"num_steps must be an integer in [1, {total}], got {steps}")
    if steps == total:
        return list(range(total - 1, -1, -1))
    if steps == 1:
        return [total - 1]
    span = steps - 1
    return [(2 * (total - 1) * (span - i) + span) // (2 * span) for i in range(steps)]


class StepTerms(NamedTuple):
    c1: np.float32
    beta: np.float32
    s: np.float32
    sigma: np.float32


def step_terms(kind: str, sched: Mapping[str, np.ndarray], t: int, prev: Optional[int],
               full: bool) -> StepTerms:
    """diffusion_reference._step_terms with numpy float32 scalars (each op rounds to float32)."""
    one = F(1.0)
    ac_t = sched["alphas_cumprod"][t]
    s = np.sqrt(one - ac_t)
    if full:
        beta = sched["betas"][t]
        if kind == "ddpm":
            return StepTerms(one / np.sqrt(one - beta), beta, s, np.sqrt(sched["posterior_variance"][t]))
        return StepTerms(one / np.sqrt(sched["alphas"][t]), beta, s, np.sqrt(beta))
    ac_p = sched["alphas_cumprod"][prev] if prev is not None else one
    alpha_eff = ac_t / ac_p
    beta_eff = one - alpha_eff
    if kind == "ddpm":
        sigma = np.sqrt((beta_eff * (one - ac_p)) / (one - ac_t))
    else:
        sigma = np.sqrt(beta_eff)
    return StepTerms(one / np.sqrt(alpha_eff), beta_eff, s, sigma)


def _schedule(schedule: Mapping[str, Sequence[float]], keys: Sequence[str]) -> dict:
    out = {}
    for k in keys:
        v = schedule.get(k)
        if not isinstance(v, list) or not v:
            raise RuntimeError(f"the export manifest has no '{k}' schedule; re-export the checkpoint")
        out[k] = np.asarray(v, dtype=np.float64).astype(np.float32)
    return out


def _run(kind: str, sched: Mapping[str, np.ndarray], shape: Tuple[int, int, int, int],
         num_steps: Optional[int], seed: int, eps_at: Callable[[np.ndarray, int], np.ndarray],
         clamp: bool = True) -> np.ndarray:
    total = int(sched["betas"].shape[0])
    taus = strided_timesteps(total, num_steps)
    full = len(taus) == total
    size = int(np.prod(shape))
    x = normals(seed, INITIAL_NOISE_STREAM, size).reshape(shape)
    for k, t in enumerate(taus):
        last = k == len(taus) - 1
        st = step_terms(kind, sched, t, None if last else taus[k + 1], full)
        eps = np.asarray(eps_at(x, t), dtype=np.float32).reshape(shape)
        if kind == "ddpm":
            mean = st.c1 * (x - (st.beta * eps) / st.s)
        else:
            mean = st.c1 * (x - (st.beta / st.s) * eps)
        if last:
            x = mean.astype(np.float32)
        else:
            z = normals(seed, step_noise_stream(k), size).reshape(shape)
            x = (mean + st.sigma * z).astype(np.float32)
    return np.clip(x, F(-1.0), F(1.0)) if clamp else x


def sample_ddpm(eps: EpsFn, schedule: Mapping[str, Sequence[float]], shape: Tuple[int, int, int, int],
                num_steps: Optional[int], seed: int, clamp: bool = True) -> np.ndarray:
    sched = _schedule(schedule, ("betas", "alphas_cumprod", "posterior_variance"))
    batch = shape[0]

    def eps_at(x: np.ndarray, t: int) -> np.ndarray:
        return eps(x, np.full((batch,), t, dtype=np.int64), None)

    return _run("ddpm", sched, shape, num_steps, seed, eps_at, clamp)


def sample_cfg(eps: EpsFn, schedule: Mapping[str, Sequence[float]], shape: Tuple[int, int, int, int],
               num_steps: Optional[int], seed: int, class_labels: Sequence[Optional[int]],
               num_classes: int, guidance_scale: float, clamp: bool = True) -> np.ndarray:
    """One ε call of batch 2B per step (conditional half first); batch B of the null class
    when w = 0 or every label is null — as main/sampling/diffusion-sampler.ts."""
    sched = _schedule(schedule, ("betas", "alphas", "alphas_cumprod"))
    batch = shape[0]
    labels = np.array([num_classes if lab is None else int(lab) for lab in class_labels], dtype=np.int64)
    null = np.full((batch,), num_classes, dtype=np.int64)
    w = F(guidance_scale)
    conditional = w != 0 and bool((labels != num_classes).any())
    if not conditional:
        def eps_u(x: np.ndarray, t: int) -> np.ndarray:
            return eps(x, np.full((batch,), t, dtype=np.int64), null)
        return _run("cfg", sched, shape, num_steps, seed, eps_u, clamp)
    pair = np.concatenate([labels, null])

    def guided(x: np.ndarray, t: int) -> np.ndarray:
        out = np.asarray(eps(np.concatenate([x, x]), np.full((2 * batch,), t, dtype=np.int64), pair),
                         dtype=np.float32)
        e_c, e_u = out[:batch], out[batch:]
        return e_u + w * (e_c - e_u)

    return _run("cfg", sched, shape, num_steps, seed, guided, clamp)
