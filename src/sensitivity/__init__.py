"""The science: shifts, similarity metrics, translation-sensitivity maps, radial profiles. Pure torch."""

from src.sensitivity.maps import (
    INPUT,
    SOFTMAX,
    SensitivityResult,
    SensitivitySums,
    accumulate_sensitivity,
    measuring_points,
    new_sums,
    sensitivity_result,
    translation_sensitivity,
)
from src.sensitivity.metrics import DECISIONS, METRICS, cosine, distance, euclidean
from src.sensitivity.radial import pearson, radial_profile, radius_grid
from src.sensitivity.reference import naive_translation_sensitivity
from src.sensitivity.shifts import shift_images, shifted_windows

__all__ = [
    "INPUT",
    "SOFTMAX",
    "measuring_points",
    "DECISIONS",
    "METRICS",
    "SensitivityResult",
    "SensitivitySums",
    "accumulate_sensitivity",
    "new_sums",
    "sensitivity_result",
    "cosine",
    "distance",
    "euclidean",
    "naive_translation_sensitivity",
    "pearson",
    "radial_profile",
    "radius_grid",
    "shift_images",
    "shifted_windows",
    "translation_sensitivity",
]
