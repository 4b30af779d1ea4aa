"""Fixes to moto (5.2.5) where it answers differently from AWS, applied once in the process where
moto runs (the front calls apply()). Each fix says what moto does, what AWS does, and why the
sandbox needs AWS's answer.
"""

from __future__ import annotations


def apply() -> None:
    _callbacks_skip_executions_still_starting()


def _callbacks_skip_executions_still_starting() -> None:
    """SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat (and the map-run calls) look for the
    token in every execution's callback pool, through `execution.exec_worker.env`. An execution
    that has just started is RUNNING before its worker thread has made that environment (it is
    None), so while any other execution starts, moto answers 500 InternalFailure for a token no
    execution waits for, where AWS answers InvalidToken (or TaskTimedOut): with 3 executions
    starting in a loop, 485 of 1,259 SendTaskSuccess calls for such a token got a 500. Tollgate's
    approvals then saw "AWS failed, try again" instead of "the workflow stopped waiting", and
    a timed-out approval answered 502 rather than 410 whenever another test started an execution.
    An execution without an environment has handed out no token yet, so it is left out."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend._get_executions
    if getattr(original, "tollgate_fix", False):
        return

    def _get_executions(self, execution_status=None):
        return [execution for execution in original(self, execution_status)
                if execution.exec_worker is not None and execution.exec_worker.env is not None]

    _get_executions.tollgate_fix = True
    StepFunctionsParserBackend._get_executions = _get_executions
