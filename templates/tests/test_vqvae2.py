"""VQ-VAE-2: detection, strict loading, golden recon/losses/indices, per-sample loss, sizes."""
from __future__ import annotations

import pytest
import torch

from conftest import (assert_matches_golden, assert_recovers_effective, checkpoint_path,
                      golden_inputs, listing_of, state_dict_listing, zeros_state_dict)
from frameworm.models import ARCHITECTURES, vqvae2
from frameworm.safe_load import load_checkpoint


@pytest.fixture(scope="module")
def loaded() -> vqvae2.VQVAE2:
    sd, _ = load_checkpoint(checkpoint_path("vqvae2"))
    model = vqvae2.build(vqvae2.detect(sd))
    model.load_state_dict(sd, strict=True)
    return model.eval()


def test_detect_recovers_config() -> None:
    sd, _ = load_checkpoint(checkpoint_path("vqvae2"))
    assert [a for a, m in ARCHITECTURES.items() if m.detect(sd) is not None] == ["vqvae2"]
    assert_recovers_effective("vqvae2", vqvae2.detect(sd))


def test_golden_outputs(loaded: vqvae2.VQVAE2) -> None:
    x = golden_inputs("vqvae2")["x"]
    with torch.no_grad():
        out = loaded(x)
    for name in ("recon", "recon_loss", "vq_loss", "loss", "indices_top", "indices_bottom"):
        assert_matches_golden("vqvae2", name, out[name])


def test_exported_commitment_loss_is_per_sample(loaded: vqvae2.VQVAE2) -> None:
    """commitment_loss [B]: its batch mean is FRAMEWORM's scalar vq_loss, and each entry is
    what that sample alone would give."""
    x = golden_inputs("vqvae2")["x"]
    spec = vqvae2.export_spec(loaded, vqvae2.detect(loaded.state_dict()))
    with torch.no_grad():
        recon, per_sample = spec.module(x)
        alone = [spec.module(x[i:i + 1])[1] for i in range(x.shape[0])]
    assert list(per_sample.shape) == [2]
    assert_matches_golden("vqvae2", "recon", recon)
    assert_matches_golden("vqvae2", "vq_loss", per_sample.mean())
    for i, single in enumerate(alone):
        assert abs(single.item() - per_sample[i].item()) < 1e-6


@pytest.mark.parametrize("height,width", [(48, 40), (24, 24), (16, 16)])
def test_other_image_sizes(loaded: vqvae2.VQVAE2, height: int, width: int) -> None:
    """Fully convolutional: the reconstruction comes back at the input size; grids whose top
    upsampling does not match the bottom grid are nearest-resized (24 → top 1×1 → 4 vs 6)."""
    with torch.no_grad():
        out = loaded(torch.rand(1, 3, height, width) * 2 - 1)
    assert list(out["recon"].shape) == [1, 3, height, width]
    assert bool(torch.isfinite(out["vq_loss_per_sample"]).all())


@pytest.mark.parametrize("index", [0, 1, 2])
def test_state_dict_listing(index: int) -> None:
    entry = state_dict_listing("vqvae2")[index]
    hp = vqvae2.detect(zeros_state_dict(entry))
    for key, value in entry["config"].items():
        assert hp[key] == value, key
    assert listing_of(vqvae2.build(hp)) == entry["state_dict"]


@pytest.mark.parametrize("size_in,size_out", [((60, 60), (32, 32)), ((92, 76), (48, 40)),
                                              ((188, 188), (96, 96)), ((4, 4), (6, 6)),
                                              ((1, 1), (4, 4)), ((8, 8), (8, 8))])
def test_resizes_match_torch_interpolate(size_in: tuple, size_out: tuple) -> None:
    """The gather-based resizes (exported instead of ONNX Resize) compute F.interpolate."""
    x = torch.tanh(torch.randn(2, 3, *size_in, generator=torch.Generator().manual_seed(1)) * 2)
    bilinear = torch.nn.functional.interpolate(x, size=size_out, mode="bilinear", align_corners=False)
    nearest = torch.nn.functional.interpolate(x, size=size_out, mode="nearest")
    assert (vqvae2.resize_bilinear(x, *size_out) - bilinear).abs().max() <= 5e-7
    assert torch.equal(vqvae2.resize_nearest(x, *size_out), nearest)
