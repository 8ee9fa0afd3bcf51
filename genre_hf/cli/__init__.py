"""`genre-hf`: the one command line. One module per command in this package, listed in `COMMANDS`
in the order `--help` shows them; adding a command is adding its module and its name there.

Each command module has `NAME`, `HELP` (and optionally `DESCRIPTION`), `ENVIRONMENT` (the variables
it reads), `TENSORFLOW` (whether it starts TensorFlow), `add_arguments(parser)`, optionally
`check(args)` (what can be refused before TensorFlow starts: a missing extra, an argument out of
range, a destination that cannot be written) and `run(args)`. Parsing imports nothing heavy, so `--help` is instant;
each command imports what it needs. Errors that a user can fix end in one line on stderr and exit
status 2, never a traceback (`_errors.py` lists them); Ctrl-C ends with 130. `main` returns the
status (for callers in the same process); `entry_point`, the installed command, exits with it.
"""

from __future__ import annotations

import argparse
import os
import sys

from genre_hf.cli import app, benchmark, data, evaluate, predict, publish_space, push, train
from genre_hf.cli._common import TENSORFLOW_ENVIRONMENT, environment_help
from genre_hf.cli._errors import exit_status
from genre_hf.cli._exit import exit_now

COMMANDS = (data, train, benchmark, evaluate, predict, push, app, publish_space)  # in their `--help` order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genre-hf", description="Movie genres from a poster and a plot overview.")
    parser.add_argument("--version", action="version", version=f"genre_hf {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        command = subparsers.add_parser(
            module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
            epilog=environment_help(module.ENVIRONMENT + (TENSORFLOW_ENVIRONMENT if module.TENSORFLOW else ())),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(run=module.run, check=getattr(module, "check", None), tensorflow=module.TENSORFLOW)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Before TensorFlow, Gradio or huggingface_hub are imported: no analytics or telemetry, and TensorFlow's
    # own C++ logging (which does not hold back its start-up lines: see _quiet.py) at errors only.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from genre_hf.cli._quiet import start_tensorflow, wants_tensorflow_logs

    show_logs = wants_tensorflow_logs()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        if args.check:
            args.check(args)
        if args.tensorflow:
            start_tensorflow(show_logs)
        return args.run(args) or 0
    except BaseException as error:  # noqa: BLE001 - sorted into user-fixable (one line) and not (re-raised)
        status, message = exit_status(error)
        if status is None:
            raise
        print(message, file=sys.stderr)
        return status


def entry_point(argv: list[str] | None = None):
    """`genre-hf`, `python -m genre_hf`, app.py and train.py: `main`, then exit with its status
    (past TensorFlow's teardown: `_exit.py`)."""
    exit_now(main(argv))


def _version() -> str:
    from genre_hf import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
