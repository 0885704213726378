"""Tracing set-up as a Lambda container runs it, each case in a fresh interpreter.

Outside Lambda the Tracer disables itself, so these set LAMBDA_TASK_ROOT to turn it on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from local_api.lambda_events import LAYER_PATH, ROOT

API_APP_SCRIPT = textwrap.dedent(
    """
    import json
    from pymongo import monitoring
    from orgservice.api.app import create_app

    create_app(title="traced")
    print(json.dumps([type(listener).__name__ for listener in monitoring._LISTENERS.command_listeners]))
    """
)

AUTHORIZER_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from local_api.lambda_events import load_handler

    load_handler("functions/authorizer")
    print(json.dumps(sorted(name for name in ("fastapi", "pymongo", "aws_xray_sdk") if name in sys.modules)))
    """
)


def _run_in_lambda(script: str) -> list[str]:
    environment = {
        **os.environ,
        "LAMBDA_TASK_ROOT": str(ROOT),
        "AWS_LAMBDA_FUNCTION_NAME": "traced",
        "POWERTOOLS_SERVICE_NAME": "org-management-test",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(LAYER_PATH)]),
    }
    environment.pop("POWERTOOLS_TRACE_DISABLED", None)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_api_app_traces_mongodb_commands() -> None:
    assert "XrayCommandListener" in _run_in_lambda(API_APP_SCRIPT)


def test_authorizer_tracing_skips_fastapi_and_pymongo() -> None:
    assert _run_in_lambda(AUTHORIZER_SCRIPT) == ["aws_xray_sdk"]
