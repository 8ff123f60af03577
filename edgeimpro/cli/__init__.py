"""Command-line interface: one module per verb, each with `add_parser(subparsers)` and `run(args)`."""


def import_tensorflow_quietly() -> None:
    """Import TensorFlow before a verb that needs it, keeping its start-up notes (absl's "before
    InitializeLog", oneDNN's round-off note, printed by each of its native libraries) off the terminal;
    they go to the debug log (`edgeimpro -v`). A missing TensorFlow is left to the library's own error."""
    import logging
    import os

    from edgeimpro.references import capture_c_stderr

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with capture_c_stderr() as said:
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            pass
    if "".join(said).strip():
        logging.getLogger(__name__).debug("TensorFlow printed at start-up:\n%s", "".join(said).strip())
