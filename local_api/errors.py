"""The error that the local runner's command line reports as one message, without a traceback."""


class LocalRunnerError(ValueError):
    """The template, an event file or a setting of the local runner is invalid, and the message names the fix."""
