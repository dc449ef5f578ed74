"""DCGAN: detection, strict loading (discriminator included), golden parity, listings."""
from __future__ import annotations

import pytest
import torch

from conftest import (assert_matches_golden, assert_recovers_effective, checkpoint_path,
                      golden_inputs, listing_of, state_dict_listing, zeros_state_dict)
from frameworm.models import ARCHITECTURES, dcgan
from frameworm.safe_load import load_checkpoint


@pytest.fixture(scope="module")
def loaded() -> dcgan.DCGAN:
    sd, _ = load_checkpoint(checkpoint_path("dcgan"))
    model = dcgan.build(dcgan.detect(sd))
    model.load_state_dict(sd, strict=True)
    return model.eval()


@pytest.mark.parametrize("name", ["best.pt", "final.pt"])
def test_detect_recovers_config_from_both_formats(name: str) -> None:
    sd, meta = load_checkpoint(checkpoint_path("dcgan", name))
    assert [a for a, m in ARCHITECTURES.items() if m.detect(sd) is not None] == ["dcgan"]
    hp = dcgan.detect(sd)
    assert_recovers_effective("dcgan", hp)
    dcgan.build(hp).load_state_dict(sd, strict=True)
    if name == "final.pt":
        cfg = meta["config"]["model"]
        assert cfg["type"] == "dcgan"
        assert {k: hp[k] for k in ("latent_dim", "ngf", "ndf", "channels")} == {
            k: cfg[k] for k in ("latent_dim", "ngf", "ndf", "channels")}


def test_golden_image(loaded: dcgan.DCGAN) -> None:
    z = golden_inputs("dcgan")["z"]
    with torch.no_grad():
        image = loaded.generator(z.view(z.shape[0], -1, 1, 1))
        exported = dcgan.export_spec(loaded, dcgan.detect(loaded.state_dict())).module(z)
    assert_matches_golden("dcgan", "image", image)
    assert torch.equal(exported, image)  # the graph takes 2-D z and reshapes it itself


@pytest.mark.parametrize("index", [0, 1, 2])
def test_state_dict_listing(index: int) -> None:
    entry = state_dict_listing("dcgan")[index]
    hp = dcgan.detect(zeros_state_dict(entry))
    for key, value in entry["config"].items():
        assert hp[key] == value
    assert listing_of(dcgan.build(hp)) == entry["state_dict"]


@pytest.mark.parametrize("size,n_tensors", [(32, 39), (64, 45), (128, 51)])
def test_discriminator_image_size_round_trips(size: int, n_tensors: int) -> None:
    """Discriminator depth follows its image size: 25 + 2 + 6n tensors, size 2^(n+3)."""
    sd = dcgan.DCGAN(latent_dim=10, ngf=4, ndf=4, channels=1, discriminator_image_size=size).state_dict()
    assert len(sd) == n_tensors
    hp = dcgan.detect(sd)
    assert hp["discriminator_image_size"] == size
    dcgan.build(hp).load_state_dict(sd, strict=True)


def test_image_is_64_whatever_the_config(loaded: dcgan.DCGAN) -> None:
    with torch.no_grad():
        out = loaded(torch.randn(3, 32))
    assert list(out.shape) == [3, 3, 64, 64]
    assert float(out.abs().max()) <= 1.0
