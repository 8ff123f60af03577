"""`edgeimpro datasets list`, `datasets demo NAME OUT_DIR` (demo datasets) and `datasets check DIR` (a
detection dataset's boxes and every problem in them)."""

from __future__ import annotations

import argparse
from pathlib import Path

# kept equal to edgeimpro.datasets.demo.DEMOS and detection.FORMATS (fast --help)
DEMO_NAMES = ("digits", "faces", "shapes", "crowd")
DETECTION_FORMATS = ("coco", "yolo", "voc")


def add_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    sub.add_parser("list", help="list the demo datasets", description="list the demo datasets")
    demo = sub.add_parser("demo", help="write a demo dataset (class subfolders; crowd: images + COCO boxes)",
                          description="write a demo dataset: an image folder with one subfolder per class (PNG), "
                                      "or for crowd PNG images with their boxes in _annotations.coco.json",
                          formatter_class=parser.formatter_class)
    demo.add_argument("name", choices=DEMO_NAMES, metavar="NAME", help=", ".join(DEMO_NAMES))
    demo.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder to create")
    demo.add_argument("--split", choices=("train", "test"), default="train",
                      help="which split to write (default train); the two never share an image, whatever the "
                           "seeds, so a test set is always unseen")
    demo.add_argument("--count", type=int, default=None, metavar="N",
                      help="images per class (default: digits and faces every image of the split, about 400 / "
                           "100 digits and 80 / 20 faces per class for train / test; shapes 300); crowd: images "
                           "(default 400)")
    demo.add_argument("--seed", type=int, default=0,
                      help="picks the subset (digits, faces) or generates (shapes, crowd) within the split "
                           "(default 0)")
    demo.add_argument("--size", type=int, default=None, metavar="N",
                      help="side of the generated images, shapes and crowd (default 96; e.g. 150 for the "
                           "workshop's 150x150 CNN)")
    demo.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists and is not empty")
    check = sub.add_parser("check", help="read a detection dataset (COCO, YOLO, VOC) and list every problem",
                           description="read the boxes of a detection dataset (COCO JSON, YOLO labels or Pascal "
                                       "VOC XML) and list its classes, counts and every problem; exit status 3 "
                                       "if a box or image is unusable",
                           formatter_class=parser.formatter_class)
    check.add_argument("data_dir", type=Path, metavar="DIR", help="the dataset folder, or a COCO .json file")
    check.add_argument("--format", choices=DETECTION_FORMATS, default=None,
                       help="annotation format (default: detected from the folder)")
    check.add_argument("--split", default=None, metavar="NAME",
                       help="read this split of a folder holding several (train, valid, val, test)")
    check.add_argument("--max-problems", type=int, default=50, metavar="N",
                       help="problems listed at most (all are counted)")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list()
    if args.action == "check":
        return _check(args)
    return _demo(args)


def _list() -> int:
    from edgeimpro.datasets.demo import list_demos

    print(f"{'name':8} {'task':8} {'classes':>7}  {'default':>9}  {'images':12} description")
    for d in list_demos():
        if d.task == "detect":
            default = f"{d.default_count} img"
        else:
            default = f"{d.default_count}/class" if d.generated else "all"
        print(f"{d.name:8} {d.task:8} {len(d.classes):>7}  {default:>9}  {d.image_size:12} {d.description}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from edgeimpro.datasets.demo import DEMOS, write_demo
    from edgeimpro.errors import UsageError

    if args.size is not None and DEMOS[args.name].task != "detect" and args.name != "shapes":
        raise UsageError(f"--size applies to the generated demos (shapes, crowd), not {args.name}",
                         hint=f"{args.name} keeps its own image size; `train --input-size` scales it")

    result = write_demo(args.name, args.out_dir, count=args.count, seed=args.seed, force=args.force,
                        split=args.split, size=args.size)
    if result.objects_per_image is not None:
        from edgeimpro.datasets.crowd import ANNOTATIONS

        per = result.objects_per_image
        objects = ", ".join(f"{n:,} {cls}s" for cls, n in result.counts.items())
        print(f"wrote {result.total} images with {objects} ({min(per)}-{max(per)} per image, mean "
              f"{sum(per) / len(per):.1f}; {args.split} split) to {result.path}")
        print(f"  boxes: {result.path / ANNOTATIONS} (COCO)")
        if args.split == "train":
            print(f"next: edgeimpro train {args.out_dir} --task detect --arch fomo -o runs/{args.name}\n"
                  f"      unseen images, to evaluate: "
                  f"edgeimpro datasets demo {args.name} {args.out_dir}-test --split test")
        return 0
    print(f"wrote {result.total} images of {len(result.counts)} classes ({args.split} split) to {result.path}")
    width = max(len(c) for c in result.counts)
    for cls, n in result.counts.items():
        print(f"  {cls:{width}}  {n}")
    if args.split == "train":
        print(f"next: edgeimpro train {args.out_dir} -o runs/{args.name}\n"
              f"      unseen images, for compare or infer: "
              f"edgeimpro datasets demo {args.name} {args.out_dir}-test --split test")
    return 0


def _check(args: argparse.Namespace) -> int:
    from edgeimpro.datasets.detection import read_detection
    from edgeimpro.errors import ExitCode
    from edgeimpro.escape import printable

    ds = read_detection(args.data_dir, format=args.format, split=args.split, strict=False)
    per = ds.objects_per_image()
    print(printable(f"{ds.root}: {ds.format}, {_plural(len(ds.images), 'image')}, "
                    f"{_plural(len(ds.classes), 'class', 'classes')}"))
    boxes = ds.boxes_per_class()
    width = max((len(c) for c in boxes), default=0)
    for cls, n in boxes.items():
        print(printable(f"  {cls:{width}}  {_plural(n, 'box', 'boxes')}"))
    if per:
        print(f"objects per image: {min(per)}-{max(per)}, mean {sum(per) / len(per):.1f}; "
              f"{_plural(per.count(0), 'image')} without objects")
    errors, warnings = ds.report.errors(), ds.report.warnings()
    if not ds.report.problems:
        print("problems: none")
        return 0
    tally = ", ".join(f"{n} {kind}" for kind, n in ds.report.counts().items())
    print(f"problems: {_plural(len(errors), 'error')} (box or image left out), "
          f"{_plural(len(warnings), 'warning')} ({tally})")
    shown = (errors + warnings)[:max(args.max_problems, 0)]
    for p in shown:
        print(printable(f"  {p.severity:7} {p.kind:16} {p}"))
    if len(ds.report.problems) > len(shown):
        print(f"  ... and {len(ds.report.problems) - len(shown)} more (--max-problems)")
    return int(ExitCode.DATA) if errors else 0


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else words or word + 's'}"
