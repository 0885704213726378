"""Start and stop SecantusDB, the embedded MongoDB wire server used for local runs and tests.

SecantusDB is GPL-2.0 and a development dependency only, so nothing in the layer imports it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from local_api.errors import LocalRunnerError
from local_api.processes import command_line, lock_holder, parent_death_signal_setter

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 30
# WiredTiger's message when another process holds the lock on its data folder (EBUSY, which
# glibc words "Device or resource busy" and macOS "Resource busy").
_LOCKED_DATA_FOLDER = re.compile(r"WiredTigerError: .*resource busy", re.IGNORECASE)


class DatabaseStartError(LocalRunnerError):
    """SecantusDB exited, or did not respond to a ping, while it started. The message names its log file."""


class DataFolderLockedError(DatabaseStartError):
    """SecantusDB cannot open its data folder because another process holds WiredTiger's lock on it."""

    def __init__(self, data_path: Path, holder_pid: int | None) -> None:
        self.data_path = data_path
        self.holder_pid = holder_pid
        super().__init__(
            f"{describe_lock_holder(holder_pid)} holds the lock on the SecantusDB data folder {data_path}. "
            "Stop that process or use another data folder."
        )


def describe_lock_holder(pid: int | None) -> str:
    """Name the process that holds a data folder's lock, for messages: "Process 123 (SecantusDB)"."""
    if pid is None:
        return "Another process"
    is_secantus = "secantus" in (command_line(pid) or "").lower()
    return f"Process {pid} (SecantusDB)" if is_secantus else f"Process {pid}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_reachable(uri: str, timeout_ms: int = 1000) -> bool:
    """Return whether a MongoDB server at `uri` replies to a ping."""
    client = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


class EmbeddedMongo:
    """A SecantusDB server in a child process, listening on 127.0.0.1 only."""

    def __init__(self, storage_path: Path | str, *, port: int | None = None, standalone: bool = False) -> None:
        self.storage_path = Path(storage_path)
        self.port = port or _free_port()
        self.standalone = standalone
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> EmbeddedMongo:
        """Start the server and wait until it replies to a ping.

        The server runs in a session of its own, so a Ctrl-C in the terminal reaches only the
        parent, which stops the server once it has finished its own shutdown. On Linux the server
        also gets SIGTERM when its parent dies, even by SIGKILL.

        Raises DataFolderLockedError when another process has the data folder open, and
        DatabaseStartError when the server exits or stays silent for another reason.
        """
        self.storage_path.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.storage_path),
            "--log-level",
            "WARNING",
        ]
        if self.standalone:
            command.append("--standalone")

        log_path = self.storage_path.parent / f"{self.storage_path.name}.log"
        logger.info("Starting SecantusDB on %s with data in %s", self.uri, self.storage_path)
        with open(log_path, "ab") as log_file:
            log_offset = log_file.tell()
            # NOTE: Linux sends the death signal when the thread that started the child exits, not
            # the whole process. Start the server from a thread that lives as long as the server.
            self.process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
                start_new_session=True,
                preexec_fn=parent_death_signal_setter(),
            )

        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self._exit_error(log_path, log_offset)
            if is_reachable(self.uri, timeout_ms=300):
                return self
            time.sleep(0.1)

        self.stop()
        raise DatabaseStartError(
            f"SecantusDB did not respond on {self.uri} within {STARTUP_TIMEOUT_SECONDS} s. See {log_path}."
        )

    def _exit_error(self, log_path: Path, log_offset: int) -> DatabaseStartError:
        with open(log_path, "rb") as log_file:
            log_file.seek(log_offset)
            output = log_file.read().decode("utf-8", errors="replace")
        if _LOCKED_DATA_FOLDER.search(output):
            return DataFolderLockedError(self.storage_path, lock_holder(self.storage_path / "WiredTiger.lock"))
        lines = output.strip().splitlines()
        last_line = f" Its last output line: {lines[-1].strip()}." if lines else ""
        return DatabaseStartError(
            f"SecantusDB exited with code {self.process.returncode} at start.{last_line} See {log_path}."
        )

    def stop(self) -> None:
        """Stop the server, killing it if it does not exit within ten seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            logger.warning("SecantusDB did not stop within 10 s; killing it")
            self.process.kill()
            self.process.wait()

    def remove_data(self) -> None:
        shutil.rmtree(self.storage_path, ignore_errors=True)

    def __enter__(self) -> EmbeddedMongo:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
