"""VAE: detection, strict loading of both checkpoint formats, golden parity, state-dict listing."""
from __future__ import annotations

import pytest
import torch

from conftest import (assert_matches_golden, assert_recovers_effective, checkpoint_path,
                      golden_inputs, listing_of, state_dict_listing, zeros_state_dict)
from frameworm.models import ARCHITECTURES, vae
from frameworm.safe_load import load_checkpoint


@pytest.fixture(scope="module")
def loaded() -> vae.VAE:
    sd, _ = load_checkpoint(checkpoint_path("vae"))
    model = vae.build(vae.detect(sd))
    model.load_state_dict(sd, strict=True)
    return model.eval()


@pytest.mark.parametrize("name", ["best.pt", "final.pt"])
def test_detect_recovers_config_from_both_formats(name: str) -> None:
    sd, meta = load_checkpoint(checkpoint_path("vae", name))
    matches = [a for a, m in ARCHITECTURES.items() if m.detect(sd) is not None]
    assert matches == ["vae"]
    hp = vae.detect(sd)
    assert_recovers_effective("vae", hp)
    assert "reconstruction_size" not in hp  # 32 is a multiple of 16: both sides agree
    vae.build(hp).load_state_dict(sd, strict=True)
    if name == "final.pt":
        assert meta["format"] == "state_dict+config"
        assert meta["config"]["model"]["latent_dim"] == hp["latent_dim"]


def test_golden_outputs(loaded: vae.VAE) -> None:
    x = golden_inputs("vae")["x"]
    with torch.no_grad():
        mu, logvar = loaded.encode(x)
        recon = loaded.decode(mu)
        exported = vae.export_spec(loaded, vae.detect(loaded.state_dict())).module(x)
    assert_matches_golden("vae", "mu", mu)
    assert_matches_golden("vae", "logvar", logvar)
    assert_matches_golden("vae", "recon", recon)
    # The export graph is the deterministic path: reconstruction = decode(mu).
    for got, want in zip(exported, (recon, mu, logvar)):
        assert torch.equal(got, want)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_state_dict_listing(index: int) -> None:
    entry = state_dict_listing("vae")[index]
    hp = vae.detect(zeros_state_dict(entry))
    assert hp["latent_dim"] == entry["config"]["latent_dim"]
    assert listing_of(vae.build(hp)) == entry["state_dict"]


def test_image_size_not_multiple_of_16_reconstructs_larger() -> None:
    """Upstream rounds the encoder down and the decoder up (compat README, "VAE image size")."""
    upstream_like = vae.VAE(latent_dim=4, image_size=32, reconstruction_size=48)
    hp = vae.detect(upstream_like.state_dict())
    assert hp["image_size"] == 32 and hp["reconstruction_size"] == 48
    model = vae.build(hp).eval()
    model.load_state_dict(upstream_like.state_dict(), strict=True)
    with torch.no_grad():
        recon, _, _ = model(torch.rand(1, 3, 40, 40))
    assert list(recon.shape) == [1, 3, 48, 48]


def test_export_spec_io_names(loaded: vae.VAE) -> None:
    spec = vae.export_spec(loaded, vae.detect(loaded.state_dict()))
    assert spec.input_names == ["x"]
    assert spec.output_names == ["reconstruction", "mu", "log_var"]
    assert list(spec.example_inputs[0].shape) == [2, 3, 32, 32]
