from src.callbacks.sensitivity import SensitivityCallback
from src.callbacks.training import EpochHistory, RunCheckpoint, StopAtTrainAccuracy

__all__ = ["EpochHistory", "RunCheckpoint", "SensitivityCallback", "StopAtTrainAccuracy"]
