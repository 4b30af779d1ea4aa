"""What moto (5.2.5) lacks for the DORA calculators, answered as AWS documents it (awsJson1.1):

  CodePipeline (X-Amz-Target CodePipeline_20150709.*)
    ListPipelineExecutions  paginated (maxResults 1-100, default 100; nextToken), newest first,
                            filter.succeededInStage; PipelineNotFoundException, InvalidNextTokenException
    GetPipelineExecution    artifactRevisions (revisionId, revisionSummary, revisionUrl...), trigger,
                            executionType; PipelineExecutionNotFoundException
    ListActionExecutions    per action: stage, status, input, output (the source action's
                            outputVariables: BranchName, CommitId, CommitMessage, FullRepositoryName...)
    GetPipelineState        pipelineName, pipelineVersion, stageStates (stageName, inboundTransitionState,
                            latestExecution {pipelineExecutionId, status}, actionStates [{actionName,
                            latestExecution {status, token, lastStatusChange...}}]), created, updated;
                            PipelineNotFoundException. Seeded states (`History.states`, the
                            `pipeline_states` setting: name -> stageStates) answer as given; a
                            pipeline moto knows without a seeded state has its declared stages and
                            actions, none run yet (approvals confirm a waiting action's token with it)
  SSM (X-Amz-Target AmazonSSM.*)
    GetOpsItem              OperationalData as stored ({"Type", "Value"}); OpsItemNotFoundException
    DescribeOpsItems        OpsItemSummaries, filter CreatedTime GreaterThan/LessThan (what backfill
                            sends), paginated (MaxResults 1-50, default 50; NextToken)

A pipeline's history is served here once it is seeded (`History.pipelines`); a pipeline without
seeded history is moto's (ListPipelineExecutions and GetPipelineExecution go to moto, which knows
the executions StartPipelineExecution made). Pipelines themselves (CreatePipeline, GetPipeline,
ListPipelines) are always moto's. Times are epoch seconds, as awsJson1.1 sends timestamps.

Seeded history, per pipeline name, is a list of executions, oldest first, each:
  {"pipelineExecutionId", "status", "startTime", "lastUpdateTime", "trigger": {...},
   "executionMode", "executionType", "rollbackMetadata"?, "pipelineVersion",
   "artifactRevisions": [ArtifactRevision...], "actions": [ActionExecutionDetail...]}
OpsItems, per id, are GetOpsItem's OpsItem structure.
"""

from __future__ import annotations

import base64
import json
import re
import time

EXECUTION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PIPELINE_NAME = r"[A-Za-z0-9.@\-_]+"
STAGE_NAME = r"[A-Za-z0-9.@\-_]+"
OPS_ITEM_ID = r"^(oi)-[0-9a-f]{12}$"
OPS_ITEM_ARN = r"^arn:(aws[a-zA-Z-]*)?:ssm:[a-z0-9-\.]{0,63}:[0-9]{12}:opsitem.*"
# The summary fields of an execution (ListPipelineExecutions), of the whole (GetPipelineExecution).
SUMMARY_FIELDS = ("pipelineExecutionId", "status", "statusSummary", "startTime", "lastUpdateTime", "sourceRevisions",
                  "trigger", "stopTrigger", "executionMode", "executionType", "rollbackMetadata")
EXECUTION_FIELDS = ("pipelineExecutionId", "pipelineVersion", "status", "statusSummary", "artifactRevisions", "variables",
                    "trigger", "executionMode", "executionType", "rollbackMetadata")


def _token(operation: str, key: str, offset: int) -> str:
    return base64.b64encode(json.dumps({"operation": operation, "key": key, "offset": offset}).encode()).decode()


def _offset(operation: str, key: str, token: str | None, size: int) -> int | None:
    """The offset a nextToken stands for; None when it is not one this operation gave out."""
    if not token:
        return 0
    try:
        found = json.loads(base64.b64decode(token, validate=True))
        offset = int(found["offset"])
        if found["operation"] != operation or found["key"] != key or not 0 <= offset <= size:
            return None
        return offset
    except (ValueError, KeyError, TypeError):
        return None


class History:
    """Seeded pipeline history and OpsItems; `validation` is front.Validation (AWS's messages)."""

    def __init__(self, validation) -> None:
        self.Validation = validation
        self.pipelines: dict[str, list[dict]] = {}
        self.ops_items: dict[str, dict] = {}
        self.states: dict[str, list[dict]] = {}  # pipeline name -> GetPipelineState's stageStates

    # -------------------------------------------------------------- routing
    def serves(self, service: str, operation: str, body: dict) -> bool:
        """Whether the stand-in answers this call (else moto does)."""
        if service == "AmazonSSM":
            return operation in ("GetOpsItem", "DescribeOpsItems")
        if service != "CodePipeline_20150709":
            return False
        if operation in ("ListActionExecutions", "GetPipelineState"):
            return True
        if operation in ("ListPipelineExecutions", "GetPipelineExecution"):
            return body.get("pipelineName") in self.pipelines
        return False

    def handle(self, service: str, operation: str, body: dict, moto_has_pipeline) -> tuple[int, dict]:
        """(status, JSON body) of one call `serves` accepted. `moto_has_pipeline(name)` tells
        whether moto knows a pipeline that has no seeded history."""
        if service == "AmazonSSM":
            if operation == "DescribeOpsItems":
                return self.describe_ops_items(body)
            return self.get_ops_item(body)
        if operation == "ListPipelineExecutions":
            return self.list_pipeline_executions(body)
        if operation == "GetPipelineExecution":
            return self.get_pipeline_execution(body)
        if operation == "GetPipelineState":
            return self.get_pipeline_state(body, moto_has_pipeline)
        return self.list_action_executions(body, moto_has_pipeline)

    # -------------------------------------------------------------- CodePipeline
    @staticmethod
    def not_found(name: str) -> tuple[int, dict]:
        return 400, {"__type": "PipelineNotFoundException", "message": f"Account '123456789012' does not have a pipeline with name '{name}'"}

    def _check(self, body: dict, *, paginated: bool) -> tuple[int, dict] | None:
        check = self.Validation()
        name = body.get("pipelineName")
        if check.required("pipelineName", name):
            check.length("pipelineName", name, 1, 100)
            check.pattern("pipelineName", name, PIPELINE_NAME)
        if paginated:
            check.range("maxResults", body.get("maxResults"), 1, 100)
            check.length("nextToken", body.get("nextToken"), 1, 2048)
        return check.answer()

    def list_pipeline_executions(self, body: dict) -> tuple[int, dict]:
        if problem := self._check(body, paginated=True):
            return problem
        name = body["pipelineName"]
        stage = ((body.get("filter") or {}).get("succeededInStage") or {}).get("stageName")
        executions = list(reversed(self.pipelines[name]))  # newest first, as AWS lists them
        if stage is not None:
            executions = [e for e in executions
                          if any(a.get("stageName") == stage for a in e.get("actions", []))
                          and all(a.get("status") == "Succeeded" for a in e.get("actions", []) if a.get("stageName") == stage)]
        size = body.get("maxResults") or 100
        key = f"{name}|{stage or ''}"
        start = _offset("ListPipelineExecutions", key, body.get("nextToken"), len(executions))
        if start is None:
            return 400, {"__type": "InvalidNextTokenException", "message": "The next token was specified in an invalid format. Make sure that the next token you provide is the token returned by a previous call."}
        page = {"pipelineExecutionSummaries": [self.summary(e) for e in executions[start:start + size]]}
        if start + size < len(executions):
            page["nextToken"] = _token("ListPipelineExecutions", key, start + size)
        return 200, page

    @staticmethod
    def summary(execution: dict) -> dict:
        summary = {k: execution[k] for k in SUMMARY_FIELDS if k in execution}
        summary["sourceRevisions"] = [
            {"actionName": a["actionName"], "revisionId": rev["revisionId"],
             **{k: rev[k] for k in ("revisionSummary", "revisionUrl") if k in rev}}
            for a, rev in _source_actions(execution)
        ]
        return summary

    def get_pipeline_execution(self, body: dict) -> tuple[int, dict]:
        check = self.Validation()
        execution_id = body.get("pipelineExecutionId")
        if check.required("pipelineExecutionId", execution_id):
            check.pattern("pipelineExecutionId", execution_id, EXECUTION_ID.pattern)
        if problem := (self._check(body, paginated=False) or check.answer()):
            return problem
        name = body["pipelineName"]
        found = next((e for e in self.pipelines[name] if e["pipelineExecutionId"] == execution_id), None)
        if found is None:
            return 400, {"__type": "PipelineExecutionNotFoundException",
                         "message": f"Account '123456789012' does not have an execution with id '{execution_id}' for pipeline '{name}'"}
        execution = {"pipelineName": name, **{k: found[k] for k in EXECUTION_FIELDS if k in found}}
        return 200, {"pipelineExecution": execution}

    def get_pipeline_state(self, body: dict, moto_has_pipeline) -> tuple[int, dict]:
        """GetPipelineState as AWS documents it (request field `name`)."""
        check = self.Validation()
        name = body.get("name")
        if check.required("name", name):
            check.length("name", name, 1, 100)
            check.pattern("name", name, PIPELINE_NAME)
        if problem := check.answer():
            return problem
        now = round(time.time(), 3)
        if name in self.states:
            stages = self.states[name]
        elif moto_has_pipeline(name):
            stages = _declared_stages(name)
        else:
            return self.not_found(name)
        return 200, {"pipelineName": name, "pipelineVersion": 1, "stageStates": stages, "created": now, "updated": now}

    def list_action_executions(self, body: dict, moto_has_pipeline) -> tuple[int, dict]:
        if problem := self._check(body, paginated=True):
            return problem
        name = body["pipelineName"]
        flt = body.get("filter") or {}
        execution_id = flt.get("pipelineExecutionId")
        check = self.Validation()
        check.pattern("filter.pipelineExecutionId", execution_id, EXECUTION_ID.pattern)
        if problem := check.answer():
            return problem
        if name not in self.pipelines:
            if not moto_has_pipeline(name):
                return self.not_found(name)
            executions = []  # moto runs no action: a pipeline without seeded history has no action executions
        else:
            executions = list(reversed(self.pipelines[name]))
        if execution_id is not None:
            executions = [e for e in executions if e["pipelineExecutionId"] == execution_id]
            if not executions and name in self.pipelines:
                return 400, {"__type": "PipelineExecutionNotFoundException",
                             "message": f"Account '123456789012' does not have an execution with id '{execution_id}' for pipeline '{name}'"}
        # Newest first, as AWS lists them: executions newest first, each one's actions last-started first.
        details = [a for e in executions for a in sorted(e.get("actions", []), key=lambda a: a.get("startTime", 0), reverse=True)]
        size = body.get("maxResults") or 100
        key = f"{name}|{execution_id or ''}"
        start = _offset("ListActionExecutions", key, body.get("nextToken"), len(details))
        if start is None:
            return 400, {"__type": "InvalidNextTokenException", "message": "The next token was specified in an invalid format. Make sure that the next token you provide is the token returned by a previous call."}
        page = {"actionExecutionDetails": details[start:start + size]}
        if start + size < len(details):
            page["nextToken"] = _token("ListActionExecutions", key, start + size)
        return 200, page

    # -------------------------------------------------------------- SSM OpsCenter
    def get_ops_item(self, body: dict) -> tuple[int, dict]:
        check = self.Validation()
        item_id = body.get("OpsItemId")
        if check.required("OpsItemId", item_id):
            check.pattern("OpsItemId", item_id, OPS_ITEM_ID)
        check.length("OpsItemArn", body.get("OpsItemArn"), 20, 2048)
        check.pattern("OpsItemArn", body.get("OpsItemArn"), OPS_ITEM_ARN)
        if problem := check.answer():
            return problem
        item = self.ops_items.get(item_id)
        if item is None:
            return 400, {"__type": "OpsItemNotFoundException", "Message": f"OpsItem with id {item_id} not found."}
        return 200, {"OpsItem": item}


    def describe_ops_items(self, body: dict) -> tuple[int, dict]:
        from datetime import datetime
        check = self.Validation()
        check.range("MaxResults", body.get("MaxResults"), 1, 50)
        if problem := check.answer():
            return problem
        items = sorted(self.ops_items.values(), key=lambda i: (i.get("CreatedTime", 0), i.get("OpsItemId", "")))
        for f in body.get("OpsItemFilters") or []:
            if f.get("Key") != "CreatedTime" or f.get("Operator") not in ("GreaterThan", "LessThan"):
                return 400, {"__type": "ValidationException", "message": f"the stand-in filters on CreatedTime GreaterThan/LessThan only, not {f}"}
            try:
                bound = min(datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() for v in f.get("Values") or [])
            except ValueError:
                return 400, {"__type": "ValidationException", "message": f"not a time: {f.get('Values')}"}
            if f["Operator"] == "GreaterThan":
                items = [i for i in items if i.get("CreatedTime", 0) > bound]
            else:
                items = [i for i in items if i.get("CreatedTime", 0) < bound]
        size = body.get("MaxResults") or 50
        start = _offset("DescribeOpsItems", "", body.get("NextToken"), len(items))
        if start is None:
            return 400, {"__type": "ValidationException", "message": "The NextToken is not valid."}
        fields = ("OpsItemId", "Title", "Status", "Source", "CreatedTime", "LastModifiedTime", "OperationalData", "OpsItemType")
        page = {"OpsItemSummaries": [{k: i[k] for k in fields if k in i} for i in items[start:start + size]]}
        if start + size < len(items):
            page["NextToken"] = _token("DescribeOpsItems", "", start + size)
        return 200, page


def _declared_stages(name: str) -> list[dict]:
    """A moto pipeline's stages and actions as GetPipelineState lists them before any run."""
    from moto.codepipeline.models import codepipeline_backends

    from .paths import ACCOUNT, REGION

    pipeline = codepipeline_backends[ACCOUNT][REGION].pipelines[name].pipeline
    return [{"stageName": stage["name"], "inboundTransitionState": {"enabled": True},
             "actionStates": [{"actionName": action["name"]} for action in stage.get("actions", [])]}
            for stage in pipeline.get("stages", [])]


def _source_actions(execution: dict):
    """(action, its artifact revision) for each source action of an execution."""
    revisions = execution.get("artifactRevisions", [])
    for action in execution.get("actions", []):
        if (action.get("input", {}).get("actionTypeId", {}) or {}).get("category") == "Source":
            artifact = next(iter((action.get("output", {}) or {}).get("outputArtifacts", []) or []), {})
            rev = next((r for r in revisions if r.get("name") == artifact.get("name")), None)
            if rev is not None:
                yield action, rev
