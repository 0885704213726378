"""Load the template's functions in this process and run their handlers one at a time on a worker thread."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from local_api.lambda_events import Handler, LambdaContext, load_handler
from local_api.template import SamTemplate

logger = logging.getLogger(__name__)

# Seconds that a caller waits beyond the function's Timeout before it gives up on the result.
TIMEOUT_GRACE_SECONDS = 1.0


class FunctionTimeoutError(TimeoutError):
    """The handler did not return within the function's Timeout."""


class HandlerWorker:
    """A daemon thread that runs calls one after another, with an asyncio event loop of its own.

    One thread, because Lambda gives a container one request at a time and Powertools keeps the
    keys of the current request's log lines in state that every function of this process shares.
    Its own event loop, because Mangum runs the app with `asyncio.get_event_loop()`, which has
    no loop in a plain thread and cannot reuse uvicorn's running one.
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Future, Callable[[], Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="lambda-worker", daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], Any]) -> Future:
        future: Future = Future()
        self._calls.put((future, call))
        return future

    def close(self) -> None:
        """Stop the thread after the calls already queued. A running call keeps the thread alive until it returns."""
        self._calls.put(None)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            while (item := self._calls.get()) is not None:
                future, call = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(call())
                except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
                    future.set_exception(error)
        finally:
            loop.close()


def error_payload(error: BaseException) -> dict[str, Any]:
    """Describe a handler's exception the way the Lambda Python runtime reports it to the caller."""
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


class LocalFunctions:
    """The template's functions, each loaded on its first call as a Lambda cold start would."""

    def __init__(self, template: SamTemplate, worker: HandlerWorker | None = None) -> None:
        self.template = template
        self.worker = worker or HandlerWorker()
        self._handlers: dict[str, Handler] = {}

    def context(self, function_id: str) -> LambdaContext:
        function = self.template.function(function_id)
        return LambdaContext(
            function_name=function.logical_id,
            memory_limit_in_mb=function.memory_mb,
            timeout_seconds=function.timeout_seconds,
        )

    def timeout_seconds(self, function_id: str) -> float:
        return self.template.function(function_id).timeout_seconds + TIMEOUT_GRACE_SECONDS

    def submit(self, function_id: str, event: dict[str, Any], context: LambdaContext | None = None) -> Future:
        """Queue one invocation and return a future of the handler's result or exception."""
        context = context or self.context(function_id)
        return self.worker.submit(lambda: self._handler(function_id)(event, context))

    def invoke(self, function_id: str, event: dict[str, Any], context: LambdaContext | None = None) -> Any:
        """Run one invocation and wait for it, raising FunctionTimeoutError after the function's Timeout."""
        future = self.submit(function_id, event, context)
        try:
            return future.result(timeout=self.timeout_seconds(function_id))
        except TimeoutError:
            raise FunctionTimeoutError(
                f"{function_id} did not return within its Timeout of "
                f"{self.template.function(function_id).timeout_seconds} s"
            ) from None

    def close(self) -> None:
        self.worker.close()

    def _handler(self, function_id: str) -> Handler:
        # Runs on the worker thread, so imports happen there and an import error reaches the caller.
        if function_id not in self._handlers:
            function = self.template.function(function_id)
            logger.info("Loading %s from %s (handler %s)", function_id, function.code_uri, function.handler)
            self._handlers[function_id] = load_handler(function.code_uri, function.handler)
        return self._handlers[function_id]
