"""The record of which `make run` owns the embedded SecantusDB of a state folder.

`serve` writes `runner.json` into the state folder once its SecantusDB responds, and deletes it
when it stops. The record names the runner's pid, the database's pid and URI, and, once the
server listens, the runner's URL. With it, `invoke` can reuse the database of a live runner, and
a second `serve` can name the runner that is in its way.

A runner killed with SIGKILL leaves its record behind. A reader that finds the runner no longer
running treats the record as stale: it stops the database if that still runs, deletes the
record and carries on as if there were none.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from local_api.errors import LocalRunnerError
from local_api.processes import command_line, is_running, start_time, stop_process

logger = logging.getLogger(__name__)

RECORD_FILE = "runner.json"


@dataclass(frozen=True)
class RunnerRecord:
    """A runner process, the SecantusDB that it started, and the URL it serves once it listens.

    The start times come from `local_api.processes.start_time` and are None off Linux, where a
    pid alone has to identify a process.
    """

    runner_pid: int
    runner_start_time: int | None
    database_uri: str
    database_pid: int
    database_start_time: int | None
    url: str | None = None

    @classmethod
    def for_this_process(cls, database_uri: str, database_pid: int) -> RunnerRecord:
        """Describe the calling process as the runner that owns the database."""
        return cls(
            runner_pid=os.getpid(),
            runner_start_time=start_time(os.getpid()),
            database_uri=database_uri,
            database_pid=database_pid,
            database_start_time=start_time(database_pid),
        )

    def runner_is_running(self) -> bool:
        return is_running(self.runner_pid, self.runner_start_time)

    def describe_runner(self) -> str:
        """Name the runner for messages: its pid, and its URL or that it does not listen yet."""
        return f"pid {self.runner_pid}, {self.url or 'not listening yet'}"


def record_path(state_dir: Path) -> Path:
    return state_dir / RECORD_FILE


def read_record(state_dir: Path) -> RunnerRecord | None:
    """Return the record of the state folder, or None if there is none.

    An unreadable or malformed record names no process that could be checked, so it is deleted
    with a warning and None is returned.
    """
    path = record_path(state_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise LocalRunnerError(
            f"Cannot read the runner record {path}: {error.strerror}. Stop `make run` and delete it."
        ) from None

    try:
        return _parse_record(json.loads(text))
    except ValueError as error:
        logger.warning("Deleting %s because it is not a valid runner record: %s", path, error)
        path.unlink(missing_ok=True)
        return None


def _parse_record(values: object) -> RunnerRecord:
    if not isinstance(values, dict):
        raise ValueError("the record is not a JSON object")
    expected = {
        "runner_pid": (int,),
        "runner_start_time": (int, type(None)),
        "database_uri": (str,),
        "database_pid": (int,),
        "database_start_time": (int, type(None)),
        "url": (str, type(None)),
    }
    for name, types in expected.items():
        value = values.get(name)
        # bool is an int subclass in Python, but never a valid pid or start time.
        if not isinstance(value, types) or isinstance(value, bool):
            raise ValueError(f"{name} is {value!r}")
    return RunnerRecord(**{name: values[name] for name in expected})


def write_record(state_dir: Path, record: RunnerRecord) -> None:
    """Write the record through a temporary file and a rename, so readers never see half of it."""
    path = record_path(state_dir)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def delete_record(state_dir: Path, record: RunnerRecord) -> None:
    """Delete the state folder's record if it is still this one, and leave a newer runner's record alone."""
    current = read_record(state_dir)
    if current is not None and (current.runner_pid, current.database_pid) == (record.runner_pid, record.database_pid):
        record_path(state_dir).unlink(missing_ok=True)


def record_runner_url(state_dir: Path, url: str) -> None:
    """Add the URL to the record, if this process owns the state folder's database."""
    record = read_record(state_dir)
    if record is not None and record.runner_pid == os.getpid():
        write_record(state_dir, replace(record, url=url))


def find_live_runner(state_dir: Path) -> RunnerRecord | None:
    """Return the record of the runner that owns the state folder's database, if that runner still runs.

    A record whose runner has stopped is stale: its database is stopped if it still runs, and the
    record is deleted.
    """
    record = read_record(state_dir)
    if record is None:
        return None
    if record.runner_is_running():
        return record

    logger.warning(
        "Deleting the stale record %s: its runner (pid %s) no longer runs", record_path(state_dir), record.runner_pid
    )
    stop_orphaned_database(record)
    delete_record(state_dir, record)
    return None


def stop_orphaned_database(record: RunnerRecord) -> None:
    """Stop the SecantusDB of a runner that died, if it still runs.

    The pid gets a signal only if its command line still names SecantusDB and, where known, its
    start time matches the record, so a process that reused the pid is left alone.
    """
    if not is_running(record.database_pid, record.database_start_time):
        return
    command = command_line(record.database_pid)
    if command is None:
        # NOTE: without /proc (macOS and other non-Linux systems) the pid cannot be checked, so
        # the process is left running. If it is the old SecantusDB, starting a new one fails with
        # a message that another process holds the data folder's lock.
        logger.warning(
            "The stale record names SecantusDB pid %s, which may still run. Stop it if it does",
            record.database_pid,
        )
        return
    if "secantus" not in command.lower():
        logger.info("Leaving pid %s alone: it is no longer SecantusDB but %r", record.database_pid, command)
        return

    logger.warning(
        "Stopping SecantusDB pid %s at %s, left running by a runner that died",
        record.database_pid,
        record.database_uri,
    )
    if not stop_process(record.database_pid, record.database_start_time):
        logger.error("SecantusDB pid %s did not stop even after SIGKILL", record.database_pid)
