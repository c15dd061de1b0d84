"""Tracking translation invariance in CNNs: training, translation-sensitivity maps, figures."""
