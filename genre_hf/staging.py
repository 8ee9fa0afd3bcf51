"""Every file and folder a command writes, written one way: never over what the command reads, never
over a file or folder it did not write, staged beside its place and moved in whole.

- `check_file` / `check_folder` refuse, before any work, a destination that is (or holds, or lies
  inside) a path the command reads, or that exists and is not what this kind of output is (each
  writer says how it recognises its own output: `ours`). A destination that is a symbolic link is
  written where the link points, so the link keeps working.
- `file` / `folder` stage the output beside its place under a name of its own, `.NAME-PID-TOKEN.partial`
  (two runs writing one output never share a partial), and move it in with one rename once it is
  whole; the partial is removed whatever happens, even when closing it fails (a full disk).
- Names carry the process id, so a later run tells an abandoned partial (its process was killed)
  from one still being written, and removes it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path


def default_cache_dir() -> Path:
    """Where genre_hf keeps what it computes once and reuses (feature caches, converted encoders):
    $GENRE_HF_CACHE, else genre_hf/ in the Hugging Face cache ($HF_HOME, ~/.cache/huggingface)."""
    if os.environ.get("GENRE_HF_CACHE"):
        return Path(os.environ["GENRE_HF_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(home).expanduser() / "genre_hf"


Recognise = Callable[[Path], bool]  # whether a file or folder is an output of this kind (so replacing it loses nothing else)


def name(stem: str, token: str, suffix: str = ".partial") -> str:
    """`.<stem>-<pid>-<token><suffix>`: a staging file or folder's name (the token keeps two of one process apart)."""
    return f"{prefix(stem)}{token}{suffix}"


def prefix(stem: str) -> str:
    """A staging name up to its token (for `tempfile.mkdtemp`, which adds one)."""
    return f".{stem}-{os.getpid()}-"


def pattern(stem: str | None, suffix: str = ".partial") -> str:
    """The glob pattern of staging names for `stem` (None: for any stem), of any process."""
    return f".{'*' if stem is None else glob.escape(stem)}-*-*{suffix}"


def owner_alive(path: Path) -> bool:
    """Whether the process whose pid the staging name holds is still running."""
    parts = path.name.rsplit("-", 2)
    if len(parts) < 3 or not parts[1].isdigit() or int(parts[1]) < 1:
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_abandoned(folder: Path, pattern: str) -> None:
    """Remove the staging files and folders in `folder` matching `pattern` whose process is gone."""
    for path in folder.glob(pattern):
        if owner_alive(path):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()


# ---- the rule: never an input, never what the command did not write --------------------------------


def destination(target: str | Path) -> Path:
    """The absolute path an output really goes to: `~` expanded, symbolic links followed."""
    return Path(os.path.realpath(os.path.expanduser(str(target))))


def check_inputs(target: Path, reads: Iterable[str | Path]) -> None:
    """Refuse a destination that is a path the command reads, lies inside one, or holds one."""
    for read in reads:
        if read is None or not os.path.lexists(os.path.expanduser(str(read))):
            continue  # not a local path (a Hub id): nothing here to overwrite
        source = destination(read)
        if target == source:
            raise ValueError(f"{target} is {read}, which this command reads: write to another place")
        if source in target.parents:
            raise ValueError(f"{target} is inside {read}, which this command reads: write outside it")
        if target in source.parents:
            raise ValueError(f"{target} holds {read}, which this command reads: write to another place")


def check_file(target: str | Path, reads: Iterable[str | Path] = (), ours: Recognise | None = None, what: str = "output") -> Path:
    """The destination of an output file, refused (a ValueError naming it) when it is an input or
    lies in one, a folder, or a file that is not a `what` (by `ours`) and not empty."""
    path = destination(target)
    check_inputs(path, reads)
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        info = None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise ValueError(f"{target} is a folder: the {what} is a file; give a file name")
        if not stat.S_ISREG(info.st_mode) or (info.st_size and not (ours and _recognised(ours, path))):
            raise ValueError(f"{target} exists and is not {_a(what)} genre_hf wrote: it is left as it is (choose another name, "
                             "or remove it first)")
    _check_writable(path)
    return path


def check_folder(target: str | Path, reads: Iterable[str | Path] = (), ours: Recognise | None = None, what: str = "output folder") -> Path:
    """The destination of an output folder, refused when it is (in, or holds) an input, a file, or a
    folder that holds anything but a `what` (by `ours`)."""
    path = destination(target)
    check_inputs(path, reads)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{target} is a file, not a folder: choose another output folder")
    if path.is_dir() and _has_entries(path) and not (ours and _recognised(ours, path)):
        raise ValueError(f"{target} exists and is not {_a(what)}: it is left as it is (choose another output folder, or empty it first)")
    _check_writable(path)
    return path


def _a(what: str) -> str:
    return f"{'an' if what[:1] in 'aeiou' else 'a'} {what}"


def _recognised(ours: Recognise, path: Path) -> bool:
    try:
        return bool(ours(path))
    except (OSError, ValueError):  # unreadable, or not what it should be: not ours
        return False


def _has_entries(folder: Path) -> bool:
    """Anything in `folder` but abandoned staging (which a save removes anyway)."""
    return any(not (entry.name.endswith((".partial", ".replaced")) and not owner_alive(entry)) for entry in folder.iterdir())


def _check_writable(path: Path) -> None:
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    if existing == path and path.is_file():
        existing = path.parent
    if not existing.is_dir():
        raise ValueError(f"cannot write {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write into {existing}: no permission")


# ---- staged writes -------------------------------------------------------------------------------------


@contextlib.contextmanager
def file(target: str | Path, reads: Iterable[str | Path] = (), ours: Recognise | None = None, what: str = "output"):
    """Yield a new, empty partial file beside `target`'s destination (`check_file`) to write; when
    the block succeeds it becomes the destination (one rename), checked again just before; whatever
    happens, the partial is gone afterwards. Close what was opened on it inside the block: an error
    there (a full disk) leaves the old file as it was and no partial behind."""
    reads = list(reads)
    path = check_file(target, reads, ours, what)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(path.parent, pattern(path.name))
    partial = path.with_name(name(path.name, uuid.uuid4().hex[:12]))
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # one per writer, never shared
    try:
        yield partial
        check_file(target, reads, ours, what)  # a file someone put there meanwhile is not replaced either
        os.replace(partial, path)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()


@contextlib.contextmanager
def folder(target: str | Path, reads: Iterable[str | Path] = (), ours: Recognise | None = None, what: str = "output folder"):
    """Yield a staging folder beside `target`'s destination (`check_folder`); when the block
    succeeds it becomes the destination, replacing an output folder there as a whole; if the block
    fails, it is removed and the destination is untouched.

    When the destination is itself a mount point the staging folder is made inside it and the files
    are then replaced one by one. A run killed while writing leaves its staging folder behind: the
    next write removes it (and puts back an output folder it was replacing, if its replacement never
    arrived).
    """
    reads = list(reads)
    path = check_folder(target, reads, ours, what)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(path)
    inside = path.is_dir() and os.path.ismount(path)
    staged = Path(tempfile.mkdtemp(prefix=prefix(path.name), suffix=".partial", dir=path if inside else path.parent))
    staged.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700: the folder gets the mode the user's umask gives any folder
    try:
        yield staged
        if inside:
            _replace_entries(staged, path)
        elif not path.exists():
            staged.rename(path)
        else:
            aside = staged.with_suffix(".replaced")
            path.rename(aside)
            staged.rename(path)
            shutil.rmtree(aside, ignore_errors=True)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _replace_entries(staged: Path, target: Path) -> None:
    """Inside a mount point: what the old output held goes, the new entries move in (each a rename)."""
    for entry in target.iterdir():
        if entry == staged or entry.name.endswith((".partial", ".replaced")) or (staged / entry.name).exists():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    for entry in staged.iterdir():
        os.replace(entry, target / entry.name)


def _clean_stale(target: Path) -> None:
    """Staging folders of writes into `target` whose process is gone: removed, or (a replaced output
    folder whose replacement never arrived) put back."""
    remove_abandoned(target.parent, pattern(target.name))
    if target.is_dir():
        remove_abandoned(target, pattern(None))
    for path in target.parent.glob(pattern(target.name, ".replaced")):
        if owner_alive(path):
            continue
        if target.exists():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.rename(target)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
