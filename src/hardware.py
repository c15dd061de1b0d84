"""What the machine's arithmetic supports: bf16 is offered only where the hardware has it.

On a CPU without native bf16 (AVX-512 BF16 or AMX), PyTorch emulates it: slower than fp32 and no use. On a GPU,
bf16 needs compute capability 8.0 (Ampere) or later.
"""

from __future__ import annotations

import torch

from src.errors import ConfigError


def bf16_supported(device: str) -> bool:
    """Whether `device` ("cpu" or "cuda") runs bf16 natively."""
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def compute_device(accelerator: str | None) -> str:
    """The device a Lightning `accelerator` setting trains on here: "cuda" or "cpu"."""
    if accelerator in ("gpu", "cuda") or (accelerator in (None, "auto") and torch.cuda.is_available()):
        return "cuda"
    return "cpu"


def check_bf16(setting: str, value, device: str) -> None:
    """A one-line ConfigError when `setting=value` asks for bf16 on a device without it."""
    if ("bf16" in str(value) or "bfloat16" in str(value)) and not bf16_supported(device):
        what = "this CPU has no native bf16 (AVX-512 BF16 or AMX)" if device == "cpu" else "this GPU has no bf16"
        raise ConfigError(f"{setting}={value} is not allowed here: {what}; use fp32 (the default)")
