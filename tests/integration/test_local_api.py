"""The local API runner over real HTTP: uvicorn on 127.0.0.1, the real handlers, and MongoDB.

Most tests run the server in a thread of the test process, pointed at the test's own database
through service_env. The restart test runs `python -m local_api serve` as a subprocess, since it
needs the signing key to come from the key file and a second process to read it again. The
shutdown and state folder tests run it as a subprocess too, without MONGODB_URI, so that each
runner starts SecantusDB as its child, as `make run` does.
A second, small template with stand-in functions covers the gateway's error paths that the real
functions never take: explicit Deny, an authorizer that fails, a handler that raises, a malformed
result, and an authorized CORS preflight. For the queue and timeout tests, `held_worker` keeps
the worker busy until a test lets it go, so they need no long sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pymongo.database import Database

from local_api.embedded_db import EmbeddedMongo
from local_api.functions import FunctionTimeoutError, HandlerWorker, Invocation, LocalFunctions, QueueTimeoutError
from local_api.gateway import MAX_PAYLOAD_BYTES, SECURITY_HEADERS, LocalGateway
from local_api.lambda_events import ROOT
from local_api.local_state import DATA_FOLDER, KEY_FILE
from local_api.processes import is_running, stop_process
from local_api.runner_record import RECORD_FILE, read_record
from local_api.server import LocalApiServer, ServeOptions, local_gateway
from local_api.template import load_template

CORS_ORIGIN = "https://example.com"
PUBLIC_FIELDS = {"id", "organization_name", "collection_name", "created_at", "updated_at"}
STARTUP_TIMEOUT_SECONDS = 20


@contextlib.contextmanager
def serving(gateway: LocalGateway) -> Iterator[str]:
    """Serve the gateway on 127.0.0.1 in a background thread and yield its base URL."""
    server = LocalApiServer(gateway, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, name="local-api-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("The local API stopped during start-up. See the captured log.")
        if time.monotonic() > deadline:
            raise TimeoutError(f"The local API did not start within {STARTUP_TIMEOUT_SECONDS} s.")
        time.sleep(0.02)
    try:
        yield server.url
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT_SECONDS)


@contextlib.contextmanager
def running_api(options: ServeOptions) -> Iterator[str]:
    """Serve the template in a background thread and yield its base URL."""
    with local_gateway(options) as gateway, serving(gateway) as url:
        yield url


@contextlib.contextmanager
def held_worker(worker: HandlerWorker) -> Iterator[None]:
    """Keep the worker busy with another call until the block ends, so that new calls wait in its queue.

    On exit it waits until every call queued meanwhile has run or, if cancelled, been skipped.
    """
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        holding.set()
        release.wait(STARTUP_TIMEOUT_SECONDS)

    worker.submit(hold)
    assert holding.wait(STARTUP_TIMEOUT_SECONDS), "The worker did not start the holding call."
    try:
        yield
    finally:
        release.set()
        # The worker takes calls in order, so this one returns after every call queued before it.
        worker.submit(lambda: None).result(timeout=STARTUP_TIMEOUT_SECONDS)


@pytest.fixture
def api(service_env: dict[str, str], tmp_path: Path) -> Iterator[httpx.Client]:
    options = ServeOptions(state_dir=tmp_path / "state", host="127.0.0.1", port=0)
    with running_api(options) as url, httpx.Client(base_url=url, timeout=15) as client:
        yield client


def create_organization(client: httpx.Client, name: str = "Acme Corp", email: str = "admin@acme.example"):
    return client.post(
        "/org/create", json={"organization_name": name, "email": email, "password": "correct-horse-battery"}
    )


def login(client: httpx.Client, email: str = "admin@acme.example") -> str:
    response = client.post("/org/admin/login", json={"email": email, "password": "correct-horse-battery"})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


# ---------------------------------------------------------------------------------------------
# The five endpoints


def test_create_organization_returns_201(api: httpx.Client, master_db: Database) -> None:
    response = create_organization(api)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["organization"]["organization_name"] == "Acme Corp"
    assert body["organization"]["collection_name"] == "org_acme_corp"
    assert response.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "org_acme_corp" in master_db.list_collection_names()
    assert master_db.organizations.count_documents({"slug": "acme_corp"}) == 1


def test_create_duplicate_name_returns_409(api: httpx.Client) -> None:
    assert create_organization(api).status_code == 201

    response = create_organization(api, name="ACME corp", email="other@acme.example")

    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]


def test_login_returns_bearer_token(api: httpx.Client) -> None:
    create_organization(api)

    response = api.post("/org/admin/login", json={"email": "admin@acme.example", "password": "correct-horse-battery"})

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"].count(".") == 2


def test_login_wrong_password_returns_401(api: httpx.Client) -> None:
    create_organization(api)

    response = api.post("/org/admin/login", json={"email": "admin@acme.example", "password": "wrong-password"})

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid credentials"}


def test_get_organization_returns_only_public_fields(api: httpx.Client) -> None:
    create_organization(api)

    response = api.get("/org/get", params={"organization_name": "Acme Corp"})

    assert response.status_code == 200, response.text
    assert set(response.json()) == PUBLIC_FIELDS
    assert response.json()["organization_name"] == "Acme Corp"


def test_update_with_lowercase_bearer_moves_collection(api: httpx.Client, master_db: Database) -> None:
    create_organization(api)
    master_db["org_acme_corp"].insert_one({"note": "tenant data"})
    token = login(api)

    response = api.put(
        "/org/update", json={"organization_name": "Acme Labs"}, headers={"authorization": f"bearer {token}"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["organization"]["collection_name"] == "org_acme_labs"
    collections = master_db.list_collection_names()
    assert "org_acme_labs" in collections
    assert "org_acme_corp" not in collections
    assert master_db["org_acme_labs"].find_one({"note": "tenant data"}) is not None
    assert master_db.organizations.find_one({})["slug"] == "acme_labs"


def test_update_without_token_returns_401(api: httpx.Client) -> None:
    response = api.put("/org/update", json={"organization_name": "Acme Labs"})

    assert response.status_code == 401
    assert "bearer token" in response.json()["detail"]
    assert response.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["x-amzn-errortype"] == "UnauthorizedException"


def test_update_with_garbage_token_returns_401(api: httpx.Client, master_db: Database) -> None:
    create_organization(api)

    response = api.put(
        "/org/update", json={"organization_name": "Acme Labs"}, headers={"Authorization": "Bearer not.a.jwt"}
    )

    assert response.status_code == 401
    assert "detail" in response.json()
    assert master_db.organizations.find_one({})["slug"] == "acme_corp"


def test_update_with_other_key_token_returns_401(api: httpx.Client) -> None:
    import jwt

    create_organization(api)
    claims = jwt.decode(login(api), options={"verify_signature": False})
    forged = jwt.encode(claims, "a-different-key-that-is-long-enough-for-hs256", algorithm="HS256")

    response = api.put(
        "/org/update", json={"organization_name": "Forged"}, headers={"Authorization": f"Bearer {forged}"}
    )

    assert response.status_code == 401


def test_delete_drops_organization_and_collection(api: httpx.Client, master_db: Database) -> None:
    create_organization(api)
    token = login(api)

    response = api.delete("/org/delete", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200, response.text
    assert "deleted" in response.json()["message"]
    assert "org_acme_corp" not in master_db.list_collection_names()
    assert master_db.organizations.count_documents({}) == 0
    assert master_db.admins.count_documents({}) == 0


def test_delete_twice_returns_401(api: httpx.Client) -> None:
    create_organization(api)
    token = login(api)
    assert api.delete("/org/delete", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    response = api.delete("/org/delete", headers={"Authorization": f"Bearer {token}"})

    # The token still verifies, but its admin is gone, so the function rejects it.
    assert response.status_code == 401
    assert "no longer exists" in response.json()["detail"]


# ---------------------------------------------------------------------------------------------
# Gateway behavior with the real template


def test_preflight_answers_without_token(api: httpx.Client) -> None:
    response = api.options(
        "/org/update",
        headers={"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "PUT"},
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "PUT" in response.headers["access-control-allow-methods"].split(",")
    assert "Authorization" in response.headers["access-control-allow-headers"].split(",")
    assert response.headers["access-control-max-age"] == "600"


def test_preflight_carries_security_headers(api: httpx.Client) -> None:
    response = api.options("/org/update", headers={"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "PUT"})

    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


def test_runner_security_headers_match_functions() -> None:
    from orgservice.api.app import SECURITY_HEADERS as FUNCTION_HEADERS

    assert SECURITY_HEADERS == FUNCTION_HEADERS


def test_body_over_payload_limit_returns_413(api: httpx.Client, master_db: Database) -> None:
    response = api.post(
        "/org/create", content=b" " * (MAX_PAYLOAD_BYTES + 1), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json() == {
        "detail": f"The request body is {MAX_PAYLOAD_BYTES + 1} bytes; API Gateway accepts at most "
        f"{MAX_PAYLOAD_BYTES} bytes (10 MB), so send a smaller body."
    }
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert master_db.organizations.count_documents({}) == 0


def test_chunked_body_over_payload_limit_returns_413(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(11):
            yield b" " * (1024 * 1024)

    response = api.post("/org/create", content=chunks(), headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert "at most 10485760 bytes" in response.json()["detail"]


def test_body_at_payload_limit_reaches_function(api: httpx.Client) -> None:
    response = api.post("/org/create", content=b" " * MAX_PAYLOAD_BYTES, headers={"Content-Type": "application/json"})

    assert response.status_code == 422


def test_preflight_unknown_path_returns_404(api: httpx.Client) -> None:
    response = api.options("/org/unknown", headers={"Origin": CORS_ORIGIN})

    assert response.status_code == 404


def test_unknown_route_returns_404_json(api: httpx.Client) -> None:
    response = api.get("/org/unknown")

    assert response.status_code == 404
    assert response.json()["detail"].startswith("No endpoint matches this method and path")
    assert response.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert response.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


def test_wrong_method_returns_404(api: httpx.Client) -> None:
    response = api.get("/org/create")

    assert response.status_code == 404
    assert "PUT /org/update" in response.json()["detail"]


def test_stage_prefix_is_not_served(api: httpx.Client) -> None:
    create_organization(api)

    prefixed = api.get("/dev/org/get", params={"organization_name": "Acme Corp"})
    unprefixed = api.get("/org/get", params={"organization_name": "Acme Corp"})

    # Like `sam local start-api`, the local server serves the API at / and not under /<stage>.
    assert prefixed.status_code == 404
    assert unprefixed.status_code == 200


def test_invalid_json_body_returns_422(api: httpx.Client) -> None:
    response = api.post("/org/create", content=b"{not json", headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert "not valid JSON" in response.json()["detail"]


def test_response_carries_request_id(api: httpx.Client) -> None:
    first = api.get("/org/unknown")
    second = api.get("/org/unknown")

    assert re.fullmatch(r"[0-9a-f-]{36}", first.headers["x-amzn-requestid"])
    assert first.headers["x-amzn-requestid"] != second.headers["x-amzn-requestid"]


def test_create_queued_too_long_returns_504(
    service_env: dict[str, str], tmp_path: Path, master_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    options = ServeOptions(state_dir=tmp_path / "state", host="127.0.0.1", port=0)
    with local_gateway(options) as gateway:
        # Half a second in the queue is the limit here, in place of API Gateway's 29 s integration timeout.
        gateway.functions.queue_timeout_seconds = 0.5
        with serving(gateway) as url, httpx.Client(base_url=url, timeout=30) as client:
            with held_worker(gateway.functions.worker):
                response = create_organization(client)

    assert response.status_code == 504
    request_id = response.headers["x-amzn-requestid"]
    # The template has no INTEGRATION_TIMEOUT entry in GatewayResponses, so DEFAULT_5XX applies.
    assert response.json()["detail"].startswith("The API failed to handle the request; retry later")
    assert request_id in response.json()["detail"]
    assert response.headers["access-control-allow-origin"] == CORS_ORIGIN
    # The worker is free and drained here, so a create that had stayed in the queue would have run.
    assert master_db.organizations.count_documents({}) == 0
    assert master_db.admins.count_documents({}) == 0
    assert any(request_id in record.getMessage() and "cancelled" in record.getMessage() for record in caplog.records)


# ---------------------------------------------------------------------------------------------
# The signing key file, across a restart of the real command


def _launch_serve_process(
    state_dir: Path, log_path: Path, environment: dict[str, str], *arguments: str
) -> subprocess.Popen:
    """Start `python -m local_api serve` on a free port, with its standard error appended to the log.

    The process leads a session of its own, as a shell's foreground job leads its process group,
    so a test can send SIGINT to the whole group the way a terminal's Ctrl-C does.
    """
    command = [sys.executable, "-m", "local_api", "serve", "--port", "0", "--state-dir", str(state_dir), *arguments]
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            start_new_session=True,
        )


def _serving_url(log_path: Path, offset: int = 0) -> str | None:
    found = re.findall(r"Serving \S+ on (http://127\.0\.0\.1:\d+)", log_path.read_text()[offset:])
    return found[-1] if found else None


def _start_serve_process(
    state_dir: Path, log_path: Path, environment: dict[str, str], *arguments: str
) -> tuple[subprocess.Popen, str]:
    """Start `python -m local_api serve` and return the process and its URL once it listens."""
    offset = log_path.stat().st_size if log_path.exists() else 0
    process = _launch_serve_process(state_dir, log_path, environment, *arguments)
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        url = _serving_url(log_path, offset)
        if url:
            return process, url
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode}:\n{log_path.read_text()}")
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise TimeoutError(f"serve did not start within {STARTUP_TIMEOUT_SECONDS} s:\n{log_path.read_text()}")


def _stop_serve_process(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=STARTUP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_signing_key_file_survives_restart(service_env: dict[str, str], tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    log_path = tmp_path / "serve.log"
    environment = {name: value for name, value in os.environ.items() if name != "JWT_SECRET_KEY"}
    environment.update({name: value for name, value in service_env.items() if name != "JWT_SECRET_KEY"})

    process, url = _start_serve_process(state_dir, log_path, environment)
    try:
        with httpx.Client(base_url=url, timeout=15) as client:
            assert create_organization(client).status_code == 201
            token = login(client)
    finally:
        first_exit = _stop_serve_process(process)
    key_path = state_dir / KEY_FILE
    key_after_first_run = key_path.read_text()

    process, url = _start_serve_process(state_dir, log_path, environment)
    try:
        with httpx.Client(base_url=url, timeout=15) as client:
            response = client.put(
                "/org/update", json={"organization_name": "Acme Labs"}, headers={"Authorization": f"Bearer {token}"}
            )
    finally:
        second_exit = _stop_serve_process(process)

    assert response.status_code == 200, response.text
    assert first_exit == 0
    assert second_exit == 0
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_text() == key_after_first_run
    log = log_path.read_text()
    assert log.count("Created a new local JWT signing key") == 1
    assert token not in log
    assert key_after_first_run.strip() not in log


# ---------------------------------------------------------------------------------------------
# Shutdown, a killed runner, and two runners on one state folder, with the embedded database

SLOW_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    Timeout: 20
Resources:
  SlowFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {slow}
      Handler: app.handler
      Events:
        Slow:
          Type: Api
          Properties:
            Path: /slow
            Method: get
  StuckFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {slow}
      Handler: app.handler
      Timeout: 1
      Events:
        Stuck:
          Type: Api
          Properties:
            Path: /stuck
            Method: get
"""

# Touches `started` in the folder named by the query, waits until the test creates `release`,
# then writes to MongoDB and reports in `outcome.json` what it found.
SLOW_CODE = """\
import json
import os
import time
from pathlib import Path

from pymongo import MongoClient


def handler(event, context):
    folder = Path(event["queryStringParameters"]["folder"])
    (folder / "started").touch()
    deadline = time.monotonic() + 15
    while not (folder / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)

    uri = os.environ.get("MONGODB_URI")
    outcome = {"mongodb_uri": uri, "write": "skipped without MONGODB_URI"}
    if uri:
        client = MongoClient(uri, serverSelectionTimeoutMS=2000)
        try:
            client.shutdown_test.writes.insert_one({"written": True})
            outcome["write"] = "ok"
        except Exception as error:
            outcome["write"] = type(error).__name__
        finally:
            client.close()
    (folder / "outcome.json").write_text(json.dumps(outcome))
    return {"statusCode": 200, "body": json.dumps(outcome)}
"""


@pytest.fixture
def slow_template(tmp_path: Path) -> Path:
    function_dir = tmp_path / f"slow_{uuid.uuid4().hex[:8]}"
    function_dir.mkdir()
    (function_dir / "app.py").write_text(SLOW_CODE)
    template_path = tmp_path / "slow-template.yaml"
    template_path.write_text(SLOW_TEMPLATE.format(slow=function_dir))
    return template_path


@pytest.fixture
def embedded_environment(service_env: dict[str, str]) -> dict[str, str]:
    """The environment of a runner without MONGODB_URI, so it starts the embedded database of its state folder."""
    return {name: value for name, value in os.environ.items() if name != "MONGODB_URI"}


def _wait_for(condition: Callable[[], bool], description: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {STARTUP_TIMEOUT_SECONDS} s waiting for {description}.")
        time.sleep(0.02)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " ERROR " in line]


def _logged_database_uri(log_path: Path) -> str:
    """Return the URI that the runner logged for its embedded SecantusDB."""
    return re.findall(r"Embedded SecantusDB serves (\S+) with data", log_path.read_text())[-1]


def _stop_leftovers(state_dir: Path, *processes: subprocess.Popen) -> None:
    """Kill the runners that still run, and the SecantusDB that the state folder's record names."""
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()
    record = read_record(state_dir)
    if record is not None:
        stop_process(record.database_pid, record.database_start_time)


@pytest.mark.slow
def test_ctrl_c_lets_running_request_finish(
    slow_template: Path, embedded_environment: dict[str, str], tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    log_path = tmp_path / "serve.log"
    handshake = tmp_path / "handshake"
    handshake.mkdir()
    process, url = _start_serve_process(state_dir, log_path, embedded_environment, "--template", str(slow_template))
    try:
        record = read_record(state_dir)
        # A terminal sends Ctrl-C to its whole foreground process group, so the database must not be in it.
        assert os.getpgid(record.database_pid) != os.getpgid(process.pid)

        with ThreadPoolExecutor(max_workers=1) as client:
            request = client.submit(httpx.get, f"{url}/slow", params={"folder": str(handshake)}, timeout=30)
            _wait_for((handshake / "started").exists, "the handler to start")
            os.killpg(process.pid, signal.SIGINT)
            _wait_for(lambda: "Shutting down" in log_path.read_text(), "uvicorn to begin its shutdown")
            (handshake / "release").touch()
            response = request.result(timeout=STARTUP_TIMEOUT_SECONDS)
        exit_code = process.wait(timeout=STARTUP_TIMEOUT_SECONDS)
    finally:
        _stop_leftovers(state_dir, process)

    assert response.status_code == 200, response.text
    assert response.json() == {"mongodb_uri": record.database_uri, "write": "ok"}
    assert exit_code == 0
    assert not is_running(record.database_pid, record.database_start_time)
    assert not (state_dir / RECORD_FILE).exists()
    log = log_path.read_text()
    assert log.index("Shutting down") < log.index('"GET /slow" 200') < log.index("Stopped the embedded SecantusDB")
    assert "Traceback" not in log


@pytest.mark.slow
def test_ctrl_c_waits_for_timed_out_handler(
    slow_template: Path, embedded_environment: dict[str, str], tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    log_path = tmp_path / "serve.log"
    handshake = tmp_path / "handshake"
    handshake.mkdir()
    process, url = _start_serve_process(state_dir, log_path, embedded_environment, "--template", str(slow_template))
    try:
        record = read_record(state_dir)
        # The caller gets 502 after the function's Timeout of 1 s, but the handler keeps running.
        response = httpx.get(f"{url}/stuck", params={"folder": str(handshake)}, timeout=30)
        os.killpg(process.pid, signal.SIGINT)
        _wait_for(lambda: "for the running handler to return" in log_path.read_text(), "the wait for the handler")
        (handshake / "release").touch()
        exit_code = process.wait(timeout=STARTUP_TIMEOUT_SECONDS)
    finally:
        _stop_leftovers(state_dir, process)

    assert response.status_code == 502
    # The handler still found its environment and its database when it went on after the shutdown began.
    outcome = json.loads((handshake / "outcome.json").read_text())
    assert outcome == {"mongodb_uri": record.database_uri, "write": "ok"}
    assert exit_code == 0
    log = log_path.read_text()
    assert log.index("for the running handler to return") < log.index("Stopped the embedded SecantusDB")
    assert "Traceback" not in log


@pytest.mark.slow
def test_killed_runner_takes_database_along(embedded_environment: dict[str, str], tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    log_path = tmp_path / "serve.log"
    process, _url = _start_serve_process(state_dir, log_path, embedded_environment)
    record = read_record(state_dir)
    try:
        process.kill()
        process.wait()
        _wait_for(
            lambda: not is_running(record.database_pid, record.database_start_time),
            "SecantusDB to stop after its runner was killed",
        )
        # The killed runner could not delete its record, so the next runner finds it stale.
        assert (state_dir / RECORD_FILE).exists()

        second, _second_url = _start_serve_process(state_dir, log_path, embedded_environment)
        second_record = read_record(state_dir)
        second_exit = _stop_serve_process(second)
    finally:
        _stop_leftovers(state_dir, process)

    assert second_exit == 0
    assert second_record.runner_pid == second.pid
    assert second_record.database_pid != record.database_pid
    log = log_path.read_text()
    assert f"Deleting the stale record {state_dir / RECORD_FILE}: its runner (pid {process.pid})" in log
    assert "Reusing" not in log


@pytest.mark.slow
def test_second_serve_names_first_runner(embedded_environment: dict[str, str], tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    log_path = tmp_path / "serve.log"
    first, url = _start_serve_process(state_dir, log_path, embedded_environment)
    local_api = [sys.executable, "-m", "local_api"]
    try:
        second = subprocess.run(
            [*local_api, "serve", "--port", "0", "--state-dir", str(state_dir)],
            cwd=ROOT,
            env=embedded_environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        invoked = subprocess.run(
            [*local_api, "invoke", "GetOrganizationFunction", "events/get_organization.json"],
            cwd=ROOT,
            env={**embedded_environment, "LOCAL_API_STATE_DIR": str(state_dir)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        # The demo organization that invoke created is in the first runner's database.
        with httpx.Client(base_url=url, timeout=15) as client:
            served = client.get("/org/get", params={"organization_name": "Events Demo"})
        first_exit = _stop_serve_process(first)
    finally:
        _stop_leftovers(state_dir, first)

    assert second.returncode == 2
    assert "Traceback" not in second.stderr
    errors = _error_lines(second.stderr)
    assert len(errors) == 1, second.stderr
    assert f"Another local API (pid {first.pid}, {url}) already runs on the state folder {state_dir}" in errors[0]
    assert "--state-dir or LOCAL_API_STATE_DIR" in errors[0]
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["statusCode"] == 200
    assert f"Reusing the embedded SecantusDB at {_logged_database_uri(log_path)}" in invoked.stderr
    assert served.status_code == 200, served.text
    assert first_exit == 0


@pytest.mark.slow
def test_simultaneous_serves_start_one(embedded_environment: dict[str, str], tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    processes = [_launch_serve_process(state_dir, log, embedded_environment) for log in logs]
    try:
        _wait_for(
            lambda: any(process.poll() is not None for process in processes) and any(_serving_url(log) for log in logs),
            "one runner to serve and the other to exit",
        )
        winner = next(index for index, log in enumerate(logs) if _serving_url(log))
        loser = 1 - winner
        loser_exit = processes[loser].wait(timeout=STARTUP_TIMEOUT_SECONDS)
        winner_exit = _stop_serve_process(processes[winner])
    finally:
        _stop_leftovers(state_dir, *processes)

    loser_log = logs[loser].read_text()
    assert loser_exit == 2
    assert "Traceback" not in loser_log
    errors = _error_lines(loser_log)
    assert len(errors) == 1, loser_log
    # Depending on timing the loser finds the winner's record or the lock on the data folder.
    assert "already runs on the state folder" in errors[0] or "holds the lock" in errors[0]
    assert "--state-dir or LOCAL_API_STATE_DIR" in errors[0]
    assert winner_exit == 0


def test_locked_data_folder_stops_serve(embedded_environment: dict[str, str], tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with EmbeddedMongo(state_dir / DATA_FOLDER) as holder:
        completed = subprocess.run(
            [sys.executable, "-m", "local_api", "serve", "--port", "0", "--state-dir", str(state_dir)],
            cwd=ROOT,
            env=embedded_environment,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    errors = _error_lines(completed.stderr)
    assert len(errors) == 1, completed.stderr
    assert f"Process {holder.process.pid} (SecantusDB) holds the lock on the SecantusDB data folder" in errors[0]
    assert "--state-dir or LOCAL_API_STATE_DIR" in errors[0]


# ---------------------------------------------------------------------------------------------
# Gateway error paths, with stand-in functions

STAND_IN_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: test
Globals:
  Function:
    Runtime: python3.13
    Timeout: 5
Resources:
  StandInApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      Cors: "'*'"
      Auth:
        DefaultAuthorizer: DecisionAuthorizer
        Authorizers:
          DecisionAuthorizer:
            FunctionArn: !GetAtt DecisionFunction.Arn
            FunctionPayloadType: REQUEST
            Identity:
              Headers: [X-Decision]
  DecisionFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {decision}
      Handler: app.handler
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {echo}
      Handler: app.handler
      Events:
        Item:
          Type: Api
          Properties:
            RestApiId: !Ref StandInApi
            Path: /items/{{item_id}}
            Method: get
        Open:
          Type: Api
          Properties:
            RestApiId: !Ref StandInApi
            Path: /open
            Method: any
            Auth:
              Authorizer: NONE
  BrokenFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {broken}
      Handler: app.handler
      Events:
        Broken:
          Type: Api
          Properties:
            RestApiId: !Ref StandInApi
            Path: /broken
            Method: get
            Auth:
              Authorizer: NONE
        Malformed:
          Type: Api
          Properties:
            RestApiId: !Ref StandInApi
            Path: /malformed
            Method: get
            Auth:
              Authorizer: NONE
  WaitFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {wait}
      Handler: app.handler
      Timeout: 1
"""

DECISION_CODE = """\
STAGE_ARN = "arn:aws:execute-api:us-east-1:123456789012:localapi01/test"
RESOURCE = STAGE_ARN + "/*/items/*"
LOCKED = STAGE_ARN + "/GET/items/locked"
OTHER = STAGE_ARN + "/*/other/*"


def policy(effect, resource=RESOURCE):
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
    return {"Version": "2012-10-17", "Statement": [statement]}


def handler(event, context):
    decision = event["headers"]["x-decision"]
    if decision == "unauthorized":
        raise Exception("Unauthorized")
    if decision == "crash":
        raise ValueError("the authorizer has a bug")
    if decision == "deny":
        return {"principalId": "user-1", "policyDocument": policy("Deny")}
    if decision == "elsewhere":
        return {"principalId": "user-1", "policyDocument": policy("Allow", OTHER)}
    if decision == "nested":
        return {"principalId": "user-1", "policyDocument": policy("Allow"), "context": {"roles": ["a"]}}
    both = {"Version": "2012-10-17", "Statement": policy("Allow")["Statement"] + policy("Deny", LOCKED)["Statement"]}
    return {"principalId": "user-1", "policyDocument": both, "context": {"tenant": "t-1", "level": 3, "admin": True}}
"""

ECHO_CODE = """\
import json


def handler(event, context):
    echoed = {
        "authorizer": event["requestContext"].get("authorizer"),
        "pathParameters": event["pathParameters"],
        "stage": event["requestContext"]["stage"],
        "query": event["multiValueQueryStringParameters"],
        "function": context.function_name,
    }
    return {
        "statusCode": 200,
        "headers": {"X-Single": "one", "Content-Type": "application/json"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": json.dumps(echoed),
    }
"""

BROKEN_CODE = """\
def handler(event, context):
    if event["path"] == "/malformed":
        return {"statusCode": 200, "body": {"not": "a string"}}
    raise RuntimeError("the function has a bug")
"""

# Called in-process by the tests, so the event carries Python objects: a list that records each
# run, and optionally a threading.Event that the handler waits for before it returns.
WAIT_CODE = """\
def handler(event, context):
    event["runs"].append(context.aws_request_id)
    if "release" in event:
        event["release"].wait(30)
    return {"remaining_ms": context.get_remaining_time_in_millis()}
"""


@pytest.fixture(scope="module")
def stand_in_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stand_in")
    # load_handler caches modules by folder name, so the names must differ from every other function's.
    suffix = uuid.uuid4().hex[:8]
    code_uris = {}
    for name, code in (("decision", DECISION_CODE), ("echo", ECHO_CODE), ("broken", BROKEN_CODE), ("wait", WAIT_CODE)):
        function_dir = folder / f"stand_in_{name}_{suffix}"
        function_dir.mkdir()
        (function_dir / "app.py").write_text(textwrap.dedent(code))
        code_uris[name] = str(function_dir)
    template_path = folder / "template.yaml"
    template_path.write_text(STAND_IN_TEMPLATE.format(**code_uris))
    return template_path


@pytest.fixture
def stand_in_api(service_env: dict[str, str], stand_in_template: Path, tmp_path: Path) -> Iterator[httpx.Client]:
    options = ServeOptions(template_path=stand_in_template, state_dir=tmp_path / "state", host="127.0.0.1", port=0)
    with running_api(options) as url, httpx.Client(base_url=url, timeout=15) as client:
        yield client


def test_allowed_request_gets_authorizer_context(stand_in_api: httpx.Client) -> None:
    response = stand_in_api.get("/items/42", params=[("tag", "a"), ("tag", "b")], headers={"X-Decision": "allow"})

    assert response.status_code == 200, response.text
    echoed = response.json()
    assert echoed["authorizer"]["principalId"] == "user-1"
    assert echoed["authorizer"]["tenant"] == "t-1"
    assert echoed["authorizer"]["level"] == "3"
    assert echoed["authorizer"]["admin"] == "true"
    assert echoed["pathParameters"] == {"item_id": "42"}
    assert echoed["stage"] == "test"
    assert echoed["query"] == {"tag": ["a", "b"]}
    assert echoed["function"] == "EchoFunction"


def test_proxy_result_headers_are_merged(stand_in_api: httpx.Client) -> None:
    response = stand_in_api.get("/open")

    assert response.status_code == 200
    assert response.headers["x-single"] == "one"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.headers["access-control-allow-origin"] == "*"


def test_explicit_deny_wins_over_allow(stand_in_api: httpx.Client) -> None:
    response = stand_in_api.get("/items/locked", headers={"X-Decision": "allow"})

    assert response.status_code == 403
    assert response.json() == {"message": "User is not authorized to access this resource with an explicit deny"}


def test_deny_policy_returns_403(stand_in_api: httpx.Client) -> None:
    response = stand_in_api.get("/items/1", headers={"X-Decision": "deny"})

    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"] == "AccessDeniedException"


def test_policy_for_other_resource_returns_403(stand_in_api: httpx.Client) -> None:
    response = stand_in_api.get("/items/1", headers={"X-Decision": "elsewhere"})

    assert response.status_code == 403
    assert response.json() == {"message": "User is not authorized to access this resource"}


def test_authorizer_unauthorized_returns_401(stand_in_api: httpx.Client) -> None:
    response = stand_in_api.get("/items/1", headers={"X-Decision": "unauthorized"})

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_missing_identity_header_returns_401(stand_in_api: httpx.Client) -> None:
    response = stand_in_api.get("/items/1")

    assert response.status_code == 401


def test_authorizer_crash_returns_500(stand_in_api: httpx.Client) -> None:
    response = stand_in_api.get("/items/1", headers={"X-Decision": "crash"})

    assert response.status_code == 500
    assert response.json() == {"message": None}


def test_nested_authorizer_context_returns_500(stand_in_api: httpx.Client) -> None:
    response = stand_in_api.get("/items/1", headers={"X-Decision": "nested"})

    assert response.status_code == 500


def test_raising_handler_returns_502(stand_in_api: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    response = stand_in_api.get("/broken")

    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}
    request_id = response.headers["x-amzn-requestid"]
    assert any(request_id in record.getMessage() and record.exc_info for record in caplog.records)


def test_malformed_result_returns_502(stand_in_api: httpx.Client) -> None:
    response = stand_in_api.get("/malformed")

    assert response.status_code == 502
    assert response.headers["access-control-allow-origin"] == "*"


def test_preflight_runs_default_authorizer(stand_in_api: httpx.Client) -> None:
    without_token = stand_in_api.options("/items/1")
    allowed = stand_in_api.options("/items/1", headers={"X-Decision": "allow"})

    # With a DefaultAuthorizer, SAM's AddDefaultAuthorizerToCorsPreflight defaults to true.
    assert without_token.status_code == 401
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-methods"] == "GET,OPTIONS"


# ---------------------------------------------------------------------------------------------
# The worker queue and the function timeout, with the stand-in WaitFunction (Timeout: 1)


def wait_in_thread(functions: LocalFunctions, invocation: Invocation) -> object:
    return functions.wait(invocation)


def wait_in_event_loop(functions: LocalFunctions, invocation: Invocation) -> object:
    return asyncio.run(functions.wait_async(invocation))


Waiter = Callable[[LocalFunctions, Invocation], object]
WAIT_MODES = pytest.mark.parametrize("wait", [wait_in_thread, wait_in_event_loop], ids=["wait", "wait_async"])


class StartOnCancelFuture(Future):
    """The future of a call that the worker takes just as the caller tries to cancel it."""

    def __init__(self, call: Callable[[], object]) -> None:
        super().__init__()
        self._call = call
        self.set_running_or_notify_cancel()

    def cancel(self) -> bool:
        cancelled = super().cancel()
        threading.Thread(target=self._run, name="late-start").start()
        return cancelled

    def _run(self) -> None:
        try:
            self.set_result(self._call())
        except BaseException as error:
            self.set_exception(error)


class StartOnCancelWorker:
    """A stand-in for HandlerWorker whose calls start only when their caller tries to cancel them."""

    running = False

    def submit(self, call: Callable[[], object]) -> Future:
        return StartOnCancelFuture(call)

    def close(self, timeout_seconds: float = 0.0) -> bool:
        return True


@pytest.fixture
def make_functions(stand_in_template: Path) -> Iterator[Callable[..., LocalFunctions]]:
    """Build LocalFunctions for the stand-in template with the given keyword arguments, and close them afterwards."""
    created: list[LocalFunctions] = []

    def make(**options: object) -> LocalFunctions:
        functions = LocalFunctions(load_template(stand_in_template), **options)
        created.append(functions)
        return functions

    yield make
    for functions in created:
        functions.close()


@WAIT_MODES
def test_queued_call_timeout_starts_with_handler(make_functions: Callable[..., LocalFunctions], wait: Waiter) -> None:
    functions = make_functions(timeout_grace_seconds=0)
    runs: list[str] = []
    queued_seconds = functions.timeout_seconds("WaitFunction") + 0.3

    with ThreadPoolExecutor(max_workers=1) as waiter:
        with held_worker(functions.worker):
            invocation = functions.submit("WaitFunction", {"runs": runs})
            waiting = waiter.submit(wait, functions, invocation)
            # The call stays queued for longer than its whole Timeout while the caller waits.
            time.sleep(queued_seconds)
            assert not waiting.done()
        result = waiting.result(timeout=STARTUP_TIMEOUT_SECONDS)

    assert len(runs) == 1
    # The handler's remaining time also counts from its start, not from when it was queued.
    assert result["remaining_ms"] > 500


@WAIT_MODES
def test_call_queued_too_long_is_cancelled(
    make_functions: Callable[..., LocalFunctions], wait: Waiter, caplog: pytest.LogCaptureFixture
) -> None:
    functions = make_functions(queue_timeout_seconds=0.2)
    runs: list[str] = []

    with held_worker(functions.worker):
        invocation = functions.submit("WaitFunction", {"runs": runs}, request_id="queued-request")
        with pytest.raises(QueueTimeoutError, match="did not start within"):
            wait(functions, invocation)

    assert invocation.result.cancelled()
    assert runs == []
    messages = [record.getMessage() for record in caplog.records]
    assert any("queued-request" in message and "cancelled" in message for message in messages)


@WAIT_MODES
def test_call_started_at_queue_limit_gets_result(
    make_functions: Callable[..., LocalFunctions], wait: Waiter, caplog: pytest.LogCaptureFixture
) -> None:
    functions = make_functions(worker=StartOnCancelWorker(), queue_timeout_seconds=0.1)
    runs: list[str] = []

    invocation = functions.submit("WaitFunction", {"runs": runs}, request_id="late-request")
    result = wait(functions, invocation)

    assert len(runs) == 1
    assert result["remaining_ms"] > 500
    messages = [record.getMessage() for record in caplog.records]
    assert any("late-request" in message and "started just as" in message for message in messages)


@WAIT_MODES
def test_handler_past_timeout_raises(make_functions: Callable[..., LocalFunctions], wait: Waiter) -> None:
    functions = make_functions(timeout_grace_seconds=0)
    release = threading.Event()
    invocation = functions.submit("WaitFunction", {"runs": [], "release": release})

    try:
        with pytest.raises(FunctionTimeoutError, match="WaitFunction did not return within its Timeout of 1 s"):
            wait(functions, invocation)
    finally:
        release.set()


def test_cancelled_wait_cancels_queued_call(make_functions: Callable[..., LocalFunctions]) -> None:
    functions = make_functions()
    runs: list[str] = []

    async def cancel_while_queued(invocation: Invocation) -> None:
        task = asyncio.create_task(functions.wait_async(invocation))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with held_worker(functions.worker):
        invocation = functions.submit("WaitFunction", {"runs": runs})
        asyncio.run(cancel_while_queued(invocation))

    assert invocation.result.cancelled()
    assert runs == []
