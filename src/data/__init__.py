from src.data.datamodule import DATASETS, PaddedDataModule, balanced_subset, pad_images

__all__ = ["DATASETS", "PaddedDataModule", "balanced_subset", "pad_images"]
