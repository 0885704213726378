"""Package sizes leave out bytecode caches, a comment-only requirements file installs nothing, and the
runtime's SDK folder contains only the pinned SDK."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.packages import folder_bytes, has_requirements, link_runtime_sdk, pinned_versions


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


def test_pinned_versions_rejects_unpinned_line(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# The SDK.\nboto3==1.44.8\nbotocore>=1.11\n", encoding="utf-8")

    with pytest.raises(ValueError, match="'botocore>=1.11' is not pinned"):
        pinned_versions(requirements)


def test_link_runtime_sdk_contains_only_runtime_packages(tmp_path: Path) -> None:
    runtime = link_runtime_sdk(tmp_path / "runtime")

    names = {path.name for path in runtime.iterdir()}

    assert {"boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six.py"} <= names
    assert "pymongo" not in names
    assert "jmespath" not in names
    assert (runtime / "botocore" / "__init__.py").exists()
