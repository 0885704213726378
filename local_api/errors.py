"""The error that the local runner's command line reports as one message, without a traceback."""


class LocalRunnerError(ValueError):
    """A problem that the user can fix, and the message names the fix.

    Examples: an invalid template, event file, setting or signing key, a state folder that another
    runner uses, or an embedded database that fails to start.
    """
