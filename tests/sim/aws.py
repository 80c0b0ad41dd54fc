#!/usr/bin/env python3
"""The AWS side of the twin: moto_server with signature checking, seeded with
boto3, plus the SigV4-checking endpoint (aws_endpoint.py) for the Auto
Scaling and CloudFormation calls moto 5.2.1 lacks.  Loopback only.

Facts: shared/docs/aws.md sections 3, 4, 5 and 7.

    from aws import AwsTwin
    with AwsTwin() as a:            # or Twin(aws=True), see twin.py
        a.seeded["instance_id"], a.seeded["target_group_arn"], ...
        a.moto_url, a.endpoint_url, a.endpoint (an AwsEndpoint), a.env()
        a.client("elbv2")          # boto3 client on moto with the role's session credentials

moto counts every request that reaches its authorisation hook while its
counter is below INITIAL_NO_AUTH_ACTION_COUNT (moto/core/authorization.py);
seeding sends exactly BOOTSTRAP_ACTIONS unauthenticated, then checks that a
wrongly signed request is refused, so signature checking cannot be off.
"""

import copy
import datetime
import json
import os
import secrets
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aws_endpoint  # noqa: E402
import netutil  # noqa: E402
from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402
import twin as twin_mod  # noqa: E402

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"
CLOSED_ENDPOINT = "http://127.0.0.1:9"

# The requests sent before moto checks signatures (in this order).
BOOTSTRAP_ACTIONS = ("iam:CreateUser", "iam:CreateAccessKey", "iam:PutUserPolicy")
INITIAL_NO_AUTH_ACTION_COUNT = len(BOOTSTRAP_ACTIONS)

ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})

# Any key signs the bootstrap requests (moto does not look at them).
_BOOTSTRAP_KEY = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")

# Which service each AWS_ENDPOINT_URL_<SERVICE> variable points at.
MOTO_ENDPOINT_VARS = (
    "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2",
    "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_CLOUDWATCH",
    "AWS_ENDPOINT_URL_EC2",
)
TWIN_ENDPOINT_VARS = ("AWS_ENDPOINT_URL_AUTO_SCALING", "AWS_ENDPOINT_URL_CLOUDFORMATION")

DEFAULT_NAMES = {
    "user_name": "wcs-twin-admin",
    "role_name": "wcs-node-role",
    "instance_profile_name": "wcs-node-profile",
    "vpc_cidr": "10.0.0.0/16",
    "subnet_cidr": "10.0.1.0/24",
    "availability_zone": REGION + "a",
    "security_group_name": "wcs-node",
    "instance_type": "c5.large",
    "instance_name": "wcs-node-1",
    "target_group_name": "wcs-tg",
    "classic_elb_name": "wcs-classic",
    "ssm_licence_name": "/wcs/licence",
    "secret_json_id": "wcs/db",
    "secret_string_id": "wcs/api-key",
    "s3_bucket": "wcs-config",
    "s3_key": "tls/key.pem",
    "asg_name": "wcs-asg",
    "hook_name": "wcs-launch-hook",
    "hook_heartbeat_timeout": 300,
    "hook_default_result": "ABANDON",
    # The terminate hook the agent completes after a drain (None: no such hook).
    "terminate_hook_name": "wcs-terminate-hook",
    "terminate_hook_heartbeat_timeout": 900,
    "terminate_hook_default_result": "CONTINUE",
    "cfn_stack": "wcs-stack",
    "cfn_resource": "WcsNodeGroup",
    "session_duration_s": 6 * 3600,
}


def _utc(dt):
    """A datetime (aware or naive UTC) as IMDS prints it."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def moto_argv(host="{host}", port="{port}", *, ca=None, rate=None, burst=None):
    """moto's server through moto_launch.py (TCP_NODELAY, TLS with the test
    CA's certificate when ca is given, per-service token buckets)."""
    argv = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "moto_launch.py")]
    argv += ["-H", host, "-p", port]
    if ca is not None:
        argv += ["--cert", ca.cert, "--key", ca.key]
    if rate:
        argv += ["--rate", str(rate)]
    if burst:
        argv += ["--burst", str(burst)]
    return argv


def _verify_for(url):
    """What boto3 verifies an endpoint's certificate against."""
    return netutil.shared_ca().ca_cert if url.startswith("https:") else None


class MotoService(twin_mod.SubprocessService):
    """moto_server on a free loopback port, signature checking on after
    INITIAL_NO_AUTH_ACTION_COUNT requests; stopped by its PID."""

    def __init__(
        self,
        *,
        no_auth_count=INITIAL_NO_AUTH_ACTION_COUNT,
        log_path=None,
        ready_timeout=30.0,
        tls=True,
        rate=None,
        burst=None,
    ):
        env = dict(os.environ)
        # The server needs no AWS settings of its own; keep the caller's out.
        for k in list(env):
            if k.startswith("AWS_") or k.startswith("MOTO_"):
                del env[k]
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(no_auth_count)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.tls = tls
        super().__init__(
            "moto",
            moto_argv(ca=netutil.shared_ca() if tls else None, rate=rate, burst=burst),
            {},
            child_env=env,
            log_path=log_path,
            ready_timeout=ready_timeout,
        )
        self.no_auth_count = no_auth_count
        self.last_pid = None

    def start(self):
        try:
            super().start()
        finally:
            if self.proc is not None:
                self.last_pid = self.proc.pid

    @property
    def pid(self):
        """The running server's PID (None once stopped; see last_pid)."""
        return None if self.proc is None else self.proc.pid

    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self.tls else "http", self.host, self.port)

    def control(self, path, body=None):
        """A control request to moto_launch.py (stats, reset-counts, throttle)."""
        import http.client
        import ssl

        if self.tls:
            ctx = ssl.create_default_context(cafile=netutil.shared_ca().ca_cert)
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=10, context=ctx)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request("GET" if data is None else "POST", path, body=data, headers={"X-Twin-Control": "1"})
            r = conn.getresponse()
            out = json.loads(r.read() or b"{}")
            if r.status != 200:
                raise RuntimeError("moto control %s: %s" % (path, out))
            return out
        finally:
            conn.close()

    def stats(self):
        """{"connections", "accepted", "passed": {service: n}, "throttled": {...}, "rate", "burst"}"""
        return self.control("/_twin/stats")


def boto_client(
    service, endpoint_url, access_key_id, secret_access_key, session_token=None, *, region=REGION, retries=1
):
    """A boto3 client pinned to endpoint_url with explicit credentials (never
    the caller's environment, files or IMDS); retries=1: a single attempt."""
    import boto3
    from botocore.config import Config

    key = (access_key_id, secret_access_key, session_token, region)
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            # One session per credential set: its model cache makes later clients cheap.
            session = boto3.session.Session(
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                aws_session_token=session_token,
                region_name=region,
            )
            if len(_SESSIONS) > 64:
                _SESSIONS.clear()
            _SESSIONS[key] = session
    cfg = Config(
        retries={"mode": "standard", "total_max_attempts": retries},
        connect_timeout=5,
        read_timeout=30,
        s3={"addressing_style": "path"},
    )
    with _SESSIONS_LOCK:
        return session.client(service, endpoint_url=endpoint_url, config=cfg, verify=_verify_for(endpoint_url))


_SESSIONS = {}
_SESSIONS_LOCK = threading.Lock()


def seed(endpoint_url, *, names=None, region=REGION):
    """Seed a fresh moto_server (started with INITIAL_NO_AUTH_ACTION_COUNT =
    len(BOOTSTRAP_ACTIONS)) and return a dict of everything created.

    Raises RuntimeError when moto does not check signatures afterwards."""
    from botocore.exceptions import ClientError

    n = dict(DEFAULT_NAMES)
    n.update(names or {})
    out = {"endpoint_url": endpoint_url, "region": region, "account_id": ACCOUNT_ID}

    # 1. The unauthenticated bootstrap: exactly BOOTSTRAP_ACTIONS.
    iam0 = boto_client("iam", endpoint_url, *_BOOTSTRAP_KEY, region=region)
    user = iam0.create_user(UserName=n["user_name"])["User"]
    key = iam0.create_access_key(UserName=n["user_name"])["AccessKey"]
    iam0.put_user_policy(UserName=n["user_name"], PolicyName="allow-all", PolicyDocument=ALLOW_ALL)
    ak, sk = key["AccessKeyId"], key["SecretAccessKey"]
    out.update(user_name=n["user_name"], user_arn=user["Arn"], user_access_key_id=ak, user_secret_access_key=sk)

    # 2. Signature checking must now be on: a wrong secret is refused.
    try:
        boto_client("sts", endpoint_url, ak, sk + "x", region=region).get_caller_identity()
    except ClientError as e:
        if e.response["Error"].get("Code") != "SignatureDoesNotMatch":
            raise RuntimeError(
                "moto refused a mis-signed request with %r, not SignatureDoesNotMatch" % e.response["Error"]
            )
    else:
        raise RuntimeError("moto accepted a mis-signed request: signature checking is off")

    clients = {}

    def c(service):
        if service not in clients:
            clients[service] = boto_client(service, endpoint_url, ak, sk, region=region, retries=3)
        return clients[service]

    # 3. The instance role, its profile and session credentials (AssumeRole;
    # moto 5.2.1 accepts AssumeRole credentials with auth on, but not those of
    # GetSessionToken, which are a fixed example key).
    iam = c("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com", "AWS": user["Arn"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(
        RoleName=n["role_name"], AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=43200
    )["Role"]
    iam.put_role_policy(RoleName=n["role_name"], PolicyName="allow-all", PolicyDocument=ALLOW_ALL)
    profile = iam.create_instance_profile(InstanceProfileName=n["instance_profile_name"])["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=n["instance_profile_name"], RoleName=n["role_name"])
    out.update(
        role_name=n["role_name"],
        role_arn=role["Arn"],
        instance_profile_name=n["instance_profile_name"],
        instance_profile_arn=profile["Arn"],
        instance_profile_id=profile["InstanceProfileId"],
    )

    # 4. Network and the instance.
    ec2 = c("ec2")
    vpc = ec2.create_vpc(CidrBlock=n["vpc_cidr"])["Vpc"]
    subnet = ec2.create_subnet(
        VpcId=vpc["VpcId"], CidrBlock=n["subnet_cidr"], AvailabilityZone=n["availability_zone"]
    )["Subnet"]
    ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    sg = ec2.create_security_group(GroupName=n["security_group_name"], Description="wcs node", VpcId=vpc["VpcId"])
    zones = ec2.describe_availability_zones(ZoneNames=[n["availability_zone"]])["AvailabilityZones"]
    images = ec2.describe_images(Filters=[{"Name": "name", "Values": ["ubuntu*"]}])["Images"]
    if not images:
        images = ec2.describe_images()["Images"]
    if not images:
        raise RuntimeError("moto has no AMIs to launch from")
    tags = {
        "Name": n["instance_name"],
        "aws:autoscaling:groupName": n["asg_name"],
        "aws:cloudformation:stack-name": n["cfn_stack"],
        "aws:cloudformation:logical-id": n["cfn_resource"],
    }
    res = ec2.run_instances(
        ImageId=images[0]["ImageId"],
        MinCount=1,
        MaxCount=1,
        InstanceType=n["instance_type"],
        SubnetId=subnet["SubnetId"],
        SecurityGroupIds=[sg["GroupId"]],
        IamInstanceProfile={"Arn": profile["Arn"]},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )
    inst = res["Instances"][0]
    iid = inst["InstanceId"]
    # moto reports "pending" in the RunInstances reply, "running" afterwards.
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    eni = inst["NetworkInterfaces"][0]
    out.update(
        vpc_id=vpc["VpcId"],
        vpc_cidr=n["vpc_cidr"],
        subnet_id=subnet["SubnetId"],
        subnet_cidr=n["subnet_cidr"],
        availability_zone=n["availability_zone"],
        availability_zone_id=zones[0].get("ZoneId", "euw1-az1"),
        security_group_id=sg["GroupId"],
        security_group_name=n["security_group_name"],
        instance_id=iid,
        instance_state=inst["State"]["Name"],
        instance_type=inst["InstanceType"],
        ami_id=inst["ImageId"],
        reservation_id=res["ReservationId"],
        private_ip=inst["PrivateIpAddress"],
        public_ip=inst.get("PublicIpAddress"),
        mac=eni["MacAddress"],
        interface_id=eni["NetworkInterfaceId"],
        launch_time=_utc(inst["LaunchTime"]),
        instance_tags=tags,
    )

    # 5. Load balancing: an ELBv2 target group and a classic ELB.
    tg = c("elbv2").create_target_group(
        Name=n["target_group_name"],
        Protocol="HTTP",
        Port=8080,
        VpcId=vpc["VpcId"],
        TargetType="instance",
        HealthCheckProtocol="HTTP",
        HealthCheckPath="/?action=stat",
        HealthCheckPort="8081",
    )["TargetGroups"][0]
    lb = c("elb").create_load_balancer(
        LoadBalancerName=n["classic_elb_name"],
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 8080}],
        AvailabilityZones=[n["availability_zone"]],
    )
    out.update(
        target_group_arn=tg["TargetGroupArn"],
        target_group_name=n["target_group_name"],
        classic_elb_name=n["classic_elb_name"],
        classic_elb_dns=lb["DNSName"],
    )

    # 6. Configuration sources: SSM, Secrets Manager, S3 (fresh values per run).
    licence = "WCS-TWIN-" + secrets.token_hex(12)
    p = c("ssm").put_parameter(Name=n["ssm_licence_name"], Value=licence, Type="SecureString")
    param = c("ssm").get_parameter(Name=n["ssm_licence_name"], WithDecryption=True)["Parameter"]
    sm = c("secretsmanager")
    secret_doc = {"password": "pw-" + secrets.token_urlsafe(18), "user": "wcs"}
    s_json = sm.create_secret(Name=n["secret_json_id"], SecretString=json.dumps(secret_doc))
    plain = "api-" + secrets.token_hex(16)
    s_plain = sm.create_secret(Name=n["secret_string_id"], SecretString=plain)
    s3 = c("s3")
    s3.create_bucket(Bucket=n["s3_bucket"], CreateBucketConfiguration={"LocationConstraint": region})
    body = (
        "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n" % secrets.token_urlsafe(48)
    ).encode("ascii")
    s3.put_object(Bucket=n["s3_bucket"], Key=n["s3_key"], Body=body)
    out.update(
        ssm_licence_name=n["ssm_licence_name"],
        ssm_licence_value=licence,
        ssm_licence_arn=param["ARN"],
        ssm_licence_version=p["Version"],
        secret_json_id=n["secret_json_id"],
        secret_json_arn=s_json["ARN"],
        secret_json_value=json.dumps(secret_doc),
        secret_user=secret_doc["user"],
        secret_password=secret_doc["password"],
        secret_string_id=n["secret_string_id"],
        secret_string_arn=s_plain["ARN"],
        secret_string_value=plain,
        s3_bucket=n["s3_bucket"],
        s3_key=n["s3_key"],
        s3_body=body.decode("ascii"),
    )

    # 7. Names the endpoint serves (not in moto).
    out.update(
        asg_name=n["asg_name"],
        hook_name=n["hook_name"],
        hook_heartbeat_timeout=n["hook_heartbeat_timeout"],
        hook_default_result=n["hook_default_result"],
        terminate_hook_name=n["terminate_hook_name"],
        terminate_hook_heartbeat_timeout=n["terminate_hook_heartbeat_timeout"],
        terminate_hook_default_result=n["terminate_hook_default_result"],
        cfn_stack=n["cfn_stack"],
        cfn_resource=n["cfn_resource"],
    )

    # 8. Last, so they are fresh: the instance's role credentials.
    out["credentials"] = assume_role(endpoint_url, out, duration_s=n["session_duration_s"])
    return out


def assume_role(endpoint_url, seeded, *, duration_s=6 * 3600, session_name=None):
    """New role credentials from moto, in the IMDS shape:
    {AccessKeyId, SecretAccessKey, Token, Expiration, LastUpdated}."""
    sts = boto_client(
        "sts", endpoint_url, seeded["user_access_key_id"], seeded["user_secret_access_key"], region=seeded["region"]
    )
    cr = sts.assume_role(
        RoleArn=seeded["role_arn"],
        RoleSessionName=session_name or seeded.get("instance_id", "wcs-node"),
        DurationSeconds=duration_s,
    )
    creds = cr["Credentials"]
    return {
        "AccessKeyId": creds["AccessKeyId"],
        "SecretAccessKey": creds["SecretAccessKey"],
        "Token": creds["SessionToken"],
        "Expiration": _utc(creds["Expiration"]),
        "LastUpdated": _utc(datetime.datetime.now(datetime.timezone.utc)),
        "AssumedRoleArn": cr["AssumedRoleUser"]["Arn"],
    }


def imds_metadata(seeded):
    """ImdsTwin metadata fields for the seeded instance."""
    creds = {k: v for k, v in seeded["credentials"].items() if k != "AssumedRoleArn"}
    md = {
        "instance_id": seeded["instance_id"],
        "instance_type": seeded["instance_type"],
        "ami_id": seeded["ami_id"],
        "account_id": seeded["account_id"],
        "region": seeded["region"],
        "availability_zone": seeded["availability_zone"],
        "availability_zone_id": seeded["availability_zone_id"],
        "local_ipv4": seeded["private_ip"],
        "mac": seeded["mac"],
        "interface_id": seeded["interface_id"],
        "subnet_id": seeded["subnet_id"],
        "subnet_cidr": seeded["subnet_cidr"],
        "vpc_id": seeded["vpc_id"],
        "vpc_cidr": seeded["vpc_cidr"],
        "security_group_ids": [seeded["security_group_id"]],
        "security_group_names": [seeded["security_group_name"]],
        "reservation_id": seeded["reservation_id"],
        "pending_time": seeded["launch_time"],
        "role": seeded["role_name"],
        "instance_profile_arn": seeded["instance_profile_arn"],
        "instance_profile_id": seeded["instance_profile_id"],
        "credentials": creds,
        "tags": dict(seeded["instance_tags"]),
    }
    if seeded.get("lifecycle_action_token"):
        # The ASG wants the launching instance InService (aws.md 4.4).
        md["lifecycle_state"] = "InService"
    if seeded.get("public_ip"):
        md["public_ipv4"] = seeded["public_ip"]
        md["public_ip_enabled"] = True
    else:
        md["public_ip_enabled"] = False
    return md


class AwsTwin(twin_mod.Service):
    """moto (seeded) + the Auto Scaling / CloudFormation endpoint, as one twin service.

    imds_service: a twin.ImdsService whose metadata (instance facts and role
      credentials) is set from the seeded instance; None: no wiring.
    names: overrides of DEFAULT_NAMES.
    endpoint_faults: initial AwsEndpoint faults.
    lifecycle_pending: start a pending launch lifecycle action for the
      instance (Pending:Wait), so one CompleteLifecycleAction succeeds.
    """

    name = "aws"

    def __init__(
        self,
        *,
        imds_service=None,
        names=None,
        endpoint_faults=None,
        lifecycle_pending=True,
        moto_log_path=None,
        verbose=False,
        tls=True,
        rate=None,
        burst=None,
    ):
        self.names = dict(DEFAULT_NAMES)
        self.names.update(names or {})
        self.imds_service = imds_service
        self.lifecycle_pending = lifecycle_pending
        self.tls = tls
        self.moto = MotoService(log_path=moto_log_path, tls=tls, rate=rate, burst=burst)
        self.endpoint = aws_endpoint.AwsEndpoint(
            region=REGION,
            account_id=ACCOUNT_ID,
            faults=endpoint_faults,
            verbose=verbose,
            ssl_context=netutil.shared_ca().server_context() if tls else None,
            rate=rate,
            burst=burst,
        )
        self.seeded = None
        self._started = []

    # -- lifecycle ----------------------------------------------------------

    def start(self):
        try:
            self.moto.start()
            self._started.append(self.moto)
            try:
                self.seeded = seed(self.moto.url, names=self.names)
            except (BotoCoreError, ClientError) as e:
                raise RuntimeError("aws twin: seeding moto at %s failed: %s" % (self.moto.url, e)) from e
            self._setup_endpoint()
            self.endpoint.start()
            self._started.append(self.endpoint)
            self.endpoint.info = {"env": self.env_names(), "seeded": self.seeded}
            if self.imds_service is not None:
                self.imds_service.set_base_metadata(**imds_metadata(self.seeded))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        errors = []
        while self._started:
            s = self._started.pop()
            try:
                s.stop()
            except Exception as e:
                errors.append("%s: %s" % (type(s).__name__, e))
        if errors:
            raise RuntimeError("aws twin stop: " + "; ".join(errors))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _setup_endpoint(self):
        s, ep = self.seeded, self.endpoint
        ep.add_credentials(s["user_access_key_id"], s["user_secret_access_key"], principal_arn=s["user_arn"])
        cr = s["credentials"]
        ep.add_credentials(cr["AccessKeyId"], cr["SecretAccessKey"], cr["Token"], principal_arn=cr["AssumedRoleArn"])
        ep.add_group(
            s["asg_name"],
            launch_template={
                "LaunchTemplateId": "lt-0123456789abcdef0",
                "LaunchTemplateName": "wcs-node",
                "Version": "1",
            },
        )
        ep.add_instance(
            s["asg_name"],
            s["instance_id"],
            instance_type=s["instance_type"],
            availability_zone=s["availability_zone"],
            lifecycle_state="Pending",
        )
        ep.add_lifecycle_hook(
            s["asg_name"],
            s["hook_name"],
            transition="autoscaling:EC2_INSTANCE_LAUNCHING",
            heartbeat_timeout=s["hook_heartbeat_timeout"],
            default_result=s["hook_default_result"],
        )
        if s["terminate_hook_name"]:
            ep.add_lifecycle_hook(
                s["asg_name"],
                s["terminate_hook_name"],
                transition="autoscaling:EC2_INSTANCE_TERMINATING",
                heartbeat_timeout=s["terminate_hook_heartbeat_timeout"],
                default_result=s["terminate_hook_default_result"],
            )
        if self.imds_service is not None:
            ep.on_target_state = self._target_state_changed
        if self.lifecycle_pending:
            s["lifecycle_action_token"] = ep.start_lifecycle_action(s["asg_name"], s["instance_id"], s["hook_name"])
        else:
            s["lifecycle_action_token"] = None
        s["cfn_stack_id"] = ep.add_stack(s["cfn_stack"])
        ep.add_signal_resource(s["cfn_stack"], s["cfn_resource"], count=1)
        ep.checkpoint()

    def _target_state_changed(self, instance_id, state):
        """The endpoint moved the instance: the IMDS says where it is going."""
        if instance_id == self.seeded["instance_id"] and self.imds_service is not None:
            self.imds_service.imds.set_metadata(lifecycle_state=state)

    def move(self, to, **kw):
        """endpoint.move() for the seeded instance in the seeded group."""
        return self.endpoint.move(self.seeded["asg_name"], self.seeded["instance_id"], to, **kw)

    # -- access -------------------------------------------------------------

    @property
    def moto_url(self):
        return self.moto.url

    @property
    def endpoint_url(self):
        return self.endpoint.url

    def credentials(self):
        """The role credentials the IMDS serves (a copy)."""
        return copy.deepcopy(self.seeded["credentials"])

    def client(self, service, *, credentials="session", retries=1):
        """A boto3 client for service on the endpoint the agent would use
        (moto or the Auto Scaling / CloudFormation endpoint).

        credentials: "session" (the IMDS role credentials), "user" (the IAM
        user's long-term key) or a (access key id, secret, token) tuple."""
        url = self.endpoint.url if service in ("autoscaling", "cloudformation") else self.moto.url
        if credentials == "session":
            cr = self.seeded["credentials"]
            creds = (cr["AccessKeyId"], cr["SecretAccessKey"], cr["Token"])
        elif credentials == "user":
            creds = (self.seeded["user_access_key_id"], self.seeded["user_secret_access_key"], None)
        else:
            creds = tuple(credentials) + (None,) * (3 - len(credentials))
        return boto_client(service, url, *creds, region=self.seeded["region"], retries=retries)

    def rotate_credentials(self, duration_s=6 * 3600):
        """New role credentials: accepted by moto and the endpoint, served by
        the IMDS from now on (the old ones stay valid, as on EC2)."""
        cr = assume_role(self.moto.url, self.seeded, duration_s=duration_s)
        self.seeded["credentials"] = cr
        self.endpoint.add_credentials(
            cr["AccessKeyId"], cr["SecretAccessKey"], cr["Token"], principal_arn=cr["AssumedRoleArn"]
        )
        if self.imds_service is not None:
            self.imds_service.set_base_metadata(credentials=imds_metadata(self.seeded)["credentials"])
        return copy.deepcopy(cr)

    def reset(self):
        """The endpoint back to its seeded state (faults, ASG, CFN, calls);
        moto's state is kept."""
        self.endpoint.reset()

    def env_names(self):
        """TWIN_* variables naming what was seeded (no secret values)."""
        s = self.seeded
        return {
            "TWIN_MOTO_URL": self.moto.url,
            "TWIN_MOTO_PID": str(self.moto.pid),
            "TWIN_AWS_ENDPOINT_URL": self.endpoint.url if self.endpoint._server is not None else "",
            "TWIN_INSTANCE_ID": s["instance_id"],
            "TWIN_VPC_ID": s["vpc_id"],
            "TWIN_SUBNET_ID": s["subnet_id"],
            "TWIN_ROLE": s["role_name"],
            "TWIN_TARGET_GROUP_ARN": s["target_group_arn"],
            "TWIN_TARGET_GROUP_NAME": s["target_group_name"],
            "TWIN_CLASSIC_ELB": s["classic_elb_name"],
            "TWIN_ASG": s["asg_name"],
            "TWIN_HOOK": s["hook_name"],
            "TWIN_TERMINATE_HOOK": s["terminate_hook_name"] or "",
            "TWIN_CFN_STACK": s["cfn_stack"],
            "TWIN_CFN_RESOURCE": s["cfn_resource"],
            "TWIN_SSM_LICENCE": s["ssm_licence_name"],
            "TWIN_SECRET_ID": s["secret_json_id"],
            "TWIN_SECRET_STRING_ID": s["secret_string_id"],
            "TWIN_S3_BUCKET": s["s3_bucket"],
            "TWIN_S3_KEY": s["s3_key"],
        }

    def env(self):
        out = {}
        for k in MOTO_ENDPOINT_VARS:
            out[k] = self.moto.url
        for k in TWIN_ENDPOINT_VARS:
            out[k] = self.endpoint.url
        out["AWS_ENDPOINT_URL"] = CLOSED_ENDPOINT
        out["AWS_REGION"] = self.seeded["region"]
        if self.tls:
            # The system bundle + the test CA: the agent parses the whole trust store, as on an instance.
            out["AWS_CA_BUNDLE"] = netutil.shared_ca().bundle
        out.update(self.env_names())
        return out
