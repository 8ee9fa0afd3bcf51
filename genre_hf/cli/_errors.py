"""Which errors a user can fix, and how the command line ends on each: one line on stderr and an
exit status (docs/cli.md, "Errors and exit codes"); anything else is a bug and keeps its traceback."""

from __future__ import annotations

from genre_hf.extras import MissingExtra, missing_extra_message

INTERRUPTED = 130  # the shell's status for a process ended by Ctrl-C (128 + SIGINT)
USER_ERROR = 2  # like argparse's usage errors: the user can fix it
MAX_MESSAGE = 600


class CommandError(Exception):
    """A command could not do what was asked, for a reason its message gives (e.g. a refused push)."""


def exit_status(error: BaseException) -> tuple[int | None, str | None]:
    """(status, one-line message) for an error a user can fix, (None, None) for a bug."""
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED, "interrupted"
    if isinstance(error, SystemExit):
        return None, None
    if isinstance(error, (MissingExtra, CommandError)):
        return USER_ERROR, f"error: {one_line(error)}"
    if isinstance(error, ModuleNotFoundError):
        advice = missing_extra_message(error)
        return (USER_ERROR, f"error: {advice}") if advice else (None, None)
    network = _network_error(error)
    if network:
        return USER_ERROR, f"error: {network}"
    if isinstance(error, (ValueError, OSError)):
        return USER_ERROR, f"error: {one_line(error)}"
    return None, None


def one_line(error: BaseException) -> str:
    """The error's message on one line (a Hub error's server details joined with "; "), never too long."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    text = "; ".join(lines)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _network_error(error: BaseException) -> str | None:
    """The Hub answered with an error, or could not be reached (refused, timed out, no route)."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(error, HfHubHTTPError):
        return f"the Hub ({constants.ENDPOINT}) refused: {one_line(error)}"
    names = {cls.__module__.split(".")[0] + "." + cls.__name__ for cls in type(error).__mro__}
    if names & {"httpx2.HTTPError", "httpx.HTTPError", "requests.RequestException"}:
        return f"cannot reach the Hub at {constants.ENDPOINT} ({type(error).__name__}: {one_line(error)}); check the network, or set HF_HUB_OFFLINE=1 to use only the cache"
    return None
