"""`python -m local_api invoke FUNCTION EVENT`: run one function once with an event file, like `sam local invoke`.

The function is loaded from the template with its Globals and own environment variables, and
its handler runs once with a LambdaContext. The CLI prints the result as one line of JSON on
stdout and everything else (logs included) on stderr. A handler that raises prints the error
object that the Lambda Python runtime returns (`errorMessage`, `errorType`, `stackTrace`).

Database: MONGODB_URI if set, else the embedded server of a running `make run` (named in
`.local/runner.json`), else an embedded SecantusDB on `.local/secantus-data` for the duration
of the call. The signing key is JWT_SECRET_KEY if set, else `.local/jwt-signing-key`, so
tokens from `make run` and `make invoke` are interchangeable. The key is checked before the
database starts.

The demo organization: the files in `events/` need real ids and a valid token, which differ on
every machine, so they carry placeholders: `{{token}}`, `{{admin_id}}`, `{{organization_id}}` and
`{{token_version}}`.
Some events need the demo organization: those with a placeholder, the demo admin's email or the
demo organization's name. Before running one, invoke logs the admin demo-admin@example.com in,
and creates the organization "Events Demo" with that admin when the login fails. An organization
that was renamed since is renamed back. Invoke then replaces each placeholder with a fresh token
of the demo admin, signed with the local key, or with the admin's or the organization's id.
So every event works on a fresh clone, and repeats of it work too, except
create_organization.json, whose second run gets 409 because the name is taken.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_api.errors import LocalRunnerError
from local_api.functions import LocalFunctions, error_payload
from local_api.lambda_events import ensure_layer_on_path
from local_api.local_state import (
    DATA_FOLDER,
    LocalDatabase,
    local_environment,
    local_process_environment,
    open_database,
    resolve_signing_key,
    state_dir_from_environment,
)
from local_api.template import TEMPLATE_PATH, SamTemplate, load_template

logger = logging.getLogger(__name__)

DEMO_ORGANIZATION_NAME = "Events Demo"
DEMO_ADMIN_EMAIL = "demo-admin@example.com"
# A fixed password of a local demo account, which the events in events/ also contain; never a real credential.
DEMO_ADMIN_PASSWORD = "local-demo-password"

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
PLACEHOLDER_NAMES = ("token", "admin_id", "organization_id", "token_version")


class EventError(LocalRunnerError):
    """The event file is missing, not JSON, or has a placeholder that invoke cannot fill."""


class DemoSetupError(LocalRunnerError):
    """The demo organization that an event needs cannot be set up, for example because MongoDB is unreachable."""


@dataclass(frozen=True)
class DemoIdentity:
    """The demo admin's fresh token and ids, the values of the event placeholders."""

    token: str
    admin_id: str
    organization_id: str
    token_version: int

    def placeholder_values(self) -> dict[str, str]:
        return {
            "token": self.token,
            "admin_id": self.admin_id,
            "organization_id": self.organization_id,
            "token_version": str(self.token_version),
        }


@dataclass(frozen=True)
class InvokeResult:
    """The handler's return value, or the Lambda error object when the handler raised or timed out."""

    payload: Any
    failed: bool


def read_event(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EventError(
            f"Event file {path} not found. Pass a JSON file such as events/get_organization.json."
        ) from None
    except json.JSONDecodeError as error:
        raise EventError(f"Event file {path} is not valid JSON: {error}.") from None
    if not isinstance(event, dict):
        raise EventError(f"Event file {path} must hold a JSON object, not a {type(event).__name__}.")
    return event


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings(item)] + [str(key) for key in value]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def placeholders_in(event: Any) -> set[str]:
    """Return the placeholder names in the event's strings, raising EventError for unknown ones."""
    names = {match for text in _strings(event) for match in PLACEHOLDER.findall(text)}
    unknown = sorted(names - set(PLACEHOLDER_NAMES))
    if unknown:
        raise EventError(
            f"Unknown placeholders {', '.join('{{' + name + '}}' for name in unknown)}. "
            f"Invoke fills only {', '.join('{{' + name + '}}' for name in PLACEHOLDER_NAMES)}."
        )
    return names


def needs_demo_organization(event: Any) -> bool:
    """Tell whether the event has a placeholder or names the demo admin or the demo organization."""
    if placeholders_in(event):
        return True
    return any(DEMO_ADMIN_EMAIL in text or DEMO_ORGANIZATION_NAME in text for text in _strings(event))


def fill_placeholders(value: Any, values: Mapping[str, str]) -> Any:
    """Return a copy of the event with every `{{name}}` in its strings replaced by `values[name]`."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda match: values[match.group(1)], value)
    if isinstance(value, Mapping):
        return {key: fill_placeholders(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [fill_placeholders(item, values) for item in value]
    return value


def ensure_demo_organization(reset_hint: str = "drop the master database") -> DemoIdentity:
    """Log the demo admin in, creating the demo organization first if the login fails.

    Uses the domain services directly, with the settings of the current environment.
    `reset_hint` completes the error message when neither creating nor logging in works, with
    how to reset the database, for example "stop `make run` and delete .local/".
    """
    ensure_layer_on_path()
    from orgservice.api.deps import get_admin_service, get_organization_service
    from orgservice.core.config import get_settings
    from orgservice.core.keys import load_key_ring
    from orgservice.core.tokens import verify_token
    from orgservice.errors import AuthenticationError, ConflictError
    from orgservice.models import Principal

    settings = get_settings()
    admins = get_admin_service(settings)
    organizations = get_organization_service(settings, admins)
    try:
        issued = admins.login(email=DEMO_ADMIN_EMAIL, password=DEMO_ADMIN_PASSWORD)
    except AuthenticationError:
        logger.info("Creating the demo organization %r with admin %s", DEMO_ORGANIZATION_NAME, DEMO_ADMIN_EMAIL)
        try:
            organizations.create(
                organization_name=DEMO_ORGANIZATION_NAME, email=DEMO_ADMIN_EMAIL, password=DEMO_ADMIN_PASSWORD
            )
        except ConflictError as error:
            raise DemoSetupError(
                f"Cannot create the demo organization: {error.message} The demo admin {DEMO_ADMIN_EMAIL} "
                "cannot log in with the demo password either. Delete that organization or admin "
                f"(or {reset_hint}) and invoke again."
            ) from None
        issued = admins.login(email=DEMO_ADMIN_EMAIL, password=DEMO_ADMIN_PASSWORD)

    claims = verify_token(
        issued.access_token,
        keys=load_key_ring(settings),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        max_lifetime_seconds=settings.jwt_expires_seconds,
    )
    principal = Principal(
        admin_id=claims.admin_id, organization_id=claims.organization_id, token_version=claims.token_version
    )
    _admin, organization = admins.resolve(principal)
    if organization.organization_name != DEMO_ORGANIZATION_NAME:
        logger.info(
            "Renaming the demo organization from %r back to %r", organization.organization_name, DEMO_ORGANIZATION_NAME
        )
        try:
            organizations.update(
                principal=principal, organization_name=DEMO_ORGANIZATION_NAME, email=None, password=None
            )
        except ConflictError as error:
            raise DemoSetupError(
                f"Cannot rename the demo organization back to {DEMO_ORGANIZATION_NAME!r}: {error.message}"
            ) from None

    logger.info("Using the demo organization %s with admin %s", claims.organization_id, claims.admin_id)
    return DemoIdentity(
        token=issued.access_token,
        admin_id=claims.admin_id,
        organization_id=claims.organization_id,
        token_version=claims.token_version,
    )


def invoke_function(
    function_id: str,
    event: Mapping[str, Any] | Path | str,
    *,
    template_path: Path | str = TEMPLATE_PATH,
    state_dir: Path | None = None,
    parameter_overrides: Mapping[str, str] | None = None,
) -> InvokeResult:
    """Run one function of the template once with the event (a file path or a mapping).

    The function's environment (see local_api.local_state) is set in os.environ during the call
    and removed afterwards.
    """
    template = load_template(template_path, parameter_overrides)
    function = template.function(function_id)
    event = dict(event) if isinstance(event, Mapping) else read_event(event)
    state_dir = state_dir or state_dir_from_environment()
    seed_demo = needs_demo_organization(event)
    signing_key = resolve_signing_key(state_dir)

    with open_database(state_dir, own_state_dir=False) as database:
        logger.info("%s reaches MongoDB through %s", function_id, database.source)
        environment = local_environment(template, [function], mongodb_uri=database.uri, jwt_secret_key=signing_key)
        with local_process_environment(environment):
            if seed_demo:
                event = fill_placeholders(event, _demo_identity(database, state_dir).placeholder_values())
            return _run_once(template, function_id, event)


def mongodb_hosts(uri: str) -> str:
    """Return the host list of a MongoDB URI, such as "127.0.0.1:27017", without user, password or options.

    The parsing is textual and never resolves a mongodb+srv name, because it only feeds messages.
    """
    _scheme, separator, rest = uri.partition("://")
    if not separator:
        return "an invalid URI"
    # A password must percent-encode "@", so the hosts follow the last "@" before the options.
    hosts = rest.split("?", 1)[0].rpartition("@")[2].split("/", 1)[0]
    return hosts or "an empty host list"


def _demo_identity(database: LocalDatabase, state_dir: Path) -> DemoIdentity:
    """Run ensure_demo_organization, raising DemoSetupError with one line for database and settings errors."""
    ensure_layer_on_path()
    from orgservice.core.config import ConfigurationError
    from pymongo.errors import ConnectionFailure, PyMongoError

    hosts = mongodb_hosts(database.uri)
    if database.source == "MONGODB_URI":
        reset_hint = "drop the master database on that server"
        fix = "Start the server at that address, correct MONGODB_URI, or unset it to use the embedded SecantusDB."
    else:
        reset_hint = f"stop `make run` and delete {shlex.quote(str(state_dir))} to reset all local data"
        log_path = state_dir / f"{DATA_FOLDER}.log"
        fix = f"Check the SecantusDB log {log_path} and restart `make run`."

    try:
        return ensure_demo_organization(reset_hint=reset_hint)
    except ConnectionFailure:
        raise DemoSetupError(
            f"Cannot reach MongoDB at {hosts} (from {database.source}) to set up the demo organization "
            f"that this event needs. {fix}"
        ) from None
    except PyMongoError as error:
        summary = str(error).splitlines()[0] if str(error) else ""
        raise DemoSetupError(
            f"Setting up the demo organization in MongoDB at {hosts} (from {database.source}) failed with "
            f"{type(error).__name__}: {summary}"
        ) from None
    except ConfigurationError as error:
        raise DemoSetupError(f"Cannot set up the demo organization: {error}") from None


def _run_once(template: SamTemplate, function_id: str, event: dict[str, Any]) -> InvokeResult:
    functions = LocalFunctions(template)
    logger.info("Invoking %s (%s)", function_id, template.function(function_id).handler)
    try:
        return InvokeResult(payload=functions.invoke(function_id, event), failed=False)
    except Exception as error:
        logger.error("%s raised %s: %s", function_id, type(error).__name__, error)
        return InvokeResult(payload=error_payload(error), failed=True)
    finally:
        functions.close()
