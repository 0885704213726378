"""Installing the layer's requirements into folders, as `sam build` does, for cold starts and sizes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER_FOLDER = ROOT / "layers" / "common"
LAYER_REQUIREMENTS = LAYER_FOLDER / "requirements.txt"
FUNCTIONS_FOLDER = ROOT / "functions"

LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
# The template deploys every function on arm64, so the layer contains manylinux aarch64 wheels.
LAMBDA_PLATFORM = "manylinux2014_aarch64"


def pip_install(requirements: Path, target: Path, *, platform: str | None = None) -> None:
    """Install pinned requirements into `target`; with `platform`, only wheels built for it."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    if platform:
        command += ["--platform", platform, "--only-binary=:all:", "--python-version", "3.13", "--implementation", "cp"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def folder_bytes(*folders: Path) -> int:
    """Sum the sizes of the files under the folders, leaving out caches that a build would not ship."""
    total = 0
    for folder in folders:
        for directory, subdirectories, files in os.walk(folder):
            subdirectories[:] = [name for name in subdirectories if name != "__pycache__"]
            total += sum(os.path.getsize(os.path.join(directory, name)) for name in files)
    return total


def build_layer(target: Path, *, platform: str | None = None) -> Path:
    """Lay out the layer like `sam build`: the requirements and the `orgservice` package in one folder."""
    pip_install(LAYER_REQUIREMENTS, target, platform=platform)
    shutil.copytree(LAYER_FOLDER / "orgservice", target / "orgservice", dirs_exist_ok=True)
    return target


def has_requirements(requirements: Path) -> bool:
    lines = requirements.read_text(encoding="utf-8").splitlines() if requirements.exists() else []
    return any(line.strip() and not line.lstrip().startswith("#") for line in lines)


def build_function(folder: Path, target: Path, *, platform: str | None = None) -> Path:
    """Lay out one function's package: its code plus whatever its own requirements.txt adds."""
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    requirements = folder / "requirements.txt"
    if has_requirements(requirements):
        pip_install(requirements, target, platform=platform)
    return target


def function_folders() -> list[Path]:
    return sorted(path for path in FUNCTIONS_FOLDER.iterdir() if (path / "app.py").exists())
