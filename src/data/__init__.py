from src.data.datamodule import PaddedDataModule, balanced_subset, dataset_entry, dataset_files, pad_images

__all__ = ["PaddedDataModule", "balanced_subset", "dataset_entry", "dataset_files", "pad_images"]
