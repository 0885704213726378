"""Package sizes leave out bytecode caches, and a comment-only requirements file installs nothing."""

from __future__ import annotations

from pathlib import Path

from bench.packages import folder_bytes, has_requirements


def test_folder_bytes_skips_pycache(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "module.py").write_bytes(b"x" * 100)
    (tmp_path / "pkg" / "__pycache__" / "module.cpython-313.pyc").write_bytes(b"y" * 1000)

    assert folder_bytes(tmp_path) == 100


def test_has_requirements_ignores_comments(tmp_path: Path) -> None:
    comments = tmp_path / "comments.txt"
    comments.write_text("# The layer provides every dependency.\n\n", encoding="utf-8")
    pinned = tmp_path / "pinned.txt"
    pinned.write_text("# One pin.\nrequests==2.32.3\n", encoding="utf-8")

    assert not has_requirements(comments)
    assert has_requirements(pinned)
    assert not has_requirements(tmp_path / "missing.txt")
