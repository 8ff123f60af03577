"""Keras training: architecture presets, int8 size estimates and board fit, fitting, plots.

Imports TensorFlow/Keras lazily (inside functions), so `edgeimpro.training.estimate` types can be
imported cheaply; building or training a model needs `edgeimpro[train]`.
"""

from edgeimpro.training.architectures import ARCHITECTURES, ModelSpec, build_model, output_activation
from edgeimpro.training.boardfit import FitCheck, check_fit, require_fit
from edgeimpro.training.estimate import LayerEstimate, ModelEstimate, estimate_model
from edgeimpro.training.fit import OPTIMIZERS, TrainConfig, TrainResult, predict_classes, train

__all__ = [
    "ARCHITECTURES", "OPTIMIZERS", "FitCheck", "LayerEstimate", "ModelEstimate", "ModelSpec", "TrainConfig",
    "TrainResult", "build_model", "check_fit", "estimate_model", "output_activation",
    "predict_classes", "require_fit", "train",
]
