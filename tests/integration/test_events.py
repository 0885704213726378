"""Every file in events/ run through `invoke_function`, the code behind `make invoke`, against real MongoDB.

Each test gets its own master database from service_env and its own state folder, so the demo
organization is seeded fresh, as on a new clone. The tests named test_cli_* run the command line
as a subprocess, and one test runs it through `make invoke`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from orgservice.naming import slugify
from pymongo.database import Database

from local_api.gateway import evaluate_policy
from local_api.invoke import (
    DEMO_ADMIN_EMAIL,
    DEMO_ORGANIZATION_NAME,
    DemoSetupError,
    EventError,
    InvokeResult,
    invoke_function,
    read_event,
)
from local_api.lambda_events import ROOT
from local_api.local_state import DATA_FOLDER, KEY_FILE, STATE_DIR_VARIABLE
from local_api.runner_record import RECORD_FILE, RunnerRecord, write_record
from local_api.template import load_template

EVENTS = ROOT / "events"
EVENT_FUNCTIONS = {
    "create_organization.json": "CreateOrganizationFunction",
    "admin_login.json": "AdminLoginFunction",
    "get_organization.json": "GetOrganizationFunction",
    "update_organization.json": "UpdateOrganizationFunction",
    "delete_organization.json": "DeleteOrganizationFunction",
    "authorizer.json": "AuthorizerFunction",
    "repair_tenants.json": "RepairTenantsFunction",
}
# Events that API Gateway does not send, so no route matches them.
NON_PROXY_EVENTS = {"authorizer.json", "repair_tenants.json"}


@pytest.fixture(autouse=True)
def fresh_database(service_env: dict[str, str]) -> dict[str, str]:
    """Point every test at a fresh master database and a random signing key."""
    return service_env


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def invoke(event_file: str, state_dir: Path) -> InvokeResult:
    return invoke_function(EVENT_FUNCTIONS[event_file], EVENTS / event_file, state_dir=state_dir)


def body_of(result: InvokeResult) -> dict:
    assert not result.failed, result.payload
    return json.loads(result.payload["body"])


def test_event_files_match_function_table() -> None:
    assert {path.name for path in EVENTS.glob("*.json")} == set(EVENT_FUNCTIONS)


@pytest.mark.parametrize("event_file", sorted(set(EVENT_FUNCTIONS) - NON_PROXY_EVENTS))
def test_proxy_event_matches_template_route(event_file: str) -> None:
    template = load_template()
    event = read_event(EVENTS / event_file)
    routes = [route for route in template.routes if route.function_id == EVENT_FUNCTIONS[event_file]]

    assert len(routes) == 1
    route = routes[0]
    assert event["resource"] == route.path
    assert event["path"] == route.path
    assert event["httpMethod"] == route.method
    assert event["requestContext"]["stage"] == template.apis[route.api_id].stage
    assert event["requestContext"]["resourcePath"] == route.path
    assert event["requestContext"]["path"] == f"/{event['requestContext']['stage']}{route.path}"


def test_create_event_returns_201_on_fresh_database(state_dir: Path, master_db: Database) -> None:
    result = invoke("create_organization.json", state_dir)

    assert result.payload["statusCode"] == 201
    assert body_of(result)["organization"]["organization_name"] == "Globex Corporation"
    assert master_db.organizations.count_documents({"slug": "globex_corporation"}) == 1
    assert master_db.admins.count_documents({"email": "admin@globex.example"}) == 1
    # The create event names neither the demo admin nor a placeholder, so nothing else is seeded.
    assert master_db.admins.count_documents({"email": DEMO_ADMIN_EMAIL}) == 0


def test_create_event_differs_from_walkthrough() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    walkthrough = readme.split("## Walkthrough", 1)[1].split("\n## ", 1)[0]
    walkthrough_slugs = {slugify(name) for name in re.findall(r'"organization_name": "([^"]+)"', walkthrough)}
    walkthrough_emails = {email.lower() for email in re.findall(r'"email": "([^"]+)"', walkthrough)}
    body = json.loads(read_event(EVENTS / "create_organization.json")["body"])

    # `make invoke` and `make run` share the database in .local/. A name with the walkthrough's slug,
    # or its email, would give the walkthrough's create 409 and then its login 401.
    assert walkthrough_slugs, "The README walkthrough shows no organization_name."
    assert walkthrough_emails, "The README walkthrough shows no email."
    assert slugify(body["organization_name"]) not in walkthrough_slugs
    assert body["email"].lower() not in walkthrough_emails


def test_create_event_repeat_returns_409(state_dir: Path) -> None:
    invoke("create_organization.json", state_dir)

    result = invoke("create_organization.json", state_dir)

    assert result.payload["statusCode"] == 409


def test_login_event_returns_token_for_demo_admin(state_dir: Path, master_db: Database) -> None:
    result = invoke("admin_login.json", state_dir)

    assert result.payload["statusCode"] == 200
    assert body_of(result)["token_type"] == "bearer"
    assert master_db.admins.count_documents({"email": DEMO_ADMIN_EMAIL}) == 1
    assert master_db.organizations.count_documents({"organization_name": DEMO_ORGANIZATION_NAME}) == 1


def test_get_event_returns_demo_organization(state_dir: Path) -> None:
    result = invoke("get_organization.json", state_dir)

    assert result.payload["statusCode"] == 200
    assert body_of(result)["organization_name"] == DEMO_ORGANIZATION_NAME
    assert "admin_email" not in body_of(result)


def test_update_event_returns_200(state_dir: Path, master_db: Database) -> None:
    result = invoke("update_organization.json", state_dir)

    assert result.payload["statusCode"] == 200
    organization = body_of(result)["organization"]
    stored = master_db.organizations.find_one({"organization_name": DEMO_ORGANIZATION_NAME})
    assert organization["id"] == str(stored["_id"])
    assert stored["version"] == 2


def test_delete_event_deletes_demo_organization(state_dir: Path, master_db: Database) -> None:
    result = invoke("delete_organization.json", state_dir)

    assert result.payload["statusCode"] == 200
    assert DEMO_ORGANIZATION_NAME in body_of(result)["message"]
    assert master_db.organizations.count_documents({}) == 0
    assert master_db.admins.count_documents({}) == 0


def test_delete_event_repeat_recreates_demo(state_dir: Path) -> None:
    first = invoke("delete_organization.json", state_dir)
    second = invoke("delete_organization.json", state_dir)

    assert first.payload["statusCode"] == 200
    assert second.payload["statusCode"] == 200


def test_authorizer_event_allows_the_stage(state_dir: Path, master_db: Database) -> None:
    event = read_event(EVENTS / "authorizer.json")

    result = invoke("authorizer.json", state_dir)

    assert not result.failed, result.payload
    policy = result.payload["policyDocument"]
    admin = master_db.admins.find_one({"email": DEMO_ADMIN_EMAIL})
    assert result.payload["principalId"] == str(admin["_id"])
    assert result.payload["context"] == {
        "admin_id": str(admin["_id"]),
        "organization_id": str(admin["organization_id"]),
        "token_version": str(admin["token_version"]),
    }
    assert evaluate_policy(policy, event["methodArn"]) == "Allow"
    delete_arn = event["methodArn"].replace("/PUT/org/update", "/DELETE/org/delete")
    assert evaluate_policy(policy, delete_arn) == "Allow"


def test_authorizer_without_token_reports_unauthorized(state_dir: Path) -> None:
    event = read_event(EVENTS / "authorizer.json")
    event["headers"] = {}
    event["multiValueHeaders"] = {}

    result = invoke_function("AuthorizerFunction", event, state_dir=state_dir)

    assert result.failed
    assert result.payload["errorMessage"] == "Unauthorized"
    assert result.payload["errorType"] == "Exception"


def test_renamed_demo_organization_is_renamed_back(state_dir: Path) -> None:
    event = read_event(EVENTS / "update_organization.json")
    event["body"] = json.dumps({"organization_name": "Renamed Demo"})
    renamed = invoke_function("UpdateOrganizationFunction", event, state_dir=state_dir)
    assert body_of(renamed)["organization"]["organization_name"] == "Renamed Demo"

    result = invoke("get_organization.json", state_dir)

    assert result.payload["statusCode"] == 200


def test_invoke_restores_environment(state_dir: Path) -> None:
    before = dict(os.environ)

    invoke("get_organization.json", state_dir)

    assert dict(os.environ) == before


def test_unknown_placeholder_raises_event_error(state_dir: Path) -> None:
    event = read_event(EVENTS / "get_organization.json")
    event["queryStringParameters"] = {"organization_name": "{{organisation}}"}

    with pytest.raises(EventError, match="organisation"):
        invoke_function("GetOrganizationFunction", event, state_dir=state_dir)


def test_unknown_function_lists_known_ones(state_dir: Path) -> None:
    with pytest.raises(ValueError, match="GetOrganizationFunction"):
        invoke_function("GetOrganisationFunction", EVENTS / "get_organization.json", state_dir=state_dir)


def test_invoke_reuses_live_runner_database(
    state_dir: Path, service_env: dict[str, str], master_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test process acts as a live runner whose database is the session's server.
    state_dir.mkdir()
    write_record(state_dir, RunnerRecord.for_this_process(service_env["MONGODB_URI"], os.getpid()))
    monkeypatch.delenv("MONGODB_URI")

    result = invoke("get_organization.json", state_dir)

    assert result.payload["statusCode"] == 200
    assert master_db.organizations.count_documents({"organization_name": DEMO_ORGANIZATION_NAME}) == 1
    assert not (state_dir / DATA_FOLDER).exists()
    assert (state_dir / RECORD_FILE).exists()


@pytest.mark.slow
def test_invoke_starts_embedded_database(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONGODB_URI")
    monkeypatch.delenv("JWT_SECRET_KEY")

    first = invoke("create_organization.json", state_dir)
    second = invoke("create_organization.json", state_dir)

    assert first.payload["statusCode"] == 201
    # The second run finds the first one's data, because the embedded server keeps it in the state folder.
    assert second.payload["statusCode"] == 409
    assert (state_dir / DATA_FOLDER).is_dir()
    # Only `serve` records itself as the owner of the database.
    assert not (state_dir / RECORD_FILE).exists()
    assert stat.S_IMODE((state_dir / KEY_FILE).stat().st_mode) == 0o600


def test_cli_prints_result_json(state_dir: Path, service_env: dict[str, str]) -> None:
    environment = {**os.environ, **service_env}

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "local_api",
            "invoke",
            "GetOrganizationFunction",
            "events/get_organization.json",
            "--state-dir",
            str(state_dir),
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 1, completed.stdout
    result = json.loads(lines[0])
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["organization_name"] == DEMO_ORGANIZATION_NAME
    assert "Invoking GetOrganizationFunction" in completed.stderr
    assert service_env["JWT_SECRET_KEY"] not in completed.stderr


def test_cli_missing_event_file_exits_2(state_dir: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "local_api",
            "invoke",
            "GetOrganizationFunction",
            "events/missing.json",
            "--state-dir",
            str(state_dir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "events/missing.json not found" in completed.stderr


def test_make_invoke_prints_one_json_line(state_dir: Path, service_env: dict[str, str]) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    # A parent make (`make test`) passes its flags down, and -s among them would hide the echo under test.
    inherited = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    environment = {name: value for name, value in os.environ.items() if name not in inherited}
    environment.update(service_env)
    environment[STATE_DIR_VARIABLE] = str(state_dir)

    completed = subprocess.run(
        [
            make,
            "--no-print-directory",
            # Treat the install stamp as up to date, so the test never reinstalls the virtual environment.
            "--old-file=.venv/.installed",
            "VENV=.venv",
            f"PY={sys.executable}",
            "invoke",
            "FUNCTION=GetOrganizationFunction",
            "EVENT=events/get_organization.json",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 1, completed.stdout
    assert json.loads(lines[0])["statusCode"] == 200


def run_invoke_cli(state_dir: Path, environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "local_api",
            "invoke",
            "GetOrganizationFunction",
            "events/get_organization.json",
            "--state-dir",
            str(state_dir),
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_unreachable_database_exits_2(state_dir: Path, service_env: dict[str, str]) -> None:
    # Nothing listens on port 1, and 100 ms is the shortest server selection timeout the service accepts.
    environment = {
        **os.environ,
        "MONGODB_URI": "mongodb://demo-user:demo-secret@127.0.0.1:1/?authSource=admin",
        "MONGODB_TIMEOUT_MS": "100",
    }

    completed = run_invoke_cli(state_dir, environment)

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "Traceback" not in completed.stderr
    errors = [line for line in completed.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, completed.stderr
    assert "Cannot reach MongoDB at 127.0.0.1:1 (from MONGODB_URI)" in errors[0]
    assert "correct MONGODB_URI, or unset it" in errors[0]
    assert "demo-secret" not in completed.stderr
    assert "demo-user" not in completed.stderr


def test_cli_binary_key_file_exits_2(state_dir: Path, service_env: dict[str, str]) -> None:
    environment = {name: value for name, value in os.environ.items() if name != "JWT_SECRET_KEY"}
    state_dir.mkdir()
    key_path = state_dir / KEY_FILE
    key_path.write_bytes(b"\x80\xff" * 32)
    key_path.chmod(0o600)

    completed = run_invoke_cli(state_dir, environment)

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "Traceback" not in completed.stderr
    errors = [line for line in completed.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, completed.stderr
    assert f"The signing key file {key_path} is not UTF-8 text. Delete it" in errors[0]


def test_taken_demo_name_explains_reset(
    state_dir: Path, service_env: dict[str, str], master_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orgservice.api.deps import get_admin_service, get_organization_service
    from orgservice.core.config import get_settings

    # Another admin owns an organization with the demo name, so invoke can neither log in nor create it.
    settings = get_settings()
    organizations = get_organization_service(settings, get_admin_service(settings))
    organizations.create(organization_name=DEMO_ORGANIZATION_NAME, email="other@example.com", password="other-pass")
    # Reach the session's server through a runner record, as `make invoke` next to `make run` does.
    state_dir.mkdir()
    write_record(state_dir, RunnerRecord.for_this_process(service_env["MONGODB_URI"], os.getpid()))
    monkeypatch.delenv("MONGODB_URI")

    with pytest.raises(DemoSetupError) as raised:
        invoke("get_organization.json", state_dir)

    assert "Cannot create the demo organization" in str(raised.value)
    assert f"stop `make run` and delete {state_dir} to reset all local data" in str(raised.value)
    assert master_db.organizations.count_documents({"organization_name": DEMO_ORGANIZATION_NAME}) == 1
