"""Frameworm Deploy's Python side: FRAMEWORM-compatible architectures, safe checkpoint loading,
export to TorchScript + ONNX, and the generated server's helpers."""
