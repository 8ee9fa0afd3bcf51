"""`genre-hf`: the one command line. One module per command in this package (train, benchmark,
evaluate, predict, push, app, publish-space); adding a command is adding its module.

Each command module has `NAME`, `HELP` (and optionally `DESCRIPTION`), `ORDER` (its place in
`--help`), `ENVIRONMENT` (the variables it reads), `add_arguments(parser)` and `run(args)`.
Parsing imports nothing heavy, so `--help` is instant; each command imports what it needs. Errors
that a user can fix (bad data, a bad model folder, a busy port, a refused push) end in one line
on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from genre_hf.cli._common import environment_help


def commands() -> list:
    """The command modules of this package, in their `--help` order."""
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")]
    return sorted(modules, key=lambda module: module.ORDER)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genre-hf", description="Movie genres from a poster and a plot overview.")
    parser.add_argument("--version", action="version", version=f"genre_hf {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in commands():
        command = subparsers.add_parser(
            module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
            epilog=environment_help(module.ENVIRONMENT), formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Before TensorFlow, Gradio or huggingface_hub are imported: quiet logs, no analytics or telemetry.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the full TensorFlow package logs CUDA probing errors on CPUs
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return args.run(args) or 0
    except (ValueError, OSError, HfHubHTTPError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _version() -> str:
    from genre_hf import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
