"""`edgeimpro datasets list` and `edgeimpro datasets demo NAME OUT_DIR`: demo image-folder datasets."""

from __future__ import annotations

import argparse
from pathlib import Path

DEMO_NAMES = ("digits", "faces", "shapes")   # kept equal to edgeimpro.datasets.demo.DEMOS (fast --help)


def add_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    sub.add_parser("list", help="list the demo datasets", description="list the demo datasets")
    demo = sub.add_parser("demo", help="write a demo dataset as an image folder (one subfolder per class)",
                          description="write a demo dataset as an image folder (one subfolder per class, PNG)",
                          formatter_class=parser.formatter_class)
    demo.add_argument("name", choices=DEMO_NAMES, metavar="NAME", help="digits, faces or shapes")
    demo.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder to create")
    demo.add_argument("--split", choices=("train", "test"), default="train",
                      help="which split to write (default train); the two never share an image, whatever the "
                           "seeds, so a test set is always unseen")
    demo.add_argument("--count", type=int, default=None, metavar="N",
                      help="images per class (default: digits and faces every image of the split, about 400 / "
                           "100 digits and 80 / 20 faces per class for train / test; shapes 300)")
    demo.add_argument("--seed", type=int, default=0,
                      help="picks the subset (digits, faces) or generates (shapes) within the split (default 0)")
    demo.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists and is not empty")


def run(args: argparse.Namespace) -> int:
    from edgeimpro.datasets.demo import list_demos, write_demo

    if args.action == "list":
        print(f"{'name':8} {'classes':>7}  {'per class':>9}  {'images':12} description")
        for d in list_demos():
            per_class = f"{d.default_count}+" if d.generated else "all"
            print(f"{d.name:8} {len(d.classes):>7}  {per_class:>9}  {d.image_size:12} {d.description}")
        return 0
    result = write_demo(args.name, args.out_dir, count=args.count, seed=args.seed, force=args.force,
                        split=args.split)
    print(f"wrote {result.total} images of {len(result.counts)} classes ({args.split} split) to {result.path}")
    width = max(len(c) for c in result.counts)
    for cls, n in result.counts.items():
        print(f"  {cls:{width}}  {n}")
    if args.split == "train":
        print(f"next: edgeimpro train {args.out_dir} -o runs/{args.name}\n"
              f"      unseen images, for compare or infer: "
              f"edgeimpro datasets demo {args.name} {args.out_dir}-test --split test")
    return 0
