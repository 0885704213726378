"""Property-based tests: hostile names, emails, passwords and raw bodies through the real handlers.

For every input the handlers return a status below 500, no query operator from the input reaches
MongoDB, and every collection the service names matches `org_[a-z0-9_]+` within MongoDB's
namespace limit. A pymongo command listener records what the service sends to the server.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import monitoring
from pymongo.database import Database

from tests.integration.functions.invoke import Tenant, create_organization, get_organization, invoke, login

# MongoDB 4.4 and later limit a namespace, "<database>.<collection>", to 255 bytes.
MAX_NAMESPACE_BYTES = 255
TENANT_COLLECTION = re.compile(r"org_[a-z0-9_]+")
MASTER_COLLECTIONS = {"organizations", "admins", "login_attempts"}
# Fields whose filter values come from a request, and the operators the service itself writes there.
INPUT_FIELDS = {"email", "slug", "organization_name", "_id", "organization_id"}
SERVICE_OPERATORS = {"$ne", "$in"}
# Commands whose value is the collection they act on.
COLLECTION_COMMANDS = {
    "find",
    "insert",
    "update",
    "delete",
    "findAndModify",
    "count",
    "aggregate",
    "create",
    "drop",
    "createIndexes",
}

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class CommandRecorder(monitoring.CommandListener):
    """Keeps every command that a client sends while recording is on."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str, dict[str, Any]]] = []
        self.recording = False
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.recording:
            with self._lock:
                self.commands.append((event.database_name, event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


RECORDER = CommandRecorder()
# Registered listeners apply to every MongoClient built afterwards, which includes the service's
# client, because service_env closes it before each test.
monitoring.register(RECORDER)


@pytest.fixture
def recorder(service_env: dict[str, str]) -> Iterator[CommandRecorder]:
    RECORDER.commands.clear()
    RECORDER.recording = True
    try:
        yield RECORDER
    finally:
        RECORDER.recording = False


def operator_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {key for key in value if isinstance(key, str) and key.startswith("$")}
    return set()


def check_filter(query: Any) -> None:
    """Fail if a request-supplied field in the filter carries anything but a scalar or a service operator."""
    if not isinstance(query, dict):
        return

    for key, value in query.items():
        if key in ("$or", "$and", "$nor"):
            for clause in value:
                check_filter(clause)
            continue

        assert not key.startswith("$"), f"top-level operator {key} in filter {query!r}"
        if key not in INPUT_FIELDS:
            continue

        operators = operator_keys(value)
        if not operators:
            assert isinstance(value, str | ObjectId), f"{key} filtered by {value!r}"
            continue

        assert operators <= SERVICE_OPERATORS, f"{key} filtered with {operators}"
        for operand in value.values():
            items = operand if isinstance(operand, list) else [operand]
            assert all(isinstance(item, str | bytes | ObjectId) for item in items), f"{key} operand {operand!r}"


def check_collection(database: str, collection: str) -> None:
    if collection in MASTER_COLLECTIONS:
        return
    assert TENANT_COLLECTION.fullmatch(collection), f"collection name {collection!r}"
    assert len(f"{database}.{collection}".encode()) <= MAX_NAMESPACE_BYTES, f"namespace {database}.{collection}"


def check_commands(recorder: CommandRecorder, database: str) -> None:
    """Check every recorded command against the test's master database."""
    for database_name, name, command in recorder.commands:
        if name == "renameCollection":
            for namespace in (command["renameCollection"], command["to"]):
                owner, _, collection = namespace.partition(".")
                check_collection(owner, collection)
            continue
        if database_name != database or name not in COLLECTION_COMMANDS:
            continue

        check_collection(database_name, command[name])
        if name in ("find", "count"):
            check_filter(command.get("filter", command.get("query")))
        elif name == "findAndModify":
            check_filter(command.get("query"))
        elif name == "update":
            for update in command.get("updates", []):
                check_filter(update.get("q"))
        elif name == "delete":
            for delete in command.get("deletes", []):
                check_filter(delete.get("q"))
        elif name == "insert":
            for document in command.get("documents", []):
                assert not operator_keys(document), f"operator keys in inserted document {document!r}"
    recorder.commands.clear()


# Strings that break naive handling: NUL, control and format characters, surrogates, very long runs.
hostile_text = st.one_of(
    st.text(max_size=120),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(["", " ", "\x00", "a\x00b", "$ne", "{\"$ne\": null}", "org_..", "system.users", "..", "$where"]),
    st.builds(lambda character, count: character * count, st.characters(), st.integers(min_value=100, max_value=20000)),
)
operator_objects = st.one_of(
    st.just({"$ne": None}),
    st.just({"$gt": ""}),
    st.just({"$regex": ".*"}),
    st.dictionaries(
        st.sampled_from(["$ne", "$gt", "$in", "$where", "$exists", "$regex"]), st.none() | st.text(max_size=5)
    ),
)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text
hostile_values = st.one_of(
    hostile_text,
    operator_objects,
    json_scalars,
    st.lists(json_scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), json_scalars, max_size=3),
)
emails = st.one_of(hostile_values, st.emails(), st.builds(lambda local: f"{local}@example.com", hostile_text))
field_names = ["organization_name", "email", "password"]
bodies = st.one_of(
    st.fixed_dictionaries({}, optional={name: hostile_values for name in field_names}),
    st.fixed_dictionaries({"organization_name": hostile_values, "email": emails, "password": hostile_values}),
    st.lists(hostile_values, max_size=3),
    json_scalars,
    st.dictionaries(hostile_text, hostile_values, max_size=4),
)
raw_bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    st.sampled_from(['{"email": ', "[", "{}" * 5000, "[" * 5000 + "]" * 5000, '{"a": 1e999999}', "\ufeff{}", "null"]),
    bodies.map(json.dumps),
)
content_types = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""])


RESPONSE_FIELDS = {
    "detail",
    "message",
    "organization",
    "admin_id",
    "access_token",
    "token_type",
    "expires_in",
    "id",
    "organization_name",
    "collection_name",
    "created_at",
    "updated_at",
}


def assert_no_server_error(status: int, body: Any) -> None:
    assert status < 500, body
    assert isinstance(body, dict), body
    assert set(body) <= RESPONSE_FIELDS, body


@SETTINGS
@given(body=bodies)
def test_create_hostile_body_never_5xx(recorder: CommandRecorder, master_db: Database, body: Any) -> None:
    response = invoke("create_organization", method="POST", path="/org/create", json_body=body)

    assert_no_server_error(response.status, response.body)
    check_commands(recorder, master_db.name)


@SETTINGS
@given(name=hostile_values, email=emails, password=hostile_values)
def test_create_hostile_fields_never_5xx(
    recorder: CommandRecorder, master_db: Database, name: Any, email: Any, password: Any
) -> None:
    response = create_organization(name, email, password)

    assert_no_server_error(response.status, response.body)
    check_commands(recorder, master_db.name)


@SETTINGS
@given(email=emails, password=hostile_values)
def test_login_hostile_fields_never_5xx(
    recorder: CommandRecorder, master_db: Database, acme: Tenant, email: Any, password: Any
) -> None:
    response = login(email, password)

    assert_no_server_error(response.status, response.body)
    assert response.status in (401, 422, 429)
    check_commands(recorder, master_db.name)


@SETTINGS
@given(name=hostile_text)
def test_get_hostile_name_never_5xx(recorder: CommandRecorder, master_db: Database, acme: Tenant, name: str) -> None:
    response = get_organization(name)

    assert_no_server_error(response.status, response.body)
    check_commands(recorder, master_db.name)


@SETTINGS
@given(body=bodies)
def test_update_hostile_body_never_5xx(recorder: CommandRecorder, master_db: Database, acme: Tenant, body: Any) -> None:
    admin = master_db.admins.find_one({"_id": ObjectId(acme.admin_id)})
    context = {**acme.context, "token_version": str(admin["token_version"])}

    response = invoke(
        "update_organization", method="PUT", path="/org/update", json_body=body, authorizer_context=context
    )

    assert_no_server_error(response.status, response.body)
    check_commands(recorder, master_db.name)


@SETTINGS
@given(function=st.sampled_from(["create", "login", "update"]), raw=raw_bodies, content_type=content_types)
def test_raw_body_never_5xx(
    recorder: CommandRecorder, master_db: Database, acme: Tenant, function: str, raw: str | bytes, content_type: str
) -> None:
    target = {
        "create": ("create_organization", "POST", "/org/create"),
        "login": ("admin_login", "POST", "/org/admin/login"),
        "update": ("update_organization", "PUT", "/org/update"),
    }[function]
    headers = {"Content-Type": content_type} if content_type else {}

    response = invoke(
        target[0], method=target[1], path=target[2], body=raw, headers=headers, authorizer_context=acme.context
    )

    assert_no_server_error(response.status, response.body)
    check_commands(recorder, master_db.name)


@SETTINGS
@given(name=st.text(min_size=1, max_size=110))
def test_create_any_name_stays_in_pattern(recorder: CommandRecorder, master_db: Database, name: str) -> None:
    email = f"admin-{ObjectId()}@example.com"

    response = create_organization(name, email, "correct-horse-42")

    assert_no_server_error(response.status, response.body)
    if response.status == 201:
        check_collection(master_db.name, response.body["organization"]["collection_name"])
    check_commands(recorder, master_db.name)


@SETTINGS
@given(name=st.text(min_size=1, max_size=110))
def test_rename_any_name_stays_in_pattern(
    recorder: CommandRecorder, master_db: Database, acme: Tenant, name: str
) -> None:
    response = invoke(
        "update_organization",
        method="PUT",
        path="/org/update",
        json_body={"organization_name": name},
        authorizer_context=acme.context,
    )

    assert_no_server_error(response.status, response.body)
    check_commands(recorder, master_db.name)
    for collection in master_db.list_collection_names():
        check_collection(master_db.name, collection)


def test_listener_sees_service_commands(recorder: CommandRecorder, master_db: Database) -> None:
    create_organization("Acme Corp", "admin@acme.example.com")

    names = {name for _database, name, _command in recorder.commands}

    assert {"insert", "create"} <= names
    check_commands(recorder, master_db.name)


def test_check_filter_catches_operator() -> None:
    with pytest.raises(AssertionError):
        check_filter({"email": {"$ne": None}})
    with pytest.raises(AssertionError):
        check_filter({"slug": {"$gt": ""}})


def test_check_collection_catches_bad_name() -> None:
    for collection in ("org_A", "org_a.b", "system.users", "org_", "org_" + "a" * 300):
        with pytest.raises(AssertionError):
            check_collection("test_db", collection)
