"""ViT-GAN: detection, strict loading (ViT discriminator included), golden parity, listings."""
from __future__ import annotations

import pytest
import torch

from conftest import (assert_matches_golden, assert_recovers_effective, checkpoint_path,
                      golden_inputs, listing_of, state_dict_listing, zeros_state_dict)
from frameworm.models import ARCHITECTURES, vitgan
from frameworm.safe_load import load_checkpoint


@pytest.fixture(scope="module")
def loaded() -> vitgan.ViTGAN:
    sd, _ = load_checkpoint(checkpoint_path("vitgan"))
    model = vitgan.build(vitgan.detect(sd))
    model.load_state_dict(sd, strict=True)
    return model.eval()


def test_detect_recovers_config() -> None:
    sd, _ = load_checkpoint(checkpoint_path("vitgan"))
    assert [a for a, m in ARCHITECTURES.items() if m.detect(sd) is not None] == ["vitgan"]
    assert_recovers_effective("vitgan", vitgan.detect(sd))


def test_golden_image(loaded: vitgan.ViTGAN) -> None:
    z = golden_inputs("vitgan")["z"]
    with torch.no_grad():
        image = loaded.generator(z)
        exported = vitgan.export_spec(loaded, vitgan.detect(loaded.state_dict())).module(z)
    assert_matches_golden("vitgan", "image", image)
    assert torch.equal(exported, image)


def test_discriminator_runs(loaded: vitgan.ViTGAN) -> None:
    with torch.no_grad():
        logits = loaded.discriminator(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert list(logits.shape) == [2, 1] and bool(torch.isfinite(logits).all())


@pytest.mark.parametrize("index", [0, 1, 2])
def test_state_dict_listing(index: int) -> None:
    entry = state_dict_listing("vitgan")[index]
    hp = vitgan.detect(zeros_state_dict(entry))
    for key, value in entry["config"].items():
        if key != "vit_heads":  # not recoverable: in-projections are 3E x E for any head count
            assert hp[key] == value, key
    assert listing_of(vitgan.build(hp)) == entry["state_dict"]


def test_not_confused_with_dcgan() -> None:
    entry = state_dict_listing("vitgan")[2]
    sd = zeros_state_dict(entry)
    assert [a for a, m in ARCHITECTURES.items() if m.detect(sd) is not None] == ["vitgan"]
