"""Read a SAM template into the functions, routes and API settings that the local runner needs.

The loader accepts CloudFormation's short tags (`!Ref`, `!GetAtt`, `!Sub` and the rest) and
turns each into the long JSON form (`{"Ref": ...}`, `{"Fn::GetAtt": [...]}`), so a template
written in either form reads the same. Only the intrinsics that local runs need are evaluated:
`Ref`, `Fn::GetAtt`, `Fn::Sub` and `Fn::Join`. Values are resolved lazily, so an IAM policy with
an intrinsic that the runner cannot evaluate never stops it from starting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from local_api.errors import LocalRunnerError
from local_api.lambda_events import LOCAL_ACCOUNT_ID, LOCAL_REGION, ROOT

TEMPLATE_PATH = ROOT / "template.yaml"

# Name, stage and default settings that SAM gives the API it creates for events without RestApiId.
IMPLICIT_API_ID = "ServerlessRestApi"
IMPLICIT_API_STAGE = "Prod"

DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128
DEFAULT_AUTHORIZER_TTL_SECONDS = 300

PSEUDO_PARAMETERS = {
    "AWS::AccountId": LOCAL_ACCOUNT_ID,
    "AWS::Region": LOCAL_REGION,
    "AWS::Partition": "aws",
    "AWS::StackName": "local",
    "AWS::StackId": f"arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:stack/local/local",
    "AWS::URLSuffix": "amazonaws.com",
}

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LAMBDA_ARN = re.compile(r"^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)(?::.*)?$")


class TemplateError(LocalRunnerError):
    """The template uses a construct that the local runner cannot read or evaluate."""


class CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short tags as their long JSON forms."""


def _construct_intrinsic(loader: CloudFormationLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)

    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # The short form `!GetAtt Resource.Attribute` names both parts in one string.
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template_document(path: Path | str = TEMPLATE_PATH) -> dict[str, Any]:
    """Parse a SAM template file in YAML or JSON into plain Python values."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"Template {path} not found. Pass the path of a SAM template.") from None

    document = yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"Template {path} has no Resources mapping, so it is not a SAM template.")
    return document


def strip_quotes(value: str) -> str:
    """Remove the single quotes that API Gateway requires around static header values."""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """Merge a Globals section into a resource's property as SAM does.

    Maps merge key by key, lists are concatenated with the global items first, and any other
    value of the resource replaces the global one.
    """
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


class IntrinsicResolver:
    """Evaluate Ref, Fn::GetAtt, Fn::Sub and Fn::Join against parameter values and resource ids."""

    def __init__(self, parameters: Mapping[str, str | None], resources: Mapping[str, Any]) -> None:
        self._parameters = parameters
        self._resources = resources

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Fn::GetAtt":
                return self._get_att(argument)
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::Join":
                delimiter, items = argument
                return str(delimiter).join(str(item) for item in self.resolve(items))
            if key.startswith("Fn::") or key == "Condition":
                raise TemplateError(f"The local runner cannot evaluate {key}. Replace it with a literal value.")
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> str:
        if name in self._parameters:
            value = self._parameters[name]
            if value is None:
                raise TemplateError(
                    f"Parameter {name} has no Default and no override. Pass --parameter-overrides {name}=VALUE."
                )
            return value
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self._resources:
            # A Ref to a resource returns its physical id, which locally is its logical id.
            return name
        raise TemplateError(f"!Ref {name} names neither a parameter nor a resource of the template.")

    def _get_att(self, argument: Any) -> str:
        resource, attribute = self.resolve(argument)
        if resource not in self._resources:
            raise TemplateError(f"!GetAtt {resource}.{attribute} names no resource of the template.")
        resource_type = self._resources[resource].get("Type")
        if resource_type == "AWS::Serverless::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{resource}"
        return f"{resource}.{attribute}"

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], self.resolve(argument[1])
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                # `${!Literal}` writes `${Literal}` without substitution.
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, _, attribute = name.partition(".")
                return self._get_att([resource, attribute])
            return self._ref(name)

        return _SUB_VARIABLE.sub(replace, text)


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function: where its code is and how Lambda would run it."""

    logical_id: str
    code_uri: str
    handler: str
    timeout_seconds: int
    memory_mb: int
    # Environment variables as written in the template, intrinsics not yet evaluated.
    raw_environment: dict[str, Any]


@dataclass(frozen=True)
class AuthorizerSpec:
    """A Lambda authorizer of an API."""

    name: str
    function_id: str
    payload_type: str  # "REQUEST" or "TOKEN"
    identity_headers: tuple[str, ...]
    identity_query_strings: tuple[str, ...]
    ttl_seconds: int


@dataclass(frozen=True)
class CorsSpec:
    """The Cors setting of an API, with the single quotes of each value removed."""

    allow_origin: str
    allow_methods: str | None
    allow_headers: str | None
    max_age: str | None
    allow_credentials: bool


@dataclass(frozen=True)
class GatewayResponseSpec:
    """A customized gateway response: status, static or mapped headers, and body templates."""

    status_code: int | None
    headers: dict[str, str]
    templates: dict[str, str]


@dataclass
class ApiSpec:
    """An AWS::Serverless::Api, or the implicit API that SAM creates for events without RestApiId."""

    logical_id: str
    stage: str
    cors: CorsSpec | None = None
    authorizers: dict[str, AuthorizerSpec] = field(default_factory=dict)
    default_authorizer: str | None = None
    authorize_preflight: bool = True
    gateway_responses: dict[str, GatewayResponseSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteSpec:
    """One Api event: a resource path and method that invoke a function."""

    function_id: str
    api_id: str
    path: str
    method: str  # upper case, or "ANY"
    authorizer: str | None


@dataclass
class SamTemplate:
    """The parts of a SAM template that local runs use."""

    path: Path
    parameters: dict[str, str | None]
    resolver: IntrinsicResolver
    global_environment: dict[str, Any]
    functions: dict[str, FunctionSpec]
    apis: dict[str, ApiSpec]
    routes: list[RouteSpec]

    def function(self, logical_id: str) -> FunctionSpec:
        try:
            return self.functions[logical_id]
        except KeyError:
            known = ", ".join(sorted(self.functions))
            raise TemplateError(f"Function {logical_id!r} is not in {self.path.name}. Use one of: {known}.") from None

    def resolve_environment(self, function: FunctionSpec, *, skip: frozenset[str] = frozenset()) -> dict[str, str]:
        """Evaluate a function's environment variables, Globals included, leaving out the names in `skip`.

        Lambda stores every value as a string, so numbers and booleans become strings here too.
        """
        merged = {**self.global_environment, **function.raw_environment}
        resolved = {}
        for name, value in merged.items():
            if name in skip:
                continue
            resolved[name] = _as_string(self.resolver.resolve(value))
        return resolved


def _as_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _parameter_values(document: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str | None]:
    declared = document.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"Parameter overrides {', '.join(unknown)} are not declared in the template's Parameters.")

    values: dict[str, str | None] = {}
    for name, definition in declared.items():
        if name in overrides:
            values[name] = overrides[name]
        elif isinstance(definition, dict) and "Default" in definition:
            values[name] = _as_string(definition["Default"])
        else:
            values[name] = None
    return values


def _function_spec(logical_id: str, properties: Mapping[str, Any], function_globals: Mapping[str, Any]) -> FunctionSpec:
    merged = merge_globals(dict(function_globals), dict(properties))
    code_uri = merged.get("CodeUri")
    handler = merged.get("Handler")
    if not isinstance(code_uri, str) or not isinstance(handler, str):
        raise TemplateError(
            f"Function {logical_id} needs a local CodeUri folder and a Handler, "
            "because the local runner cannot load code from S3 or container images."
        )
    return FunctionSpec(
        logical_id=logical_id,
        code_uri=code_uri,
        handler=handler,
        timeout_seconds=int(merged.get("Timeout", DEFAULT_TIMEOUT_SECONDS)),
        memory_mb=int(merged.get("MemorySize", DEFAULT_MEMORY_MB)),
        raw_environment=dict(((properties.get("Environment") or {}).get("Variables")) or {}),
    )


def _cors_spec(value: Any, resolver: IntrinsicResolver) -> CorsSpec | None:
    if value is None:
        return None
    value = resolver.resolve(value)
    if isinstance(value, str):
        # `Cors: "'*'"` sets only the allowed origin.
        return CorsSpec(strip_quotes(value), None, None, None, False)

    def optional(name: str) -> str | None:
        return strip_quotes(_as_string(value[name])) if name in value else None

    origin = optional("AllowOrigin")
    if origin is None:
        raise TemplateError("Cors needs AllowOrigin, as SAM requires.")
    return CorsSpec(
        allow_origin=origin,
        allow_methods=optional("AllowMethods"),
        allow_headers=optional("AllowHeaders"),
        max_age=optional("MaxAge"),
        allow_credentials=bool(value.get("AllowCredentials", False)),
    )


def _authorizer_function(name: str, raw_arn: Any, resolver: IntrinsicResolver, functions: Mapping[str, Any]) -> str:
    arn = resolver.resolve(raw_arn)
    match = _LAMBDA_ARN.match(arn) if isinstance(arn, str) else None
    function_id = match.group(1) if match else None
    if function_id not in functions:
        raise TemplateError(
            f"Authorizer {name} must point FunctionArn at a function of this template, for example "
            f"!GetAtt AuthorizerFunction.Arn, but it is {raw_arn!r}."
        )
    return function_id


def _authorizer_specs(auth: Mapping[str, Any], resolver: IntrinsicResolver, functions: Mapping[str, Any]) -> dict:
    specs = {}
    for name, definition in (auth.get("Authorizers") or {}).items():
        if "FunctionArn" not in definition:
            raise TemplateError(
                f"Authorizer {name} is not a Lambda authorizer, and the local runner supports only those."
            )
        identity = resolver.resolve(definition.get("Identity") or {})
        payload_type = str(definition.get("FunctionPayloadType", "TOKEN")).upper()
        default_headers = [] if payload_type == "REQUEST" else ["Authorization"]
        if payload_type == "TOKEN" and identity.get("Header"):
            default_headers = [identity["Header"]]
        specs[name] = AuthorizerSpec(
            name=name,
            function_id=_authorizer_function(name, definition["FunctionArn"], resolver, functions),
            payload_type=payload_type,
            identity_headers=tuple(identity.get("Headers") or default_headers),
            identity_query_strings=tuple(identity.get("QueryStrings") or ()),
            ttl_seconds=int(identity.get("ReauthorizeEvery", DEFAULT_AUTHORIZER_TTL_SECONDS)),
        )
    return specs


def _gateway_response_specs(value: Mapping[str, Any], resolver: IntrinsicResolver) -> dict:
    specs = {}
    for response_type, definition in (resolver.resolve(value) or {}).items():
        parameters = definition.get("ResponseParameters") or {}
        status = definition.get("StatusCode")
        specs[response_type] = GatewayResponseSpec(
            status_code=int(status) if status is not None else None,
            headers={name: _as_string(header) for name, header in (parameters.get("Headers") or {}).items()},
            templates=dict(definition.get("ResponseTemplates") or {}),
        )
    return specs


def _api_spec(logical_id: str, properties: Mapping[str, Any], resolver: IntrinsicResolver, functions) -> ApiSpec:
    auth = properties.get("Auth") or {}
    stage = _as_string(resolver.resolve(properties.get("StageName", IMPLICIT_API_STAGE)))
    return ApiSpec(
        logical_id=logical_id,
        stage=stage,
        cors=_cors_spec(properties.get("Cors"), resolver),
        authorizers=_authorizer_specs(auth, resolver, functions),
        default_authorizer=auth.get("DefaultAuthorizer"),
        authorize_preflight=bool(auth.get("AddDefaultAuthorizerToCorsPreflight", True)),
        gateway_responses=_gateway_response_specs(properties.get("GatewayResponses") or {}, resolver),
    )


def _route_specs(function_id: str, properties: Mapping[str, Any], resolver: IntrinsicResolver) -> list[RouteSpec]:
    routes = []
    for event in (properties.get("Events") or {}).values():
        if event.get("Type") != "Api":
            continue
        event_properties = event.get("Properties") or {}
        api_id = IMPLICIT_API_ID
        if "RestApiId" in event_properties:
            api_id = resolver.resolve(event_properties["RestApiId"])
        method = str(event_properties["Method"]).upper()
        routes.append(
            RouteSpec(
                function_id=function_id,
                api_id=api_id,
                path=resolver.resolve(event_properties["Path"]),
                method=method,
                authorizer=(event_properties.get("Auth") or {}).get("Authorizer"),
            )
        )
    return routes


def load_template(
    path: Path | str = TEMPLATE_PATH, parameter_overrides: Mapping[str, str] | None = None
) -> SamTemplate:
    """Read the functions, APIs and routes of a SAM template, with parameters resolved.

    Parameters take the value in `parameter_overrides`, else their Default. A parameter with
    neither raises TemplateError only when a value that the runner needs refers to it.
    """
    path = Path(path)
    document = load_template_document(path)
    resources: dict[str, Any] = document["Resources"]
    parameters = _parameter_values(document, dict(parameter_overrides or {}))
    resolver = IntrinsicResolver(parameters, resources)

    template_globals = document.get("Globals") or {}
    function_globals = template_globals.get("Function") or {}
    api_globals = template_globals.get("Api") or {}

    functions = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::Function":
            functions[logical_id] = _function_spec(logical_id, resource.get("Properties") or {}, function_globals)

    routes: list[RouteSpec] = []
    for logical_id in functions:
        routes.extend(_route_specs(logical_id, resources[logical_id].get("Properties") or {}, resolver))

    apis = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::Api":
            properties = merge_globals(dict(api_globals), dict(resource.get("Properties") or {}))
            apis[logical_id] = _api_spec(logical_id, properties, resolver, functions)
    if any(route.api_id == IMPLICIT_API_ID for route in routes):
        apis[IMPLICIT_API_ID] = _api_spec(IMPLICIT_API_ID, dict(api_globals), resolver, functions)

    for route in routes:
        _check_route(route, apis)

    return SamTemplate(
        path=path,
        parameters=parameters,
        resolver=resolver,
        global_environment=dict((function_globals.get("Environment") or {}).get("Variables") or {}),
        functions=functions,
        apis=apis,
        routes=routes,
    )


def _check_route(route: RouteSpec, apis: Mapping[str, ApiSpec]) -> None:
    api = apis.get(route.api_id)
    if api is None:
        raise TemplateError(
            f"Function {route.function_id} has an Api event on {route.path} whose RestApiId {route.api_id} "
            "is not an AWS::Serverless::Api of the template."
        )
    if route.authorizer not in (None, "NONE") and route.authorizer not in api.authorizers:
        raise TemplateError(
            f"Function {route.function_id} uses authorizer {route.authorizer} on {route.path}, "
            f"which API {api.logical_id} does not declare under Auth.Authorizers."
        )
