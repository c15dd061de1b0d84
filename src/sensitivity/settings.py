"""What a measurement is: the engine's arguments and, from the same object, the key that says a result is complete.

A saved result stores `key()`. A later request with the same key finds it complete (also when it asks for fewer
metrics than the result holds); one asking for metrics the result lacks finds it to extend (only those are
computed, then merged); one whose network changed (another checkpoint) finds it stale; one with other settings must
not silently replace it (src.evaluate refuses unless told to).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from src.sensitivity.metrics import METRICS


@dataclass(frozen=True)
class MeasurementSettings:
    """layers: measured points; max_shift: S, pixels; images_per_class: None for the whole split; autocast: e.g.
    "bfloat16"; batch_size: shifted images per forward (speed only, not in the key); metrics: similarity names;
    checkpoint: identity (name, bytes, mtime) of the weights measured."""

    layers: tuple[str, ...]
    max_shift: int
    images_per_class: int | None = None
    autocast: str | None = None
    batch_size: int = 256
    metrics: tuple[str, ...] = field(default_factory=lambda: tuple(METRICS))  # every metric of the table
    checkpoint: str = field(default="", compare=False)

    def key(self) -> dict:
        """JSON-ready identity of the result: every field but batch_size."""
        d = asdict(self) | {"layers": list(self.layers), "metrics": list(self.metrics)}
        d.pop("batch_size")
        return d

    def engine_kwargs(self, fill_value) -> dict:
        """Keyword arguments of translation_sensitivity / accumulate_sensitivity."""
        autocast_dtype = getattr(torch, self.autocast) if self.autocast else None
        settings = {"max_shift": self.max_shift, "batch_size": self.batch_size, "autocast_dtype": autocast_dtype}
        return settings | {"layers": list(self.layers), "metrics": list(self.metrics), "fill_value": fill_value}

    def compare(self, stored: dict | None) -> str:
        """ "complete", "extend" (same settings and weights, some metrics missing: `missing_metrics`), "stale"
        (same settings, other weights) or "different" for a stored key. Keys a result written by an older version
        lacks (metrics, checkpoint) are not counted as differences."""
        if not stored:
            return "different"
        mine = self.key()
        common = [k for k in mine if k in stored and k not in ("checkpoint", "metrics")]
        if any(mine[k] != stored[k] for k in common) or not {"layers", "max_shift"} <= set(common):
            return "different"
        if "checkpoint" in stored and stored["checkpoint"] != mine["checkpoint"]:
            return "stale"
        return "extend" if self.missing_metrics(stored) else "complete"

    def missing_metrics(self, stored: dict) -> tuple[str, ...]:
        """The metrics asked for that a stored result lacks (none when it does not say: an older result)."""
        have = stored.get("metrics")
        return () if have is None else tuple(m for m in self.metrics if m not in have)

    def differences(self, stored: dict) -> str:
        mine = {k: v for k, v in self.key().items() if k in stored and k not in ("checkpoint", "metrics")}
        return ", ".join(f"{k}: {stored[k]!r} -> {v!r}" for k, v in mine.items() if stored[k] != v)
