"""`edgeimpro` entry point: parse, dispatch to the verb module, map EdgeImproError to exit codes."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from edgeimpro import __version__
from edgeimpro.errors import EXIT_MEANINGS, EdgeImproError, ExitCode, from_os_error
from edgeimpro.escape import printable

# verb -> module under edgeimpro.cli; modules are imported lazily so `edgeimpro inspect` never loads TF.
VERBS: dict[str, str] = {
    "datasets": "datasets",
    "train": "train",
    "convert": "convert",
    "inspect": "inspect",
    "export": "export",
    "run": "run",
    "build": "build",
    "emulate": "emulate",
    "flash": "flash",
    "infer": "infer",
    "compare": "compare",
    "bench": "bench",
}

HELP: dict[str, str] = {
    "datasets": "demo datasets (digits, faces, shapes; crowd: detection) and `check` of a detection dataset",
    "train": "train a compact CNN on a folder of class subfolders",
    "convert": "quantize a Keras model to full-int8 TFLite",
    "inspect": "per-layer MACs, flash, RAM and board fit of a .tflite",
    "export": "emit C/C++ for TFLite Micro firmware or the AOT runtime",
    "run": "run raw int8 input tensors through the AOT runtime (host or board)",
    "build": "build firmware for a board from an exported AOT model",
    "emulate": "run firmware on an emulated board (QEMU) and serve it on a socket:// URL",
    "flash": "program firmware into a real board (pyOCD, OpenOCD)",
    "infer": "classify images, a video or a camera on the desktop or a Raspberry Pi (LiteRT)",
    "compare": "prove a board computes what the desktop computes: metrics, layer divergence, HTML report",
    "bench": "flash, RAM, instructions per inference and link figures against TFLM's yardsticks",
}


DESCRIPTION = """\
edgeimpro takes image CNNs from Keras to Cortex-M microcontrollers and a Raspberry Pi, and proves, image by
image and layer by layer, that the device computes exactly what the desktop computes."""

EPILOG = """\
the usual path:
  edgeimpro datasets demo shapes data/shapes          (or your own DATA_DIR/<class>/*.jpg)
  edgeimpro train data/shapes -o runs/shapes --board stm32f405
  edgeimpro convert runs/shapes/model.keras -o model/model.tflite
  edgeimpro inspect model/model.tflite --board stm32f405
  edgeimpro export model/model.tflite --target aot -o aot/
  edgeimpro compare --model model/model.tflite --emulate qemu-m4 data/shapes-test/

`edgeimpro VERB --help` gives each verb's options with their defaults.

exit status:
""" + "\n".join(f"  {int(code):>3}  {meaning}" for code, meaning in EXIT_MEANINGS.items())


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help, unless the help already states it (or there is none to state)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """Options may come anywhere among the positionals (`infer MODEL --top-k 2 IMAGE`), through argparse's
    own intermixed parsing, for every verb without sub-actions."""

    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._intermixing or self._subparsers is not None:
            return super().parse_known_args(args, namespace)
        self._intermixing = True                 # parse_known_intermixed_args calls back into this method
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(prog="edgeimpro", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"edgeimpro {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--trace", action="store_true",
                        help="hexdump every serial frame sent to and received from a device (stderr)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
    sub.required = True
    # Import only the module of the verb being run (plus cheap parsers for --help listings).
    wanted = next((a for a in argv if a in VERBS), None)
    modules = {}
    for verb, modname in VERBS.items():
        if wanted is None or verb == wanted:
            mod = importlib.import_module(f"edgeimpro.cli.{modname}")
            modules[verb] = mod
            mod.add_parser(sub.add_parser(verb, help=HELP[verb], description=HELP[verb],
                                          formatter_class=HelpFormatter))
        else:
            sub.add_parser(verb, help=HELP[verb])
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, modules = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.trace:
        logging.getLogger("edgeimpro.link.trace").setLevel(logging.INFO)
    try:
        try:
            return int(modules[args.verb].run(args) or 0)
        except OSError as e:               # permission, missing path, disk full: not a bug, no traceback
            raise from_os_error(e) from e
    except EdgeImproError as e:
        # messages quote names from model files and folders: no control character reaches the terminal
        print(f"error: {printable(e.message)}", file=sys.stderr)
        if e.hint:
            print(f"  hint: {printable(e.hint)}", file=sys.stderr)
        return int(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
