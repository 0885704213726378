"""Folders for the cold starts and the sizes: the layer as `make build` builds it, and the runtime's AWS SDK."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from local_api.template import CloudFormationLoader

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
LAYER_FOLDER = ROOT / "layers" / "common"
LAYER_MAKEFILE = LAYER_FOLDER / "Makefile"
RUNTIME_REQUIREMENTS = ROOT / "requirements-lambda-runtime.txt"
FUNCTIONS_FOLDER = ROOT / "functions"

LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
# Wheel platforms of the function packages, as `sam build` picks them for each Lambda architecture.
FUNCTION_PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
MACHINE_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def template_architecture(template: Path = TEMPLATE) -> str:
    """Return the layer's BuildArchitecture, the architecture that `make build` installs wheels for."""
    document = yaml.load(template.read_text(encoding="utf-8"), Loader=CloudFormationLoader)  # noqa: S506
    (layer,) = [
        resource
        for resource in document["Resources"].values()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
    ]
    return layer["Metadata"]["BuildArchitecture"]


def machine_architecture() -> str:
    """Return this machine's architecture in Lambda's spelling (x86_64 or arm64)."""
    machine = platform.machine().lower()
    if machine not in MACHINE_ARCHITECTURES:
        raise RuntimeError(f"Lambda has no architecture for this machine's {machine}; the bench needs x86_64 or arm64")
    return MACHINE_ARCHITECTURES[machine]


def build_layer(target: Path, *, architecture: str | None = None) -> Path:
    """Build the layer into `target` with the layer Makefile's target that `sam build` runs; return its python/ folder.

    Without `architecture`, the Makefile takes the template's BuildArchitecture, as in `make build`.
    """
    command = [
        "make",
        "--no-print-directory",
        "--silent",
        "-f",
        str(LAYER_MAKEFILE),
        "build-CommonLayer",
        f"ARTIFACTS_DIR={target}",
        f"PYTHON={sys.executable}",
    ]
    if architecture:
        command.append(f"ARCHITECTURE={architecture}")
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return target / "python"


def pinned_versions(requirements: Path) -> dict[str, str]:
    """Return name -> version of every `name==version` line of a requirements file."""
    pins = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        requirement = line.partition("#")[0].strip()
        if requirement:
            name, separator, version = requirement.partition("==")
            if not separator:
                raise ValueError(f"{requirements.name}: {requirement!r} is not pinned with ==")
            pins[name.strip()] = version.strip()
    return pins


def link_runtime_sdk(target: Path) -> Path:
    """Lay out the AWS SDK that the Lambda runtime provides (its /var/runtime) in `target`, and return it.

    Each distribution pinned in requirements-lambda-runtime.txt is linked from this environment, so
    `target` contains those packages and nothing else: a module that the layer lacks stays missing.
    """
    target.mkdir(parents=True, exist_ok=True)
    for name, version in pinned_versions(RUNTIME_REQUIREMENTS).items():
        distribution = importlib.metadata.distribution(name)
        if distribution.version != version:
            raise RuntimeError(
                f"{name} {distribution.version} is installed, but {RUNTIME_REQUIREMENTS.name} pins {version}; "
                "run `make install`"
            )
        top_levels = {file.parts[0] for file in distribution.files or ()} - {"..", "__pycache__"}
        for top_level in sorted(top_levels):
            link = target / top_level
            if not link.exists():
                link.symlink_to(Path(str(distribution.locate_file(top_level))))
    return target


def pip_install(requirements: Path, target: Path, *, platform_tag: str) -> None:
    """Install pinned requirements into `target`, only wheels built for `platform_tag`."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--platform",
        platform_tag,
        "--only-binary=:all:",
        "--python-version",
        "3.13",
        "--implementation",
        "cp",
        "-r",
        str(requirements),
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def folder_bytes(*folders: Path) -> int:
    """Sum the sizes of the files under the folders, leaving out caches that a build would not ship."""
    total = 0
    for folder in folders:
        for directory, subdirectories, files in os.walk(folder):
            subdirectories[:] = [name for name in subdirectories if name != "__pycache__"]
            total += sum(os.path.getsize(os.path.join(directory, name)) for name in files)
    return total


def has_requirements(requirements: Path) -> bool:
    lines = requirements.read_text(encoding="utf-8").splitlines() if requirements.exists() else []
    return any(line.strip() and not line.lstrip().startswith("#") for line in lines)


def build_function(folder: Path, target: Path, *, architecture: str) -> Path:
    """Lay out one function's package: its code plus whatever its own requirements.txt adds."""
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    requirements = folder / "requirements.txt"
    if has_requirements(requirements):
        pip_install(requirements, target, platform_tag=FUNCTION_PLATFORMS[architecture])
    return target


def function_folders() -> list[Path]:
    return sorted(path for path in FUNCTIONS_FOLDER.iterdir() if (path / "app.py").exists())
