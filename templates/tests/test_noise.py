"""frameworm.noise: the specified generator shared with main/sampling/noise.ts.

The fast numpy paths are checked against a slow, obviously-correct Python-int implementation
and against golden constants that noise.test.ts pins too (the cross-language bit equality
itself is tested from vitest, which runs this module).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from frameworm import noise

MASK = (1 << 64) - 1


def slow_fmix(z: int) -> int:
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & MASK
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def slow_key(seed: int, stream: int) -> int:
    return slow_fmix(seed) ^ slow_fmix((stream + 0x632BE59BD9B4E019) & MASK)


def slow_word(key: int, i: int) -> int:
    return slow_fmix((key + (i + 1) * 0x9E3779B97F4A7C15) & MASK)


def slow_uniform(w: int) -> float:
    return ((w >> 11) + 1) * 2.0 ** -53


def slow_normals(seed: int, stream: int, count: int) -> np.ndarray:
    """Textbook Box-Muller with the math module's ln/cos/sin, rounded to float32."""
    key = slow_key(seed, stream)
    out = []
    for j in range(0, count, 2):
        r = math.sqrt(-2.0 * math.log(slow_uniform(slow_word(key, j))))
        theta = 2.0 * math.pi * slow_uniform(slow_word(key, j + 1))
        out += [r * math.cos(theta), r * math.sin(theta)]
    return np.array(out[:count], dtype=np.float32)


WORDS_SEED0_STREAM0 = [
    0xF5DD724FF3B8A536, 0x7C6EDE0099D1DAC1, 0x09F2C7599678A38E, 0x7F0826B1A0A9165D,
    0x1E6873C009DDF61B, 0x9E4B946C3B401171, 0x246FA77BDFFFF2DF, 0x3095542C19C75073,
]
NORMALS_SEED0_STREAM0 = [
    -0.28314635157585144, 0.024851715192198753, -2.547915458679199, 0.060555506497621536,
    -1.5193901062011719, -1.3972816467285156, 0.7294697761535645, 1.8349676132202148,
]
NORMALS_SEED42_STREAM1 = [1.5228688716888428, -0.39584484696388245, -1.262671947479248,
                          2.6345441341400146, 1.7818893194198608, -0.2613394856452942]
NORMALS_MAXSEED_STREAM1000 = [3.0145392417907715, 0.17387418448925018, 0.339059978723526,
                              2.0790016651153564]


def test_first_words_of_seed0_stream0_are_golden() -> None:
    assert [int(w) for w in noise.raw_words(0, 0, 8)] == WORDS_SEED0_STREAM0
    key = slow_key(0, 0)
    assert [slow_word(key, i) for i in range(8)] == WORDS_SEED0_STREAM0


@pytest.mark.parametrize("seed,stream", [(0, 0), (1, 0), (0, 1), (12345, 7),
                                         (2**32 - 1, 2**32), (2**53 - 1, 2**53 - 1)])
def test_fast_words_and_uniforms_match_python_ints(seed: int, stream: int) -> None:
    count = (1 << 18) + 3  # crosses the chunk boundary
    words = noise.raw_words(seed, stream, count)
    key = slow_key(seed, stream)
    assert noise.stream_key(seed, stream) == key
    for i in list(range(2000)) + list(range(count - 2000, count)):
        assert int(words[i]) == slow_word(key, i)
    u = noise.uniforms(seed, stream, 3000)
    assert [float(v) for v in u] == [slow_uniform(slow_word(key, i)) for i in range(3000)]


def test_normals_are_golden() -> None:
    assert noise.normals(0, 0, 8).tolist() == NORMALS_SEED0_STREAM0
    assert noise.normals(42, 1, 6).tolist() == NORMALS_SEED42_STREAM1
    assert noise.normals(2**53 - 1, 1000, 4).tolist() == NORMALS_MAXSEED_STREAM1000


def test_normals_match_textbook_box_muller_within_one_float32_ulp() -> None:
    fast = noise.normals(77, 5, 100_000)
    slow = slow_normals(77, 5, 100_000)
    differ = fast != slow
    assert differ.sum() < 5
    assert np.all(np.abs(fast[differ] - slow[differ]) <= np.spacing(np.abs(slow[differ])))


def test_ln_and_sincos_kernels_are_accurate_to_float64_ulps() -> None:
    counts = noise._words(12345, 0, 200_000)
    counts = ((counts >> np.uint64(11)) + np.uint64(1)).astype(np.float64)
    counts[:3] = [1.0, 2.0**53, 2.0**52 + 1]  # the extremes: u = 2^-53, u = 1, u just over 1/2
    u = counts * 2.0**-53
    ours = noise._ln_of_count(counts)
    ref = np.array([math.log(v) for v in u])
    assert ours[1] == 0.0
    assert np.max(np.abs(ours - ref)) <= 4 * np.spacing(np.abs(ref).max())
    cos_t, sin_t = noise._cos_sin_turns(u * 4.0)
    theta = 2.0 * math.pi * u
    assert np.max(np.abs(cos_t - np.cos(theta))) < 1e-15
    assert np.max(np.abs(sin_t - np.sin(theta))) < 1e-15


def test_outputs_are_prefixes_and_tensors_are_row_major() -> None:
    long = noise.normals(5, 2, (1 << 18) + 7)
    for n in (0, 1, 7, 2048, 2049, (1 << 18) + 1):
        assert np.array_equal(noise.normals(5, 2, n), long[:n])
    t = noise.gaussian_tensor(3, noise.step_noise_stream(4), (2, 3, 4, 5))
    assert t.dtype == np.float32 and t.shape == (2, 3, 4, 5)
    assert np.array_equal(t.reshape(-1), noise.normals(3, 5, 120))


def test_distribution_over_one_million() -> None:
    x = noise.normals(2024, 0, 1_000_000).astype(np.float64)
    assert abs(x.mean()) < 0.005
    assert abs(x.std() - 1.0) < 0.004
    assert abs((x**3).mean()) < 0.015
    assert abs((x**4).mean() - 3.0) < 0.05
    assert abs((np.abs(x) > 3).mean() - 0.0026998) < 0.0003
    u = noise.uniforms(11, 0, 1_000_000)
    assert u.min() > 0.0 and u.max() <= 1.0
    assert abs(u.mean() - 0.5) < 0.002


@pytest.mark.parametrize("bad", [-1, 2**53, 1.5, True, "1"])
def test_rejects_bad_seeds_and_streams(bad: object) -> None:
    with pytest.raises(ValueError):
        noise.normals(bad, 0, 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        noise.normals(0, bad, 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        noise.normals(0, 0, -1)


def test_numpy_integer_seeds_are_accepted() -> None:
    assert np.array_equal(noise.normals(np.int64(7), np.uint8(1), 5), noise.normals(7, 1, 5))
