"""Start and stop SecantusDB, the embedded MongoDB wire server used for local runs and tests.

SecantusDB is GPL-2.0 and a development dependency only, so nothing in the layer imports it.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 30


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_reachable(uri: str, timeout_ms: int = 1000) -> bool:
    """Tell whether a MongoDB server answers a ping at `uri`."""
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
        """Start the server and wait until it answers a ping."""
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
            self.process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=os.environ.copy())

        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"SecantusDB exited with code {self.process.returncode} at start; see {log_path}.")
            if is_reachable(self.uri, timeout_ms=300):
                return self
            time.sleep(0.1)

        self.stop()
        raise RuntimeError(
            f"SecantusDB did not answer on {self.uri} within {STARTUP_TIMEOUT_SECONDS} s; see {log_path}."
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
