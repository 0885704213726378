"""Identify, watch and stop the local runner's processes by pid.

On Linux these helpers read /proc, which distinguishes a running process from a zombie and from
a later process that got the same pid. Other platforms fall back to `os.kill(pid, 0)`, which
reports only whether some process has that pid.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

PROC = Path("/proc")
# From <linux/prctl.h>: deliver a signal to this process when the thread that created it exits.
PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.05


def _has_proc() -> bool:
    return sys.platform.startswith("linux") and PROC.is_dir()


def start_time(pid: int) -> int | None:
    """Return when the process started, in clock ticks after boot, or None if unknown or not running.

    Together with the pid this names one process: a pid that the kernel hands out again later
    comes with a later start time. Only Linux reports it (field 22 of /proc/<pid>/stat).
    """
    if not _has_proc():
        return None
    try:
        status = (PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # Field 2, the command name, is in parentheses and may contain spaces, so split after the last ")".
    # The fields after it start at field 3, the state.
    fields = status.rpartition(")")[2].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_running(pid: int, expected_start_time: int | None = None) -> bool:
    """Tell whether the process runs.

    On Linux a zombie, a process that has exited but whose parent has not yet reaped it, counts
    as stopped, and a given `expected_start_time` must match, so a pid reused since is not taken
    for the process that had it. Elsewhere any process with the pid counts.
    """
    if pid <= 0:
        return False
    if _has_proc():
        started = start_time(pid)
        if started is None:
            return False
        return expected_start_time is None or started == expected_start_time
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # The process exists but belongs to another user.
        return True
    return True


def command_line(pid: int) -> str | None:
    """Return the process's command line with spaces between the arguments, or None where /proc cannot tell."""
    if not _has_proc():
        return None
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode("utf-8", errors="replace").strip() or None


def stop_process(pid: int, expected_start_time: int | None = None, *, timeout_seconds: float = 10.0) -> bool:
    """Send SIGTERM, wait up to `timeout_seconds` for the process to stop, then send SIGKILL.

    Returns whether the process stopped. The signals go only to the process that
    `expected_start_time` names, if given, so a pid reused meanwhile is left alone.
    """
    for signum, wait_seconds in ((signal.SIGTERM, timeout_seconds), (signal.SIGKILL, 5.0)):
        if not is_running(pid, expected_start_time):
            return True
        if signum == signal.SIGKILL:
            logger.warning("Process %s did not stop within %.0f s of SIGTERM; sending SIGKILL", pid, timeout_seconds)
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if not is_running(pid, expected_start_time):
                return True
            time.sleep(POLL_SECONDS)
    return not is_running(pid, expected_start_time)


def lock_holder(path: Path) -> int | None:
    """Return the pid of the process that holds a POSIX or flock lock on the file, from /proc/locks.

    Returns None when no lock is listed or the platform has no /proc/locks.
    """
    try:
        info = path.stat()
        locks = (PROC / "locks").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # A line reads: "1: POSIX  ADVISORY  WRITE 22765 fe:00:2156818 0 EOF", with the device as hex major:minor.
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    for line in locks.splitlines():
        fields = line.split()
        # Lines of processes blocked on a lock start with "->" and shift the fields by one.
        if len(fields) > 1 and fields[1] == "->":
            continue
        if len(fields) >= 6 and fields[5] == device and fields[4].isdigit():
            return int(fields[4])
    return None


def parent_death_signal_setter(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """Return a subprocess `preexec_fn` that makes the child get `signum` when this process dies.

    Uses prctl(PR_SET_PDEATHSIG), so only Linux supports it. Elsewhere, or when the C library has
    no prctl, it returns None and a child outlives a runner that is killed with SIGKILL.
    The function looks prctl up here, in the parent, so the child runs as little Python as
    possible between fork and exec.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        logger.debug("The C library has no prctl, so the database will outlive a killed runner")
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent_pid = os.getpid()
    death_signal = int(signum)

    def set_parent_death_signal() -> None:
        if prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        # A parent that died before prctl ran sends no signal, and the child now has another parent.
        if os.getppid() != parent_pid:
            os._exit(1)

    return set_parent_death_signal
