"""Tollgate's local sandbox, in modules (scripts/sandbox.py is the command line and re-exports them).

    paths    where things live: the workspace, .tools/, logs and the running sandbox's state file
    procs    clean stops: SIGINT/SIGTERM/SIGHUP as an exception, process trees and sessions killed
    template template.yaml -> a function's environment (what SAM would give it)
    front    the one endpoint: moto, plus AWS Health, CodePipeline job results and history,
             CloudFormation drift, SSM OpsItems and CloudWatch's CBOR protocol, which moto lacks
    box      Sandbox: the front, the resources template.yaml creates, the functions under cargo lambda
    history  CodePipeline execution history and SSM OpsItems, as the front answers them for seeded pipelines
    github   a local GitHub REST stand-in (compare with pagination, commits) for the DORA story
    week     the DORA story's sample week: pipelines, commits, executions, OpsItems, expected figures
    runtime  one invocation of a function binary through a local Lambda Runtime API (invoke.sh)
    stories  the scenarios scripts/run.sh tells and scripts/sandbox.py e2e checks
    branches, dora, failsafe   the stories that need more than a page (registered in stories)

Only paths and procs are importable without the sandbox venv's packages (moto, boto3, cbor2, yaml).
"""
