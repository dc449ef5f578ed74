"""Reference reverse-diffusion samplers for FRAMEWORM's DDPM and CFG-DDPM.

Deployed diffusion models export only the ε-network; the reverse loop runs on the host (the
TypeScript sampler). This module is the executable specification that loop is tested against:
every per-step noise tensor comes from outside (``noises``), so another implementation fed the
same ``x_T`` and noise sequence must produce the same images.

Notation: T = number of training timesteps; ᾱ = ``alphas_cumprod``; β = ``betas``; ε = the
network output; z = ``noises[i]``. Schedule values are the float32 buffers read from the
checkpoint (``frameworm.models.<arch>.schedule``), never recomputed.

Arithmetic: every tensor and every scalar coefficient is float32 and each operation below is
rounded to float32 in the order written, parentheses included (given the same ε, a JavaScript
port gets the identical result by wrapping each +, −, ×, ÷, √ in ``Math.fround``). That is also
upstream's arithmetic and operation order, so the full-T path reproduces FRAMEWORM's samplers
bit for bit given the same ε and z. (Upstream DDPM reads √(1−ᾱ_t) from its
``sqrt_one_minus_alphas_cumprod`` buffer; recomputing it in float32 gives the same bits, which
the tests check on the compat checkpoint.)

Timesteps
---------
``num_steps`` S = None or T: every timestep T−1, T−2, …, 0 (upstream's loop).
``1 < S < T``: τ_i = round_half_up((T−1)·(S−1−i)/(S−1)) for i = 0…S−1, computed exactly in
integers as τ_i = (2·(T−1)·(S−1−i) + (S−1)) // (2·(S−1)), so τ_0 = T−1 > τ_1 > … > τ_{S−1} = 0.
``S = 1``: the single step τ_0 = T−1 straight to x_0.

DDPM step at t = τ_i (output x' ← input x)
------------------------------------------
Full path (S = T), upstream ``DDPM.p_sample``:
    c1 = 1 / √(1 − β_t)
    s  = √(1 − ᾱ_t)
    mean = c1 · (x − (β_t · ε) / s)
    σ  = √posterior_variance_t            (stored buffer = β_t(1−ᾱ_{t−1})/(1−ᾱ_t))
Strided path (S < T), with p = τ_{i+1} and ᾱ_p = 1 on the last step:
    α_eff = ᾱ_t / ᾱ_p;  β_eff = 1 − α_eff
    c1 = 1 / √α_eff;  s = √(1 − ᾱ_t)
    mean = c1 · (x − (β_eff · ε) / s)
    σ  = √((β_eff · (1 − ᾱ_p)) / (1 − ᾱ_t))
Then x' = mean + σ · z on every step but the last, and x' = mean on the last (t = 0).

CFG-DDPM step at t = τ_i
------------------------
Guided noise, for EVERY guidance scale w (w rounded to float32) and per-sample labels:
    ε = ε_u + w · (ε_c − ε_u)
where ε_c = net(x, t, labels), ε_u = net(x, t, [null]·B) and a label of None means the null class
(index num_classes). When every label is null only ε_u is computed (ε_c − ε_u would be 0, so
the result is bitwise the same). Upstream's sampler guides only when w > 1 and, for w ≤ 1,
treats label 0 as unconditional (a truthiness bug); that is deliberately NOT reproduced.
Full path (S = T), upstream ``CFGDDPM.sample``:
    c1 = 1 / √α_t          (α = the stored ``alphas`` buffer, = 1 − β_t in float32)
    c2 = β_t / √(1 − ᾱ_t)
    mean = c1 · (x − c2 · ε)
    σ  = √β_t
Strided path (S < T), with α_eff, β_eff as above:
    c1 = 1 / √α_eff;  c2 = β_eff / √(1 − ᾱ_t);  mean = c1 · (x − c2 · ε);  σ = √β_eff
Then x' = mean + σ · z except on the last step (x' = mean).

Both samplers clamp only once, after the last step: images = clamp(x, −1, 1) (upstream clamps
the final sample, not the intermediate states).

Noise sequence: ``noises[i]`` (shape of x_T) is used at step i for i = 0…S−2. A list of length
S−1 is canonical; length S is accepted and its last entry ignored (no noise at t = 0).

CLI (used by the TypeScript tests)::

    python3 -m frameworm.diffusion_reference --checkpoint best.pt --noise-json noise.json

reads ``{x_T, noises, class_labels, guidance_scale, num_steps}`` (tensors as ``{shape, data}``
with flat row-major data, or nested lists; class_labels (default all unconditional),
guidance_scale (default 1.0), num_steps (default T) and ``clamp`` (default true) are optional)
and prints ``{arch, timesteps, images: {shape, dtype, data}}`` as JSON, each float the exact
float32 value.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import (Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import torch

TensorLike = Union[torch.Tensor, Sequence[float]]
#: ddpm: ``model(x_t, t) -> eps``; cfg: ``model(x_t, t, class_label) -> eps``. A tuple output
#: (an export graph) is accepted: its first element is ε.
EpsModel = Callable[..., Any]
Label = Optional[int]


def strided_timesteps(timesteps: int, num_steps: Optional[int] = None) -> List[int]:
    """The timesteps visited, from T−1 down to 0 (see the module docstring for the formula)."""
    total = int(timesteps)
    steps = total if num_steps is None else int(num_steps)
    if total < 1:
        raise ValueError(f"timesteps must be ≥ 1, got {total}")
    if not 1 <= steps <= total:
        raise ValueError(f"num_steps must be in [1, {total}], got {steps}")
    if steps == total:
        return list(range(total - 1, -1, -1))
    if steps == 1:
        return [total - 1]
    span = steps - 1
    # round_half_up((T−1)·(S−1−i)/(S−1)) in exact integer arithmetic (no float ties to break).
    return [(2 * (total - 1) * (span - i) + span) // (2 * span) for i in range(steps)]


def _f32(values: Any) -> torch.Tensor:
    return torch.as_tensor(values).detach().to(torch.float32).reshape(-1)


def _scalar(value: Any) -> torch.Tensor:
    """A 0-d float32 tensor, so every coefficient op below rounds to float32 like upstream."""
    return torch.as_tensor(value, dtype=torch.float32).reshape(())


def _eps(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def _check_noises(noises: Sequence[TensorLike], n_steps: int, like: torch.Tensor
                  ) -> List[torch.Tensor]:
    needed = n_steps - 1
    if len(noises) not in (needed, n_steps):
        raise ValueError(f"expected {needed} noise tensors (or {n_steps}, last ignored) for "
                         f"{n_steps} steps, got {len(noises)}")
    out = []
    for i, z in enumerate(noises[:needed]):
        zt = torch.as_tensor(z, dtype=torch.float32)
        if tuple(zt.shape) != tuple(like.shape):
            raise ValueError(f"noises[{i}] has shape {tuple(zt.shape)}, "
                             f"expected {tuple(like.shape)}")
        out.append(zt)
    return out


class _Step(NamedTuple):
    """Scalar float32 terms of one reverse step (module docstring)."""

    c1: torch.Tensor  # 1/√α_t (full) or 1/√α_eff (strided)
    beta: torch.Tensor  # β_t or β_eff
    s: torch.Tensor  # √(1 − ᾱ_t)
    sigma: torch.Tensor  # noise scale (unused on the last step)


def _step_terms(kind: str, sched: Mapping[str, torch.Tensor], t: int, prev: Optional[int],
                full: bool) -> _Step:
    """Coefficients for the step at ``t``. ``prev`` is the next timestep visited (None on the
    last step, where ᾱ_p = 1); ``full`` selects upstream's per-timestep formulas."""
    one = _scalar(1.0)
    ac_t = sched["alphas_cumprod"][t]
    s = torch.sqrt(one - ac_t)
    if full:
        beta = sched["betas"][t]
        if kind == "ddpm":
            # upstream DDPM: α_t is recomputed as 1 − β_t; σ² is the stored posterior variance
            return _Step(one / torch.sqrt(one - beta), beta, s,
                         torch.sqrt(sched["posterior_variance"][t]))
        # upstream CFG: α_t is the stored `alphas` buffer; σ² = β_t
        return _Step(one / torch.sqrt(sched["alphas"][t]), beta, s, torch.sqrt(beta))
    ac_p = sched["alphas_cumprod"][prev] if prev is not None else one
    alpha_eff = ac_t / ac_p
    beta_eff = one - alpha_eff
    if kind == "ddpm":
        sigma = torch.sqrt((beta_eff * (one - ac_p)) / (one - ac_t))
    else:
        sigma = torch.sqrt(beta_eff)
    return _Step(one / torch.sqrt(alpha_eff), beta_eff, s, sigma)


def _prepare_schedule(schedule: Mapping[str, Any], keys: Sequence[str]
                      ) -> Dict[str, torch.Tensor]:
    missing = [k for k in keys if k not in schedule]
    if missing:
        raise KeyError(f"schedule lacks {missing}")
    return {k: _f32(schedule[k]) for k in keys}


def _run(kind: str, eps_fn: Callable[[torch.Tensor, int], torch.Tensor],
         sched: Mapping[str, torch.Tensor], x_T: TensorLike, noises: Sequence[TensorLike],
         num_steps: Optional[int], clamp: bool) -> torch.Tensor:
    total = int(sched["betas"].shape[0])
    taus = strided_timesteps(total, num_steps)
    full = len(taus) == total
    x = torch.as_tensor(x_T, dtype=torch.float32).clone()
    zs = _check_noises(noises, len(taus), x)
    for i, t in enumerate(taus):
        last = i == len(taus) - 1
        prev = None if last else taus[i + 1]
        st = _step_terms(kind, sched, t, prev, full)
        eps = eps_fn(x, t).to(torch.float32)
        if kind == "ddpm":
            mean = st.c1 * (x - (st.beta * eps) / st.s)  # upstream DDPM's operation order
        else:
            mean = st.c1 * (x - (st.beta / st.s) * eps)  # upstream CFG's: c2 = β/√(1−ᾱ_t) first
        x = mean if last else mean + st.sigma * zs[i]
    return torch.clamp(x, -1.0, 1.0) if clamp else x


@torch.no_grad()
def ddpm_sample(model: EpsModel, schedule: Mapping[str, Any], x_T: TensorLike,
                noises: Sequence[TensorLike], num_steps: Optional[int] = None, *,
                clamp: bool = True) -> torch.Tensor:
    """DDPM ancestral sampling from ``x_T`` with externally supplied noise.

    ``schedule`` needs ``betas``, ``alphas_cumprod`` and ``posterior_variance`` (as returned by
    ``frameworm.models.ddpm.schedule``, or the checkpoint's tensors). Returns the images
    clamped to [−1, 1]; ``clamp=False`` returns the raw final state instead (diagnostics and
    tight parity tests only — upstream always clamps). Formulas: module docstring.
    """
    sched = _prepare_schedule(schedule, ("betas", "alphas_cumprod", "posterior_variance"))

    def eps_fn(x: torch.Tensor, t: int) -> torch.Tensor:
        tt = torch.full((x.shape[0],), t, dtype=torch.int64)
        return _eps(model(x, tt))

    return _run("ddpm", eps_fn, sched, x_T, noises, num_steps, clamp)


def _labels(class_labels: Union[None, int, Sequence[Label]], batch: int, null: int
            ) -> torch.Tensor:
    if class_labels is None or isinstance(class_labels, int):
        labels: List[Label] = [class_labels] * batch
    else:
        labels = list(class_labels)
    if len(labels) != batch:
        raise ValueError(f"{len(labels)} class labels for a batch of {batch}")
    out = [null if lab is None else int(lab) for lab in labels]
    bad = [lab for lab in out if not 0 <= lab <= null]
    if bad:
        raise ValueError(f"class labels must be in [0, {null}] ({null} = unconditional): {bad}")
    return torch.tensor(out, dtype=torch.int64)


@torch.no_grad()
def cfg_sample(model: EpsModel, schedule: Mapping[str, Any], x_T: TensorLike,
               noises: Sequence[TensorLike], class_labels: Union[None, int, Sequence[Label]],
               guidance_scale: float, num_steps: Optional[int] = None, *,
               null_class_index: Optional[int] = None, clamp: bool = True) -> torch.Tensor:
    """Classifier-free guided sampling with externally supplied noise.

    ``class_labels``: one per sample (None = unconditional), a single int/None for all.
    The null index comes from ``null_class_index``, else ``schedule["null_class_index"]``, else
    ``model.num_classes``. ``schedule`` needs ``betas``, ``alphas`` and ``alphas_cumprod``.
    Returns the images clamped to [−1, 1] (``clamp=False``: the raw final state, for
    diagnostics and tight parity tests only). Formulas: module docstring.
    """
    sched = _prepare_schedule(schedule, ("betas", "alphas", "alphas_cumprod"))
    null = null_class_index
    if null is None:
        null = schedule.get("null_class_index")
    if null is None:
        null = getattr(model, "num_classes", None)
    if null is None:
        raise ValueError("null_class_index is unknown: pass it or use schedule() output")
    null = int(null)
    batch = int(torch.as_tensor(x_T).shape[0])
    labels = _labels(class_labels, batch, null)
    null_labels = torch.full((batch,), null, dtype=torch.int64)
    w = _scalar(guidance_scale)
    all_null = bool((labels == null).all())

    def eps_fn(x: torch.Tensor, t: int) -> torch.Tensor:
        tt = torch.full((x.shape[0],), t, dtype=torch.int64)
        eps_u = _eps(model(x, tt, null_labels)).to(torch.float32)
        if all_null:
            return eps_u  # == eps_u + w·0, bitwise
        eps_c = _eps(model(x, tt, labels)).to(torch.float32)
        return eps_u + w * (eps_c - eps_u)

    return _run("cfg", eps_fn, sched, x_T, noises, num_steps, clamp)


# ----------------------------------------------------------------------------------------- CLI

def _tensor_from_json(value: Any) -> torch.Tensor:
    if isinstance(value, dict):
        return torch.tensor(value["data"], dtype=torch.float32).reshape(value["shape"])
    return torch.tensor(value, dtype=torch.float32)


def _load_model(checkpoint: str) -> Tuple[str, torch.nn.Module, Dict[str, Any], Dict[str, Any]]:
    """Detects and builds the model through the product's safe loader (no pickle execution)."""
    from frameworm.models import cfg_ddpm, ddpm  # noqa: deferred: keeps the samplers torch-only
    from frameworm.safe_load import load_checkpoint

    state_dict, _meta = load_checkpoint(checkpoint)
    for name, arch in (("ddpm", ddpm), ("cfg_ddpm", cfg_ddpm)):
        hp = arch.detect(state_dict)
        if hp is not None:
            model = arch.build(hp)
            model.load_state_dict(state_dict, strict=True)
            model.eval()
            return name, model, hp, arch.schedule(state_dict, hp)
    raise SystemExit(f"{checkpoint}: not a FRAMEWORM ddpm or cfg_ddpm checkpoint")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m frameworm.diffusion_reference",
        description="Run the reference reverse diffusion with a given noise sequence and print "
                    "the final images as JSON.")
    parser.add_argument("--checkpoint", required=True, help="FRAMEWORM ddpm/cfg_ddpm .pt file")
    parser.add_argument("--noise-json", required=True,
                        help="JSON {x_T, noises, class_labels, guidance_scale, num_steps}")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # README: goldens and parity are defined at 1 intra-op thread
    with open(args.noise_json, "r", encoding="utf-8") as fh:
        spec = json.load(fh)
    arch, model, hp, sched = _load_model(args.checkpoint)

    x_T = _tensor_from_json(spec["x_T"])
    multiple = int(hp.get("spatial_multiple", 1))
    if x_T.dim() != 4 or x_T.shape[2] % multiple or x_T.shape[3] % multiple:
        raise SystemExit(f"x_T must be [B,C,H,W] with H, W multiples of {multiple}; "
                         f"got {list(x_T.shape)}")
    noises = [_tensor_from_json(z) for z in spec.get("noises", [])]
    num_steps = spec.get("num_steps")
    clamp = bool(spec.get("clamp", True))
    if arch == "ddpm":
        images = ddpm_sample(model, sched, x_T, noises, num_steps, clamp=clamp)
    else:
        images = cfg_sample(model, sched, x_T, noises, spec.get("class_labels"),
                            float(spec.get("guidance_scale", 1.0)), num_steps, clamp=clamp)
    out = {
        "arch": arch,
        "timesteps": strided_timesteps(int(sched["timesteps"]), num_steps),
        "images": {"shape": list(images.shape), "dtype": "float32",
                   "data": [float(v) for v in images.reshape(-1).tolist()]},
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
