"""Shared fixtures: one MongoDB server per test session and a fresh master database per test.

Without MONGODB_URI the session starts the embedded SecantusDB on 127.0.0.1; with it, every test
runs against that server instead, in databases named `test_<random>` that are dropped afterwards.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import uuid
from collections.abc import Iterator

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from local_api.embedded_db import EmbeddedMongo
from local_api.lambda_events import ensure_layer_on_path

ensure_layer_on_path()

from orgservice.core import db  # noqa: E402
from orgservice.core.config import get_settings  # noqa: E402

TEST_BCRYPT_ROUNDS = "4"
FUNCTIONS = [
    "authorizer",
    "admin_login",
    "create_organization",
    "get_organization",
    "update_organization",
    "delete_organization",
]


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of the MongoDB server that the whole test session uses."""
    external = os.environ.get("MONGODB_URI")
    if external:
        yield external
        return

    server = EmbeddedMongo(tmp_path_factory.mktemp("secantus") / "data").start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_client(mongo_uri: str) -> Iterator[MongoClient]:
    """A client of the tests' own, for checking what the service wrote."""
    client = MongoClient(mongo_uri, tz_aware=True)
    yield client
    client.close()


@pytest.fixture
def service_env(mongo_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Point the service at a fresh master database with a random signing key and a cheap bcrypt cost."""
    database_name = f"test_{uuid.uuid4().hex[:12]}"
    values = {
        "MONGODB_URI": mongo_uri,
        "MONGODB_DATABASE": database_name,
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "BCRYPT_ROUNDS": TEST_BCRYPT_ROUNDS,
        "POWERTOOLS_SERVICE_NAME": "org-management-test",
    }
    for name in ("MONGODB_URI_SECRET_ID", "JWT_SECRET_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)

    get_settings.cache_clear()
    db.reset()
    yield values

    db.reset()
    get_settings.cache_clear()
    cleanup = MongoClient(mongo_uri)
    try:
        cleanup.drop_database(database_name)
    finally:
        cleanup.close()


@pytest.fixture
def master_db(service_env: dict[str, str], mongo_client: MongoClient) -> Database:
    """The master database of the current test, read through the tests' own client."""
    return mongo_client[service_env["MONGODB_DATABASE"]]


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A moto Secrets Manager client, with fake credentials and the secret caches cleared.

    Powertools and orgservice.core.keys keep their providers, with their boto3 clients, and every
    fetched value in module state, so the caches are cleared on both sides of the test.
    """
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
        monkeypatch.delenv(name, raising=False)

    from orgservice.core import keys

    parameters.clear_caches()
    keys.clear_cache()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")
    parameters.clear_caches()
    keys.clear_cache()


@pytest.fixture
def powertools_log(service_env: dict[str, str]) -> Iterator[io.StringIO]:
    """The JSON lines that the functions' Powertools loggers write during the test.

    Every function module is imported first, so the service's logger has its handler, and that
    handler's stream is swapped for a buffer until the test ends.
    """
    from tests.integration.functions.invoke import handler_of

    for function in FUNCTIONS:
        handler_of(function)

    buffer = io.StringIO()
    handlers = logging.getLogger(service_env["POWERTOOLS_SERVICE_NAME"]).handlers
    streams = [handler.setStream(buffer) for handler in handlers if isinstance(handler, logging.StreamHandler)]
    yield buffer

    for handler, stream in zip(handlers, streams, strict=True):
        handler.setStream(stream)


@pytest.fixture
def ssm(secretsmanager: object) -> object:
    """A moto SSM client in the same mocked account as the `secretsmanager` fixture."""
    import boto3

    return boto3.client("ssm", region_name="us-east-1")
