"""Password hashing with bcrypt."""

from __future__ import annotations

import functools

import bcrypt

# bcrypt reads at most 72 bytes of input; longer passwords are rejected by validation, never truncated.
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str, *, rounds: int) -> bytes:
    """Hash a password with a fresh salt at the given bcrypt cost."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds))


def verify_password(password: str, password_hash: bytes) -> bool:
    """Check a password against a stored bcrypt hash."""
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        return False
    return bcrypt.checkpw(encoded, password_hash)


@functools.cache
def _dummy_hash(rounds: int) -> bytes:
    return bcrypt.hashpw(b"dummy-password-for-timing", bcrypt.gensalt(rounds=rounds))


def verify_against_dummy(password: str, *, rounds: int) -> None:
    """Spend the time of one password check for a login whose email is unknown.

    Without it, an unknown email returns faster than a wrong password, which tells an attacker
    which emails have accounts. The dummy hash is built once per container and cost.
    """
    verify_password(password, _dummy_hash(rounds))
