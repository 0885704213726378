"""Typed errors raised by services; the API maps each class to one HTTP status in one place."""


class ServiceError(Exception):
    """Base class of the errors that a request can cause; the message is safe to show to the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(ServiceError):
    """The requested organization or admin does not exist."""


class ConflictError(ServiceError):
    """The request collides with existing data or with a concurrent change."""


class ChangeInProgressError(ConflictError):
    """Another request's change of the organization holds its lease; retry after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChangeStillRunningError(ServiceError):
    """A collection operation outlived its time limit and may still finish on the server.

    The change keeps its mark, so the next request after `retry_after` seconds, or the repair
    function, settles it from the state the server ends in.
    """

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MigrationFailedError(ConflictError):
    """Moving the tenant collection failed and every earlier step of the request was undone."""


class AuthenticationError(ServiceError):
    """The credentials or the identity carried by the token are not valid."""


class TooManyAttemptsError(ServiceError):
    """Too many failed logins for the email or the source address; retry after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
