"""layers/common/Makefile, which `sam build` runs for the layer: the wheels' platform and the SDK left out."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.packages import RUNTIME_REQUIREMENTS, pinned_versions, template_architecture
from tests.infrastructure.conftest import ROOT

LAYER_FOLDER = ROOT / "layers" / "common"
MAKEFILE = LAYER_FOLDER / "Makefile"


def _planned_commands(tmp_path: Path, *variables: str) -> subprocess.CompletedProcess[str]:
    # -n prints the recipe without running pip.
    return subprocess.run(
        ["make", "-n", "-f", str(MAKEFILE), "build-CommonLayer", f"ARTIFACTS_DIR={tmp_path}", *variables],
        capture_output=True,
        text=True,
        check=False,
    )


def test_makefile_platform_follows_template(tmp_path: Path) -> None:
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    arm_template = tmp_path / "template.yaml"
    arm_template.write_text(template.replace("BuildArchitecture: x86_64", "BuildArchitecture: arm64"), encoding="utf-8")

    default = _planned_commands(tmp_path)
    switched = _planned_commands(tmp_path, f"TEMPLATE={arm_template}")

    assert template_architecture() == "x86_64"
    assert "--platform manylinux2014_x86_64" in default.stdout, default.stdout
    assert "--platform manylinux2014_aarch64" in switched.stdout, switched.stdout


def test_makefile_installs_pins_without_dependencies(tmp_path: Path) -> None:
    planned = _planned_commands(tmp_path)

    assert "--no-deps" in planned.stdout
    assert "--only-binary=:all:" in planned.stdout
    assert f"-r \"{LAYER_FOLDER}/requirements.txt\"" in planned.stdout


def test_makefile_rejects_unknown_architecture(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "-f", str(MAKEFILE), "build-CommonLayer", f"ARTIFACTS_DIR={tmp_path}", "ARCHITECTURE=mips"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "ARCHITECTURE is 'mips'" in result.stderr
    assert not (tmp_path / "python").exists()


def test_layer_requirements_leave_out_runtime_sdk() -> None:
    layer = {name.lower().replace("_", "-") for name in pinned_versions(LAYER_FOLDER / "requirements.txt")}
    runtime = {name.lower().replace("_", "-") for name in pinned_versions(RUNTIME_REQUIREMENTS)}

    assert {"boto3", "botocore"} <= runtime
    assert not layer & runtime, f"pinned for the layer and provided by the runtime: {sorted(layer & runtime)}"
