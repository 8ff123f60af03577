"""Keras training: architecture presets (classifiers and the fomo detector), int8 size estimates and board
fit, fitting, plots.

Imports TensorFlow/Keras lazily (inside functions), so `edgeimpro.training.estimate` types can be
imported cheaply; building or training a model needs `edgeimpro[train]`.
"""

from edgeimpro.training.architectures import ARCHITECTURES, ModelSpec, build_model, output_activation
from edgeimpro.training.boardfit import check_fit, require_fit
from edgeimpro.training.detect import DetectConfig, DetectResult, predict_grids, train_detector
from edgeimpro.training.estimate import LayerEstimate, ModelEstimate, estimate_model
from edgeimpro.training.fit import OPTIMIZERS, TrainConfig, TrainResult, predict_classes, train
from edgeimpro.training.fomo import DETECTION_ARCHITECTURES, FomoSpec, build_fomo

__all__ = [
    "ARCHITECTURES", "DETECTION_ARCHITECTURES", "OPTIMIZERS", "DetectConfig", "DetectResult",
    "FomoSpec", "LayerEstimate", "ModelEstimate", "ModelSpec", "TrainConfig", "TrainResult", "build_fomo",
    "build_model", "check_fit", "estimate_model", "output_activation", "predict_classes", "predict_grids",
    "require_fit", "train", "train_detector",
]
