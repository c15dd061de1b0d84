from src.callbacks.sensitivity import SensitivityCallback
from src.callbacks.training import EpochHistory, StopAtTrainAccuracy

__all__ = ["EpochHistory", "SensitivityCallback", "StopAtTrainAccuracy"]
