from src.models.classifier import ClassifierModule
from src.models.cnn import PAPER_CHANNELS, StandardCNN, build_network, feature_map_sizes, paper_channels

__all__ = ["PAPER_CHANNELS", "ClassifierModule", "StandardCNN", "build_network", "feature_map_sizes", "paper_channels"]
