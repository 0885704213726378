"""The template translated to plain CloudFormation by aws-sam-translator, offline, once per session.

aws-sam-translator pins a pydantic release that the service does not use, so the translation runs
in the SAM CLI's virtual environment (`make test` installs it) and hands back JSON.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
TRANSLATE = Path(__file__).with_name("translate.py")


@pytest.fixture(scope="session")
def cloudformation() -> dict[str, Any]:
    """template.yaml as the SAM transform turns it into CloudFormation."""
    if not SAM_PYTHON.exists():
        pytest.skip("the SAM CLI's virtual environment .venv-sam is missing; `make test` installs it")

    result = subprocess.run(
        [str(SAM_PYTHON), str(TRANSLATE), str(ROOT / "template.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"Translating template.yaml failed:\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def resources(cloudformation: dict[str, Any]) -> dict[str, Any]:
    return cloudformation["Resources"]


@pytest.fixture(scope="session")
def openapi_body(resources: dict[str, Any]) -> dict[str, Any]:
    """The Swagger document that SAM generates for the REST API."""
    (api,) = [resource for resource in resources.values() if resource["Type"] == "AWS::ApiGateway::RestApi"]
    return api["Properties"]["Body"]
