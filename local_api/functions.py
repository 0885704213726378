"""Load the template's functions in this process and run their handlers one at a time on a worker thread."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from local_api.lambda_events import Handler, LambdaContext, load_handler
from local_api.template import SamTemplate

logger = logging.getLogger(__name__)

# Seconds that a caller waits beyond the function's Timeout before it gives up on the result.
TIMEOUT_GRACE_SECONDS = 1.0
# API Gateway's default integration timeout for a REST API (29 s; since 2024 a Regional or private
# API can get more through a quota increase). Here it limits how long a call may wait in the queue
# for the worker. A call that has not started by then is cancelled and the caller gets 504.
API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS = 29.0


class FunctionTimeoutError(TimeoutError):
    """The handler did not return within the function's Timeout, counted from when it started."""


class QueueTimeoutError(TimeoutError):
    """The call waited in the queue longer than the queue timeout and was cancelled before it started."""


class HandlerWorker:
    """A daemon thread that runs calls one after another, with an asyncio event loop of its own.

    One thread, because Lambda gives a container one request at a time and Powertools keeps the
    keys of the current request's log lines in state that every function of this process shares.
    Its own event loop, because Mangum runs the app with `asyncio.get_event_loop()`, which has
    no loop in a plain thread and cannot reuse uvicorn's running one.
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Future, Callable[[], Any]] | None] = queue.SimpleQueue()
        self._running = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lambda-worker", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether a call runs at this moment."""
        return self._running.is_set()

    def submit(self, call: Callable[[], Any]) -> Future:
        """Queue the call. Cancelling the returned future before the call starts keeps it from running."""
        future: Future = Future()
        self._calls.put((future, call))
        return future

    def close(self, timeout_seconds: float = 0.0) -> bool:
        """Stop the thread after the calls already queued, waiting up to `timeout_seconds` for it to end.

        Returns whether the thread has ended. A running call cannot be interrupted, so it keeps
        the thread alive until it returns.
        """
        self._calls.put(None)
        self._thread.join(timeout_seconds)
        return not self._thread.is_alive()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            while (item := self._calls.get()) is not None:
                future, call = item
                if not future.set_running_or_notify_cancel():
                    continue
                self._running.set()
                try:
                    future.set_result(call())
                except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
                    future.set_exception(error)
                finally:
                    self._running.clear()
        finally:
            loop.close()


def error_payload(error: BaseException) -> dict[str, Any]:
    """Describe a handler's exception the way the Lambda Python runtime reports it to the caller."""
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


@dataclass(frozen=True)
class Invocation:
    """One queued call of a function, as `LocalFunctions.submit` returns it."""

    function_id: str
    # The id that log lines about this call carry: the API Gateway request id, or the Lambda one.
    request_id: str
    # Set to `time.monotonic()` on the worker thread when the handler starts.
    started: Future
    # The handler's return value or exception. Cancelled if the call never started.
    result: Future


async def _wait_for_future(future: Future, timeout: float) -> bool:
    """Wait up to `timeout` seconds for a concurrent future and tell whether it is done.

    Unlike `asyncio.wait_for`, this leaves the future alone when the time passes, so the caller
    decides whether to cancel the call.
    """
    wrapped = asyncio.wrap_future(future)
    wrapped.add_done_callback(_mark_outcome_read)
    done, _pending = await asyncio.wait([wrapped], timeout=max(0.0, timeout))
    return bool(done)


def _mark_outcome_read(wrapped: asyncio.Future) -> None:
    # The caller reads the outcome from the concurrent future. Reading the asyncio copy's exception
    # keeps asyncio from logging "Future exception was never retrieved" for it.
    if not wrapped.cancelled():
        wrapped.exception()


class LocalFunctions:
    """The template's functions, each loaded on its first call as a Lambda cold start would.

    A call passes two limits. While it waits in the queue behind other calls, it waits at most
    `queue_timeout_seconds` (API Gateway's integration timeout by default) and is then cancelled
    without running. Once its handler starts, the function's Timeout plus `timeout_grace_seconds`
    applies. So a response can take the queue timeout plus the function's Timeout. API Gateway
    would return 504 after 29 s in all, but a started handler cannot be stopped here (see
    `_function_timeout`). A 504 while it still runs would tell the client that a change failed
    which then completes.
    """

    def __init__(
        self,
        template: SamTemplate,
        worker: HandlerWorker | None = None,
        *,
        queue_timeout_seconds: float = API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS,
        timeout_grace_seconds: float = TIMEOUT_GRACE_SECONDS,
    ) -> None:
        self.template = template
        self.worker = worker or HandlerWorker()
        self.queue_timeout_seconds = queue_timeout_seconds
        self.timeout_grace_seconds = timeout_grace_seconds
        self._handlers: dict[str, Handler] = {}

    def context(self, function_id: str) -> LambdaContext:
        function = self.template.function(function_id)
        return LambdaContext(
            function_name=function.logical_id,
            memory_limit_in_mb=function.memory_mb,
            timeout_seconds=function.timeout_seconds,
        )

    def timeout_seconds(self, function_id: str) -> float:
        """Return how long a caller waits for a started handler: its Timeout plus the grace."""
        return self.template.function(function_id).timeout_seconds + self.timeout_grace_seconds

    def submit(
        self,
        function_id: str,
        event: dict[str, Any],
        context: LambdaContext | None = None,
        *,
        request_id: str | None = None,
    ) -> Invocation:
        """Queue one invocation. `request_id` goes into log lines and defaults to the context's aws_request_id."""
        context = context or self.context(function_id)
        started: Future = Future()

        def run() -> Any:
            # get_remaining_time_in_millis() counts from here, not from when the call was queued.
            context.started_at = time.monotonic()
            started.set_result(context.started_at)
            return self._handler(function_id)(event, context)

        result = self.worker.submit(run)
        return Invocation(function_id, request_id or context.aws_request_id, started, result)

    def invoke(self, function_id: str, event: dict[str, Any], context: LambdaContext | None = None) -> Any:
        """Run one invocation and wait for it, as `wait` describes."""
        return self.wait(self.submit(function_id, event, context))

    def wait(self, invocation: Invocation) -> Any:
        """Return the handler's result or raise its exception.

        Raises QueueTimeoutError when the call did not start within the queue timeout (it is
        cancelled then and never runs), and FunctionTimeoutError when the handler did not return
        within the function's Timeout from its start.
        """
        try:
            started_at = invocation.started.result(timeout=self.queue_timeout_seconds)
        except TimeoutError:
            started_at = self._cancel_queued(invocation)

        remaining = started_at + self.timeout_seconds(invocation.function_id) - time.monotonic()
        try:
            return invocation.result.result(timeout=max(0.0, remaining))
        except TimeoutError:
            raise self._function_timeout(invocation) from None

    async def wait_async(self, invocation: Invocation) -> Any:
        """Do what `wait` does without blocking the event loop.

        If the waiting task is cancelled, the call is cancelled too, unless it has started.
        """
        try:
            if await _wait_for_future(invocation.started, self.queue_timeout_seconds):
                started_at = invocation.started.result()
            else:
                started_at = self._cancel_queued(invocation)

            remaining = started_at + self.timeout_seconds(invocation.function_id) - time.monotonic()
            if not await _wait_for_future(invocation.result, remaining):
                raise self._function_timeout(invocation)
        except asyncio.CancelledError:
            invocation.result.cancel()
            raise
        return invocation.result.result()

    def max_timeout_seconds(self) -> float:
        """Return the longest that a caller waits for any started handler of the template."""
        return max((self.timeout_seconds(function_id) for function_id in self.template.functions), default=0.0)

    def close(self, timeout_seconds: float = 0.0) -> None:
        """Stop the worker, waiting up to `timeout_seconds` for a running handler to return.

        A handler still running after that keeps running on its daemon thread, and a warning is
        logged because it may fail once the database stops.
        """
        if timeout_seconds > 0 and self.worker.running:
            logger.info("Waiting up to %.0f s for the running handler to return", timeout_seconds)
        if not self.worker.close(timeout_seconds) and timeout_seconds > 0:
            logger.warning(
                "A handler still runs %.0f s after the shutdown began; it may fail once the database stops",
                timeout_seconds,
            )

    def _cancel_queued(self, invocation: Invocation) -> float:
        """Cancel a call that waited out the queue timeout, or return now if it started meanwhile.

        `Future.cancel()` and the worker's `set_running_or_notify_cancel()` take the same lock, so
        exactly one of them wins: either the call never runs, or it runs and the caller waits for it.
        """
        if invocation.result.cancel():
            logger.error(
                "%s waited %.0f s in the queue for the worker without starting, so it was cancelled "
                "and will not run (request_id=%s)",
                invocation.function_id,
                self.queue_timeout_seconds,
                invocation.request_id,
            )
            raise QueueTimeoutError(
                f"{invocation.function_id} did not start within {self.queue_timeout_seconds:.0f} s "
                "because other calls held the worker. It was cancelled and did not run."
            )
        logger.warning(
            "%s started just as its %.0f s in the queue ran out, so the caller waits for it with "
            "the function's Timeout (request_id=%s)",
            invocation.function_id,
            self.queue_timeout_seconds,
            invocation.request_id,
        )
        return time.monotonic()

    def _function_timeout(self, invocation: Invocation) -> FunctionTimeoutError:
        # NOTE: Lambda stops a function at its Timeout, but a thread cannot be stopped. The handler
        # keeps running and keeps the worker busy until it returns, and its writes still happen.
        timeout = self.template.function(invocation.function_id).timeout_seconds
        return FunctionTimeoutError(f"{invocation.function_id} did not return within its Timeout of {timeout} s")

    def _handler(self, function_id: str) -> Handler:
        # Runs on the worker thread, so imports happen there and an import error reaches the caller.
        if function_id not in self._handlers:
            function = self.template.function(function_id)
            logger.info("Loading %s from %s (handler %s)", function_id, function.code_uri, function.handler)
            self._handlers[function_id] = load_handler(function.code_uri, function.handler)
        return self._handlers[function_id]
