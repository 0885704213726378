"""The local stand-ins for the service's AWS dependencies: MongoDB, the JWT signing key and the environment.

In AWS every function reads its MongoDB URI and signing key from Secrets Manager, named by
MONGODB_URI_SECRET_ID and JWT_SECRET_ID. Local runs never call AWS, so they unset those two
variables and set MONGODB_URI and JWT_SECRET_KEY instead, which the domain package reads when
no secret id is set.

Local state lives in the git-ignored folder `.local/` at the repository root (`--state-dir` or
LOCAL_API_STATE_DIR moves it):

- `secantus-data/`: the data of the embedded SecantusDB server.
- `mongodb.uri`: the URI of the embedded server that a running `make run` started. WiredTiger
  locks its data folder, so `make invoke` and a second `make run` reuse that server instead of
  starting their own on the same folder.
- `jwt-signing-key`: the signing key, made once with `secrets.token_urlsafe(48)` and mode 0600,
  so that tokens stay valid across restarts and between `make run` and `make invoke`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import sys
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from local_api.embedded_db import EmbeddedMongo, is_reachable
from local_api.errors import LocalRunnerError
from local_api.lambda_events import ROOT
from local_api.template import FunctionSpec, SamTemplate

logger = logging.getLogger(__name__)

DEFAULT_STATE_DIR = ROOT / ".local"
STATE_DIR_VARIABLE = "LOCAL_API_STATE_DIR"
DATA_FOLDER = "secantus-data"
URI_FILE = "mongodb.uri"
KEY_FILE = "jwt-signing-key"

# Each secret id variable, mapped to the variable that carries the value itself locally.
LOCAL_SECRET_REPLACEMENTS = {
    "MONGODB_URI_SECRET_ID": "MONGODB_URI",
    "JWT_SECRET_ID": "JWT_SECRET_KEY",
}

# Same limit as the domain package's MIN_JWT_KEY_BYTES: HS256 keys need at least 32 bytes.
MIN_KEY_BYTES = 32


def state_dir_from_environment() -> Path:
    """Return the folder of local state: LOCAL_API_STATE_DIR if set, else `.local/` in the repository."""
    configured = os.environ.get(STATE_DIR_VARIABLE, "").strip()
    return Path(configured) if configured else DEFAULT_STATE_DIR


def read_or_create_signing_key(state_dir: Path) -> str:
    """Read the local JWT signing key, creating it with mode 0600 on first use.

    The file is created with O_EXCL, so two runners that start at once still end up with one key.
    """
    path = state_dir / KEY_FILE
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_signing_key(path)

    key = secrets.token_urlsafe(48)
    with os.fdopen(descriptor, "w", encoding="ascii") as key_file:
        key_file.write(key + "\n")
    logger.info("Created a new local JWT signing key in %s", path)
    return key


def _read_signing_key(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("%s is readable by other users (mode %o). Run chmod 600 on it", path, mode)

    key = path.read_text(encoding="ascii").strip()
    if len(key.encode("ascii")) < MIN_KEY_BYTES:
        raise LocalRunnerError(
            f"The signing key in {path} is shorter than {MIN_KEY_BYTES} bytes. Delete the file to make a new one."
        )
    return key


def resolve_signing_key(state_dir: Path) -> str:
    """Return JWT_SECRET_KEY from the environment if set, else the key file of the state folder."""
    configured = os.environ.get("JWT_SECRET_KEY", "").strip()
    if configured:
        logger.info("Using the JWT signing key from JWT_SECRET_KEY")
        return configured
    return read_or_create_signing_key(state_dir)


@dataclass
class LocalDatabase:
    """The MongoDB server that a local run uses, and the embedded server if this run started it."""

    uri: str
    source: str
    embedded: EmbeddedMongo | None = None


def _read_running_uri(state_dir: Path) -> str | None:
    path = state_dir / URI_FILE
    try:
        uri = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if uri and is_reachable(uri):
        return uri
    logger.info("Ignoring %s because no MongoDB server responds at %s", path, uri or "an empty URI")
    return None


@contextlib.contextmanager
def open_database(state_dir: Path, *, publish_uri: bool) -> Iterator[LocalDatabase]:
    """Find or start the MongoDB server of a local run, and stop it on exit if this run started it.

    The order is: MONGODB_URI from the environment, then the embedded server of a running
    runner (named in `mongodb.uri`), else a new embedded server on `secantus-data/`. With
    `publish_uri`, a newly started server's URI goes to `mongodb.uri` until the server stops.
    """
    configured = os.environ.get("MONGODB_URI", "").strip()
    if configured:
        yield LocalDatabase(uri=configured, source="MONGODB_URI")
        return

    running = _read_running_uri(state_dir)
    if running:
        logger.info("Reusing the embedded SecantusDB of a running local API at %s", running)
        yield LocalDatabase(uri=running, source=str(state_dir / URI_FILE))
        return

    server = EmbeddedMongo(state_dir / DATA_FOLDER).start()
    uri_path = state_dir / URI_FILE
    try:
        logger.info("Embedded SecantusDB serves %s with data in %s", server.uri, server.storage_path)
        if publish_uri:
            uri_path.write_text(server.uri + "\n", encoding="utf-8")
        yield LocalDatabase(uri=server.uri, source="embedded SecantusDB", embedded=server)
    finally:
        if publish_uri and _file_contains_uri(uri_path, server.uri):
            uri_path.unlink()
        server.stop()
        logger.info("Stopped the embedded SecantusDB")


def _file_contains_uri(path: Path, uri: str) -> bool:
    try:
        return path.read_text(encoding="utf-8").strip() == uri
    except FileNotFoundError:
        return False


def local_environment(
    template: SamTemplate,
    functions: list[FunctionSpec],
    *,
    mongodb_uri: str,
    jwt_secret_key: str,
    environ: MutableMapping[str, str] | None = None,
) -> dict[str, str]:
    """Compute the environment that the given functions run with locally.

    Lambda gives each function its own environment, but the local runner loads every handler
    into one process, so one set of variables must serve them all. The rules:

    - Globals come first, then each function's own variables. When two functions set one name
      to different values, the first function in template order wins and a warning is logged.
      In this template the only per-function value is the authorizer's empty
      MONGODB_URI_SECRET_ID, which the next rule drops anyway.
    - The secret id variables (MONGODB_URI_SECRET_ID, JWT_SECRET_ID) are left out, and
      MONGODB_URI and JWT_SECRET_KEY carry the local values instead.
    - A variable that is already set in the local environment keeps that value, so for example
      `MONGODB_DATABASE=scratch make run` or a test's settings win over the template.
    """
    environ = os.environ if environ is None else environ
    skip = frozenset(LOCAL_SECRET_REPLACEMENTS)
    values: dict[str, str] = {}
    for function in functions:
        for name, value in template.resolve_environment(function, skip=skip).items():
            if name in values and values[name] != value:
                logger.warning(
                    "%s sets %s to another value than an earlier function; all functions share one process, "
                    "so the earlier value stays",
                    function.logical_id,
                    name,
                )
                continue
            values.setdefault(name, value)

    result = {name: environ[name] if environ.get(name) else value for name, value in values.items()}
    result["MONGODB_URI"] = mongodb_uri
    result["JWT_SECRET_KEY"] = jwt_secret_key
    return result


def apply_environment(values: dict[str, str], environ: MutableMapping[str, str] | None = None) -> None:
    """Write the local environment into the process, removing the secret id variables.

    The domain package reads its settings and builds its MongoClient once per process. When an
    earlier call in this process (a test, or another invoke) has done so, both are dropped, so
    the handlers start cold with the new environment, as a fresh Lambda container would.
    """
    environ = os.environ if environ is None else environ
    for name in LOCAL_SECRET_REPLACEMENTS:
        environ.pop(name, None)
    environ.update(values)
    _reset_domain_caches()


@contextlib.contextmanager
def local_process_environment(values: dict[str, str]) -> Iterator[None]:
    """Apply the local environment for the duration of the block, then restore os.environ as it was.

    Restoring matters for callers that stay in the process, such as tests and repeated invokes.
    Otherwise the MONGODB_URI of an embedded server that has since stopped would stay set. The
    domain package's cached settings and MongoClient are dropped on exit too, while the server
    is still up, so that closing the client does not wait for a stopped server.
    """
    saved = dict(os.environ)
    apply_environment(values)
    try:
        yield
    finally:
        _reset_domain_caches()
        os.environ.clear()
        os.environ.update(saved)


def _reset_domain_caches() -> None:
    # Only modules that are already imported can hold state; a fresh process skips this.
    config = sys.modules.get("orgservice.core.config")
    if config is not None:
        config.get_settings.cache_clear()
    database = sys.modules.get("orgservice.core.db")
    if database is not None:
        database.reset()
