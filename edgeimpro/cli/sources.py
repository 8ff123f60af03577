"""The input options shared by the verbs that read frames (`infer`, `compare`): SOURCE... or one live source
(`--camera N`, `--picamera`, `--video FILE`), declared once so the verbs cannot drift apart."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_source_options(p: argparse.ArgumentParser) -> None:
    """The positional SOURCE list and the mutually exclusive live sources (args.sources, .camera, .picamera,
    .video). Call it after the verb's own positionals: SOURCE takes every remaining one."""
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="image files, folders (class subfolders give the expected labels), .npy tensors "
                        "(int8: model inputs; uint8: images) or video files")
    live = p.add_mutually_exclusive_group()
    live.add_argument("--camera", type=camera_index, metavar="N", help="OpenCV camera N (/dev/videoN)")
    live.add_argument("--picamera", action="store_true", help="the Raspberry Pi camera module (picamera2)")
    live.add_argument("--video", type=Path, metavar="FILE", help="a video file (OpenCV)")


def camera_index(text: str) -> int:
    """`--camera N` or `--camera /dev/videoN`: the OpenCV camera index N."""
    t = text.removeprefix("/dev/video")
    if not t.isdigit():
        raise argparse.ArgumentTypeError(f"camera must be a number N (or /dev/videoN), got {text!r}")
    return int(t)
