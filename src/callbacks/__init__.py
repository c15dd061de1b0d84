from src.callbacks.training import EpochHistory, StopAtTrainAccuracy

__all__ = ["EpochHistory", "StopAtTrainAccuracy"]
