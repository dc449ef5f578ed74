"""The six FRAMEWORM architectures. Each module exposes the same three functions:

- ``detect(state_dict) -> dict | None``: the hyper-parameters (FRAMEWORM's names) when the
  state dict carries this architecture's fingerprint, else None.
- ``build(hp: dict) -> torch.nn.Module``: a module whose ``load_state_dict(sd, strict=True)``
  accepts FRAMEWORM's checkpoint and computes what FRAMEWORM computes.
- ``export_spec(model, hp) -> ExportSpec``: the deterministic graph to export, with ONNX I/O
  names fixed by the product (vae: x → reconstruction, mu, log_var; dcgan/vitgan: z → images;
  ddpm: x_t, t → eps; vqvae2: x → reconstruction, commitment_loss; cfg_ddpm: x_t, t,
  class_label → eps).
"""
from . import cfg_ddpm, dcgan, ddpm, vae, vitgan, vqvae2

ARCHITECTURES = {
    "vae": vae,
    "dcgan": dcgan,
    "ddpm": ddpm,
    "vqvae2": vqvae2,
    "vitgan": vitgan,
    "cfg_ddpm": cfg_ddpm,
}
