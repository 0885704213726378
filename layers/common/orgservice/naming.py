"""Rules that turn an organization name into the slug that identifies it."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_LENGTH = 100
MIN_SLUG_LENGTH = 2
MAX_SLUG_LENGTH = 60

_NON_SLUG_RUN = re.compile(r"[^a-z0-9]+")
# Control (Cc), format (Cf, such as right-to-left overrides and zero-width spaces), unpaired
# surrogate (Cs), and line and paragraph separators (Zl, Zp): none belongs in a display name.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def slugify(name: str) -> str:
    """Fold a name to lowercase ASCII letters and digits, turning every run of other characters into one `_`.

    Accents fold away (NFKD, then combining marks dropped), and characters without an ASCII form,
    such as `ß` or an em dash, count as separators. The result contains only `[a-z0-9_]` and never
    starts or ends with `_`, so it can carry no `.`, `$`, NUL or `system.` prefix into a collection name.
    """
    # Folding runs before and after lowercasing, because some letters reach ASCII only through the
    # other step: styled capitals such as U+1D400 fold to "A" first, and U+0130 lowercases to "i" plus a mark.
    folded = _fold(_fold(name).lower())
    return _NON_SLUG_RUN.sub("_", folded).strip("_")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(character for character in decomposed if not unicodedata.combining(character))


def describe_character(character: str) -> str:
    """Name a character by code point and Unicode name, such as "U+202E RIGHT-TO-LEFT OVERRIDE".

    Control characters and surrogates have no Unicode name (their names such as CHARACTER
    TABULATION are only aliases, which unicodedata cannot look up by character), so they are
    described by their kind instead, such as "control character U+0009".
    """
    code_point = f"U+{ord(character):04X}"
    category = unicodedata.category(character)
    if category == "Cc":
        return f"control character {code_point}"
    if category == "Cs":
        return f"unpaired surrogate {code_point}"
    name = unicodedata.name(character, "")
    return f"{code_point} {name}" if name else f"unnamed character {code_point}"


def validate_organization_name(value: str) -> str:
    """Return the trimmed name, or raise ValueError with a message that names the fix."""
    name = value.strip()
    if not name:
        raise ValueError("must not be empty; send a name such as 'Acme Corp'")

    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"is {len(name)} characters long; use at most {MAX_NAME_LENGTH}")

    for position, character in enumerate(name, start=1):
        if unicodedata.category(character) in _INVISIBLE_CATEGORIES:
            raise ValueError(
                f"contains {describe_character(character)} at character {position}; control characters, "
                "format characters and unpaired surrogates are invisible or not valid text, so remove it"
            )

    slug = slugify(name)
    if not slug:
        raise ValueError("contains no ASCII letters or digits after folding accents; use a name such as 'Acme Corp'")

    if len(slug) < MIN_SLUG_LENGTH:
        raise ValueError(
            f"leaves the identifier {slug!r} after folding to lowercase ASCII letters and digits; "
            f"use a name with at least {MIN_SLUG_LENGTH} ASCII letters or digits"
        )

    if len(slug) > MAX_SLUG_LENGTH:
        raise ValueError(
            f"leaves an identifier of {len(slug)} characters after folding; "
            f"use a name whose letters and digits fit in {MAX_SLUG_LENGTH} characters"
        )
    return name
