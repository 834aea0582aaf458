"""``deploy/aws/template.yaml``: cfn-lint (with the SAM transform, offline) finds nothing, and the
properties the deployment relies on hold: least privilege, a private encrypted expiring bucket, the
worker as an image with its on-failure queue, and every alarm of the issue."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from bgremover.ledger.dynamodb_table import INDEXES, TTL_ATTRIBUTE
from bgremover.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "aws"
TEMPLATE = DEPLOY / "template.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")


@pytest.fixture(scope="module")
def template() -> Any:
    return cfn_yaml.load(str(TEMPLATE))


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CFN_LINT), "--format", "parseable", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cfn_lint_finds_nothing_and_does_catch_a_broken_template(tmp_path: Path) -> None:
    clean = lint(TEMPLATE)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    broken = tmp_path / "template.yaml"
    shutil.copy(TEMPLATE, broken)
    text = broken.read_text().replace("ExpirationInDays: !Ref BlobExpiryDays", "ExpirationInDays: soon", 1)
    broken.write_text(text.replace("Runtime: python3.12", "Runtime: python2.7", 1))
    found = lint(broken)
    assert found.returncode != 0 and "'soon' is not of type" in found.stdout and "python2.7" in found.stdout


def statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in function["Properties"]["Policies"] for s in policy.get("Statement", [])]


def test_only_the_worker_reads_ssm_and_only_the_tenants_configuration(template: Any) -> None:
    functions = {
        name: r for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }
    assert set(functions) == {"ApiFunction", "WorkerFunction", "ReaperFunction", "FailuresFunction"}
    ssm = {
        name: [s for s in statements(f) if any(str(a).startswith("ssm:") for a in s["Action"])]
        for name, f in functions.items()
    }
    assert ssm["ApiFunction"] == ssm["ReaperFunction"] == ssm["FailuresFunction"] == []
    (worker,) = ssm["WorkerFunction"]
    assert sorted(worker["Action"]) == ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    assert worker["Resource"]["Fn::Sub"].endswith(":parameter/tf/${Stage}/*/services/bg-remover/*")
    for function in functions.values():
        for statement in statements(function):
            assert "*" not in statement["Action"] and not str(statement["Resource"]).endswith(":*")


def test_the_worker_may_invoke_itself_for_a_big_jobs_chunks_and_nothing_else(template: Any) -> None:
    worker = template["Resources"]["WorkerFunction"]
    invokes = [s for s in statements(worker) if "lambda:InvokeFunction" in str(s["Action"])]
    assert [s["Resource"]["Fn::Sub"].rsplit(":", 1)[1] for s in invokes] == ["${Stage}-bg-remover-worker"]
    assert worker["Properties"]["FunctionName"] == {"Fn::Sub": "${Stage}-bg-remover-worker"}


def test_bucket_is_private_encrypted_and_expires_blobs(template: Any) -> None:
    bucket = template["Resources"]["BlobBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == {"Ref": "BlobExpiryDays"}
    deny = template["Resources"]["BlobBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"]["Bool"]["aws:SecureTransport"] == "false"


def test_worker_is_an_image_with_models_built_in_and_an_on_failure_queue(template: Any) -> None:
    worker = template["Resources"]["WorkerFunction"]
    assert worker["Properties"]["PackageType"] == "Image"
    dockerfile = (
        TEMPLATE.parent / worker["Metadata"]["DockerContext"] / worker["Metadata"]["Dockerfile"]
    ).resolve()
    text = dockerfile.read_text()
    assert text.startswith("#") and "FROM public.ecr.aws/lambda/python:" in text
    assert "models fetch" in text and "models verify" in text
    on_failure = worker["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["FailureQueue", "Arn"]}}
    failures = template["Resources"]["FailuresFunction"]["Properties"]["Events"]["WorkerFailures"]
    assert failures["Properties"]["Queue"] == {"Fn::GetAtt": ["FailureQueue", "Arn"]}
    reaper = template["Resources"]["ReaperFunction"]["Properties"]["Events"]["EveryMinute"]
    assert reaper["Type"] == "ScheduleV2"


def test_every_alarm_of_the_issue_is_there(template: Any) -> None:
    alarms = {name for name, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms == {
        "SubmitLatencyP99Alarm",
        "Api5xxAlarm",
        "WorkerErrorsAlarm",
        "WorkerThrottlesAlarm",
        "WorkerDurationNearTimeoutAlarm",
        "FailedJobRateAlarm",
        "FailureQueueMessagesAlarm",
        "FailureDeadLetterMessagesAlarm",
        "JobsQueuedTooLongAlarm",
        "OldestQueuedJobAlarm",
    }
    latency = template["Resources"]["SubmitLatencyP99Alarm"]["Properties"]
    assert latency["Threshold"] == 2000
    routes = {
        d["Value"]
        for m in latency["Metrics"]
        if "MetricStat" in m
        for d in m["MetricStat"]["Metric"]["Dimensions"]
        if d["Name"] == "Route"
    }
    assert {"POST /v1/group-images", "POST /v1/remove-background", "POST /bg-remover/group-images"} <= routes


def test_the_table_is_the_dynamodb_ledgers_design(template: Any) -> None:
    table = template["Resources"]["JobsTable"]["Properties"]
    types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    indexes = {
        index["IndexName"]: (
            [k["AttributeName"] for k in index["KeySchema"]],
            types[index["KeySchema"][1]["AttributeName"]],
            index["Projection"],
        )
        for index in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        name: ([partition, sort], sort_type, projection)
        for name, partition, sort, sort_type, projection in INDEXES
    }
    assert set(types) == {"pk", "sk"} | {a for name, p, s, _, _ in INDEXES for a in (p, s)}
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_every_handler_and_setting_the_template_names_exists(template: Any) -> None:
    functions = [
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
    ]
    handlers = [f.get("Handler") or f["ImageConfig"]["Command"][0] for f in functions]
    for handler in handlers:
        module, _, attribute = handler.rpartition(".")
        path = ROOT / "src" / Path(*module.split("."))
        assert path.with_suffix(".py").is_file(), handler
        assert re.search(
            rf"^(def {attribute}\(|{attribute} = )", path.with_suffix(".py").read_text(), re.M
        ), handler
    variables = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for function in functions:
        variables |= set(function.get("Environment", {}).get("Variables", {}))
    fields = {f"BGR_{name.upper()}" for name in Settings.model_fields}
    assert {v for v in variables if v.startswith("BGR_")} <= fields


def test_a_job_hits_its_time_limit_before_the_worker_hits_lambdas_timeout(template: Any) -> None:
    parameters = template["Parameters"]
    assert parameters["JobTimeLimitSeconds"]["Default"] < parameters["WorkerTimeoutSeconds"]["Default"]
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["BGR_JOB_TIME_LIMIT_S"] == {"Ref": "JobTimeLimitSeconds"}
