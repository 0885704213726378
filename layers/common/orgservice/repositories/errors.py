"""Driver-neutral errors that repositories raise in place of pymongo's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pymongo.errors import DuplicateKeyError


class DuplicateValueError(Exception):
    """A write hit a unique index; `field` names the indexed field."""

    def __init__(self, field: str) -> None:
        super().__init__(f"duplicate value for {field}")
        self.field = field


@contextlib.contextmanager
def raise_duplicates(*fields: str) -> Iterator[None]:
    """Re-raise a DuplicateKeyError on one of `fields` as DuplicateValueError naming that field."""
    try:
        yield
    except DuplicateKeyError as error:
        details = error.details or {}
        key_pattern = details.get("keyPattern") or {}
        message = str(details.get("errmsg", error))
        for field in fields:
            if field in key_pattern or f"{field}_" in message or f" {field}:" in message:
                raise DuplicateValueError(field) from error
        raise
