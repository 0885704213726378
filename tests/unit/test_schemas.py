"""Request bodies: password limits in characters and UTF-8 bytes, strict types and required fields."""

from __future__ import annotations

import pytest
from orgservice.schemas import AdminLogin, OrganizationCreate, OrganizationPublic, OrganizationUpdate
from pydantic import ValidationError

VALID_CREATE = {"organization_name": "Acme Corp", "email": "admin@example.com", "password": "correct-horse-42"}


def create_with(**changes: object) -> OrganizationCreate:
    return OrganizationCreate.model_validate({**VALID_CREATE, **changes})


@pytest.mark.parametrize(
    "password",
    [
        "a" * 8,
        "€" * 8,
        "a" * 72,
        "€" * 24,
        "a" * 70 + "é",
    ],
)
def test_new_password_accepts_within_limits(password: str) -> None:
    assert create_with(password=password).password == password


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("a" * 7, "at least 8 characters"),
        ("€" * 7, "at least 8 characters"),
        ("a" * 73, "73 bytes in UTF-8"),
        ("€" * 25, "75 bytes in UTF-8"),
        ("a" * 71 + "é", "73 bytes in UTF-8"),
    ],
)
def test_new_password_rejects_outside_limits(password: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        create_with(password=password)


def test_new_password_error_names_bcrypt_limit() -> None:
    with pytest.raises(ValidationError) as caught:
        create_with(password="€" * 25)

    message = caught.value.errors()[0]["msg"]
    assert "at most 72 bytes" in message
    assert "bcrypt" in message


@pytest.mark.parametrize("field", ["organization_name", "email", "password"])
@pytest.mark.parametrize("value", [12345678, ["x"], {"$ne": None}, None, True])
def test_create_rejects_non_string_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        create_with(**{field: value})

    assert caught.value.errors()[0]["loc"] == (field,)


def test_create_rejects_extra_field() -> None:
    with pytest.raises(ValidationError) as caught:
        create_with(role="owner")

    assert caught.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize("email", ["nope", "a@", "@example.com", "a b@example.com", "a@example..com"])
def test_create_rejects_invalid_email(email: str) -> None:
    with pytest.raises(ValidationError) as caught:
        create_with(email=email)

    assert caught.value.errors()[0]["loc"] == ("email",)


def test_create_trims_organization_name() -> None:
    assert create_with(organization_name="  Acme Corp  ").organization_name == "Acme Corp"


def test_new_password_rejects_nul() -> None:
    with pytest.raises(ValidationError, match="NUL character U\\+0000"):
        create_with(password="\x00" * 8)


def test_update_password_rejects_nul() -> None:
    with pytest.raises(ValidationError, match="NUL character U\\+0000"):
        OrganizationUpdate(password="correct\x00horse")


def test_login_rejects_nul_password() -> None:
    with pytest.raises(ValidationError, match="NUL character U\\+0000"):
        AdminLogin(email="admin@example.com", password="\x00" * 9)


def test_login_accepts_short_password() -> None:
    assert AdminLogin(email="admin@example.com", password="x").password == "x"


def test_login_rejects_empty_password() -> None:
    with pytest.raises(ValidationError, match="must not be empty"):
        AdminLogin(email="admin@example.com", password="")


@pytest.mark.parametrize("body", [{}, {"organization_name": None, "email": None, "password": None}])
def test_update_requires_one_field(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="send at least one of organization_name, email or password"):
        OrganizationUpdate.model_validate(body)


@pytest.mark.parametrize(
    "body",
    [
        {"organization_name": "Globex"},
        {"email": "new@example.com"},
        {"password": "another-horse-42"},
    ],
)
def test_update_accepts_single_field(body: dict[str, str]) -> None:
    update = OrganizationUpdate.model_validate(body)

    assert update.model_dump(exclude_none=True).keys() == body.keys()


def test_public_organization_omits_admin_email() -> None:
    assert "admin_email" not in OrganizationPublic.model_fields


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("ＵＳＥＲ@h.example", "USER@h.example"),
        ("ｕｓｅｒ@ｈ.ｅｘａｍｐｌｅ", "user@h.example"),
        ("ﬁnance@h.example", "finance@h.example"),
    ],
)
def test_email_folds_compatibility_characters(email: str, expected: str) -> None:
    assert create_with(email=email).email == expected
    assert AdminLogin.model_validate({"email": email, "password": "x"}).email == expected
    assert OrganizationUpdate.model_validate({"email": email}).email == expected


@pytest.mark.parametrize("length", [255, 2049, 10_000])
@pytest.mark.parametrize("model", ["create", "login", "update"])
def test_email_over_254_characters_rejected_alike(model: str, length: int) -> None:
    email = "a" * (length - len("@h.example")) + "@h.example"
    bodies = {
        "create": (OrganizationCreate, {**VALID_CREATE, "email": email}),
        "login": (AdminLogin, {"email": email, "password": "x"}),
        "update": (OrganizationUpdate, {"email": email}),
    }
    schema, body = bodies[model]

    with pytest.raises(ValidationError) as raised:
        schema.model_validate(body)

    [error] = raised.value.errors()
    assert error["type"] == "string_too_long"
    assert error["ctx"] == {"max_length": 254}
