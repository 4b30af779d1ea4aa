"""The drift-gate story: the drift gate and its callback with drift in ignored tags, a deleted
subnet, duplicates, strangers, typos and the reconciler, played under cargo lambda watch."""

from __future__ import annotations

import json
from typing import Iterator

from ..samples import SAMPLE_STACKS, job_id_of
from ..story import Play, Result

NAME = "drift-gate"
SUMMARY = "the drift gate and its callback with ignored drift, a deleted subnet, duplicates, strangers, typos, the reconciler"
FUNCTIONS = ("drift-gate", "drift-callback")  # under cargo lambda watch
EXAMPLES = {"drift-gate": "drift-gate.one-stack.json", "drift-callback": "drift-callback.schedule.json"}


def seed(box) -> None:
    """What the sample events refer to: their stacks (orders-api, orders-network)."""
    existing = {s["StackName"] for s in box.cloudformation.describe_stacks().get("Stacks", [])}
    for stack in SAMPLE_STACKS:
        if stack not in existing:
            box.create_stack(stack)


def play(play: Play) -> Iterator[Result]:
    fake, box = play.fake, play.box
    seed(box)

    def detection_of(stack: str) -> str:
        return [d for d, s in fake.detections.items() if s == stack][-1]

    def start(event_file: str) -> tuple[str, dict]:
        event = play.event(event_file)
        return job_id_of(event), play.invoke("drift-gate", event)

    fake.stack_drifts["orders-api"] = []
    job_id, response = start("drift-gate.one-stack.json")
    waiting = response.get("result") == "waiting" and job_id not in fake.results
    fake.stack_drifts["orders-api"] = [("OrdersBucket", "AWS::S3::Bucket", "MODIFIED", ["/Tags/0/Value"])]
    play.invoke("drift-callback", play.drift_event("drift-callback.in-sync.json", detection_of("orders-api")))
    outcome, detail = play.job(job_id)
    yield play.result("drift only in ignored tags: the gate waits for CloudFormation, then lets the deployment through",
                      outcome, detail, waiting and outcome == "job succeeded" and "DriftStatus=IN_SYNC" in detail,
                      "the gate answers waiting, then the callback's event makes the job succeed with DriftStatus=IN_SYNC")

    fake.stack_drifts["orders-api"] = []  # someone put the bucket's tags back
    job_id, _ = start("drift-gate.two-stacks.json")
    fake.stack_drifts["orders-network"] = [("PrivateSubnet", "AWS::EC2::Subnet", "DELETED", [])]
    first = play.invoke("drift-callback", play.drift_event("drift-callback.drifted.json", detection_of("orders-network")))
    play.invoke("drift-callback", play.drift_event("drift-callback.in-sync.json", detection_of("orders-api")))
    outcome, detail = play.job(job_id)
    yield play.result("someone deleted a subnet by hand: the gate stops the deployment once both stacks are checked",
                      outcome, detail,
                      first.get("progress") == "waiting for other stacks" and outcome == "job failed"
                      and "orders-network: PrivateSubnet (AWS::EC2::Subnet) DELETED" in detail and "orders-api:" not in detail,
                      "the first stack's event waits for the other; then the job fails naming PrivateSubnet in orders-network only")

    before = dict(fake.results)
    count = sum(1 for a in fake.report_attempts if a[0] == job_id and a[2] == 200)
    again = play.invoke("drift-callback", play.drift_event("drift-callback.duplicate.json", detection_of("orders-network")))
    count_after = sum(1 for a in fake.report_attempts if a[0] == job_id and a[2] == 200)
    yield play.result("the drift event delivered twice: nothing changes", "duplicate delivery",
                      f"second delivery answered progress={json.dumps(again.get('progress'))}; results for the job still {count_after}",
                      again.get("progress") == "already decided" and fake.results == before and count == count_after == 1,
                      "the second delivery answers progress=\"already decided\" and the job keeps its one result")

    stranger = play.invoke("drift-callback", play.drift_event("drift-callback.drifted.json", "not-started-by-tollgate"))
    yield play.result("a drift detection someone else started: ignored", "event ignored",
                      f"drift-callback answered {json.dumps(stranger)}",
                      stranger.get("ignored") == "detection not started by Tollgate",
                      "drift-callback answers ignored: detection not started by Tollgate")

    job_id, _ = start("drift-gate.bad-params.json")
    outcome, detail = play.job(job_id)
    yield play.result("a typo in the drift gate's UserParameters: a configuration error naming the field", outcome, detail,
                      outcome == "job failed" and detail.startswith("ConfigurationError: UserParameters: unknown field `stack`"),
                      "the job fails with ConfigurationError naming the unknown field `stack`")

    job_id, _ = start("drift-gate.stack-typo.json")
    outcome, detail = play.job(job_id)
    yield play.result("a stack name typo (orders-apl): the gate fails closed and names the stack meant", outcome, detail,
                      outcome == "job failed" and "orders-apl" in detail and "orders-api" in detail,
                      "the job fails naming orders-apl and suggesting orders-api")

    schedule = play.invoke("drift-callback", play.event("drift-callback.schedule.json"))
    reconciled = schedule.get("reconciled") if isinstance(schedule, dict) else None
    yield play.result("the reconciler's schedule finds every job closed", "reconciler run",
                      f"{len(reconciled) if isinstance(reconciled, list) else '?'} open job(s) reconciled; drift-callback answered {json.dumps(schedule)}",
                      reconciled == [], "no open job to reconcile ({\"reconciled\": []})")
