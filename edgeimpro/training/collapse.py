"""Did the model learn anything? A trained model that scores at chance, or gives one class to (nearly) every
image, is "collapsed": train ends with a WARNING, the model card records it, and convert repeats it.

Pure numpy on (truth, prediction) pairs: no TensorFlow, so convert and the card readers can use it.

The accuracy compared with chance is the balanced accuracy (the mean of per-class recalls): a model that
answers one class always scores exactly 1/K on it whatever the class balance, where plain accuracy would
reward predicting the majority class. "At chance" means within a margin of 1/K that shrinks with the
number of images: two binomial standard deviations of a chance-level score, at least MIN_CHANCE_MARGIN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ONE_CLASS_SHARE = 0.95         # "nearly all": this share of the predictions in one class ...
ONE_CLASS_EXCESS = 0.10        # ... that the truth gives at least this much less
CHANCE_SIGMAS = 2.0
MIN_CHANCE_MARGIN = 0.02
ADVICE = ("try: --epochs 40 --patience 10 (train longer), --lr 0.0003 (a lower learning rate), "
          "another --arch (seed-cnn, resnet8), --augment, more images per class; and check that every class "
          "folder holds what its name says")


@dataclass(frozen=True)
class CollapseCheck:
    collapsed: bool
    reasons: tuple[str, ...]      # empty when healthy
    evaluated_on: str             # "validation", "training", "held-out, int8", ...
    images: int
    classes: int                  # classes present in the truth
    accuracy: float
    balanced_accuracy: float
    chance: float                 # 1 / classes
    margin: float
    top_class: str                # the class predicted most often
    top_class_share: float        # its share of the predictions

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> CollapseCheck | None:
        """The recorded check, or None for a card written before checks were recorded (or a damaged one)."""
        if not isinstance(d, dict) or "collapsed" not in d:
            return None
        try:
            return cls(collapsed=bool(d["collapsed"]), reasons=tuple(str(r) for r in d.get("reasons", ())),
                       evaluated_on=str(d.get("evaluated_on", "validation")), images=int(d.get("images", 0)),
                       classes=int(d.get("classes", 0)), accuracy=float(d.get("accuracy", math.nan)),
                       balanced_accuracy=float(d.get("balanced_accuracy", math.nan)),
                       chance=float(d.get("chance", math.nan)), margin=float(d.get("margin", math.nan)),
                       top_class=str(d.get("top_class", "")), top_class_share=float(d.get("top_class_share", 0.0)))
        except (TypeError, ValueError):
            return None

    def summary(self) -> str:
        """One line: 'predicts 'non-face' for 31 of 31 validation images (100%); balanced accuracy ...'."""
        return "; ".join(self.reasons)


def check_collapse(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                   labels: Sequence[str], evaluated_on: str = "validation") -> CollapseCheck:
    """Judge predictions `y_pred` against `y_true` (class indices into `labels`)."""
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} truths but {len(y_pred)} predictions")
    n = len(y_true)
    k_all = max(len(labels), int(y_true.max(initial=-1)) + 1, int(y_pred.max(initial=-1)) + 1)
    if n == 0:
        return CollapseCheck(False, (), evaluated_on, 0, 0, math.nan, math.nan, math.nan, 0.0, "", 0.0)
    present = np.unique(y_true)
    k = len(present)
    recalls = [float(np.mean(y_pred[y_true == c] == c)) for c in present]
    balanced = float(np.mean(recalls))
    accuracy = float(np.mean(y_pred == y_true))
    counts = np.bincount(y_pred, minlength=k_all)
    top = int(np.argmax(counts))
    top_share = float(counts[top] / n)
    true_share = float(np.mean(y_true == top))
    top_name = str(labels[top]) if top < len(labels) else str(top)
    chance = 1.0 / k
    margin = max(MIN_CHANCE_MARGIN, CHANCE_SIGMAS * math.sqrt(chance * (1 - chance) / n)) if k > 1 else 0.0
    reasons = []
    if k > 1 and top_share >= ONE_CLASS_SHARE and top_share - true_share >= ONE_CLASS_EXCESS:
        reasons.append(f"it predicts '{top_name}' for {int(counts[top])} of {n} {evaluated_on} images "
                       f"({top_share:.0%}; {true_share:.0%} of them are '{top_name}')")
    if k > 1 and balanced <= chance + margin:
        reasons.append(f"its balanced accuracy {balanced:.3f} on {n} {evaluated_on} images is within "
                       f"{margin:.3f} of chance ({chance:.3f} for {k} classes)")
    return CollapseCheck(bool(reasons), tuple(reasons), evaluated_on, n, k, accuracy, balanced, chance, margin,
                         top_name, top_share)


def collapse_warning(check: CollapseCheck, what: str = "this model") -> str:
    """The WARNING text for a collapsed check: what is wrong, with the numbers, and what to try."""
    return f"{what} learned nothing useful: {check.summary()}. {ADVICE[0].upper()}{ADVICE[1:]}"
