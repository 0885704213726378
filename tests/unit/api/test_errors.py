"""describe_validation_error: one sentence that names each invalid field and the fix.

Most errors come from validating the real request models, with the ("body",) prefix that FastAPI adds.
The few that FastAPI builds itself (invalid JSON, no body, a missing query parameter) are written out
in the shape FastAPI gives them.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from orgservice.api.errors import describe_validation_error
from orgservice.schemas import AdminLogin, OrganizationCreate, OrganizationUpdate
from pydantic import BaseModel, ValidationError

VALID_CREATE = {"organization_name": "Acme Corp", "email": "admin@example.com", "password": "correct-horse-42"}


def body_errors(model: type[BaseModel], data: Any) -> RequestValidationError:
    """Validate `data` as FastAPI does for a JSON body and return the error it would raise."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in caught.value.errors()])


@pytest.mark.parametrize(
    ("model", "data", "phrase"),
    [
        (OrganizationCreate, {}, "'organization_name' is missing; add it to the JSON body"),
        (OrganizationCreate, {**VALID_CREATE, "role": "owner"}, "'role' is not an accepted field; remove it"),
        (OrganizationCreate, {**VALID_CREATE, "email": {"$ne": None}}, "'email' must be a string"),
        (OrganizationCreate, {**VALID_CREATE, "password": 12345678}, "'password' must be a string"),
        (OrganizationCreate, {**VALID_CREATE, "password": "short"}, "'password' must be at least 8 characters long"),
        (OrganizationCreate, {**VALID_CREATE, "password": "€" * 25}, "'password' is 75 bytes in UTF-8"),
        (OrganizationCreate, {**VALID_CREATE, "email": "nope"}, "'email' is not a valid email address: "),
        (OrganizationCreate, {**VALID_CREATE, "organization_name": "😀"}, "'organization_name' contains no ASCII"),
        (AdminLogin, {"email": "admin@example.com", "password": "x" * 2000}, "'password' is too long"),
        (AdminLogin, [], "The request body must be a JSON object, not an array or a single value"),
        (AdminLogin, 5, "The request body must be a JSON object, not an array or a single value"),
        (AdminLogin, b'{"email": "admin@example.com"}', "sent with 'Content-Type: application/json'"),
    ],
)
def test_describe_names_field_and_fix(model: type[BaseModel], data: Any, phrase: str) -> None:
    assert phrase in describe_validation_error(body_errors(model, data))


def test_describe_drops_pydantic_prefix() -> None:
    detail = describe_validation_error(body_errors(OrganizationCreate, {**VALID_CREATE, "password": "short"}))

    assert "Value error" not in detail


def test_describe_wraps_sentence() -> None:
    detail = describe_validation_error(body_errors(OrganizationCreate, {**VALID_CREATE, "password": "short"}))

    assert detail == "Invalid request. 'password' must be at least 8 characters long."


def test_describe_joins_several_errors() -> None:
    detail = describe_validation_error(body_errors(OrganizationCreate, {"organization_name": "Acme Corp"}))

    assert detail == (
        "Invalid request. 'email' is missing; add it to the JSON body. 'password' is missing; add it to the JSON body."
    )


def test_describe_collapses_repeated_phrase() -> None:
    error = {"type": "missing", "loc": ("body", "email"), "msg": "Field required", "input": {}}

    detail = describe_validation_error(RequestValidationError([error, dict(error)]))

    assert detail.count("'email' is missing") == 1


@pytest.mark.parametrize(
    ("error", "phrase"),
    [
        (
            {"type": "json_invalid", "loc": ("body", 1), "msg": "JSON decode error", "input": {}},
            "The request body is not valid JSON; send a JSON object",
        ),
        (
            {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None},
            "The request body is missing; send a JSON object",
        ),
        (
            {"type": "missing", "loc": ("query", "organization_name"), "msg": "Field required", "input": None},
            "'organization_name' is missing; add it to the query string",
        ),
    ],
)
def test_describe_framework_errors(error: dict[str, Any], phrase: str) -> None:
    assert phrase in describe_validation_error(RequestValidationError([error]))


def test_describe_keeps_model_level_rule() -> None:
    detail = describe_validation_error(body_errors(OrganizationUpdate, {}))

    assert "Send at least one of organization_name, email or password" in detail


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [("organization_name", "a" * 401, "at most 100"), ("password", "p" * 1025, "at most 72 bytes")],
)
def test_describe_states_documented_limit(field: str, value: str, limit: str) -> None:
    detail = describe_validation_error(body_errors(OrganizationCreate, {**VALID_CREATE, field: value}))

    assert limit in detail
