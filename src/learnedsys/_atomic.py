"""One save routine for every file learnedsys writes: atomic, exclusive, never through a link.

:func:`atomic_write` writes the whole content to a new, unnamed file in the target's folder
(Linux ``O_TMPFILE``; elsewhere a file created exclusively with a random name), fsyncs it, gives it
a random name with ``O_EXCL`` semantics (a planted name or link makes the link fail, not follow it)
and renames it over the target in one step. The rename replaces a link at the target itself and
never writes through it. On any failure the temporary is removed; a kill -9 before the final link
leaves nothing behind (the unnamed file is reclaimed by the kernel), and the old file stays intact.
Temporaries that an older kill left under the fallback name are swept on the next save.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

__all__ = ["PathError", "atomic_write", "check_output_path"]

_TMP_SUFFIX = ".lsys-tmp"


class PathError(ValueError):
    """A path cannot be used as asked (missing folder, a directory where a file is expected...)."""


def check_output_path(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Validate that ``path`` can receive a file; return it. Raises :class:`PathError` naming the fix."""
    p = Path(path)
    if str(path) == "" or p.name in ("", ".", ".."):
        raise PathError(f"The {what} path {str(path)!r} names no file; give a file name such as 'out.lsys'.")
    if p.is_dir():
        raise PathError(f"The {what} path {str(p)!r} is a directory; give a file name inside it, e.g. {str(p / 'out.lsys')!r}.")
    parent = p.parent
    if not parent.exists():
        raise PathError(f"The folder {str(parent)!r} of the {what} path {str(p)!r} does not exist; create it first (mkdir -p {str(parent)!r}).")
    if not parent.is_dir():
        raise PathError(f"The folder {str(parent)!r} of the {what} path {str(p)!r} is not a directory.")
    return p


def _tmp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(8)}{_TMP_SUFFIX}")


def _sweep_stale(target: Path) -> None:
    """Remove fallback temporaries of ``target`` whose writing process no longer exists."""
    prefix = f".{target.name}."
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(_TMP_SUFFIX)):
            continue
        parts = name[len(prefix) : -len(_TMP_SUFFIX)].split(".")
        if len(parts) != 2 or not parts[0].isdigit():
            continue
        pid = int(parts[0])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # still alive: its save may be in progress
        except ProcessLookupError:
            pass
        except OSError:
            continue
        with contextlib.suppress(OSError):
            os.unlink(target.parent / name)  # unlink never follows a link


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def atomic_write(path: str | os.PathLike[str], data: bytes | bytearray | memoryview | str, *, what: str = "output") -> None:
    """Replace ``path`` with ``data`` atomically (see the module docstring for the guarantees).

    Raises:
        PathError: the folder is missing or the path is a directory (message names the fix).
        OSError: the write itself failed (disk full, permission); nothing is left behind.
    """
    target = check_output_path(path, what)
    if isinstance(data, str):
        data = data.encode("utf-8")
    parent = target.parent
    _sweep_stale(target)
    tmp: Path | None = None
    fd = -1
    linked = False
    try:
        o_tmpfile = getattr(os, "O_TMPFILE", 0)
        if o_tmpfile:
            try:
                fd = os.open(parent, o_tmpfile | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o644)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
                    raise
                fd = -1
        if fd >= 0:
            _write_all(fd, data)
            os.fsync(fd)
            for _ in range(8):
                tmp = _tmp_name(target)
                try:  # linkat(AT_SYMLINK_FOLLOW) of the unnamed file: fails if the name exists
                    os.link(f"/proc/self/fd/{fd}", tmp, follow_symlinks=True)
                    linked = True
                    break
                except FileExistsError:
                    continue
                except OSError:
                    break  # no /proc: fall back to a named temporary below
            if not linked:
                os.close(fd)
                fd = -1
                tmp = None
        if fd < 0:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
            for _ in range(8):
                tmp = _tmp_name(target)
                try:
                    fd = os.open(tmp, flags, 0o644)
                    break
                except FileExistsError:
                    continue
            else:
                raise FileExistsError(f"could not create a temporary file beside {str(target)!r}")
            _write_all(fd, data)
            os.fsync(fd)
        os.close(fd)
        fd = -1
        assert tmp is not None
        os.replace(tmp, target)
        tmp = None
        try:  # make the rename durable
            dfd = os.open(parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
