"""The local runner's state folder: the signing key checks, the runner record and the embedded database's lock.

These tests run in-process against real SecantusDB servers that they start on their own data
folders. A test that needs a live runner lets the test process stand in for it, and one that
needs a dead runner uses the pid of a child that has already exited.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_api.embedded_db import DataFolderLockedError, EmbeddedMongo
from local_api.errors import LocalRunnerError
from local_api.local_state import (
    DATA_FOLDER,
    KEY_FILE,
    SigningKeyError,
    StateDirInUseError,
    open_database,
    resolve_signing_key,
)
from local_api.processes import is_running, start_time
from local_api.runner_record import RECORD_FILE, RunnerRecord, find_live_runner, read_record, write_record
from local_api.server import ServeOptions, local_gateway

VALID_KEY = "k" * 32


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir()
    return folder


@pytest.fixture
def no_configured_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the runner use the embedded database of the state folder, as `make run` does by default."""
    monkeypatch.delenv("MONGODB_URI", raising=False)


@pytest.fixture
def orphan_database(state_dir: Path) -> Iterator[EmbeddedMongo]:
    """A SecantusDB on the state folder's data folder, as a runner that died would leave it."""
    server = EmbeddedMongo(state_dir / DATA_FOLDER).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dead_pid() -> int:
    """The pid of a child that has exited and been reaped, so no process has it for now."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ---------------------------------------------------------------------------------------------
# The signing key


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe" + os.urandom(62), "is not UTF-8 text"),
        (b"short-key\n", "is 9 bytes long, shorter than the 32 bytes"),
        (b"   \n", "is 0 bytes long"),
    ],
    ids=["binary", "short", "blank"],
)
def test_invalid_key_file_names_file_and_fix(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, message: str
) -> None:
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    key_path = state_dir / KEY_FILE
    key_path.write_bytes(content)
    key_path.chmod(0o600)

    with pytest.raises(SigningKeyError) as raised:
        resolve_signing_key(state_dir)

    assert message in str(raised.value)
    assert str(key_path) in str(raised.value)
    assert "Delete it" in str(raised.value)


def test_key_file_folder_names_fix(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    (state_dir / KEY_FILE).mkdir()

    with pytest.raises(SigningKeyError, match="is a folder. Delete it"):
        resolve_signing_key(state_dir)


def test_key_length_counts_utf8_bytes(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    # 16 characters of two bytes each: 32 bytes, the minimum, though only 16 characters.
    (state_dir / KEY_FILE).write_text("é" * 16 + "\n", encoding="utf-8")
    (state_dir / KEY_FILE).chmod(0o600)

    assert resolve_signing_key(state_dir) == "é" * 16


def test_short_key_variable_is_rejected(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", "abcde")

    with pytest.raises(SigningKeyError) as raised:
        resolve_signing_key(state_dir)

    assert str(raised.value).startswith("JWT_SECRET_KEY is 5 bytes long")
    assert "unset it" in str(raised.value)
    assert "abcde" not in str(raised.value)


def test_key_variable_wins_over_file(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", VALID_KEY)
    (state_dir / KEY_FILE).write_bytes(b"\xff not a key")

    assert resolve_signing_key(state_dir) == VALID_KEY


def test_invalid_key_stops_serve_before_database(
    state_dir: Path, no_configured_database: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", "abcde")
    options = ServeOptions(state_dir=state_dir, host="127.0.0.1", port=0)

    with pytest.raises(SigningKeyError, match="JWT_SECRET_KEY"), local_gateway(options):
        pytest.fail("The local API started with a 5-byte signing key.")

    assert not (state_dir / DATA_FOLDER).exists()
    assert not (state_dir / RECORD_FILE).exists()


# ---------------------------------------------------------------------------------------------
# The runner record


def test_serve_records_and_removes_itself(state_dir: Path, no_configured_database: None) -> None:
    with open_database(state_dir, own_state_dir=True) as database:
        record = read_record(state_dir)

        assert record is not None
        assert record.runner_pid == os.getpid()
        assert record.database_pid == database.embedded.process.pid
        assert record.database_uri == database.uri

    assert not (state_dir / RECORD_FILE).exists()


def test_live_runner_rejects_second_serve(
    state_dir: Path, no_configured_database: None, orphan_database: EmbeddedMongo
) -> None:
    # The test process acts as a live runner that listens on a made-up URL.
    record = RunnerRecord.for_this_process(orphan_database.uri, orphan_database.process.pid)
    write_record(state_dir, dataclasses.replace(record, url="http://127.0.0.1:3999"))

    with pytest.raises(StateDirInUseError) as raised, open_database(state_dir, own_state_dir=True):
        pytest.fail("A second runner started on a state folder that a live runner owns.")

    message = str(raised.value)
    assert f"pid {os.getpid()}, http://127.0.0.1:3999" in message
    assert "--state-dir" in message
    assert "LOCAL_API_STATE_DIR" in message
    assert orphan_database.process.poll() is None
    assert (state_dir / RECORD_FILE).exists()


def test_live_runner_database_is_reused_by_invoke(
    state_dir: Path, no_configured_database: None, orphan_database: EmbeddedMongo
) -> None:
    write_record(state_dir, RunnerRecord.for_this_process(orphan_database.uri, orphan_database.process.pid))

    with open_database(state_dir, own_state_dir=False) as database:
        assert database.uri == orphan_database.uri
        assert database.embedded is None


def test_stale_record_stops_orphaned_database(
    state_dir: Path, no_configured_database: None, orphan_database: EmbeddedMongo, dead_pid: int
) -> None:
    orphan_pid = orphan_database.process.pid
    write_record(
        state_dir,
        RunnerRecord(
            runner_pid=dead_pid,
            runner_start_time=None,
            database_uri=orphan_database.uri,
            database_pid=orphan_pid,
            database_start_time=start_time(orphan_pid),
        ),
    )

    with open_database(state_dir, own_state_dir=True) as database:
        # The orphan is the test's own child, so it stays a zombie until the test reaps it.
        assert not is_running(orphan_pid)
        assert orphan_database.process.wait(timeout=5) == 0
        assert database.embedded is not None
        assert database.uri != orphan_database.uri
        assert read_record(state_dir).runner_pid == os.getpid()

    assert not (state_dir / RECORD_FILE).exists()


def test_stale_record_spares_other_process(state_dir: Path, dead_pid: int) -> None:
    # A process that got the recorded database pid after SecantusDB exited.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_record(
            state_dir,
            RunnerRecord(
                runner_pid=dead_pid,
                runner_start_time=None,
                database_uri="mongodb://127.0.0.1:1/",
                database_pid=bystander.pid,
                database_start_time=None,
            ),
        )

        assert find_live_runner(state_dir) is None

        assert bystander.poll() is None
        assert not (state_dir / RECORD_FILE).exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_reused_runner_pid_counts_as_dead(state_dir: Path) -> None:
    # The test process has the recorded pid, but it started at another time than the recorded runner.
    own_start_time = start_time(os.getpid())
    if own_start_time is None:
        pytest.skip("Process start times need Linux /proc")
    write_record(
        state_dir,
        RunnerRecord(
            runner_pid=os.getpid(),
            runner_start_time=own_start_time - 1,
            database_uri="mongodb://127.0.0.1:1/",
            database_pid=os.getpid(),
            database_start_time=own_start_time - 1,
        ),
    )

    assert find_live_runner(state_dir) is None
    assert not (state_dir / RECORD_FILE).exists()


@pytest.mark.parametrize(
    "content",
    ["{not json", "[]", json.dumps({"runner_pid": "12", "database_uri": "x", "database_pid": 1})],
    ids=["not-json", "not-object", "pid-as-text"],
)
def test_invalid_record_is_deleted(state_dir: Path, content: str) -> None:
    (state_dir / RECORD_FILE).write_text(content)

    assert read_record(state_dir) is None
    assert not (state_dir / RECORD_FILE).exists()


# ---------------------------------------------------------------------------------------------
# The lock on the data folder


def test_locked_data_folder_names_holder(orphan_database: EmbeddedMongo) -> None:
    with pytest.raises(DataFolderLockedError) as raised:
        EmbeddedMongo(orphan_database.storage_path).start()

    assert raised.value.holder_pid == orphan_database.process.pid
    assert f"Process {orphan_database.process.pid} (SecantusDB) holds the lock" in str(raised.value)
    assert isinstance(raised.value, LocalRunnerError)


def test_locked_data_folder_rejects_serve(
    state_dir: Path, no_configured_database: None, orphan_database: EmbeddedMongo
) -> None:
    # No record names the process that locks the folder, as after a runner of an older version died.
    with pytest.raises(StateDirInUseError) as raised, open_database(state_dir, own_state_dir=True):
        pytest.fail("A second SecantusDB opened a data folder that another one has locked.")

    message = str(raised.value)
    assert f"Process {orphan_database.process.pid} (SecantusDB) holds the lock" in message
    assert "--state-dir" in message
    assert not (state_dir / RECORD_FILE).exists()
