"""Named boundaries between the steps of create, rename and delete.

Services call `reached(step)` after each step that changes stored state. In production no hook is
set and the call does nothing. The fault-injection tests set one that raises or kills the process
there, to check that every interruption is finished or rolled back.
"""

from __future__ import annotations

from collections.abc import Callable

hook: Callable[[str], None] | None = None


def reached(step: str) -> None:
    """Run the installed hook, if any, for the step boundary named `step`."""
    if hook is not None:
        hook(step)
