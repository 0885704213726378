"""Slug rules: what a name folds to, and which names validation rejects."""

from __future__ import annotations

import re

import pytest
from orgservice.naming import MAX_NAME_LENGTH, MAX_SLUG_LENGTH, slugify, validate_organization_name

SLUG_PATTERN = re.compile(r"[a-z0-9]+(_[a-z0-9]+)*")

HOSTILE_NAMES = [
    "système",
    "a.b",
    "..",
    "$set",
    "$where: 1",
    "x\u0000y",
    "system.users",
    "system.",
    "admin.$cmd",
    "org_x.y",
    "😀",
    "😀 ab 😀",
    "a" * 500,
    "   ",
    "\t\n",
    "ﬁsh",
    "Ⅻ",
    "a\u2028b",
    "\u202eab",
    "名前",
    "../../etc/passwd",
    "a b\\c/d",
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Acme Corp", "acme_corp"),
        ("acme_corp", "acme_corp"),
        ("ACME-corp", "acme_corp"),
        ("  Acme   Corp  ", "acme_corp"),
        ("Acme -_- Corp", "acme_corp"),
        ("système", "systeme"),
        ("Crème Brûlée", "creme_brulee"),
        ("a.b", "a_b"),
        ("$set", "set"),
        ("system.users", "system_users"),
        ("ﬁsh", "fish"),
        ("Ⅻ Corp", "xii_corp"),
        ("__x__", "x"),
        ("😀 ab 😀", "ab"),
        ("x\u0000y", "x_y"),
        ("Org 2024", "org_2024"),
        ("名前", ""),
        ("Acme—Corp", "acme_corp"),
        ("Straße AG", "stra_e_ag"),
        ("Łódź Works", "odz_works"),
        ("İstanbul Ltd", "istanbul_ltd"),
        ("Ａｃｍｅ　Ｃｏｒｐ", "acme_corp"),
        ("\U0001d400\U0001d402\U0001d40c\U0001d404 Widgets", "acme_widgets"),
        ("\u2102\u2102", "cc"),
    ],
)
def test_slugify_folds_name(name: str, expected: str) -> None:
    assert slugify(name) == expected


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_slugify_hostile_name_leaves_safe_slug(name: str) -> None:
    slug = slugify(name)

    assert slug == "" or SLUG_PATTERN.fullmatch(slug)
    assert "." not in slug
    assert "$" not in slug
    assert "\x00" not in slug
    assert not slug.startswith("system.")


@pytest.mark.parametrize("names", [("Acme Corp", "acme_corp", "ACME-corp", "acme  CORP", "Acmé Corp")])
def test_slugify_variants_share_slug(names: tuple[str, ...]) -> None:
    assert len({slugify(name) for name in names}) == 1


def test_validate_name_trims_whitespace() -> None:
    assert validate_organization_name("  Acme Corp \n") == "Acme Corp"


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * MAX_SLUG_LENGTH,
        "a" * 29 + "-" * 42 + "b" * 29,
        "système",
        "😀 ab",
    ],
)
def test_validate_name_accepts_boundaries(name: str) -> None:
    assert validate_organization_name(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("\t\n", "must not be empty"),
        ("a" * (MAX_NAME_LENGTH + 1), f"use at most {MAX_NAME_LENGTH}"),
        ("x\u0000y", "control characters"),
        ("a\tb", "control characters"),
        ("a\x7fb", "control characters"),
        ("Paypal\u202e", "format characters"),
        ("Zero\u200bWidth", "format characters"),
        ("Line\u2028Break", "invisible"),
        ("Sur \ud800 gate", "unpaired surrogates"),
        ("😀", "no ASCII letters or digits"),
        ("名前", "no ASCII letters or digits"),
        ("..", "no ASCII letters or digits"),
        ("$", "no ASCII letters or digits"),
        ("a", "at least 2"),
        ("é", "at least 2"),
        ("a" * (MAX_SLUG_LENGTH + 1), f"fit in {MAX_SLUG_LENGTH} characters"),
        ("é" * (MAX_SLUG_LENGTH + 1), f"fit in {MAX_SLUG_LENGTH} characters"),
    ],
)
def test_validate_name_rejects_invalid(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_organization_name(name)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_validate_name_hostile_accepted_only_with_safe_slug(name: str) -> None:
    try:
        accepted = validate_organization_name(name)
    except ValueError:
        return

    slug = slugify(accepted)
    assert SLUG_PATTERN.fullmatch(slug)
    assert 2 <= len(slug) <= MAX_SLUG_LENGTH


def test_validate_name_locates_invisible_character() -> None:
    with pytest.raises(ValueError, match=re.escape("contains U+200B ZERO WIDTH SPACE at character 5;")):
        validate_organization_name("Zero\u200bWidth")


@pytest.mark.parametrize(
    ("character", "description"),
    [
        ("\t", "control character U+0009"),
        ("\x00", "control character U+0000"),
        ("\x85", "control character U+0085"),
        ("\ud800", "unpaired surrogate U+D800"),
        ("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("\u2028", "U+2028 LINE SEPARATOR"),
    ],
)
def test_validate_name_names_rejected_character(character: str, description: str) -> None:
    with pytest.raises(ValueError) as raised:
        validate_organization_name(f"Acme{character}Corp")

    assert f"contains {description} at character 5;" in str(raised.value)
    assert "unnamed" not in str(raised.value)
