"""What the translated template grants and exposes: routes, authorizer, layer, roles, error responses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from orgservice.api.app import SECURITY_HEADERS

from tests.infrastructure.conftest import ROOT

PROTECTED_ROUTES = {("/org/update", "put"), ("/org/delete", "delete")}
PUBLIC_ROUTES = {("/org/create", "post"), ("/org/admin/login", "post"), ("/org/get", "get")}
AUTHORIZER = "AuthorizerFunction"
# The only functions whose roles may read the JWT signing key: one signs tokens, one verifies them.
JWT_KEY_READERS = {"AdminLoginFunction", AUTHORIZER}
# Policies that SAM attaches to every function role: CloudWatch Logs, and X-Ray for Tracing: Active.
BASE_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
SECRET_POLICIES = {"ReadMongoDbUriPolicy": "MongoDbUriSecret", "ReadJwtKeyPolicy": "JwtKeySecret"}
ERROR_RESPONSES = {"UNAUTHORIZED": "401", "ACCESS_DENIED": "403", "DEFAULT_4XX": None, "DEFAULT_5XX": None}


def _of_type(resources: dict[str, Any], type_name: str) -> dict[str, Any]:
    return {logical_id: resource for logical_id, resource in resources.items() if resource["Type"] == type_name}


def _operations(openapi_body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, methods in openapi_body["paths"].items()
        for method, operation in methods.items()
    }


def _function_id(role_id: str) -> str:
    return role_id.removesuffix("Role")


def test_authorizer_only_on_update_and_delete(openapi_body: dict[str, Any]) -> None:
    secured = {route for route, operation in _operations(openapi_body).items() if operation.get("security")}

    assert secured == PROTECTED_ROUTES
    for route in PROTECTED_ROUTES:
        assert _operations(openapi_body)[route]["security"] == [{"JwtAuthorizer": []}]


def test_preflight_and_public_routes_without_authorizer(openapi_body: dict[str, Any]) -> None:
    operations = _operations(openapi_body)
    preflight = {route for route in operations if route[1] == "options"}

    assert {path for path, _ in preflight} == {path for path, _ in PROTECTED_ROUTES | PUBLIC_ROUTES}
    for route in preflight | PUBLIC_ROUTES:
        assert "security" not in operations[route], route


def test_preflight_allows_configured_origin(openapi_body: dict[str, Any]) -> None:
    preflight = openapi_body["paths"]["/org/update"]["options"]
    headers = preflight["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]

    assert headers["method.response.header.Access-Control-Allow-Origin"] == {"Fn::Sub": "'${CorsAllowOrigin}'"}
    assert "Authorization" in headers["method.response.header.Access-Control-Allow-Headers"]


def test_authorizer_is_request_type_on_authorization_header(openapi_body: dict[str, Any]) -> None:
    authorizer = openapi_body["securityDefinitions"]["JwtAuthorizer"]["x-amazon-apigateway-authorizer"]

    assert authorizer["type"] == "request"
    assert authorizer["identitySource"] == "method.request.header.Authorization"
    assert authorizer["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"] == {"Fn::GetAtt": [AUTHORIZER, "Arn"]}


def test_every_function_uses_common_layer(resources: dict[str, Any]) -> None:
    (layer_id,) = _of_type(resources, "AWS::Lambda::LayerVersion")
    functions = _of_type(resources, "AWS::Lambda::Function")

    assert layer_id.startswith("CommonLayer")
    for logical_id, function in functions.items():
        assert function["Properties"]["Layers"] == [{"Ref": layer_id}], logical_id


def test_every_function_shares_globals(resources: dict[str, Any]) -> None:
    ((_, layer),) = _of_type(resources, "AWS::Lambda::LayerVersion").items()

    for logical_id, function in _of_type(resources, "AWS::Lambda::Function").items():
        properties = function["Properties"]
        variables = properties["Environment"]["Variables"]

        assert properties["Runtime"] == "python3.13", logical_id
        assert properties["TracingConfig"] == {"Mode": "Active"}, logical_id
        assert properties["Architectures"] == layer["Properties"]["CompatibleArchitectures"], logical_id
        assert variables["POWERTOOLS_SERVICE_NAME"] == "org-management", logical_id
        assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}, logical_id


def test_authorizer_invoke_permission_for_api(resources: dict[str, Any]) -> None:
    permissions = [
        permission["Properties"]
        for permission in _of_type(resources, "AWS::Lambda::Permission").values()
        if permission["Properties"]["FunctionName"] == {"Fn::GetAtt": [AUTHORIZER, "Arn"]}
    ]

    assert len(permissions) == 1
    assert permissions[0]["Action"] == "lambda:InvokeFunction"
    assert permissions[0]["Principal"] == "apigateway.amazonaws.com"
    assert permissions[0]["SourceArn"]["Fn::Sub"][0].endswith("/authorizers/*")


def test_roles_have_no_inline_policies(resources: dict[str, Any]) -> None:
    for logical_id, role in _of_type(resources, "AWS::IAM::Role").items():
        assert "Policies" not in role["Properties"], logical_id


def test_roles_read_only_the_secrets_they_need(resources: dict[str, Any]) -> None:
    roles = _of_type(resources, "AWS::IAM::Role")

    assert {_function_id(role_id) for role_id in roles} == set(_of_type(resources, "AWS::Lambda::Function"))
    for role_id, role in roles.items():
        arns = role["Properties"]["ManagedPolicyArns"]
        secrets = {arn["Ref"] for arn in arns if isinstance(arn, dict)}
        function_id = _function_id(role_id)

        assert {arn for arn in arns if isinstance(arn, str)} == BASE_POLICIES, role_id
        if function_id == AUTHORIZER:
            assert secrets == {"ReadJwtKeyPolicy"}
        elif function_id in JWT_KEY_READERS:
            assert secrets == {"ReadMongoDbUriPolicy", "ReadJwtKeyPolicy"}
        else:
            assert secrets == {"ReadMongoDbUriPolicy"}, role_id


@pytest.mark.parametrize(("policy_id", "parameter"), sorted(SECRET_POLICIES.items()))
def test_secret_policy_names_one_secret(resources: dict[str, Any], policy_id: str, parameter: str) -> None:
    (statement,) = resources[policy_id]["Properties"]["PolicyDocument"]["Statement"]
    condition, ssm_action, secrets_action = statement["Action"]["Fn::If"]
    _, ssm_resource, secrets_resource = statement["Resource"]["Fn::If"]

    assert statement["Effect"] == "Allow"
    assert (condition, ssm_action, secrets_action) == ("SecretsInSsm", "ssm:GetParameter", "secretsmanager:GetSecretValue")
    assert secrets_resource == {"Ref": parameter}
    assert ssm_resource == {
        "Fn::Sub": f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter${{{parameter}}}"
    }
    assert "*" not in json.dumps(statement)


@pytest.mark.parametrize(("response_type", "status"), sorted(ERROR_RESPONSES.items()))
def test_gateway_error_has_json_detail_and_cors(openapi_body: dict[str, Any], response_type: str, status: str) -> None:
    response = openapi_body["x-amazon-apigateway-gateway-responses"][response_type]
    template = response["responseTemplates"]["application/json"]
    # API Gateway fills $context variables; $context.error.messageString arrives already quoted.
    rendered = template.replace("$context.error.messageString", '"Forbidden"').replace("$context.requestId", "r-1")

    assert response.get("statusCode") == status
    assert list(json.loads(rendered)) == ["detail"]
    assert response["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"] == {
        "Fn::Sub": "'${CorsAllowOrigin}'"
    }


def test_gateway_responses_carry_security_headers(openapi_body: dict[str, Any]) -> None:
    responses = openapi_body["x-amazon-apigateway-gateway-responses"]

    assert set(ERROR_RESPONSES) <= set(responses)
    for response_type, response in responses.items():
        parameters = response["responseParameters"]
        for name, value in SECURITY_HEADERS.items():
            assert parameters.get(f"gatewayresponse.header.{name}") == f"'{value}'", (response_type, name)


def test_outputs_name_api_url_and_every_function(cloudformation: dict[str, Any]) -> None:
    outputs = cloudformation["Outputs"]
    functions = _of_type(cloudformation["Resources"], "AWS::Lambda::Function")

    assert "execute-api" in outputs["ApiUrl"]["Value"]["Fn::Sub"]
    for logical_id in functions:
        assert outputs[f"{logical_id}Name"]["Value"] == {"Ref": logical_id}


# A MongoDB URI with a host, or a JWT (three base64url parts, the first starting with "eyJ").
SECRET_VALUE = re.compile(r"mongodb(\+srv)?://[A-Za-z0-9]|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+\.")


@pytest.mark.parametrize(
    "path",
    [ROOT / "template.yaml", ROOT / "samconfig.toml", *sorted((ROOT / "events").glob("*.json"))],
    ids=lambda path: str(Path(path).relative_to(ROOT)),
)
def test_no_secret_values_checked_in(path: Path) -> None:
    assert not SECRET_VALUE.search(path.read_text(encoding="utf-8"))
