"""Every file the tool writes goes through :func:`write_atomic`; small inputs through
:func:`read_text`.

A write creates a temporary file beside the target with ``O_CREAT | O_EXCL | O_NOFOLLOW``
(a planted file or symlink of that name makes it fail instead of redirecting it), writes
and fsyncs it, then moves it into place: with ``rename`` when replacing is allowed, with
``link`` + ``unlink`` when it is not (so an existing target is never clobbered, even by a
racing writer), and fsyncs the folder. A crash leaves the old file or the new one, never
half of either; readers never see a partial file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

from provenance.errors import ProvenanceError

MAX_TEXT_INPUT = 64 * 1024 * 1024


class FileWriteError(ProvenanceError):
    """A file could not be written (nothing was changed)."""


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes | str,
    *,
    mode: int = 0o644,
    overwrite: bool = True,
    error: type[ProvenanceError] = FileWriteError,
) -> None:
    """Write ``data`` to ``path`` whole or not at all (module docstring).

    ``mode`` is applied as given (not reduced by the umask): 0o600 for private keys.

    Raises:
        ``error`` (FileWriteError by default): the folder is missing or not writable, the
            target exists and ``overwrite`` is false, or the disk is full.
    """
    target = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    placed = False
    try:
        fd = os.open(temp, flags, 0o600)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temp, target)
            placed = True
        else:
            _link_no_clobber(temp, target)
        _fsync_folder(target.parent)
    except FileExistsError as exc:
        raise error(
            f"refusing to overwrite {target}", hint="choose another name, or remove it first"
        ) from exc
    except OSError as exc:
        raise error(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        if not placed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


def _link_no_clobber(temp: Path, target: Path) -> None:
    """Move ``temp`` to ``target`` only if ``target`` does not exist, atomically where the
    file system has hard links (FileExistsError otherwise)."""
    try:
        os.link(temp, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "file exists", os.fspath(target)) from exc
        os.replace(temp, target)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def read_text(
    path: str | os.PathLike[str],
    what: str,
    *,
    error: type[ProvenanceError] = ProvenanceError,
    limit: int = MAX_TEXT_INPUT,
) -> str:
    """Read a small UTF-8 input file (a checkpoint, a bundle), naming it in every error.

    Raises:
        ``error``: missing, unreadable, too large, or not UTF-8 text.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limit + 1)
    except FileNotFoundError as exc:
        raise error(f"no such {what} file: {path}", hint="check the path") from exc
    except OSError as exc:
        raise error(f"cannot read {what} file {path}: {exc.strerror or exc}") from exc
    if len(raw) > limit:
        raise error(f"{what} file {path} is larger than {limit:,} bytes: is it a {what}?")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} file {path} is not text (not UTF-8): is it a {what}?",
            hint=f"pass the {what} file that provenance wrote",
        ) from exc
