"""Translate template.yaml into plain CloudFormation offline, as the SAM transform does at deploy time.

Run it with the SAM CLI's interpreter, whose aws-sam-translator pins a pydantic release that the
service itself does not use:

    .venv-sam/bin/python tests/infrastructure/translate.py template.yaml > .aws-sam/translated.json

Local CodeUri and ContentUri folders become s3:// URIs, as `sam package` makes them, because the
transform accepts only those. No AWS API is called.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

PLACEHOLDER_BUCKET = "translated-offline"

# Values of the pseudo parameters that the transform may read; any account and region will do.
PSEUDO_PARAMETERS = {
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::URLSuffix": "amazonaws.com",
}

CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


class OfflinePolicyLoader:
    """Stands in for the IAM lookup of managed policies by name, which would need AWS credentials."""

    def load(self) -> dict[str, str]:
        raise SystemExit(
            "The template names a managed policy by its name, which the transform would look up in IAM; "
            "use the policy's ARN or a !Ref to it instead."
        )


def _package_local_code(template: dict[str, Any]) -> None:
    for logical_id, resource in (template.get("Resources") or {}).items():
        code_property = CODE_PROPERTIES.get(resource.get("Type"))
        properties = resource.get("Properties") or {}
        location = properties.get(code_property)
        if code_property and isinstance(location, str) and not location.startswith("s3://"):
            properties[code_property] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"


def translate(path: Path) -> dict[str, Any]:
    """Return the CloudFormation template that the SAM transform makes of the template at `path`."""
    template = yaml_parse(path.read_text(encoding="utf-8"))
    _package_local_code(template)

    # The transform reads the region from a boto3 session, which reads only the environment here.
    os.environ["AWS_DEFAULT_REGION"] = PSEUDO_PARAMETERS["AWS::Region"]
    return transform(template, dict(PSEUDO_PARAMETERS), OfflinePolicyLoader())


if __name__ == "__main__":
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
    json.dump(translate(source), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
