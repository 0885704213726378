"""Password hashing with bcrypt."""

from __future__ import annotations

import bcrypt

# bcrypt reads at most 72 bytes of input; longer passwords are rejected by validation, never truncated.
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str, *, rounds: int) -> bytes:
    """Hash a password with a fresh salt at the given bcrypt cost."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds))


def verify_password(password: str, password_hash: bytes) -> bool:
    """Check a password against a stored bcrypt hash."""
    try:
        encoded = password.encode("utf-8")
    except UnicodeEncodeError:
        return False

    if len(encoded) > MAX_PASSWORD_BYTES:
        return False
    return bcrypt.checkpw(encoded, password_hash)


def _dummy_hash(rounds: int) -> bytes:
    # A well-formed bcrypt hash string at the configured cost, with an all-zero salt and digest. It
    # matches no password, and checking against it costs the same as a real check without first
    # computing a hash, so the first unknown email of a container is no slower than later ones.
    return f"$2b${rounds:02d}$".encode("ascii") + b"." * 53


def verify_against_dummy(password: str, *, rounds: int) -> None:
    """Spend the time of one password check for a login whose email is unknown.

    Without it, an unknown email returns faster than a wrong password, which reveals to an attacker
    which emails have accounts.
    """
    verify_password(password, _dummy_hash(rounds))
