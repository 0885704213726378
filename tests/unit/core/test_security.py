"""Password hashing with real bcrypt: round trip, cost, salts and the 72-byte input limit."""

from __future__ import annotations

import bcrypt
import pytest
from orgservice.core.security import MAX_PASSWORD_BYTES, hash_password, verify_against_dummy, verify_password

ROUNDS = 4


def test_verify_accepts_hashed_password() -> None:
    password_hash = hash_password("correct-horse-42", rounds=ROUNDS)

    assert verify_password("correct-horse-42", password_hash)


@pytest.mark.parametrize(
    "attempt", ["correct-horse-43", "Correct-horse-42", "correct-horse-42 ", "", "correct-horse-4"]
)
def test_verify_rejects_other_password(attempt: str) -> None:
    password_hash = hash_password("correct-horse-42", rounds=ROUNDS)

    assert not verify_password(attempt, password_hash)


def test_hash_embeds_requested_cost() -> None:
    assert hash_password("correct-horse-42", rounds=5).startswith(b"$2b$05$")


def test_hash_uses_fresh_salt() -> None:
    assert hash_password("correct-horse-42", rounds=ROUNDS) != hash_password("correct-horse-42", rounds=ROUNDS)


def test_hash_is_real_bcrypt() -> None:
    password_hash = hash_password("correct-horse-42", rounds=ROUNDS)

    assert bcrypt.checkpw(b"correct-horse-42", password_hash)


@pytest.mark.parametrize(
    ("stored", "attempt"),
    [
        ("a" * 71 + "b", "a" * 71 + "c"),
        ("€" * 24, "€" * 23 + "£" + "a"),
        ("€" * 24, "€" * 23 + "¥"),
    ],
)
def test_verify_checks_every_byte_up_to_limit(stored: str, attempt: str) -> None:
    assert len(stored.encode("utf-8")) == MAX_PASSWORD_BYTES
    password_hash = hash_password(stored, rounds=ROUNDS)

    assert verify_password(stored, password_hash)
    assert not verify_password(attempt, password_hash)


def test_verify_rejects_longer_password_with_stored_prefix() -> None:
    stored = "a" * MAX_PASSWORD_BYTES
    password_hash = hash_password(stored, rounds=ROUNDS)

    assert not verify_password(stored + "a", password_hash)


def test_verify_keeps_bytes_after_nul() -> None:
    password_hash = hash_password("abc\x00defgh", rounds=ROUNDS)

    assert not verify_password("abc\x00zzzzz", password_hash)


def test_hash_rejects_password_over_limit() -> None:
    with pytest.raises(ValueError):
        hash_password("a" * (MAX_PASSWORD_BYTES + 1), rounds=ROUNDS)


@pytest.mark.parametrize("password", ["", "short", "a" * MAX_PASSWORD_BYTES, "a" * 1024])
def test_dummy_check_accepts_any_password(password: str) -> None:
    assert verify_against_dummy(password, rounds=ROUNDS) is None


@pytest.mark.parametrize("rounds", [4, 10, 12])
def test_dummy_check_runs_bcrypt_at_cost(rounds: int, monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[bytes] = []
    original = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return original(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)

    verify_against_dummy("correct-horse-42", rounds=rounds)

    assert len(checked) == 1
    assert checked[0].startswith(f"$2b${rounds:02d}$".encode())


def test_verify_rejects_surrogate_password() -> None:
    password_hash = hash_password("correct-horse-42", rounds=ROUNDS)

    assert not verify_password("\ud800correct-horse-42", password_hash)
