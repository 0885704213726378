"""Cold start: the import of a handler module in a fresh interpreter with only what Lambda would provide.

The child runs with `-I -S`, so its path has the standard library, the function's folder (Lambda's
/var/task), the built layer (Lambda's /opt/python) and the AWS SDK that the runtime provides
(Lambda's /var/runtime), and nothing else of the development environment. LAMBDA_TASK_ROOT is set as
in Lambda, so Powertools Tracer does what it does there: it imports the X-Ray SDK and patches botocore
and pymongo during the import.
It measures the CPU time of the import, because on a shared machine the wall time also counts the
time spent waiting for a core, which a Lambda container with its own vCPU share does not see.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

CHILD = """
import importlib, sys, time
sys.path[:0] = sys.argv[1:4]
started = time.process_time()
module = importlib.import_module("app")
elapsed = time.process_time() - started
assert callable(getattr(module, "handler")), "the module has no handler"
print(elapsed)
"""


def import_seconds(
    code_folder: Path, layer_folder: Path, runtime_folder: Path, environment: Mapping[str, str]
) -> float:
    """Import `app` from `code_folder` in a fresh process and return the CPU seconds of the import."""
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", CHILD, str(code_folder), str(layer_folder), str(runtime_folder)],
        env={"PATH": os.environ.get("PATH", ""), **environment, "LAMBDA_TASK_ROOT": str(code_folder)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Importing {code_folder}/app.py failed:\n{result.stderr.strip()}")
    return float(result.stdout.strip().splitlines()[-1])


def measure(
    code_folders: Mapping[str, Path],
    layer_folder: Path,
    runtime_folder: Path,
    environment: Mapping[str, str],
    *,
    repeats: int,
) -> dict[str, float]:
    """Return the median import seconds of each folder, one fresh process per import, rounds interleaved."""
    names = list(code_folders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(repeats):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(import_seconds(code_folders[name], layer_folder, runtime_folder, environment))
        # Let the page cache and the CPU settle a little between rounds.
        time.sleep(0.05)
    return {name: statistics.median(values) for name, values in samples.items()}
