"""The health-gate story: the gate with AWS Health issues, its alarms, no support plan, typos,
CodePipeline errors and a duplicate delivery, played with the binary under cargo lambda watch."""

from __future__ import annotations

import json
import uuid
from typing import Iterator

from ..samples import SAMPLE_ALARM, job_id_of
from ..story import Play, Result

NAME = "health-gate"
SUMMARY = "the health gate with AWS Health issues, alarms, no support plan, typos, CodePipeline errors, duplicates"
FUNCTIONS = ("health-gate",)  # under cargo lambda watch
EXAMPLES = {"health-gate": "health-gate.healthy.json"}  # invoke.sh --help's example per function


def health_issue(service: str, region: str) -> dict:
    """An open AWS Health issue, shaped as DescribeEvents returns it."""
    return {
        "arn": f"arn:aws:health:{region}::event/{service}/AWS_{service}_OPERATIONAL_ISSUE/AWS_{service}_OPERATIONAL_ISSUE_DEMO",
        "service": service, "eventTypeCode": f"AWS_{service}_OPERATIONAL_ISSUE", "eventTypeCategory": "issue",
        "region": region, "startTime": 1795000000.0, "statusCode": "open",
    }


def seed(box) -> None:
    """What the sample events refer to: health-gate.alarms.json's alarm, in OK."""
    box.set_alarm(SAMPLE_ALARM, "OK", "Threshold not crossed (sandbox sample)")


def play(play: Play) -> Iterator[Result]:
    fake, box = play.fake, play.box

    def gate(event_file: str, job_id: str | None = None) -> tuple[str, str, str, dict]:
        event = play.event(event_file, job_id)
        response = play.invoke("health-gate", event)
        job = job_id_of(event)
        return (*play.job(job), job, response)

    fake.health_events, fake.health_error = [], None
    outcome, detail, _, _ = gate("health-gate.healthy.json")
    yield play.result("platform healthy: the gate lets the deployment through", outcome, detail,
                      outcome == "job succeeded" and "HealthStatus=HEALTHY" in detail,
                      "the job succeeds with HealthStatus=HEALTHY")

    fake.health_events = [health_issue("LAMBDA", "us-east-1"), health_issue("EC2", "ap-south-1")]
    outcome, detail, _, _ = gate("health-gate.healthy.json")
    yield play.result("AWS Health reports a Lambda issue in us-east-1: the gate stops the deployment", outcome, detail,
                      outcome == "job failed" and "LAMBDA in us-east-1" in detail and "ap-south-1" not in detail,
                      "the job fails naming LAMBDA in us-east-1, and not the EC2 issue in ap-south-1")

    fake.health_events = [health_issue("EC2", "ap-south-1")]
    outcome, detail, _, _ = gate("health-gate.regions-csv.json")
    yield play.result("an issue only in a region not deployed to (ap-south-1) does not block", outcome, detail,
                      outcome == "job succeeded" and "RegionsChecked=us-east-1,eu-west-1" in detail,
                      "the job succeeds with RegionsChecked=us-east-1,eu-west-1")

    fake.health_events = []
    box.set_alarm(SAMPLE_ALARM, "ALARM", "5xx rate 12% > 5% for 1 datapoint")
    outcome, detail, _, _ = gate("health-gate.alarms.json")
    box.set_alarm(SAMPLE_ALARM, "OK", "recovered")
    yield play.result("the service's own 5xx alarm fires (CloudWatch in moto): the gate stops the deployment", outcome, detail,
                      outcome == "job failed" and f"{SAMPLE_ALARM} is in ALARM: 5xx rate 12%" in detail,
                      f"the job fails naming {SAMPLE_ALARM} and its reason")

    fake.health_error = (400, "SubscriptionRequiredException", "The AWS Health API requires a Business, Enterprise On-Ramp or Enterprise Support plan.")
    outcome, detail, _, _ = gate("health-gate.healthy.json")
    fake.health_error = None
    yield play.result("account without a support plan: the gate fails closed and says how to opt out", outcome, detail,
                      outcome == "job failed" and "whenHealthUnavailable" in detail,
                      "the job fails and mentions whenHealthUnavailable")

    outcome, detail, _, _ = gate("health-gate.bad-params.json")
    yield play.result("a typo in UserParameters: the job fails with a configuration error naming the field", outcome, detail,
                      outcome == "job failed" and detail.startswith("ConfigurationError: UserParameters: unknown field `region`"),
                      "the job fails with ConfigurationError naming the unknown field `region`")

    outcome, detail, _, _ = gate("health-gate.region-typo.json")
    yield play.result("a region typo (us-esat-1): the gate fails closed and names the region meant", outcome, detail,
                      outcome == "job failed" and "us-esat-1" in detail and "us-east-1" in detail,
                      "the job fails naming us-esat-1 and suggesting us-east-1")

    outcome, detail, _, _ = gate("health-gate.alarm-prefix-typo.json")
    yield play.result("an alarm prefix that matches no alarm: the gate fails closed rather than watch nothing", outcome, detail,
                      outcome == "job failed" and "tollgate-demo-apl-" in detail,
                      "the job fails naming the prefix tollgate-demo-apl-")

    fake.codepipeline_outage = 2
    outcome, detail, job, _ = gate("health-gate.healthy.json")
    fake.codepipeline_outage = False
    statuses = [a[2] for a in fake.report_attempts if a[0] == job]
    yield play.result("CodePipeline answers the job result with 500 twice: the result is retried and lands once", outcome,
                      f"{detail}; report calls answered {', '.join(map(str, statuses))}",
                      outcome == "job succeeded" and statuses[:2] == [500, 500] and statuses[2:] == [200],
                      "two 500s, then one accepted result (report calls answered 500, 500, 200)")

    job_id = str(uuid.uuid4())
    gate("health-gate.healthy.json", job_id)
    before = dict(fake.results)
    _, _, _, response = gate("health-gate.healthy.json", job_id)
    count = sum(1 for a in fake.report_attempts if a[0] == job_id and a[2] == 200)
    yield play.result("the same job delivered twice: one result, the duplicate is recognised", "duplicate delivery",
                      f"second delivery answered duplicate={json.dumps(response.get('duplicate'))}; results for the job still {count}",
                      response.get("duplicate") is True and fake.results == before and count == 1,
                      "the second delivery answers duplicate=true and the job keeps its one result")
