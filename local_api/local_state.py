"""The local stand-ins for the service's AWS dependencies: MongoDB, the JWT signing key and the environment.

In AWS every function reads its MongoDB URI and signing key from Secrets Manager, named by
MONGODB_URI_SECRET_ID and JWT_SECRET_ID. Local runs never call AWS, so they unset those two
variables and set MONGODB_URI and JWT_SECRET_KEY instead, which the domain package reads when
no secret id is set.

Local state lives in the git-ignored folder `.local/` at the repository root (`--state-dir` or
LOCAL_API_STATE_DIR moves it):

- `secantus-data/`: the data of the embedded SecantusDB server. WiredTiger locks it, so only one
  server at a time can use it.
- `runner.json`: which `make run` started the embedded server, with the server's pid and URI
  (see local_api.runner_record). `make invoke` reuses that server, and a second `make run` on
  the same folder stops with an error naming the first.
- `jwt-signing-key`: the signing key, made once with `secrets.token_urlsafe(48)` and mode 0600,
  so that tokens stay valid across restarts and between `make run` and `make invoke`.

To reset the local data, stop `make run` and delete the state folder.
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

from local_api.embedded_db import DataFolderLockedError, EmbeddedMongo, describe_lock_holder, is_reachable
from local_api.errors import LocalRunnerError
from local_api.lambda_events import ROOT, ensure_layer_on_path
from local_api.runner_record import RunnerRecord, delete_record, find_live_runner, record_path, write_record
from local_api.template import FunctionSpec, SamTemplate

logger = logging.getLogger(__name__)

DEFAULT_STATE_DIR = ROOT / ".local"
STATE_DIR_VARIABLE = "LOCAL_API_STATE_DIR"
DATA_FOLDER = "secantus-data"
KEY_FILE = "jwt-signing-key"
KEY_VARIABLE = "JWT_SECRET_KEY"

# Each secret id variable, mapped to the variable that carries the value itself locally.
LOCAL_SECRET_REPLACEMENTS = {
    "MONGODB_URI_SECRET_ID": "MONGODB_URI",
    "JWT_SECRET_ID": "JWT_SECRET_KEY",
}

NEW_KEY_COMMAND = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


class SigningKeyError(LocalRunnerError):
    """The JWT signing key from JWT_SECRET_KEY or the key file breaks the service's rules, or cannot be read."""


class StateDirInUseError(LocalRunnerError):
    """Another runner, or another process, uses the state folder's embedded database."""


def state_dir_from_environment() -> Path:
    """Return the folder of local state: LOCAL_API_STATE_DIR if set, else `.local/` in the repository."""
    configured = os.environ.get(STATE_DIR_VARIABLE, "").strip()
    return Path(configured) if configured else DEFAULT_STATE_DIR


def min_key_bytes() -> int:
    """Return the service's minimum signing key length in bytes, from the layer's settings module."""
    ensure_layer_on_path()
    from orgservice.core.config import MIN_JWT_KEY_BYTES

    return MIN_JWT_KEY_BYTES


def read_or_create_signing_key(state_dir: Path) -> str:
    """Read the local JWT signing key, creating it with mode 0600 on first use.

    A new key is written to a temporary file and hard-linked into place, which fails if the key
    file exists. So two runners that start at once end up with one key, and neither reads a key
    file that the other has not finished writing. Raises SigningKeyError when the file cannot be
    read or contains no valid key.
    """
    path = state_dir / KEY_FILE
    if os.path.lexists(path):
        return _read_signing_key(path)

    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SigningKeyError(
            f"Cannot create the state folder {state_dir}: {error.strerror}. "
            f"Set {STATE_DIR_VARIABLE} or --state-dir to a folder that you can write."
        ) from None

    temporary = state_dir / f".{KEY_FILE}.{os.getpid()}.tmp"
    key = secrets.token_urlsafe(48)
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as key_file:
            key_file.write(key + "\n")
        os.link(temporary, path)
    except FileExistsError:
        return _read_signing_key(path)
    except OSError as error:
        raise SigningKeyError(
            f"Cannot create the signing key file {path}: {error.strerror}. "
            f"Make {state_dir} writable, or set {STATE_DIR_VARIABLE} or --state-dir to another folder."
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
    logger.info("Created a new local JWT signing key in %s", path)
    return key


def _read_signing_key(path: Path) -> str:
    new_key_hint = "Delete it, and the next run writes a new key there (tokens signed with the old key stop working)."
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise SigningKeyError(f"Cannot read the signing key file {path}: {error.strerror}. {new_key_hint}") from None
    if stat.S_ISDIR(mode):
        raise SigningKeyError(f"The signing key file {path} is a folder. {new_key_hint}")
    if not stat.S_ISREG(mode):
        raise SigningKeyError(f"The signing key file {path} is not a regular file. {new_key_hint}")
    if stat.S_IMODE(mode) & 0o077:
        logger.warning("%s is readable by other users (mode %o). Run chmod 600 on it", path, stat.S_IMODE(mode))

    try:
        key = path.read_bytes().decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SigningKeyError(f"The signing key file {path} is not UTF-8 text. {new_key_hint}") from None
    except OSError as error:
        raise SigningKeyError(
            f"Cannot read the signing key file {path}: {error.strerror}. "
            f"Give your user read access (chmod 600 {path}), or delete the file to get a new key."
        ) from None

    size = len(key.encode("utf-8"))
    minimum = min_key_bytes()
    if size < minimum:
        raise SigningKeyError(
            f"The signing key in {path} is {size} bytes long, shorter than the {minimum} bytes "
            f"that the service requires. {new_key_hint}"
        )
    return key


def resolve_signing_key(state_dir: Path) -> str:
    """Return JWT_SECRET_KEY from the environment if set, else the key file of the state folder.

    Both must contain at least MIN_JWT_KEY_BYTES bytes of UTF-8 text once surrounding whitespace is
    stripped, the rule that the service applies when it signs or verifies a token. Raises
    SigningKeyError otherwise, so a runner stops before it starts anything.
    """
    configured = os.environ.get(KEY_VARIABLE, "").strip()
    if not configured:
        return read_or_create_signing_key(state_dir)

    key_file = state_dir / KEY_FILE
    fix = f"Set it to a random value such as the output of {NEW_KEY_COMMAND}, or unset it to use {key_file}."
    try:
        size = len(configured.encode("utf-8"))
    except UnicodeEncodeError:
        # os.environ keeps bytes that are not UTF-8 as lone surrogates, which cannot be encoded.
        raise SigningKeyError(f"{KEY_VARIABLE} is not UTF-8 text. {fix}") from None
    minimum = min_key_bytes()
    if size < minimum:
        raise SigningKeyError(
            f"{KEY_VARIABLE} is {size} bytes long, shorter than the {minimum} bytes that the service requires. {fix}"
        )
    logger.info("Using the JWT signing key from %s", KEY_VARIABLE)
    return configured


@dataclass
class LocalDatabase:
    """The MongoDB server that a local run uses, and the embedded server if this run started it."""

    uri: str
    source: str
    embedded: EmbeddedMongo | None = None


@contextlib.contextmanager
def open_database(state_dir: Path, *, own_state_dir: bool) -> Iterator[LocalDatabase]:
    """Find or start the MongoDB server of a local run, and stop it on exit if this run started it.

    The order is: MONGODB_URI from the environment, then the embedded server of a live runner
    (named in `runner.json`), else a new embedded server on `secantus-data/`.

    With `own_state_dir` (serve), a live runner's record raises StateDirInUseError instead of
    being reused, and a newly started server is recorded in `runner.json`, with this process as
    its owner, until it stops. Without it (invoke), a new server serves only this call.
    """
    configured = os.environ.get("MONGODB_URI", "").strip()
    if configured:
        yield LocalDatabase(uri=configured, source="MONGODB_URI")
        return

    runner = find_live_runner(state_dir)
    if runner is not None and own_state_dir:
        raise StateDirInUseError(
            f"Another local API ({runner.describe_runner()}) already runs on the state folder {state_dir}. "
            f"Stop it, or give this one another folder with --state-dir or {STATE_DIR_VARIABLE}."
        )
    if runner is not None:
        if not is_reachable(runner.database_uri):
            raise StateDirInUseError(
                f"The local API ({runner.describe_runner()}) owns the embedded SecantusDB of {state_dir}, "
                f"but nothing responds at {runner.database_uri}. Restart that `make run`, or set MONGODB_URI."
            )
        logger.info(
            "Reusing the embedded SecantusDB at %s of the local API (%s)", runner.database_uri, runner.describe_runner()
        )
        yield LocalDatabase(uri=runner.database_uri, source=str(record_path(state_dir)))
        return

    server = _start_embedded(state_dir)
    record = RunnerRecord.for_this_process(server.uri, server.process.pid) if own_state_dir else None
    try:
        logger.info("Embedded SecantusDB serves %s with data in %s", server.uri, server.storage_path)
        if record is not None:
            write_record(state_dir, record)
        yield LocalDatabase(uri=server.uri, source="embedded SecantusDB", embedded=server)
    finally:
        if record is not None:
            delete_record(state_dir, record)
        server.stop()
        logger.info("Stopped the embedded SecantusDB")


def _start_embedded(state_dir: Path) -> EmbeddedMongo:
    try:
        return EmbeddedMongo(state_dir / DATA_FOLDER).start()
    except DataFolderLockedError as error:
        raise StateDirInUseError(
            f"{describe_lock_holder(error.holder_pid)} holds the lock on the SecantusDB data folder "
            f"{error.data_path}, so the embedded database cannot start. It may be another `make run` or "
            f"`make invoke` on this state folder. Stop it, or give this one another folder with --state-dir "
            f"or {STATE_DIR_VARIABLE}."
        ) from None


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
    result[KEY_VARIABLE] = jwt_secret_key
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
    reset_domain_caches()


@contextlib.contextmanager
def restored_environment() -> Iterator[None]:
    """Restore os.environ on exit as it was on entry, and drop the domain package's cached settings and client.

    Restoring matters for callers that stay in the process, such as tests and repeated invokes.
    Otherwise the MONGODB_URI of an embedded server that has since stopped would stay set.
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        reset_domain_caches()
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def local_process_environment(values: dict[str, str]) -> Iterator[None]:
    """Apply the local environment for the duration of the block, then restore os.environ as it was.

    Use it inside the database's block: the domain package's MongoClient is closed on exit while
    the server is still up, so that closing it does not wait for a stopped server.
    """
    with restored_environment():
        apply_environment(values)
        yield


def reset_domain_caches() -> None:
    """Drop the domain package's cached settings and close its MongoClient, if it has built them."""
    # Only modules that are already imported can hold state; a fresh process skips this.
    config = sys.modules.get("orgservice.core.config")
    if config is not None:
        config.get_settings.cache_clear()
    database = sys.modules.get("orgservice.core.db")
    if database is not None:
        database.reset()
