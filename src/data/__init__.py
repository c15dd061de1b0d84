from src.data.datamodule import DatasetInfo, PaddedDataModule, balanced_subset, pad_images

__all__ = ["DatasetInfo", "PaddedDataModule", "balanced_subset", "pad_images"]
