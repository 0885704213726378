"""Every handler as `sam build` packaged it, run with only its own folder and the built layer.

Each function runs in a fresh interpreter without site-packages (`python -S`). As in a Lambda
container, the path contains the function's folder (/var/task), the built layer (/opt/python) and the
AWS SDK that the runtime provides (/var/runtime), laid out from requirements-lambda-runtime.txt, so a
dependency missing from the layer fails here. LAMBDA_TASK_ROOT and an unsampled trace header are set
as Lambda sets them, so Powertools Tracer patches botocore and pymongo as it does there. The event is
the function's file in events/, with the placeholders filled from a demo organization.

`make build` writes .aws-sam/build; without it these tests skip, unless REQUIRE_SAM_BUILD=1 (as
in .ci/run) turns the skip into a failure. They run what was built last, so rebuild after a change.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.packages import RUNTIME_REQUIREMENTS, link_runtime_sdk, pinned_versions
from local_api.invoke import ensure_demo_organization, fill_placeholders, read_event
from local_api.template import CloudFormationLoader, load_template
from tests.infrastructure.conftest import ROOT

BUILD_DIR = ROOT / ".aws-sam" / "build"

# The status code that each API function returns for its event (the authorizer returns an Allow
# policy instead). They run in this order, so delete comes last. Functions not listed here run
# afterwards, and for them the test checks only that the handler returns without an error.
EXPECTED_STATUS = {
    "AuthorizerFunction": None,
    "CreateOrganizationFunction": 201,
    "AdminLoginFunction": 200,
    "GetOrganizationFunction": 200,
    "UpdateOrganizationFunction": 200,
    "DeleteOrganizationFunction": 200,
}

CONTAINER_SCRIPT = """
import importlib, json, sys, types

function_dir, layer_dir, runtime_dir, handler_name, result_path = sys.argv[1:6]
sys.path[:0] = [function_dir, layer_dir, runtime_dir]
module_name, _, attribute = handler_name.rpartition(".")
handler = getattr(importlib.import_module(module_name), attribute)

context = types.SimpleNamespace(
    function_name="built", function_version="$LATEST", memory_limit_in_mb=512, aws_request_id="built-1",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:built",
    log_group_name="/aws/lambda/built", log_stream_name="built", get_remaining_time_in_millis=lambda: 10000,
)
try:
    result = {"payload": handler(json.load(sys.stdin), context)}
except Exception as error:
    result = {"error": type(error).__name__, "message": str(error)}
result["site_packages"] = [path for path in sys.path if "site-packages" in path]
result["modules"] = sorted(name for name in ("fastapi", "pymongo") if name in sys.modules)
result["botocore"] = getattr(sys.modules.get("botocore"), "__file__", None)
with open(result_path, "w") as file:
    json.dump(result, file)
"""


def _built_template() -> dict[str, Any]:
    path = BUILD_DIR / "template.yaml"
    if not path.exists():
        if os.environ.get("REQUIRE_SAM_BUILD") == "1":
            pytest.fail(".aws-sam/build/template.yaml is missing; run `make build` first")
        pytest.skip(".aws-sam/build is missing; run `make build` to test the built handlers")
    return yaml.load(path.read_text(encoding="utf-8"), Loader=CloudFormationLoader)  # noqa: S506


def _built_functions() -> list[tuple[str, dict[str, Any]]]:
    """Return every built function: those of EXPECTED_STATUS in its order, then any others by name."""
    resources = _built_template()["Resources"]
    functions = {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    order = [logical_id for logical_id in EXPECTED_STATUS if logical_id in functions]
    order += sorted(set(functions) - set(EXPECTED_STATUS))
    return [(logical_id, functions[logical_id]) for logical_id in order]


def _layer_dir(template: dict[str, Any]) -> Path:
    (layer,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::LayerVersion"]
    return BUILD_DIR / layer["Properties"]["ContentUri"] / "python"


def _event_for(function_id: str) -> dict[str, Any]:
    # The source template's CodeUri folder, functions/<name>/, names the event file events/<name>.json.
    source = load_template(ROOT / "template.yaml").function(function_id)
    return read_event(ROOT / "events" / f"{Path(source.code_uri).name}.json")


def _run_built(function_id: str, resource: dict[str, Any], event: dict[str, Any], tmp_path: Path) -> dict:
    result_path = tmp_path / f"{function_id}.json"
    function_dir = BUILD_DIR / resource["Properties"]["CodeUri"]
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "POWERTOOLS_TRACE"))
    }
    environment.update(
        {
            "POWERTOOLS_SERVICE_NAME": "org-management-built",
            "AWS_LAMBDA_FUNCTION_NAME": function_id,
            "LAMBDA_TASK_ROOT": str(function_dir),
            # Sampled=0: the X-Ray SDK records nothing and sends nothing, as for an unsampled request.
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
        }
    )
    completed = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            CONTAINER_SCRIPT,
            str(function_dir),
            str(_layer_dir(_built_template())),
            str(link_runtime_sdk(tmp_path / "lambda-runtime")),
            resource["Properties"]["Handler"],
            str(result_path),
        ],
        input=json.dumps(event),
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(result_path.read_text(encoding="utf-8"))


def test_layer_built_for_this_machine() -> None:
    binaries = sorted(path.name for path in _layer_dir(_built_template()).rglob("*-linux-gnu.so"))

    assert binaries, "the built layer holds no compiled module; was it built for Linux?"
    assert all(platform.machine() in name for name in binaries), (
        f"the layer was built for another architecture than this machine's {platform.machine()}: {binaries[:3]}"
    )


def test_layer_built_without_runtime_sdk() -> None:
    layer_dir = _layer_dir(_built_template())
    shipped = {path.name.partition("-")[0].lower() for path in layer_dir.glob("*.dist-info")}
    runtime = {name.replace("-", "_").lower() for name in pinned_versions(RUNTIME_REQUIREMENTS)}

    assert shipped, f"{layer_dir} holds no installed distribution"
    assert not shipped & runtime, f"the layer ships what the Lambda runtime provides: {sorted(shipped & runtime)}"


def test_built_handlers_answer_their_events(service_env: dict[str, str], tmp_path: Path) -> None:
    functions = _built_functions()
    identity = ensure_demo_organization()

    assert set(EXPECTED_STATUS) <= {function_id for function_id, _ in functions}
    for function_id, resource in functions:
        event = fill_placeholders(_event_for(function_id), identity.placeholder_values())
        result = _run_built(function_id, resource, event, tmp_path)
        payload = result.get("payload")

        assert "error" not in result, f"{function_id}: {result}"
        assert result["site_packages"] == [], f"{function_id} saw site-packages, so the test proves nothing"
        assert "lambda-runtime" in (result["botocore"] or ""), (
            f"{function_id}: Tracer did not patch the runtime's botocore: {result['botocore']}"
        )
        if function_id == "AuthorizerFunction":
            assert payload["policyDocument"]["Statement"][0]["Effect"] == "Allow"
            assert payload["context"]["admin_id"] == identity.admin_id
            assert result["modules"] == [], "the authorizer imported FastAPI or pymongo"
        elif function_id in EXPECTED_STATUS:
            assert payload["statusCode"] == EXPECTED_STATUS[function_id], f"{function_id}: {payload}"
            assert list(json.loads(payload["body"])) != ["detail"], f"{function_id}: {payload['body']}"
