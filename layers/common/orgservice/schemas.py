"""Request and response bodies of the HTTP API, validated by pydantic."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, model_validator
from pydantic_core import PydanticCustomError

from orgservice.core.security import MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH
from orgservice.models import Admin, Organization
from orgservice.naming import validate_organization_name

# The maximum length of a forward or reverse path in SMTP (RFC 5321, section 4.5.3.1.3) less the
# angle brackets, the limit that email-validator applies too.
MAX_EMAIL_LENGTH = 254


# bcrypt reads a password as a C string and stops at the first NUL byte, so "a\x00b" and "a\x00c" would
# hash alike. A password with NUL is rejected instead.
NUL_IN_PASSWORD = "contains the NUL character U+0000, which bcrypt reads as the end of the password; remove it"


def _validate_new_password(value: str) -> str:
    if len(value) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"must be at least {MIN_PASSWORD_LENGTH} characters long")
    if "\x00" in value:
        raise ValueError(NUL_IN_PASSWORD)

    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(
            "contains an unpaired surrogate, which is not valid text; send the password as UTF-8"
        ) from None

    if size > MAX_PASSWORD_BYTES:
        raise ValueError(f"is {size} bytes in UTF-8; use at most {MAX_PASSWORD_BYTES} bytes, the input limit of bcrypt")
    return value


def _normalize_email(value: Any) -> Any:
    """Check the length, then fold compatibility characters with NFKC before EmailStr validates.

    NFKC turns look-alikes such as fullwidth "ＵＳＥＲ" into "USER", and the services lowercase
    the result, so they collide with "user" under the unique email index. The length is checked
    first, so an oversized value gets the documented limit instead of pydantic's own 2,048.
    """
    if not isinstance(value, str):
        # The strict string check of EmailStr reports the wrong type.
        return value

    if len(value) > MAX_EMAIL_LENGTH:
        raise PydanticCustomError(
            "string_too_long",
            "String should have at most {max_length} characters",
            {"max_length": MAX_EMAIL_LENGTH},
        )
    return unicodedata.normalize("NFKC", value)


def _validate_login_password(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    if "\x00" in value:
        raise ValueError(NUL_IN_PASSWORD)
    return value


# The validators check lengths first, so even a very long value costs only one pass over it.
OrganizationName = Annotated[str, AfterValidator(validate_organization_name)]
NewPassword = Annotated[str, AfterValidator(_validate_new_password)]
# A login password longer than bcrypt's limit fails like any wrong password, with 401.
LoginPassword = Annotated[str, Field(max_length=1024), AfterValidator(_validate_login_password)]
Email = Annotated[EmailStr, BeforeValidator(_normalize_email), Field(max_length=MAX_EMAIL_LENGTH)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strict=True)


class OrganizationCreate(_Request):
    """Body of POST /org/create."""

    organization_name: OrganizationName
    email: Email
    password: NewPassword


class AdminLogin(_Request):
    """Body of POST /org/admin/login."""

    email: Email
    password: LoginPassword


class OrganizationUpdate(_Request):
    """Body of PUT /org/update: any of the fields, at least one."""

    organization_name: OrganizationName | None = None
    email: Email | None = None
    password: NewPassword | None = None

    @model_validator(mode="after")
    def _require_one_field(self) -> OrganizationUpdate:
        if self.organization_name is None and self.email is None and self.password is None:
            raise ValueError("send at least one of organization_name, email or password")
        return self


class OrganizationPublic(BaseModel):
    """Fields of an organization that anyone may read."""

    id: str
    organization_name: str
    collection_name: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, organization: Organization) -> OrganizationPublic:
        return cls(
            id=organization.id,
            organization_name=organization.organization_name,
            collection_name=organization.location.collection_name,
            created_at=organization.created_at,
            updated_at=organization.updated_at,
        )


class OrganizationDetail(OrganizationPublic):
    """Fields of an organization shown to its admin, with the admin's email."""

    admin_email: str

    @classmethod
    def of_admin(cls, organization: Organization, admin: Admin) -> OrganizationDetail:
        return cls(**OrganizationPublic.of(organization).model_dump(), admin_email=admin.email)


class OrganizationCreated(BaseModel):
    """Response of POST /org/create."""

    message: str
    organization: OrganizationDetail
    admin_id: str


class OrganizationUpdated(BaseModel):
    """Response of PUT /org/update."""

    message: str
    organization: OrganizationDetail


class AccessToken(BaseModel):
    """Response of POST /org/admin/login."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Message(BaseModel):
    """A response that carries only a sentence."""

    message: str


class ErrorBody(BaseModel):
    """Body of every error response."""

    detail: str
