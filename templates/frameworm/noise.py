"""Frameworm Deploy's specified noise generator (the Python twin of main/sampling/noise.ts).

A request with a ``seed`` must give the same output on every target (embedded TypeScript
runtime, container, swarm), so noise never comes from torch's, numpy's or JavaScript's own RNG
but from this algorithm, implemented identically in both languages (spec: main/sampling/NOISE.md).

Algorithm (all integer arithmetic mod 2^64)::

    fmix(z):     z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB;
                 z ^= z >> 31                      (SplitMix64's output finaliser)
    key:         K = fmix(seed) XOR fmix(stream + 0x632BE59BD9B4E019)
                 seed, stream: integers in [0, 2^53)
    word i:      w_i = fmix(K + (i + 1) * 0x9E3779B97F4A7C15)           (i = 0, 1, 2, ...)
    uniform i:   u_i = ((w_i >> 11) + 1) * 2^-53                         in (0, 1], float64
    normal pair: for k = 0, 1, ...:  r = sqrt(-2 * LN(u_2k)),  (c, s) = COSSIN(u_(2k+1))
                 (r, c, s approximate sqrt(-2 ln u_2k), cos and sin of 2*pi*u_(2k+1))
                 n_2k = r * c,  n_(2k+1) = r * s   in float64, then rounded to float32
                 (an odd count drops the last sine, so every output is a prefix of a longer one)
    LN, COSSIN:  fixed sequences of IEEE +, -, *, / (NOISE.md section 4), accurate to ~1 ulp.

Streams name the use, so that two uses never share numbers::

    stream 0       the initial state x_T of a diffusion sampler, or a GAN / VAE latent z
    stream k + 1   the noise added at reverse-loop iteration k (k = 0 is the first, t = T-1, step)

LN and COSSIN are not np.log/np.cos/np.sin: numpy's SIMD float64 kernels (which one runs depends
on the CPU) and V8's differ in the last bit for 20-60% of inputs, which flipped about one float32
normal in 10^8. IEEE +, -, *, / and sqrt are correctly rounded on every CPU, and numpy's
element-wise ufuncs never fuse them, so this fixed sequence gives the same bits as noise.ts.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

_MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
M1 = 0xBF58476D1CE4E5B9
M2 = 0x94D049BB133111EB
STREAM_OFFSET = 0x632BE59BD9B4E019
MAX_INT = (1 << 53) - 1
# Kernel constants (NOISE.md); each literal is the shortest repr of one float64, which Python and
# JavaScript parse to the same bits.
SQRT2 = 1.4142135623730951
LN2 = 0.6931471805599453
PI_2 = 1.5707963267948966
#: ln series coefficients 2/(2k+1), k = 0..10.
_LN_SERIES = (2.0, 0.6666666666666666, 0.4, 0.2857142857142857, 0.2222222222222222,
              0.18181818181818182, 0.15384615384615385, 0.13333333333333333,
              0.11764705882352941, 0.10526315789473684, 0.09523809523809523)
#: fdlibm k_sin.c S1..S6 and k_cos.c C1..C6.
_S = (-0.16666666666666632, 0.00833333333332249, -0.0001984126982985795,
      2.7557313707070068e-06, -2.5050760253406863e-08, 1.58969099521155e-10)
_C = (0.0416666666666666, -0.001388888888887411, 2.480158728947673e-05,
      -2.7557314351390663e-07, 2.087572321298175e-09, -1.1359647557788195e-11)

#: Stream of the initial diffusion state x_T (and of GAN / VAE latents).
INITIAL_NOISE_STREAM = 0

_U64 = np.uint64
#: Words are made in chunks, bounding the temporaries to a few MiB for any count.
_CHUNK = 1 << 18


def step_noise_stream(k: int) -> int:
    """Stream of the noise added at reverse-loop iteration ``k`` (0-based)."""
    return k + 1


def _fmix_int(z: int) -> int:
    z ^= z >> 30
    z = (z * M1) & _MASK64
    z ^= z >> 27
    z = (z * M2) & _MASK64
    return z ^ (z >> 31)


def _check_int(name: str, value: int, maximum: int) -> int:
    # bool is an int subclass; True as a seed is almost certainly a bug upstream.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer in [0, {maximum}], got {value!r}")
    if not 0 <= int(value) <= maximum:
        raise ValueError(f"{name} must be an integer in [0, {maximum}], got {value!r}")
    return int(value)


def stream_key(seed: int, stream: int) -> int:
    """The key K = fmix(seed) XOR fmix(stream + 0x632BE59BD9B4E019), validated."""
    seed = _check_int("seed", seed, MAX_INT)
    stream = _check_int("stream", stream, MAX_INT)
    return _fmix_int(seed) ^ _fmix_int((stream + STREAM_OFFSET) & _MASK64)


def _fmix_array(z: np.ndarray) -> np.ndarray:
    # numpy wraps uint64 array arithmetic mod 2^64 silently, which is exactly the spec.
    z ^= z >> _U64(30)
    z *= _U64(M1)
    z ^= z >> _U64(27)
    z *= _U64(M2)
    z ^= z >> _U64(31)
    return z


def _words(key: int, first: int, count: int) -> np.ndarray:
    """w_first ... w_(first+count-1) as uint64."""
    # (i + 1) * GAMMA mod 2^64 per element, then + K; both wrap in uint64.
    z = np.arange(first + 1, first + count + 1, dtype=np.uint64)
    z *= _U64(GAMMA)
    z += _U64(key)
    return _fmix_array(z)


def _to_uniform(w: np.ndarray) -> np.ndarray:
    # (w >> 11) + 1 <= 2^53 converts to float64 exactly; the scaling by 2^-53 is exact too.
    return ((w >> _U64(11)) + _U64(1)).astype(np.float64) * (2.0 ** -53)


def _check_count(count: int) -> int:
    return _check_int("count", count, 0x7FFFFFFF)


def raw_words(seed: int, stream: int, count: int) -> np.ndarray:
    """The raw 64-bit words w_0 ... w_(count-1) of (seed, stream), as uint64."""
    count = _check_count(count)
    key = stream_key(seed, stream)
    return np.concatenate([_words(key, f, min(_CHUNK, count - f)) for f in range(0, count, _CHUNK)]
                          or [np.zeros(0, dtype=np.uint64)])


def uniforms(seed: int, stream: int, count: int) -> np.ndarray:
    """Uniform variates u_0 ... u_(count-1) in (0, 1] of (seed, stream), as float64."""
    return _to_uniform(raw_words(seed, stream, count))


def _ln_of_count(count: np.ndarray) -> np.ndarray:
    """ln(N * 2^-53) for float64 integers 1 <= N <= 2^53, from IEEE +, -, *, / only.

    Not np.log: its SIMD kernels and V8's Math.log disagree in the last bit for ~20% of inputs,
    which after float32 rounding still left ~1 wrong normal in 10^8. Basic operations are
    correctly rounded on every CPU, so this exact sequence matches noise.ts bit for bit.
    """
    mant, exp = np.frexp(count)  # exact: count = mant * 2^exp, mant in [0.5, 1)
    m = mant * 2.0
    e = exp.astype(np.int64) - 1
    big = m > SQRT2
    m = np.where(big, m * 0.5, m)
    e = e + big
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    p = np.full_like(z, _LN_SERIES[-1])
    for c in _LN_SERIES[-2::-1]:  # Horner, innermost first, exactly as noise.ts nests it
        p = c + z * p
    return s * p + (e - 53).astype(np.float64) * LN2


def _cos_sin_turns(t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(cos, sin) of the angle t * pi/2, for t = 4*u exact; reduced in turns, where it is exact."""
    q = np.floor(t + 0.5)
    x = (t - q) * PI_2
    z = x * x
    sx = x + z * x * (_S[0] + z * (_S[1] + z * (_S[2] + z * (_S[3] + z * (_S[4] + z * _S[5])))))
    cx = 1.0 - (0.5 * z - z * (z * (_C[0] + z * (_C[1] + z * (_C[2] + z * (_C[3] + z * (
        _C[4] + z * _C[5])))))))
    quadrant = q.astype(np.int64) & 3
    odd = (quadrant & 1) == 1
    flip = np.where((quadrant & 2) == 2, -1.0, 1.0)  # multiplying by -1.0 is an exact negation
    return np.where(odd, -sx, cx) * flip, np.where(odd, cx, sx) * flip


def normals(seed: int, stream: int, count: int) -> np.ndarray:
    """Standard normals of (seed, stream) as float32: Box-Muller on word pairs (2k, 2k+1)."""
    count = _check_count(count)
    key = stream_key(seed, stream)
    out = np.empty(count, dtype=np.float32)
    for first in range(0, count, _CHUNK):  # _CHUNK is even, so pairs never straddle chunks
        n = min(_CHUNK, count - first)
        w = _words(key, first, n + (n & 1))
        counts = ((w >> _U64(11)) + _U64(1)).astype(np.float64)
        r = np.sqrt(-2.0 * _ln_of_count(counts[0::2]))
        cos_t, sin_t = _cos_sin_turns(counts[1::2] * (2.0 ** -53) * 4.0)
        pairs = np.empty(w.shape[0], dtype=np.float64)
        pairs[0::2] = r * cos_t
        pairs[1::2] = r * sin_t
        out[first:first + n] = pairs[:n]  # the float64 -> float32 cast rounds to nearest even
    return out


def gaussian_tensor(seed: int, stream: int, shape: Sequence[int]) -> np.ndarray:
    """A float32 array of the given shape filled row-major with normals(seed, stream, size)."""
    dims: Tuple[int, ...] = tuple(_check_int("dimension", d, 0x7FFFFFFF) for d in shape)
    size = int(np.prod(dims, dtype=np.int64)) if dims else 1
    return normals(seed, stream, size).reshape(dims)
