"""Tollgate's local sandbox, in modules (scripts/sandbox.py is the command line and re-exports them).

Layers; a module imports only from its own layer's infrastructure or the layers below it:

  stories/   one module per feature (health, drift, approvals, branches, dora, failsafe; helpers
             beside them as <feature>_*.py) and the registry (stories/__init__.py) that lists them
             in run.sh's order and gathers their seeds, deploy-time parameters and resources
  story      what a story is made of: Play, Result, the legend, job_outcome, log_check
  infrastructure, which knows no feature:
    box      Sandbox: the front, the state table, the functions under cargo lambda watch
    front    the one endpoint: moto, plus AWS Health, CodePipeline job results and history,
             CloudFormation drift, SSM OpsItems and CloudWatch's CBOR protocol, which moto lacks
    history  CodePipeline execution history and SSM OpsItems, as the front answers them
    motofixes  where moto answers differently from AWS, fixed in the front's process
    github   a local GitHub REST stand-in (compare with pagination, commits)
    runtime  the Lambda Runtime API: a function binary run as Lambda runs it, one event or many,
             and API Gateway's HTTP API in front of it
    template template.yaml -> a function's environment (what SAM would give it)
    samples  the sample events in events/ and what they share
    procs    clean stops: SIGINT/SIGTERM/SIGHUP as an exception, process trees and sessions killed
    paths    where things live: the workspace, .tools/, logs and the running sandbox's state file

scripts/test_imports.py checks that no module imports one that imports it back. Only paths, procs,
samples, runtime, github, story and the stories' top levels import without the sandbox venv's
packages (moto, boto3, cbor2, yaml).
"""
