"""Radial translation-sensitivity functions and map correlations."""

from __future__ import annotations

import torch


def radius_grid(max_shift: int) -> torch.Tensor:
    """(2S+1, 2S+1) int64: r = floor(sqrt(dx^2 + dy^2) + 0.5) at [dy + S, dx + S]."""
    r = torch.arange(-max_shift, max_shift + 1, dtype=torch.float64)
    return torch.floor(torch.sqrt(r[:, None] ** 2 + r[None, :] ** 2) + 0.5).long()


def radial_profile(maps: torch.Tensor) -> torch.Tensor:
    """(..., 2S+1, 2S+1) -> (..., R+1): entry r is the mean of the map over the shifts of radius r.

    R = floor(S * sqrt(2) + 0.5) (14 for S = 10). Every radius 0..R has at least one shift for S <= 10; a radius
    with none (possible for larger S) is NaN.
    """
    side = maps.shape[-1]
    if maps.shape[-2] != side or side % 2 == 0:
        raise ValueError(f"maps must end in a square of odd side 2S+1, got {tuple(maps.shape)}")
    r = radius_grid(side // 2).flatten().to(maps.device)
    flat = maps.reshape(*maps.shape[:-2], side * side).to(torch.float64)
    sums = torch.zeros(*flat.shape[:-1], int(r.max()) + 1, dtype=torch.float64, device=maps.device)
    sums.index_add_(-1, r, flat)
    counts = torch.bincount(r, minlength=sums.shape[-1]).to(torch.float64)
    return (sums / counts).where(counts > 0, torch.nan).to(maps.dtype if maps.is_floating_point() else torch.float64)


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation over the last two dims: (..., H, W) x (..., H, W) -> (...).

    NaN where either map is constant (the correlation is undefined there).
    """
    a = a.flatten(-2).to(torch.float64)
    b = b.flatten(-2).to(torch.float64)
    a = a - a.mean(-1, keepdim=True)
    b = b - b.mean(-1, keepdim=True)
    denom = a.norm(dim=-1) * b.norm(dim=-1)
    return ((a * b).sum(-1) / denom).where(denom > 0, torch.nan)
