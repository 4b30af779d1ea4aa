"""template.yaml -> the environment a function gets: its variables (Globals, then its own), its
logging settings, and what Lambda itself provides. template.yaml is the one place that says how a
deployment is configured; the sandbox reads it rather than repeating it."""

from __future__ import annotations

import re
from functools import lru_cache

import yaml

from .paths import ACCOUNT, REGION, ROOT, STACK_NAME


class _CfnLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@lru_cache(maxsize=1)
def _load(mtime: float) -> dict:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)


def template() -> dict:
    return _load((ROOT / "template.yaml").stat().st_mtime)


def functions() -> dict[str, str]:
    """Lambda binary -> logical id, for every function template.yaml declares (in its order)."""
    found = {}
    for logical_id, resource in template().get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
            if binary:
                found[binary] = logical_id
    return found


PSEUDO = {"AWS::StackName": STACK_NAME, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
          "AWS::URLSuffix": "amazonaws.com"}


class Resolver:
    """Resolves !Ref, !Sub and !GetAtt to parameter values (`parameters`, as sam deploy's
    --parameter-overrides, else the template's defaults), pseudo parameters and the sandbox's
    resources (`resources`: logical id -> physical name, or "Id.Attribute" -> value)."""

    def __init__(self, resources: dict[str, str], parameters: dict[str, str] | None = None) -> None:
        overrides = parameters or {}
        self.params = {name: str(overrides.get(name, p.get("Default", "")))
                       for name, p in template().get("Parameters", {}).items()}
        # Pseudo parameters may be given too (AWS::AccountId: the account the deployment is in).
        self.pseudo = {**PSEUDO, **{k: v for k, v in overrides.items() if k in PSEUDO}}
        self.resources = resources

    def ref(self, name: str) -> str:
        for table in (self.params, self.pseudo, self.resources):
            if name in table:
                return table[name]
        raise KeyError(f"template.yaml: !Ref {name} has no sandbox value (add it to the sandbox's resources)")

    def resolve(self, value) -> str:
        if isinstance(value, dict) and "Ref" in value:
            return self.ref(value["Ref"])
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            key = target if isinstance(target, str) else ".".join(target)
            if key in self.resources:
                return self.resources[key]
            raise KeyError(f"template.yaml: !GetAtt {key} has no sandbox value (add it to the sandbox's resources)")
        if isinstance(value, dict) and "Fn::Sub" in value:
            text, extra = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]

            def one(match: re.Match) -> str:
                name = match.group(1)
                if name in extra:
                    return self.resolve(extra[name])
                if "." in name and name.split(".")[0] not in PSEUDO:
                    return self.resolve({"Fn::GetAtt": name})
                return self.ref(name)

            return re.sub(r"\$\{([^}!]+)\}", one, text)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


def function_environment(function_logical_id: str, resources: dict[str, str],
                         parameters: dict[str, str] | None = None) -> dict[str, str]:
    """The environment template.yaml gives a function (Globals, then its own variables, then its
    logging settings as Lambda passes them), with intrinsics resolved to parameter defaults or to
    the sandbox's resources."""
    tpl = template()
    resolver = Resolver(resources, parameters)
    globals_fn = tpl.get("Globals", {}).get("Function", {})
    fn = tpl["Resources"][function_logical_id]["Properties"]
    env = {}
    for source in (globals_fn, fn):
        for name, value in (source.get("Environment", {}).get("Variables", {}) or {}).items():
            env[name] = resolver.resolve(value)
    logging = {**globals_fn.get("LoggingConfig", {}), **fn.get("LoggingConfig", {})}
    if logging.get("LogFormat") == "JSON":
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
    if "ApplicationLogLevel" in logging:
        env["AWS_LAMBDA_LOG_LEVEL"] = resolver.resolve(logging["ApplicationLogLevel"])
    return env


def function_settings(function_logical_id: str, resources: dict[str, str],
                      parameters: dict[str, str] | None = None) -> dict[str, str]:
    """What Lambda knows about a deployed function: name, memory, timeout, log group."""
    tpl = template()
    resolver = Resolver(resources, parameters)
    globals_fn = tpl.get("Globals", {}).get("Function", {})
    fn = {**globals_fn, **tpl["Resources"][function_logical_id]["Properties"]}
    name = resolver.resolve(fn["FunctionName"]) if "FunctionName" in fn else f"{STACK_NAME}-{function_logical_id}"
    log_group = f"/aws/lambda/{name}"
    group_ref = (fn.get("LoggingConfig") or {}).get("LogGroup")
    if isinstance(group_ref, dict) and "Ref" in group_ref:
        group = tpl["Resources"].get(group_ref["Ref"], {}).get("Properties", {}).get("LogGroupName")
        if group is not None:
            log_group = resolver.resolve(group)
    return {"name": name, "memory": resolver.resolve(fn.get("MemorySize", 128)),
            "timeout": resolver.resolve(fn.get("Timeout", 3)), "log_group": log_group}
