"""No password, hash, token or key in any log line of a full create, login, update and delete run."""

from __future__ import annotations

import base64
import io

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.integration.functions.invoke import (
    authorize,
    create_organization,
    delete_organization,
    login,
    update_organization,
)

PASSWORD = "correct-horse-42"
NEW_PASSWORD = "battery-staple-77"


def test_full_run_logs_no_secret(
    service_env: dict[str, str],
    master_db: Database,
    powertools_log: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("DEBUG")
    created = create_organization("Acme Corp", "admin@acme.example.com", PASSWORD)
    admin_id = ObjectId(created.body["admin_id"])
    first_hash = bytes(master_db.admins.find_one({"_id": admin_id})["password_hash"])

    assert login("admin@acme.example.com", "wrong-password").status == 401
    token = login("admin@acme.example.com", PASSWORD).body["access_token"]
    context = authorize({"Authorization": f"Bearer {token}"})["context"]
    changes = {"organization_name": "Acme Industries", "password": NEW_PASSWORD}
    assert update_organization(context, changes).status == 200
    second_hash = bytes(master_db.admins.find_one({"_id": admin_id})["password_hash"])

    new_token = login("admin@acme.example.com", NEW_PASSWORD).body["access_token"]
    assert update_organization(context, {"organization_name": "Acme Again"}).status == 401
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize({"Authorization": f"Bearer {new_token}x"})
    new_context = authorize({"Authorization": f"Bearer {new_token}"})["context"]
    assert delete_organization(new_context).status == 200

    captured = capfd.readouterr()
    records = "\n".join(repr(record.__dict__) for record in caplog.records)
    logs = "\n".join([powertools_log.getvalue(), caplog.text, records, captured.out, captured.err])
    assert "Login succeeded" in logs

    secrets = {
        "password": PASSWORD,
        "new password": NEW_PASSWORD,
        "wrong password": "wrong-password",
        "first hash": first_hash.decode(),
        "second hash": second_hash.decode(),
        "bcrypt hash prefix": "$2b$",
        "token": token,
        "new token": new_token,
        "token signature": token.rsplit(".", 1)[1],
        "signing key": service_env["JWT_SECRET_KEY"],
        "signing key in base64": base64.b64encode(service_env["JWT_SECRET_KEY"].encode()).decode(),
    }
    for name, secret in secrets.items():
        assert secret not in logs, f"the {name} appears in the log"
