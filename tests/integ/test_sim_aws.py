"""Tests of the AWS side of the twin itself (tests/sim/aws.py, aws_endpoint.py,
twin.py --aws) with boto3/botocore; no agent."""

import datetime
import http.client
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
from unittest import mock
import xml.etree.ElementTree as ET

from twin_testlib import http_request, imds, twin  # noqa: F401  (sets sys.path)

import aws  # noqa: E402
import netutil  # noqa: E402
import boto3  # noqa: E402
import aws_endpoint  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError, EndpointConnectionError  # noqa: E402

CTL = {aws_endpoint.CONTROL_HEADER: "1"}
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TWIN_PY = os.path.abspath(twin.__file__)


def _amz(ts):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts))


def _error(test, exc_ctx, status, code):
    """Assert a ClientError's HTTP status and Code; returns its message."""
    err = exc_ctx.exception.response
    test.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
    test.assertEqual(err["Error"]["Code"], code, err)
    return err["Error"].get("Message", "")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def signed_request(
    url,
    params,
    creds,
    *,
    service="autoscaling",
    region="eu-west-1",
    when=None,
    tamper_body=None,
    extra_headers=None,
    unsigned_headers=None,
    drop_host=False,
):
    """A Query-protocol POST signed with botocore at a chosen time, sent with
    http.client exactly as built: (status, headers, body)."""
    body = urllib.parse.urlencode(params).encode("ascii")
    parts = urllib.parse.urlsplit(url)
    amz = _amz(time.time() if when is None else when)
    akid, secret, token = creds
    req = AWSRequest(method="POST", url=url + "/", data=body)
    req.headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    req.headers["X-Amz-Date"] = amz
    if not drop_host:
        req.headers["Host"] = parts.netloc
    if token is not None:
        req.headers["X-Amz-Security-Token"] = token
    for k, v in (extra_headers or {}).items():
        req.headers[k] = v
    req.context["timestamp"] = amz
    signer = SigV4Auth(Credentials(akid, secret, token), service, region)
    hdrs_to_sign = signer.headers_to_sign(req)
    if drop_host:
        del hdrs_to_sign["host"]
        req.headers["X-Drop"] = "1"
    cr = signer.canonical_request(req)
    sig = signer.signature(signer.string_to_sign(req, cr), req)
    signed = signer.signed_headers(hdrs_to_sign)
    if drop_host:
        signed = ";".join(h for h in signed.split(";") if h != "host")
    auth = "AWS4-HMAC-SHA256 Credential=%s, SignedHeaders=%s, Signature=%s" % (
        signer.scope(req),
        signed,
        sig,
    )
    send = {k: v for k, v in req.headers.items() if k != "X-Drop"}
    send["Authorization"] = auth
    send.update(unsigned_headers or {})
    if tamper_body is not None:
        body = tamper_body
    send["Content-Length"] = str(len(body))
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        if drop_host:
            conn.putheader("Host", parts.netloc)
        for k, v in send.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def parse_error(body):
    """(Type, Code, Message, RequestId) of an ErrorResponse, namespaces ignored."""
    root = ET.fromstring(body)
    strip = {el: el.tag.split("}")[-1] for el in root.iter()}
    found = {strip[el]: (el.text or "") for el in root.iter()}
    test_root = strip[root]
    assert test_root == "ErrorResponse", body
    return found.get("Type"), found.get("Code"), found.get("Message"), found.get("RequestId")


class AwsTwinTest(unittest.TestCase):
    """Twin(aws=True): moto (seeded, signatures checked), the endpoint and the IMDS, once per class."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t = twin.Twin(aws=True)
        cls.addClassCleanup(cls.t.stop)
        cls.t.start()
        cls.aws = cls.t.aws
        cls.s = cls.aws.seeded

    def setUp(self):
        self.aws.reset()
        self.t.imds.reset()

    def moto(self, service, creds="session"):
        return self.aws.client(service, credentials=creds)

    def imds_credentials(self):
        url = self.t.imds.url
        status, _, tok = http_request("PUT", url + imds.TOKEN_PATH, {imds.TTL_HEADER: "300"})
        self.assertEqual(status, 200)
        hdr = {imds.TOKEN_HEADER: tok.decode()}
        status, _, role = http_request("GET", url + "/latest/meta-data/iam/security-credentials/", hdr)
        self.assertEqual(status, 200)
        status, _, doc = http_request("GET", url + "/latest/meta-data/iam/security-credentials/" + role.decode(), hdr)
        self.assertEqual(status, 200)
        return role.decode(), json.loads(doc), hdr

    def imds_get(self, path, hdr):
        status, _, body = http_request("GET", self.t.imds.url + "/latest/meta-data/" + path, hdr)
        self.assertEqual(status, 200, path)
        return body.decode()

    # -- moto -----------------------------------------------------------------

    def test_moto_checks_signatures(self):
        got = self.moto("ssm").get_parameter(Name=self.s["ssm_licence_name"], WithDecryption=True)
        self.assertEqual(got["Parameter"]["Value"], self.s["ssm_licence_value"])
        user = self.moto("ssm", "user").get_parameter(Name=self.s["ssm_licence_name"], WithDecryption=True)
        self.assertEqual(user["Parameter"]["Type"], "SecureString")
        cr = self.aws.credentials()
        # (credentials, code from ELB and other Query services, code from S3)
        cases = [
            ((self.s["user_access_key_id"], self.s["user_secret_access_key"] + "x"), "SignatureDoesNotMatch", None),
            # The secret with its last character changed (one that ends in "A" gets "B").
            ((cr["AccessKeyId"], cr["SecretAccessKey"][:-1] + ("B" if cr["SecretAccessKey"].endswith("A") else "A"), cr["Token"]),
             "SignatureDoesNotMatch", None),
            (
                ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                "InvalidClientTokenId",
                "InvalidAccessKeyId",
            ),
            ((cr["AccessKeyId"], cr["SecretAccessKey"], cr["Token"] + "x"), "InvalidClientTokenId", "InvalidToken"),
        ]
        s3_status = {"InvalidToken": 400}
        for creds, code, s3_code in cases:
            for service, call in (
                ("elbv2", lambda c: c.describe_target_groups()),
                ("elb", lambda c: c.describe_load_balancers()),
                ("s3", lambda c: c.get_object(Bucket=self.s["s3_bucket"], Key=self.s["s3_key"])),
            ):
                with self.subTest(service=service, code=code):
                    with self.assertRaises(ClientError) as cm:
                        call(self.moto(service, creds))
                    if service == "s3":
                        _error(self, cm, s3_status.get(s3_code, 403), s3_code or code)
                    else:
                        _error(self, cm, 403, code)
            # moto answers auth errors of JSON services (SSM) as XML: botocore
            # cannot parse the code, but the status is 403.
            with self.assertRaises(ClientError) as cm:
                self.moto("ssm", creds).get_parameter(Name=self.s["ssm_licence_name"])
            self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
            self.assertIn(code, str(cm.exception.response["Error"]))

    def test_moto_bootstrap_count_used_up(self):
        # An unsigned request: no free requests are left after seeding.  moto
        # 5.2.1 fails on the missing Authorization header with a 500 HTML page
        # (AWS: 403 MissingAuthenticationToken); either way it is refused.
        status, _, body = http_request(
            "POST",
            self.aws.moto_url + "/",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"Action=DescribeTargetGroups&Version=2015-12-01",
        )
        self.assertIn(status, (403, 500), body)
        self.assertNotIn(b"DescribeTargetGroupsResult", body)
        self.assertEqual(self.aws.moto.no_auth_count, len(aws.BOOTSTRAP_ACTIONS))

    def test_imds_serves_session_credentials_that_work(self):
        role, doc, _ = self.imds_credentials()
        self.assertEqual(role, self.s["role_name"])
        self.assertEqual(doc["Code"], "Success")
        self.assertTrue(doc["AccessKeyId"].startswith("ASIA"), doc["AccessKeyId"])
        self.assertRegex(doc["Expiration"], ISO_RE)
        exp = datetime.datetime.strptime(doc["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        self.assertGreater(exp, now + datetime.timedelta(hours=1))
        creds = (doc["AccessKeyId"], doc["SecretAccessKey"], doc["Token"])
        tgs = self.moto("elbv2", creds).describe_target_groups(Names=[self.s["target_group_name"]])["TargetGroups"]
        self.assertEqual(tgs[0]["TargetGroupArn"], self.s["target_group_arn"])
        ident = self.moto("sts", creds).get_caller_identity()
        self.assertIn("assumed-role/%s/" % self.s["role_name"], ident["Arn"])
        asg = self.aws.client("autoscaling", credentials=creds)
        got = asg.describe_auto_scaling_instances(InstanceIds=[self.s["instance_id"]])["AutoScalingInstances"]
        self.assertEqual(got[0]["AutoScalingGroupName"], self.s["asg_name"])
        call = self.aws.endpoint.calls("DescribeAutoScalingInstances")[-1]
        self.assertTrue(call["auth_ok"])
        self.assertTrue(call["session_token_sent"])
        self.assertEqual(call["access_key_id"], doc["AccessKeyId"])

    def test_rotated_credentials_served_and_accepted(self):
        old = self.aws.credentials()
        new = self.aws.rotate_credentials()
        self.assertNotEqual(new["AccessKeyId"], old["AccessKeyId"])
        _, doc, _ = self.imds_credentials()
        self.assertEqual(doc["AccessKeyId"], new["AccessKeyId"])
        self.t.imds.reset()
        _, doc, _ = self.imds_credentials()
        self.assertEqual(doc["AccessKeyId"], new["AccessKeyId"], "reset must keep the rotated credentials")
        creds = (doc["AccessKeyId"], doc["SecretAccessKey"], doc["Token"])
        self.moto("ssm", creds).describe_parameters()
        self.aws.client("cloudformation", credentials=creds)
        self.aws.client("autoscaling", credentials=creds).describe_lifecycle_hooks(
            AutoScalingGroupName=self.s["asg_name"]
        )

    def test_imds_reports_the_moto_instance(self):
        _, _, hdr = self.imds_credentials()
        inst = self.moto("ec2").describe_instances(InstanceIds=[self.s["instance_id"]])["Reservations"][0][
            "Instances"
        ][0]
        self.assertEqual(self.imds_get("instance-id", hdr), inst["InstanceId"])
        self.assertEqual(self.imds_get("local-ipv4", hdr), inst["PrivateIpAddress"])
        self.assertEqual(self.imds_get("instance-type", hdr), inst["InstanceType"])
        self.assertEqual(self.imds_get("ami-id", hdr), inst["ImageId"])
        self.assertEqual(self.imds_get("placement/availability-zone", hdr), inst["Placement"]["AvailabilityZone"])
        self.assertEqual(self.imds_get("placement/region", hdr), "eu-west-1")
        mac = self.imds_get("mac", hdr)
        self.assertEqual(mac, inst["NetworkInterfaces"][0]["MacAddress"])
        base = "network/interfaces/macs/%s/" % mac
        self.assertEqual(self.imds_get(base + "vpc-id", hdr), self.s["vpc_id"])
        self.assertEqual(self.imds_get(base + "subnet-id", hdr), self.s["subnet_id"])
        self.assertEqual(self.imds_get("tags/instance/aws:autoscaling:groupName", hdr), self.s["asg_name"])
        self.assertEqual(self.imds_get("autoscaling/target-lifecycle-state", hdr), "InService")
        info = json.loads(self.imds_get("iam/info", hdr))
        self.assertEqual(info["InstanceProfileArn"], inst["IamInstanceProfile"]["Arn"])

    def test_seeded_load_balancing(self):
        elbv2 = self.moto("elbv2")
        tg = elbv2.describe_target_groups(TargetGroupArns=[self.s["target_group_arn"]])["TargetGroups"][0]
        self.assertEqual(
            (tg["Protocol"], tg["Port"], tg["TargetType"], tg["HealthCheckPath"], tg["HealthCheckPort"], tg["VpcId"]),
            ("HTTP", 8080, "instance", "/?action=stat", "8081", self.s["vpc_id"]),
        )
        target = [{"Id": self.s["instance_id"], "Port": 8080}]
        elbv2.register_targets(TargetGroupArn=self.s["target_group_arn"], Targets=target)
        try:
            health = elbv2.describe_target_health(TargetGroupArn=self.s["target_group_arn"])
            self.assertEqual([d["Target"]["Id"] for d in health["TargetHealthDescriptions"]], [self.s["instance_id"]])
        finally:
            elbv2.deregister_targets(TargetGroupArn=self.s["target_group_arn"], Targets=target)
        # Classic ELB: register on the existing LB works (moto crashes only on an unknown LB).
        elb = self.moto("elb")
        name = self.s["classic_elb_name"]
        elb.register_instances_with_load_balancer(
            LoadBalancerName=name, Instances=[{"InstanceId": self.s["instance_id"]}]
        )
        try:
            lb = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
            self.assertEqual([i["InstanceId"] for i in lb["Instances"]], [self.s["instance_id"]])
            self.assertEqual(lb["AvailabilityZones"], [self.s["availability_zone"]])
        finally:
            elb.deregister_instances_from_load_balancer(
                LoadBalancerName=name, Instances=[{"InstanceId": self.s["instance_id"]}]
            )
        lb = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
        self.assertEqual(lb["Instances"], [])

    def test_seeded_config_sources(self):
        sm = self.moto("secretsmanager")
        doc = json.loads(sm.get_secret_value(SecretId=self.s["secret_json_id"])["SecretString"])
        self.assertEqual(doc, {"password": self.s["secret_password"], "user": self.s["secret_user"]})
        plain = sm.get_secret_value(SecretId=self.s["secret_string_arn"])["SecretString"]
        self.assertEqual(plain, self.s["secret_string_value"])
        obj = self.moto("s3").get_object(Bucket=self.s["s3_bucket"], Key=self.s["s3_key"])
        self.assertEqual(obj["Body"].read().decode(), self.s["s3_body"])
        with self.assertRaises(ClientError) as cm:
            self.moto("ssm").get_parameter(Name="/wcs/nope")
        _error(self, cm, 400, "ParameterNotFound")

    # -- the endpoint ---------------------------------------------------------

    def test_endpoint_checks_signatures(self):
        hooks = self.aws.client("autoscaling").describe_lifecycle_hooks(AutoScalingGroupName=self.s["asg_name"])
        h = hooks["LifecycleHooks"][0]
        self.assertEqual(
            (h["LifecycleHookName"], h["HeartbeatTimeout"], h["DefaultResult"]),
            (self.s["hook_name"], self.s["hook_heartbeat_timeout"], "ABANDON"),
        )
        self.aws.client("autoscaling", credentials="user").describe_auto_scaling_instances()
        cr = self.aws.credentials()
        cases = [
            ((cr["AccessKeyId"], cr["SecretAccessKey"] + "x", cr["Token"]), "SignatureDoesNotMatch"),
            ((self.s["user_access_key_id"], "wrong"), "SignatureDoesNotMatch"),
            (("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), "InvalidClientTokenId"),
            ((cr["AccessKeyId"], cr["SecretAccessKey"], cr["Token"] + "x"), "InvalidClientTokenId"),
            ((cr["AccessKeyId"], cr["SecretAccessKey"]), "InvalidClientTokenId"),
            ((self.s["user_access_key_id"], self.s["user_secret_access_key"], cr["Token"]), "InvalidClientTokenId"),
        ]
        for creds, code in cases:
            with self.subTest(code=code, akid=creds[0]):
                with self.assertRaises(ClientError) as cm:
                    self.aws.client("cloudformation", credentials=creds).signal_resource(
                        StackName=self.s["cfn_stack"],
                        LogicalResourceId=self.s["cfn_resource"],
                        UniqueId=self.s["instance_id"],
                        Status="SUCCESS",
                    )
                _error(self, cm, 403, code)
        calls = self.aws.endpoint.calls()
        self.assertEqual([c["auth_ok"] for c in calls], [True, True] + [False] * len(cases))
        self.assertEqual(self.aws.endpoint.stack_status(self.s["cfn_stack"]), "CREATE_IN_PROGRESS")

    def test_complete_lifecycle_action_twice(self):
        asg = self.aws.client("autoscaling")
        iid = self.s["instance_id"]
        kw = dict(AutoScalingGroupName=self.s["asg_name"], LifecycleHookName=self.s["hook_name"], InstanceId=iid)
        state = asg.describe_auto_scaling_instances(InstanceIds=[iid])["AutoScalingInstances"][0]["LifecycleState"]
        self.assertEqual(state, "Pending:Wait")
        asg.record_lifecycle_action_heartbeat(**kw)
        asg.complete_lifecycle_action(LifecycleActionResult="CONTINUE", **kw)
        state = asg.describe_auto_scaling_instances(InstanceIds=[iid])["AutoScalingInstances"][0]["LifecycleState"]
        self.assertEqual(state, "InService")
        with self.assertRaises(ClientError) as cm:
            asg.complete_lifecycle_action(LifecycleActionResult="CONTINUE", **kw)
        msg = _error(self, cm, 400, "ValidationError")
        self.assertEqual(msg, "No active Lifecycle Action found with instance ID %s" % iid)
        with self.assertRaises(ClientError) as cm:
            asg.record_lifecycle_action_heartbeat(**kw)
        _error(self, cm, 400, "ValidationError")
        self.assertEqual(
            [(c["action"], c["status"]) for c in self.aws.endpoint.calls()][1:],
            [
                ("RecordLifecycleActionHeartbeat", 200),
                ("CompleteLifecycleAction", 200),
                ("DescribeAutoScalingInstances", 200),
                ("CompleteLifecycleAction", 400),
                ("RecordLifecycleActionHeartbeat", 400),
            ],
        )
        call = self.aws.endpoint.calls("CompleteLifecycleAction")[0]
        self.assertEqual(call["params"]["LifecycleActionResult"], "CONTINUE")
        self.assertEqual(call["params"]["InstanceId"], iid)

    def test_signal_resource_twice(self):
        cfn = self.aws.client("cloudformation")
        kw = dict(
            StackName=self.s["cfn_stack"], LogicalResourceId=self.s["cfn_resource"], UniqueId=self.s["instance_id"]
        )
        cfn.signal_resource(Status="SUCCESS", **kw)
        self.assertEqual(self.aws.endpoint.stack_status(self.s["cfn_stack"]), "CREATE_COMPLETE")
        with self.assertRaises(ClientError) as cm:
            cfn.signal_resource(Status="SUCCESS", **kw)
        msg = _error(self, cm, 400, "ValidationError")
        self.assertEqual(msg, "Stack %s is in CREATE_COMPLETE state and cannot be signaled" % self.s["cfn_stack_id"])
        sigs = self.aws.endpoint.signals(self.s["cfn_stack"], self.s["cfn_resource"])
        self.assertEqual([(x["unique_id"], x["status"]) for x in sigs], [(self.s["instance_id"], "SUCCESS")])

    def test_env(self):
        env = self.t.env()
        moto_url, ep_url = self.aws.moto_url, self.aws.endpoint_url
        for k in aws.MOTO_ENDPOINT_VARS:
            self.assertEqual(env[k], moto_url, k)
        self.assertEqual(env["AWS_ENDPOINT_URL_AUTO_SCALING"], ep_url)
        self.assertEqual(env["AWS_ENDPOINT_URL_CLOUDFORMATION"], ep_url)
        self.assertEqual(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:9")
        self.assertEqual(env["AWS_REGION"], "eu-west-1")
        self.assertEqual(env["AWS_EC2_METADATA_SERVICE_ENDPOINT"], self.t.imds.url)
        expect = {
            "TWIN_TARGET_GROUP_ARN": self.s["target_group_arn"],
            "TWIN_CLASSIC_ELB": self.s["classic_elb_name"],
            "TWIN_ASG": self.s["asg_name"],
            "TWIN_HOOK": self.s["hook_name"],
            "TWIN_CFN_STACK": self.s["cfn_stack"],
            "TWIN_CFN_RESOURCE": self.s["cfn_resource"],
            "TWIN_SSM_LICENCE": "/wcs/licence",
            "TWIN_SECRET_ID": self.s["secret_json_id"],
            "TWIN_INSTANCE_ID": self.s["instance_id"],
        }
        for k, v in expect.items():
            self.assertEqual(env[k], v, k)
        for v in env.values():
            self.assertNotIn(self.s["ssm_licence_value"], v)
            self.assertNotIn(self.aws.credentials()["SecretAccessKey"], v)
        # botocore resolves the endpoints from exactly these variables.
        cr = self.aws.credentials()
        with mock.patch.dict(os.environ, env):
            session = boto3.session.Session(
                aws_access_key_id=cr["AccessKeyId"],
                aws_secret_access_key=cr["SecretAccessKey"],
                aws_session_token=cr["Token"],
                region_name=env["AWS_REGION"],  # botocore 1.43 reads AWS_DEFAULT_REGION, not AWS_REGION
            )
            cfg = Config(retries={"total_max_attempts": 1}, connect_timeout=2)
            ssm = session.client("ssm", config=cfg)
            asg = session.client("autoscaling", config=cfg)
            sqs = session.client("sqs", config=cfg)
        got = ssm.get_parameter(Name=env["TWIN_SSM_LICENCE"], WithDecryption=True)["Parameter"]["Value"]
        self.assertEqual(got, self.s["ssm_licence_value"])
        hooks = asg.describe_lifecycle_hooks(AutoScalingGroupName=env["TWIN_ASG"])["LifecycleHooks"]
        self.assertEqual(hooks[0]["LifecycleHookName"], env["TWIN_HOOK"])
        with self.assertRaises(EndpointConnectionError):
            sqs.list_queues()  # not pointed at the twin: the closed port
        status, _, body = http_request("GET", ep_url + "/_twin/info", CTL)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["seeded"]["ssm_licence_value"], self.s["ssm_licence_value"])


class EndpointTest(unittest.TestCase):
    """AwsEndpoint alone (no moto): signing details, state machine, faults, control API."""

    AKID, SECRET = "AKIAENDPOINTTEST0001", "endpoint/test/secret/0001"
    SAKID, SSECRET, STOKEN = "ASIAENDPOINTTEST0002", "endpoint/test/secret/0002", "session-token-0002=="
    ROLE_ARN = "arn:aws:sts::123456789012:assumed-role/wcs-node-role/i-0123456789abcdef0"
    IID = "i-0123456789abcdef0"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.offset = 0.0
        cls.ep = aws_endpoint.AwsEndpoint(clock=lambda: time.time() + cls.offset)
        cls.addClassCleanup(cls.ep.stop)
        cls.ep.start()
        cls.ep.add_credentials(cls.AKID, cls.SECRET, principal_arn="arn:aws:iam::123456789012:user/admin")
        cls.ep.add_credentials(cls.SAKID, cls.SSECRET, cls.STOKEN, principal_arn=cls.ROLE_ARN)
        cls.ep.add_group("asg")
        cls.ep.add_instance("asg", cls.IID, lifecycle_state="Pending")
        cls.ep.add_instance("asg", "i-00000000000000002")
        cls.ep.add_lifecycle_hook("asg", "launch", heartbeat_timeout=60, default_result="ABANDON")
        cls.ep.add_lifecycle_hook(
            "asg", "drain", transition="autoscaling:EC2_INSTANCE_TERMINATING", heartbeat_timeout=30
        )
        cls.token = cls.ep.start_lifecycle_action("asg", cls.IID, "launch")
        cls.stack_id = cls.ep.add_stack("stack")
        cls.ep.add_signal_resource("stack", "Group", count=2)
        cls.ep.checkpoint()

    def setUp(self):
        type(self).offset = 0.0
        self.ep.reset()

    def client(self, service="autoscaling", creds=None):
        creds = creds or (self.SAKID, self.SSECRET, self.STOKEN)
        return aws.boto_client(service, self.ep.url, *creds)

    def complete(self, **kw):
        args = dict(AutoScalingGroupName="asg", LifecycleHookName="launch", LifecycleActionResult="CONTINUE")
        args.update(kw)
        if "LifecycleActionToken" not in args:
            args.setdefault("InstanceId", self.IID)
        return self.client().complete_lifecycle_action(**args)

    def raw(self, params=None, creds=None, **kw):
        params = params or {"Action": "DescribeAutoScalingInstances", "Version": "2011-01-01"}
        return signed_request(self.ep.url, params, creds or (self.SAKID, self.SSECRET, self.STOKEN), **kw)

    # -- signing ----------------------------------------------------------------

    def test_raw_signed_request_and_reply_shape(self):
        status, hdrs, body = self.raw(
            {
                "Action": "CompleteLifecycleAction",
                "Version": "2011-01-01",
                "AutoScalingGroupName": "asg",
                "LifecycleHookName": "launch",
                "LifecycleActionResult": "CONTINUE",
                "InstanceId": self.IID,
            }
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(hdrs["Content-Type"], "text/xml")
        root = ET.fromstring(body)
        ns = "{http://autoscaling.amazonaws.com/doc/2011-01-01/}"
        self.assertEqual(root.tag, ns + "CompleteLifecycleActionResponse")
        self.assertEqual(root[0].tag, ns + "CompleteLifecycleActionResult")
        self.assertEqual(len(root[0]), 0)
        self.assertEqual(root.find(ns + "ResponseMetadata/" + ns + "RequestId").text, hdrs["x-amzn-RequestId"])
        status, hdrs, body = self.raw(
            {"Action": "SignalResource", "Version": "2010-05-15", "StackName": "nope", "LogicalResourceId": "G",
             "UniqueId": "i-1", "Status": "SUCCESS"},
            service="cloudformation",
        )
        self.assertEqual(status, 400)
        self.assertIn(b'<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">', body)
        kind, code, msg, rid = parse_error(body)
        self.assertEqual((kind, code, msg), ("Sender", "ValidationError", "Stack with id nope does not exist"))
        self.assertEqual(rid, hdrs["x-amzn-RequestId"])

    def test_bad_signatures_rejected(self):
        self.assertEqual(self.raw()[0], 200)
        body = b"Action=DescribeAutoScalingInstances&Version=2011-01-01&InstanceIds.member.1=i-1"
        cases = [
            ("tampered body", dict(tamper_body=body), 403, "SignatureDoesNotMatch"),
            ("wrong secret", dict(creds=(self.SAKID, "nope", self.STOKEN)), 403, "SignatureDoesNotMatch"),
            ("wrong region", dict(region="us-east-1"), 403, "SignatureDoesNotMatch"),
            ("wrong service", dict(service="cloudformation"), 403, "SignatureDoesNotMatch"),
            ("host unsigned", dict(drop_host=True), 403, "SignatureDoesNotMatch"),
            ("unknown key", dict(creds=("AKIANOPE", "x", None)), 403, "InvalidClientTokenId"),
            ("token missing", dict(creds=(self.SAKID, self.SSECRET, None)), 403, "InvalidClientTokenId"),
            ("token wrong", dict(creds=(self.SAKID, self.SSECRET, "other")), 403, "InvalidClientTokenId"),
            ("token on long-term key", dict(creds=(self.AKID, self.SECRET, "t")), 403, "InvalidClientTokenId"),
            ("20 min old", dict(when=time.time() - 1200), 403, "SignatureDoesNotMatch"),
            ("20 min ahead", dict(when=time.time() + 1200), 403, "SignatureDoesNotMatch"),
            ("unsigned header changed", dict(unsigned_headers={"X-Amz-Date": _amz(time.time() - 5)}), 403,
             "SignatureDoesNotMatch"),
        ]
        for name, kw, status, code in cases:
            with self.subTest(name):
                st, _, reply = self.raw(**kw)
                self.assertEqual((st, parse_error(reply)[1]), (status, code), reply)
        self.assertEqual(self.raw(when=time.time() - 840)[0], 200, "14 min old is still good")
        status, _, body = http_request(
            "POST", self.ep.url + "/", {"Content-Type": "application/x-www-form-urlencoded"},
            b"Action=DescribeAutoScalingInstances&Version=2011-01-01",
        )
        self.assertEqual((status, parse_error(body)[1]), (403, "MissingAuthenticationToken"))
        calls = self.ep.calls()
        self.assertEqual(sum(c["auth_ok"] for c in calls), 2)
        self.assertEqual(calls[-1]["auth_error"], "MissingAuthenticationToken")

    def test_long_term_key_and_unknown_action(self):
        c = self.client(creds=(self.AKID, self.SECRET))
        got = c.describe_auto_scaling_instances(InstanceIds=[self.IID, "i-nope"])["AutoScalingInstances"]
        self.assertEqual([(i["InstanceId"], i["LifecycleState"], i["HealthStatus"]) for i in got],
                         [(self.IID, "Pending:Wait", "HEALTHY")])
        self.assertEqual(len(c.describe_auto_scaling_instances()["AutoScalingInstances"]), 2)
        status, _, body = self.raw({"Action": "DescribeAutoScalingGroups", "Version": "2011-01-01"})
        self.assertEqual((status, parse_error(body)[1]), (400, "InvalidAction"))
        status, _, body = self.raw({"Action": "DescribeAutoScalingInstances", "Version": "2010-05-15"})
        self.assertEqual((status, parse_error(body)[1]), (400, "InvalidAction"))

    # -- Auto Scaling -------------------------------------------------------------

    def test_complete_by_token_and_validation(self):
        with self.assertRaises(ClientError) as cm:
            self.complete(LifecycleActionToken="00000000-0000-0000-0000-000000000000")
        self.assertIn("No active Lifecycle Action found with token", _error(self, cm, 400, "ValidationError"))
        with self.assertRaises(ClientError) as cm:
            self.complete(LifecycleHookName="drain")
        _error(self, cm, 400, "ValidationError")
        with self.assertRaises(ClientError) as cm:
            self.complete(AutoScalingGroupName="other")
        _error(self, cm, 400, "ValidationError")
        status, _, body = self.raw(
            {"Action": "CompleteLifecycleAction", "Version": "2011-01-01", "AutoScalingGroupName": "asg",
             "LifecycleHookName": "launch", "LifecycleActionResult": "MAYBE", "InstanceId": self.IID}
        )
        self.assertEqual((status, parse_error(body)[1]), (400, "ValidationError"))
        self.complete(LifecycleActionToken=self.token, LifecycleActionResult="ABANDON")
        self.assertEqual(self.ep.instance_state(self.IID), "Terminating")
        with self.assertRaises(ClientError) as cm:
            self.complete()
        self.assertEqual(_error(self, cm, 400, "ValidationError"),
                         "No active Lifecycle Action found with instance ID %s" % self.IID)

    def test_heartbeat_timeout_and_default_result(self):
        kw = dict(AutoScalingGroupName="asg", LifecycleHookName="launch", InstanceId=self.IID)
        type(self).offset = 45
        self.client().record_lifecycle_action_heartbeat(**kw)
        type(self).offset = 90  # 45 s after the heartbeat: still inside the 60 s timeout
        self.assertIsNotNone(self.ep.lifecycle_action("asg", self.IID))
        self.assertEqual(self.ep.lifecycle_action("asg", self.IID)["heartbeats"], 1)
        type(self).offset = 106
        with self.assertRaises(ClientError) as cm:
            self.complete()
        _error(self, cm, 400, "ValidationError")
        self.assertEqual(self.ep.instance_state(self.IID), "Terminating", "DefaultResult ABANDON applied")
        token = self.ep.start_lifecycle_action("asg", "i-00000000000000002", "drain")
        self.assertTrue(token)
        self.assertEqual(self.ep.instance_state("i-00000000000000002"), "Terminating:Wait")

    def test_describe_lifecycle_hooks(self):
        c = self.client()
        hooks = c.describe_lifecycle_hooks(AutoScalingGroupName="asg")["LifecycleHooks"]
        self.assertEqual(
            [(h["LifecycleHookName"], h["LifecycleTransition"], h["HeartbeatTimeout"], h["GlobalTimeout"],
              h["DefaultResult"]) for h in hooks],
            [("launch", "autoscaling:EC2_INSTANCE_LAUNCHING", 60, 6000, "ABANDON"),
             ("drain", "autoscaling:EC2_INSTANCE_TERMINATING", 30, 3000, "ABANDON")],
        )
        one = c.describe_lifecycle_hooks(AutoScalingGroupName="asg", LifecycleHookNames=["drain"])["LifecycleHooks"]
        self.assertEqual([h["LifecycleHookName"] for h in one], ["drain"])
        with self.assertRaises(ClientError) as cm:
            c.describe_lifecycle_hooks(AutoScalingGroupName="nope")
        _error(self, cm, 400, "ValidationError")

    # -- CloudFormation -----------------------------------------------------------

    def test_signal_count_and_failure(self):
        cfn = self.client("cloudformation")
        cfn.signal_resource(StackName="stack", LogicalResourceId="Group", UniqueId="i-1", Status="SUCCESS")
        cfn.signal_resource(StackName="stack", LogicalResourceId="Group", UniqueId="i-1", Status="SUCCESS")
        self.assertEqual(self.ep.stack_status("stack"), "CREATE_IN_PROGRESS", "the same UniqueId counts once")
        cfn.signal_resource(StackName=self.stack_id, LogicalResourceId="Group", UniqueId="i-2", Status="SUCCESS")
        self.assertEqual(self.ep.stack_status("stack"), "CREATE_COMPLETE")
        self.ep.reset()
        with self.assertRaises(ClientError) as cm:
            cfn.signal_resource(StackName="stack", LogicalResourceId="Nope", UniqueId="i-1", Status="SUCCESS")
        _error(self, cm, 400, "ValidationError")
        cfn.signal_resource(StackName="stack", LogicalResourceId="Group", UniqueId="i-1", Status="FAILURE")
        with self.assertRaises(ClientError) as cm:
            cfn.signal_resource(StackName="stack", LogicalResourceId="Group", UniqueId="i-2", Status="SUCCESS")
        msg = _error(self, cm, 400, "ValidationError")
        self.assertEqual(msg, "Stack %s is in ROLLBACK_COMPLETE state and cannot be signaled" % self.stack_id)
        status, _, body = self.raw(
            {"Action": "SignalResource", "Version": "2010-05-15", "StackName": "stack", "LogicalResourceId": "Group",
             "UniqueId": "i-1", "Status": "DONE"},
            service="cloudformation",
        )
        self.assertEqual((status, parse_error(body)[1]), (400, "ValidationError"))

    # -- faults -------------------------------------------------------------------

    def test_throttling(self):
        self.ep.throttle(2)
        c = self.client()
        for _ in range(2):
            with self.assertRaises(ClientError) as cm:
                c.describe_auto_scaling_instances()
            self.assertEqual(_error(self, cm, 400, "Throttling"), "Rate exceeded")
        c.describe_auto_scaling_instances()
        self.assertEqual([x["fault"] for x in self.ep.calls()], ["Throttling", "Throttling", None])
        self.ep.throttle(1, code="ThrottlingException", actions=["SignalResource"])
        c.describe_auto_scaling_instances()
        with self.assertRaises(ClientError) as cm:
            self.client("cloudformation").signal_resource(
                StackName="stack", LogicalResourceId="Group", UniqueId="i-1", Status="SUCCESS"
            )
        _error(self, cm, 400, "ThrottlingException")
        self.assertEqual(self.ep.signals("stack", "Group"), [], "a throttled call changes nothing")
        # botocore's standard retry mode retries throttling: 3 attempts, the third succeeds.
        self.ep.throttle(2)
        retrying = aws.boto_client("autoscaling", self.ep.url, self.SAKID, self.SSECRET, self.STOKEN, retries=3)
        got = retrying.describe_auto_scaling_instances(InstanceIds=[self.IID])
        self.assertEqual(got["ResponseMetadata"]["RetryAttempts"], 2)

    def test_unavailable(self):
        self.ep.unavailable(1)
        status, hdrs, body = self.raw()
        self.assertEqual(status, 503)
        self.assertEqual(parse_error(body)[:2], ("Receiver", "ServiceUnavailable"))
        self.assertEqual(self.raw()[0], 200)

    def test_access_denied(self):
        self.ep.deny("CompleteLifecycleAction")
        with self.assertRaises(ClientError) as cm:
            self.complete()
        msg = _error(self, cm, 403, "AccessDenied")
        self.assertEqual(
            msg, "User: %s is not authorized to perform: autoscaling:CompleteLifecycleAction" % self.ROLE_ARN
        )
        self.assertIsNotNone(self.ep.lifecycle_action("asg", self.IID), "a denied call changes nothing")
        self.client().describe_auto_scaling_instances()
        self.ep.deny()
        self.complete()

    def test_latency(self):
        self.ep.set_faults(latency_ms=300)
        t0 = time.monotonic()
        self.assertEqual(self.raw()[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)

    def test_skewed_clock(self):
        self.ep.set_faults(clock_skew_s=1800)
        status, hdrs, body = self.raw()
        self.assertEqual(status, 403)
        kind, code, msg, _ = parse_error(body)
        self.assertEqual(code, "SignatureDoesNotMatch")
        self.assertTrue(msg.startswith("Signature expired: "), msg)
        date = datetime.datetime.strptime(hdrs["Date"], "%a, %d %b %Y %H:%M:%S GMT").replace(
            tzinfo=datetime.timezone.utc
        )
        self.assertAlmostEqual(date.timestamp(), time.time() + 1800, delta=5)
        # A client that adopts the server's clock gets through.
        self.assertEqual(self.raw(when=date.timestamp())[0], 200)
        self.ep.set_faults(clock_skew_s=-1800, expired_code="RequestExpired")
        status, _, body = self.raw()
        self.assertEqual((status, parse_error(body)[1]), (400, "RequestExpired"))
        self.assertIn("Signature not yet current", parse_error(body)[2])
        self.ep.set_faults(clock_skew_s=600)
        self.assertEqual(self.raw()[0], 200, "10 min of skew is tolerated")

    def test_bad_faults_rejected(self):
        for kw in ({"fail_code": "Nope"}, {"fail_next": -1}, {"latency_ms": "5"}, {"nope": 1},
                   {"access_denied_actions": ["DescribeNothing"]}, {"expired_code": "Expired"}):
            with self.subTest(kw=kw):
                with self.assertRaises(ValueError):
                    self.ep.set_faults(**kw)
        self.assertEqual(self.ep.faults.snapshot(), aws_endpoint.FAULT_DEFAULTS)

    # -- control API --------------------------------------------------------------

    def test_control_api(self):
        self.assertEqual(self.raw()[0], 200)
        status, _, body = http_request("GET", self.ep.url + "/_twin/calls", CTL)
        self.assertEqual(status, 200)
        calls = json.loads(body)["calls"]
        self.assertEqual([(c["action"], c["auth_ok"], c["status"]) for c in calls],
                         [("DescribeAutoScalingInstances", True, 200)])
        self.assertIsInstance(calls[0]["time"], float)
        self.assertEqual(calls[0]["params"]["Version"], "2011-01-01")
        # Without the control header /_twin/ is AWS traffic: not authenticated.
        status, _, body = http_request("GET", self.ep.url + "/_twin/calls")
        self.assertEqual((status, parse_error(body)[1]), (403, "MissingAuthenticationToken"))
        status, _, body = http_request("POST", self.ep.url + "/_twin/faults", CTL,
                                       json.dumps({"fail_next": 1, "fail_code": "ThrottlingException"}).encode())
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["faults"]["fail_next"], 1)
        st, _, reply = self.raw()
        self.assertEqual((st, parse_error(reply)[1]), (400, "ThrottlingException"))
        status, _, body = http_request("POST", self.ep.url + "/_twin/faults", CTL, b'{"fail_code": "Nope"}')
        self.assertEqual(status, 400)
        self.assertIn("fail_code", json.loads(body)["error"])
        status, _, body = http_request("GET", self.ep.url + "/_twin/calls?action=Nope", CTL)
        self.assertEqual(json.loads(body)["calls"], [])
        self.complete()
        status, _, body = http_request("POST", self.ep.url + "/_twin/lifecycle", CTL,
                                       json.dumps({"group": "asg", "instance_id": self.IID, "hook": "launch"}).encode())
        self.assertEqual(status, 200, body)
        self.assertEqual(self.ep.lifecycle_action("asg", self.IID)["token"], json.loads(body)["token"])
        self.complete()
        status, _, body = http_request("POST", self.ep.url + "/_twin/cfn", CTL,
                                       json.dumps({"stack": "s2", "resource": "R"}).encode())
        self.assertEqual(status, 200, body)
        self.client("cloudformation").signal_resource(
            StackName="s2", LogicalResourceId="R", UniqueId="i", Status="SUCCESS"
        )
        status, _, body = http_request("GET", self.ep.url + "/_twin/state", CTL)
        self.assertEqual(json.loads(body)["stacks"]["s2"]["status"], "CREATE_COMPLETE")
        status, _, body = http_request("POST", self.ep.url + "/_twin/reset", CTL, b"")
        self.assertEqual(status, 200)
        self.assertNotIn("s2", json.loads(body)["stacks"])
        self.assertEqual(self.ep.calls(), [])


class LifecycleTest(unittest.TestCase):
    """Start/stop of the AWS twin: processes end, metadata precedence, CLI."""

    def test_seeding_failure_stops_moto(self):
        t = twin.Twin(aws={"names": {"subnet_cidr": "192.168.7.0/24"}})  # outside the VPC: moto refuses
        self.addCleanup(t.stop)
        with self.assertRaises(RuntimeError) as cm:
            t.start()
        self.assertIn("seeding moto", str(cm.exception))
        pid = t.aws.moto.last_pid
        self.assertIsNotNone(pid)
        self.assertIsNone(t.aws.moto.pid)
        self.assertFalse(_pid_alive(pid), "moto_server %d outlived a failed start" % pid)

    def test_cli_aws(self):
        with tempfile.TemporaryDirectory(prefix="twin-aws-cli-") as d:
            env_file = os.path.join(d, "twin.env")
            netutil.shared_ca()  # the child twin serves TLS with the same test CA (TWIN_CA_DIR)
            env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
            err_path = os.path.join(d, "stderr")

            def stderr_text():
                with open(err_path, encoding="utf-8", errors="replace") as f:
                    return f.read()

            with open(err_path, "wb") as err:
                p = subprocess.Popen(
                    [sys.executable, TWIN_PY, "--aws", "--env-file", env_file,
                     "--moto-log", os.path.join(d, "moto.log"), "--metadata", "instance_type=m5.large"],
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    env=env,
                )

            def kill():
                if p.poll() is None:
                    p.kill()
                    p.wait()

            self.addCleanup(kill)
            deadline = time.monotonic() + 120  # moto starts slowly on a busy machine
            while not os.path.exists(env_file) and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertTrue(os.path.exists(env_file), "no env file; stderr:\n%s" % stderr_text())
            with open(env_file, encoding="utf-8") as f:
                lines = dict(w.split("=", 1) for w in shlex.split(f.read()))
            for k in aws.MOTO_ENDPOINT_VARS + aws.TWIN_ENDPOINT_VARS + (
                "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "TWIN_TARGET_GROUP_ARN",
                "TWIN_CLASSIC_ELB", "TWIN_ASG", "TWIN_HOOK", "TWIN_CFN_STACK", "TWIN_CFN_RESOURCE",
                "TWIN_SSM_LICENCE", "TWIN_SECRET_ID", "TWIN_MOTO_PID",
            ):
                self.assertIn(k, lines)
            self.assertEqual(lines["AWS_ENDPOINT_URL"], "http://127.0.0.1:9")
            self.assertEqual(lines["TWIN_SSM_LICENCE"], "/wcs/licence")
            moto_pid = int(lines["TWIN_MOTO_PID"])
            self.assertTrue(_pid_alive(moto_pid))
            status, _, body = http_request("GET", lines["TWIN_AWS_ENDPOINT_URL"] + "/_twin/info", CTL)
            seeded = json.loads(body)["seeded"]
            self.assertEqual(seeded["instance_id"], lines["TWIN_INSTANCE_ID"])
            creds = seeded["credentials"]
            got = aws.boto_client(
                "ssm", lines["AWS_ENDPOINT_URL_SSM"], creds["AccessKeyId"], creds["SecretAccessKey"], creds["Token"]
            ).get_parameter(Name=lines["TWIN_SSM_LICENCE"], WithDecryption=True)
            self.assertEqual(got["Parameter"]["Value"], seeded["ssm_licence_value"])
            # The IMDS serves the moto instance; metadata given on the command line wins.
            imds_url = lines["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
            status, _, tok = http_request("PUT", imds_url + imds.TOKEN_PATH, {imds.TTL_HEADER: "60"})
            hdr = {imds.TOKEN_HEADER: tok.decode()}
            status, _, body = http_request("GET", imds_url + "/latest/meta-data/instance-id", hdr)
            self.assertEqual((status, body.decode()), (200, seeded["instance_id"]))
            status, _, body = http_request("GET", imds_url + "/latest/meta-data/instance-type", hdr)
            self.assertEqual((status, body.decode()), (200, "m5.large"))
            moto_port = urllib.parse.urlsplit(lines["TWIN_MOTO_URL"]).port
            ep_port = urllib.parse.urlsplit(lines["TWIN_AWS_ENDPOINT_URL"]).port
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=20)
            self.assertEqual(p.returncode, 0, stderr_text())
            self.assertFalse(_pid_alive(moto_pid), "moto_server outlived twin.py")
            self.assertFalse(twin.wait_for_port("127.0.0.1", moto_port, 0.2))
            self.assertFalse(twin.wait_for_port("127.0.0.1", ep_port, 0.2))


if __name__ == "__main__":
    unittest.main()
