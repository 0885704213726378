"""raise_duplicates: which unique-index violations become DuplicateValueError, and for which field."""

from __future__ import annotations

import pytest
from orgservice.repositories.errors import DuplicateValueError, raise_duplicates
from pymongo.errors import DuplicateKeyError


def duplicate_key(details: dict[str, object]) -> DuplicateKeyError:
    return DuplicateKeyError(str(details.get("errmsg", "E11000 duplicate key error")), 11000, details)


@pytest.mark.parametrize(
    ("details", "field"),
    [
        ({"keyPattern": {"slug": 1}, "keyValue": {"slug": "acme_corp"}}, "slug"),
        ({"keyPattern": {"email": 1}, "keyValue": {"email": "a@example.com"}}, "email"),
        ({"errmsg": "E11000 duplicate key error collection: db.organizations index: slug_unique dup key"}, "slug"),
        ({"errmsg": 'E11000 duplicate key error collection: db.admins dup key: { email: "a@example.com" }'}, "email"),
    ],
)
def test_duplicate_names_indexed_field(details: dict[str, object], field: str) -> None:
    with pytest.raises(DuplicateValueError) as caught, raise_duplicates("slug", "email"):
        raise duplicate_key(details)

    assert caught.value.field == field


def test_duplicate_on_other_index_reraised() -> None:
    error = duplicate_key({"keyPattern": {"_id": 1}, "errmsg": "E11000 duplicate key error index: _id_"})

    with pytest.raises(DuplicateKeyError), raise_duplicates("slug"):
        raise error


def test_duplicate_field_outside_list_reraised() -> None:
    with pytest.raises(DuplicateKeyError), raise_duplicates("slug"):
        raise duplicate_key({"keyPattern": {"email": 1}})


def test_other_errors_pass_through() -> None:
    with pytest.raises(KeyError), raise_duplicates("slug"):
        raise KeyError("slug")


def test_duplicate_keeps_driver_cause() -> None:
    original = duplicate_key({"keyPattern": {"slug": 1}})

    with pytest.raises(DuplicateValueError) as caught, raise_duplicates("slug"):
        raise original

    assert caught.value.__cause__ is original
