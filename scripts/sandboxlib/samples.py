"""The sample events in events/ and what they refer to. Standard library only."""

from __future__ import annotations

import json
import uuid

from .paths import ROOT

# Secrets in the sample events that must never reach a log line.
SAMPLE_SECRETS = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEXAMPLESESSIONTOKEN")
# The sample events' resources: stacks, and the alarm health-gate.alarms.json watches.
SAMPLE_STACKS = ("orders-api", "orders-network")
SAMPLE_ALARM = "tollgate-demo-api-5xx"


def sample(name: str, job_id: str | None = None) -> dict:
    """A sample event from events/; a pipeline job gets a fresh job id (each run is a new job)."""
    event = json.loads((ROOT / "events" / name).read_text())
    if "CodePipeline.job" in event:
        event["CodePipeline.job"]["id"] = job_id or str(uuid.uuid4())
    return event


def job_id_of(event) -> str | None:
    job = event.get("CodePipeline.job") if isinstance(event, dict) else None
    return job.get("id") if isinstance(job, dict) else None


def pipeline_job(event) -> dict | None:
    """The CodePipeline job in an event: a gate's own, or the one in a Lambda invocation record's
    requestPayload (what an on-failure destination such as job-dead-letter receives)."""
    for candidate in (event, event.get("requestPayload") if isinstance(event, dict) else None):
        if isinstance(candidate, dict) and isinstance(candidate.get("CodePipeline.job"), dict):
            return candidate["CodePipeline.job"]
    return None
