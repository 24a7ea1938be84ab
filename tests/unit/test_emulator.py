"""The emulator's WSGI wrapper: moto's backends are not thread-safe, so requests that the
server accepts on many threads reach moto one at a time, and each one is logged."""

from __future__ import annotations

import base64
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import helpers

from kopsgen.emulator import Serialized


class SlowApp:
    def __init__(self):
        self.inside = 0
        self.most = 0
        self.guard = threading.Lock()

    def __call__(self, environ, start_response):
        with self.guard:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.01)
        body = environ["wsgi.input"].read()
        with self.guard:
            self.inside -= 1
        if b"Action=Fail" in body:
            start_response("400 Bad Request", [])
            return [b"<Response><Errors><Error><Code>InvalidPermission.NotFound</Code>"]
        start_response("200 OK", [])
        return [b"<ok/>"]


def request(app, body: bytes, target: str = "", extra: dict | None = None):
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_HOST": "127.0.0.1:1",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), **(extra or {})}
    if target:
        environ["HTTP_X_AMZ_TARGET"] = target
    seen = {}
    chunks = app(environ, lambda status, headers, exc_info=None: seen.setdefault("s", status))
    return seen["s"], b"".join(chunks)


def test_requests_reach_the_app_one_at_a_time_and_are_logged():
    inner, log = SlowApp(), io.StringIO()
    app = Serialized(inner, log)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: request(app, f"Action=Describe{i}&V=1".encode()),
                                range(16)))
    assert inner.most == 1
    assert all(status == "200 OK" and body == b"<ok/>" for status, body in answers)
    lines = log.getvalue().splitlines()
    assert len(lines) == 16 and all(" POST 127.0.0.1:1 / Describe" in ln for ln in lines)


def test_the_log_names_the_aws_error_code_and_json_targets():
    log = io.StringIO()
    app = Serialized(SlowApp(), log)
    assert request(app, b"Action=Fail&GroupId=sg-1")[0] == "400 Bad Request"
    request(app, b"{}", target="TrentService.DescribeKey")
    first, second = log.getvalue().splitlines()
    assert first.endswith(" Fail 400 InvalidPermission.NotFound GroupId=sg-1")
    assert second.endswith(" TrentService.DescribeKey 200")


class RuleStore:
    """Like moto: revoking a rule twice fails the second time."""

    def __init__(self):
        self.rules = {"sgr-9", "sgr-8"}
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        body = environ["wsgi.input"].read().decode()
        rule = body.rsplit("=", 1)[1]
        if rule not in self.rules:
            start_response("400 Bad Request", [("Content-Type", "text/xml")])
            return [b"<Response><Errors><Error><Code>InvalidPermission.NotFound</Code>"]
        self.rules.remove(rule)
        start_response("200 OK", [("Content-Type", "text/xml"), ("x-amzn-RequestId", "r1")])
        return [b"<RevokeSecurityGroupEgressResponse><return>true</return>"]


def revoke(app, rule: str, call: str, attempt: int):
    return request(app, b"Action=RevokeSecurityGroupEgress&GroupId=sg-1&SecurityGroupRuleId.1="
                   + rule.encode(), extra={"HTTP_AMZ_SDK_INVOCATION_ID": call,
                                           "HTTP_AMZ_SDK_REQUEST": f"attempt={attempt}; max=3"})


def test_a_retried_sdk_call_gets_the_answer_of_the_attempt_that_ran():
    # The SDK sends attempt 2 of a call the emulator already carried out and answered.
    store, log = RuleStore(), io.StringIO()
    app = Serialized(store, log)
    first = revoke(app, "sgr-9", "6f1c2d9e-aaaa-bbbb-cccc-0123456789ab", 1)
    again = revoke(app, "sgr-9", "6f1c2d9e-aaaa-bbbb-cccc-0123456789ab", 2)
    assert first == again == ("200 OK", b"<RevokeSecurityGroupEgressResponse><return>true</return>")
    assert store.calls == 1 and store.rules == {"sgr-8"}
    lines = log.getvalue().splitlines()
    assert lines[0].endswith(" RevokeSecurityGroupEgress 200 GroupId=sg-1 "
                             "SecurityGroupRuleId.1=sgr-9 call=6f1c2d9e")
    assert lines[1].endswith(" call=6f1c2d9e attempt=2 replayed")

    # A new call (another invocation id) runs, and its honest answer is kept.
    assert revoke(app, "sgr-9", "0a0b0c0d-0000-0000-0000-000000000000", 1)[0] == "400 Bad Request"
    assert revoke(app, "sgr-8", "11111111-0000-0000-0000-000000000000", 1)[0] == "200 OK"
    assert store.calls == 3 and store.rules == set()


def test_a_group_scales_out_on_its_launch_templates_second_version() -> None:
    """moto failed UpdateAutoScalingGroup (500) here until the emulator bridged it."""
    helpers.require_module("moto")
    import boto3
    from moto import mock_aws

    from kopsgen.emulator import _bridge_moto

    _bridge_moto()
    with mock_aws():
        kw = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
        ec2, asg = boto3.client("ec2", **kw), boto3.client("autoscaling", **kw)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        data = {"ImageId": image, "InstanceType": "t3.medium",
                "UserData": base64.b64encode(b"#cloud-config\n").decode()}
        ec2.create_launch_template(LaunchTemplateName="pool", LaunchTemplateData=data)
        ec2.create_launch_template_version(LaunchTemplateName="pool", LaunchTemplateData=dict(
            data, UserData=base64.b64encode(b"#cloud-config\n# v2\n").decode()))
        template = {"LaunchTemplateName": "pool", "Version": "2"}
        asg.create_auto_scaling_group(AutoScalingGroupName="g", MinSize=1, MaxSize=6,
                                      DesiredCapacity=1, LaunchTemplate=template,
                                      AvailabilityZones=["us-east-1a"])
        asg.update_auto_scaling_group(AutoScalingGroupName="g", DesiredCapacity=3)
        (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["g"])[
            "AutoScalingGroups"]
        assert len(group["Instances"]) == 3


def test_an_instance_refresh_replaces_the_groups_instances_on_its_new_version() -> None:
    """moto has no instance refresh; the emulator's replaces every instance of the group on
    the group's current launch template version, and describes it as finished."""
    helpers.require_module("moto")
    import boto3
    from moto import mock_aws

    from kopsgen.emulator import _bridge_moto

    _bridge_moto()
    with mock_aws():
        kw = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
        ec2, asg = boto3.client("ec2", **kw), boto3.client("autoscaling", **kw)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        data = {"ImageId": image, "InstanceType": "t3.medium"}
        ec2.create_launch_template(LaunchTemplateName="pool", LaunchTemplateData=data)
        asg.create_auto_scaling_group(AutoScalingGroupName="g", MinSize=2, MaxSize=2,
                                      DesiredCapacity=2, AvailabilityZones=["us-east-1a"],
                                      LaunchTemplate={"LaunchTemplateName": "pool", "Version": "1"})
        asg.create_auto_scaling_group(AutoScalingGroupName="other", MinSize=1, MaxSize=1,
                                      DesiredCapacity=1, AvailabilityZones=["us-east-1a"],
                                      LaunchTemplate={"LaunchTemplateName": "pool", "Version": "1"})

        def instances(name: str) -> dict[str, str]:
            (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
                "AutoScalingGroups"]
            return {i["InstanceId"]: i["InstanceType"] for i in group["Instances"]}

        before, other = instances("g"), instances("other")
        ec2.create_launch_template_version(LaunchTemplateName="pool", LaunchTemplateData=dict(
            data, InstanceType="m5.large"))
        asg.update_auto_scaling_group(AutoScalingGroupName="g", LaunchTemplate={
            "LaunchTemplateName": "pool", "Version": "2"})
        assert asg.describe_instance_refreshes(AutoScalingGroupName="g")["InstanceRefreshes"] == []
        refresh = asg.start_instance_refresh(AutoScalingGroupName="g")["InstanceRefreshId"]
        after = instances("g")
        assert set(after).isdisjoint(before) and set(after.values()) == {"m5.large"}
        assert len(after) == 2 and instances("other") == other
        (described,) = asg.describe_instance_refreshes(AutoScalingGroupName="g")["InstanceRefreshes"]
        assert described["InstanceRefreshId"] == refresh and described["Status"] == "Successful"
        terminated = ec2.describe_instances(InstanceIds=list(before))["Reservations"]
        assert {i["State"]["Name"] for r in terminated for i in r["Instances"]} == {"terminated"}
