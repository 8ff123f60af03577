"""Training plots: learning curves (the over/underfitting picture) and the validation confusion matrix.

Uses matplotlib's object API with the Agg canvas: no pyplot global state, no display needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeimpro.escape import printable


def plot_curves(history: dict[str, Sequence[float]], path: Path, title: str = "") -> None:
    """Loss and accuracy per epoch, training vs validation, side by side."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for key, name, style in ((metric, "training", "-o"), (f"val_{metric}", "validation", "-s")):
            if history.get(key):
                ax.plot(epochs, history[key], style, markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
        if metric == "accuracy":
            ax.set_ylim(0, 1.02)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: Path, title: str = "") -> None:
    """Counts per (true, predicted) class, with each row's share shading the cell."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = [_literal(label) for label in labels]    # class folder names are the user's: shown as written
    n = len(labels)
    side = min(3 + 0.6 * n, 14)
    fig = Figure(figsize=(side + 1, side), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, float), where=rows > 0)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, label="share of the true class")
    ax.set_xticks(range(n), labels, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center",
                        color="white" if share[i, j] > 0.5 else "black", fontsize=9)
    if title:
        ax.set_title(_literal(title))
    fig.savefig(path, dpi=100)


def _literal(text: str) -> str:
    """Printable text with every `$` escaped, so matplotlib draws it instead of reading it as maths."""
    return printable(text).replace("$", r"\$")


def plot_detection_curves(history: dict[str, Sequence[float]], path: Path, title: str = "") -> None:
    """Loss (training and validation) and the validation centroid F1, precision and recall per epoch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    loss_ax, f1_ax = fig.subplots(1, 2)
    for key, name, style in (("loss", "training", "-o"), ("val_loss", "validation", "-s"),
                             ("train_loss", "training (evaluated)", "-s")):
        if history.get(key):
            loss_ax.plot(epochs, history[key], style, markersize=3, label=name)
    loss_ax.set_ylabel("weighted cross-entropy per cell")
    prefix = "val_" if history.get("val_f1") else "train_"
    which = "validation" if prefix == "val_" else "training"
    for key, name, style in (("f1", "F1", "-o"), ("precision", "precision", "--"), ("recall", "recall", ":")):
        if history.get(prefix + key):
            f1_ax.plot(epochs, history[prefix + key], style, markersize=3, label=f"{which} {name}")
    f1_ax.set_ylabel("centroid detection")
    f1_ax.set_ylim(0, 1.02)
    for ax in (loss_ax, f1_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(_literal(title))
    fig.savefig(path, dpi=100)


def plot_detections(images: np.ndarray, truths: Sequence[Sequence[tuple[float, float, int, bool]]],
                    detections: Sequence[Sequence[tuple[float, float, int, bool]]], classes: Sequence[str],
                    path: Path, stride: int, title: str = "", columns: int = 4) -> None:
    """A grid of images (uint8 (N, H, W, C)) with the true centroids (x, y, class, found) as rings, orange
    when missed, and the detections (cell centre x, y, class, matched) as crosses, red when false. Each
    panel's title gives the true and detected counts. Positions are in input pixels (0..W continuous)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(images)
    rows = max(1, -(-n // columns))
    fig = Figure(figsize=(2.6 * columns, 2.8 * rows + 0.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    multi = len(classes) > 1
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i >= n:
            continue
        img = images[i]
        ax.imshow(img[:, :, 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                  vmin=0, vmax=255, interpolation="nearest")
        h, w = img.shape[:2]
        for x in range(stride, w, stride):
            ax.axvline(x - 0.5, color="white", alpha=0.12, linewidth=0.5)
        for y in range(stride, h, stride):
            ax.axhline(y - 0.5, color="white", alpha=0.12, linewidth=0.5)
        for x, y, k, found in truths[i]:
            ax.scatter([x - 0.5], [y - 0.5], s=90, facecolors="none", edgecolors="lime" if found else "orange",
                       linewidths=1.4)
            if multi:
                ax.text(x, y - stride * 0.7, _literal(classes[k]), color="lime", fontsize=6, ha="center")
        for x, y, _k, matched in detections[i]:
            ax.scatter([x - 0.5], [y - 0.5], s=40, marker="x", c="lime" if matched else "red", linewidths=1.6)
        ax.set_title(f"true {len(truths[i])}, found {len(detections[i])}", fontsize=9)
    if title:
        fig.suptitle(_literal(title))
    fig.savefig(path, dpi=100)

