"""Every architecture preset, trained with `edgeimpro train`'s defaults on the demo sets, scored on held-out data.

    nice -n 10 .venv/bin/python bench/train_presets.py [--presets seed-cnn,dscnn] [--sets digits,faces]
        [--epochs N] [--work DIR] [--json FILE]

For each preset x set: write the demo set's train split (and its test split, which never shares an image
with it), train with the library defaults (input size and colour from the data, the default optimizer,
batch size, patience and validation split; only --epochs may be capped), then score the saved model on
the held-out validation split (what train reports) and on the test split. The table gives preset, set,
input, params, MACs, val acc, test acc, epochs run (best restored), seconds and whether train flagged the
model as collapsed. Goal: val and test accuracy >= 0.90 on digits and >= 0.85 on faces for every preset.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from edgeimpro.datasets.demo import write_demo  # noqa: E402
from edgeimpro.datasets.folder import load_images, scan_image_folder  # noqa: E402
from edgeimpro.modelcard import ModelCard  # noqa: E402

PRESETS = ("seed-cnn", "mobilenet", "dscnn", "resnet8", "mobilenetv2")
SETS = ("digits", "faces")
GOALS = {"digits": 0.90, "faces": 0.85}


def demo_sets(work: Path, name: str) -> tuple[Path, Path]:
    """(train split, test split) folders of demo set `name`, written once under `work`."""
    paths = []
    for split in ("train", "test"):
        path = work / f"{name}-{split}"
        if not path.exists():
            write_demo(name, path, split=split)
        paths.append(path)
    return paths[0], paths[1]


def test_accuracy(run: Path, test_dir: Path) -> tuple[float, int]:
    """Top-1 accuracy of RUN/model.keras on a labelled folder, through the card's preprocessing."""
    import keras

    from edgeimpro.training import predict_classes

    card = ModelCard.load(run / "model.json")
    folder = scan_image_folder(test_dir)
    remap = {i: card.labels.index(c) for i, c in enumerate(folder.classes)}
    loaded = load_images([(p, remap[y]) for p, y in folder.items], card.preprocessing)
    model = keras.models.load_model(run / "model.keras")
    pred, _ = predict_classes(model, loaded.x, card.training["output"]["activation"])
    return float(np.mean(pred == loaded.y)), len(loaded.y)


def run_one(preset: str, set_name: str, train_dir: Path, test_dir: Path, run: Path, epochs: int | None) -> dict:
    from edgeimpro.training import TrainConfig, train

    config = TrainConfig(arch=preset) if epochs is None else TrainConfig(arch=preset, epochs=epochs)
    t0 = time.monotonic()
    result = train(train_dir, run, config, force=True)
    seconds = time.monotonic() - t0
    test_acc, test_n = test_accuracy(run, test_dir)
    m = result.metrics
    return {"preset": preset, "set": set_name, "input": f"{result.input.height}x{result.input.width} "
            f"{'grey' if result.input.color == 'grayscale' else 'rgb'}",
            "params": result.estimate.params, "macs": result.estimate.macs,
            "val_acc": m["val_accuracy"], "val_images": result.card.training["images"]["validation"],
            "test_acc": test_acc, "test_images": test_n, "epochs_run": m["epochs_run"], "best_epoch": m["best_epoch"],
            "seconds": round(seconds, 1), "collapsed": result.collapse.collapsed,
            "goal_met": m["val_accuracy"] >= GOALS[set_name] and test_acc >= GOALS[set_name]}


def print_table(rows: list[dict]) -> None:
    head = f"{'preset':<12} {'set':<7} {'input':<11} {'params':>8} {'MACs':>8} {'val acc':>8} {'test acc':>8} " \
           f"{'epochs':>7} {'seconds':>8}  collapsed  goal"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['preset']:<12} {r['set']:<7} {r['input']:<11} {r['params']:>8,} {r['macs'] / 1e6:>7.2f}M "
              f"{r['val_acc']:>8.3f} {r['test_acc']:>8.3f} {r['epochs_run']:>3} ({r['best_epoch']:>2}) "
              f"{r['seconds']:>7.1f}  {'YES' if r['collapsed'] else 'no':<9}  {'met' if r['goal_met'] else 'MISSED'}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", default=",".join(PRESETS))
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--epochs", type=int, default=None, help="cap the epochs (default: train's default)")
    p.add_argument("--work", type=Path, default=None, help="folder for the datasets and runs (default: a temp dir)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="edgeimpro-train-presets-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for set_name in args.sets.split(","):
        train_dir, test_dir = demo_sets(work, set_name)
        for preset in args.presets.split(","):
            row = run_one(preset, set_name, train_dir, test_dir, work / f"run-{preset}-{set_name}", args.epochs)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["goal_met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
