"""One bot per key and per journal: exclusive ``flock`` locks that die with the process.

A second process opening the same journal, or signing with the same account on the same host
(whatever its journal), gets :class:`AlreadyRunning` before it can read a nonce. ``flock``
locks are released by the kernel when the holder exits, even by ``kill -9`` or ``os._exit``,
so a crashed bot never blocks its own restart.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from types import TracebackType


class AlreadyRunning(Exception):
    """Another process holds the lock."""


def default_lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / "liqbot-locks"


class ProcessLock:
    """An exclusive, non-blocking lock on a file; the file records the holder's pid."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> ProcessLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = ""
            try:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            finally:
                os.close(fd)
            pid = f" (pid {holder})" if holder else ""
            raise AlreadyRunning(
                f"another liqbot process{pid} is running with {self.what} (lock {self.path}); "
                "stop it first: one bot per key and journal"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> ProcessLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def account_lock(account: str, chain_id: int, lock_dir: Path | None = None) -> ProcessLock:
    directory = lock_dir or default_lock_dir()
    return ProcessLock(directory / f"{chain_id}-{account.lower()}.lock", f"account {account}")


def journal_lock(journal_path: Path) -> ProcessLock:
    return ProcessLock(
        journal_path.with_name(journal_path.name + ".lock"), f"journal {journal_path}"
    )
