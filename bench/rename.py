"""Rename through PUT /org/update against the server's own renameCollection on collections of equal size."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pymongo import MongoClient

from bench.stats import interleaved
from bench.warm import Service

INSERT_BATCH = 5000


@dataclass(frozen=True)
class RenameResult:
    documents: int
    repeats: int
    service_seconds: float
    raw_seconds: float
    fill_seconds: float

    @property
    def ratio(self) -> float:
        return self.service_seconds / self.raw_seconds


def fill(client: MongoClient, namespace: str, documents: int) -> None:
    """Insert `documents` small documents, shaped like tenant records, into the namespace."""
    database, _, collection = namespace.partition(".")
    target = client[database][collection]
    for start in range(0, documents, INSERT_BATCH):
        stop = min(documents, start + INSERT_BATCH)
        target.insert_many(
            [{"seq": number, "name": f"record {number}", "payload": "x" * 64} for number in range(start, stop)],
            ordered=False,
        )


def measure(service: Service, raw: MongoClient, database: str, documents: int, *, repeats: int) -> RenameResult:
    """Rename an organization holding `documents` tenant documents back and forth, interleaved with raw renames.

    Each call moves the data once, so both sides keep the same size from round to round.
    """
    names = [f"Bench Rename {documents} A", f"Bench Rename {documents} B"]
    email = f"rename-{documents}@bench.example"
    created = service.create(names[0], email)
    token = service.token(email)
    events = [service.rename_event(token, names[1]), service.rename_event(token, names[0])]
    raw_names = [f"{database}.raw_rename_{documents}_a", f"{database}.raw_rename_{documents}_b"]

    started = time.perf_counter()
    # The tenant collection sits in the master database, as orgservice.placement decides today.
    fill(raw, f"{database}.{created['organization']['collection_name']}", documents)
    if documents == 0:
        raw[database].create_collection(raw_names[0].partition(".")[2])
    fill(raw, raw_names[0], documents)
    fill_seconds = time.perf_counter() - started

    turn = {"service": 0, "raw": 0}

    def through_service() -> None:
        response = service.call("UpdateOrganizationFunction", events[turn["service"] % 2])
        assert response["statusCode"] == 200, response
        turn["service"] += 1

    def rename_collection() -> None:
        source, target = raw_names[turn["raw"] % 2], raw_names[(turn["raw"] + 1) % 2]
        raw.admin.command("renameCollection", source, to=target, dropTarget=False)
        turn["raw"] += 1

    medians = interleaved({"service": through_service, "raw": rename_collection}, repeats=repeats)
    return RenameResult(documents, repeats, medians["service"], medians["raw"], fill_seconds)
