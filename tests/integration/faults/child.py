"""Child process that runs one scenario's request and kills itself with SIGKILL at one step boundary.

Usage: python -m tests.integration.faults.child SCENARIO_ID STEP TENANT_JSON, with the service's
environment (MONGODB_URI, MONGODB_DATABASE and so on) set. A STEP of the form `FIRST>SECOND` raises
an exception at FIRST and kills the process at SECOND, inside the rollback that the exception starts.
SIGKILL gives the process no chance to clean up, as when Lambda stops a function at its timeout.
"""

from __future__ import annotations

import os
import signal
import sys

from local_api.lambda_events import ensure_layer_on_path


def main(scenario_id: str, step: str, tenant_json: str) -> int:
    ensure_layer_on_path()
    from orgservice.services import checkpoints

    from tests.integration.faults.scenarios import SCENARIOS, InjectedFault, decode_tenant, place_tenants_apart, run

    scenario = next(candidate for candidate in SCENARIOS if candidate.id == scenario_id)
    if scenario.copy:
        place_tenants_apart(os.environ["MONGODB_DATABASE"])

    raise_at, _, kill_at = step.rpartition(">")

    def inject(reached: str) -> None:
        if reached == raise_at:
            raise InjectedFault(f"injected fault at {reached}")
        if reached == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    checkpoints.hook = inject
    response = run(scenario, decode_tenant(tenant_json))
    print(f"step {step} was not reached; the request returned {response.status}", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
