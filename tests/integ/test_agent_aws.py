"""The real wcs-agent's signed AWS calls against the full twin: IMDS (instance
facts and role credentials), moto_server with signature checking (ELBv2,
classic ELB, SSM, Secrets Manager) and the SigV4-checking Auto Scaling /
CloudFormation endpoint.  Covers the secrets, register and signal steps
(design.md §1, failure mode), `deregister` (§2), the keys of §3.2, secret
references (§3.4) and ready.signalled (§4).

moto starts once per class; the endpoint and the IMDS go back to their seeded
state before each test, and the instance is taken out of the target group and
the classic ELB (moto's registrations survive a test otherwise).
"""

import json
import os
import re
import secrets
import time
import unittest

from twin_testlib import TwinTestCase

ONLY = ("--only", "discover,secrets,register,signal")
SUMMARY_OK_RE = re.compile(r"^wcs-agent: finished in \d+\.\d\d s \(10 steps: \d+ changed, \d+ ok, \d+ skipped\)$")


class AgentAwsCase(TwinTestCase):
    twin_scope = "class"
    use_aws = True
    need_agent = True
    agent_timeout = 40

    def setUp(self):
        super().setUp()
        self.seeded = self.aws.seeded
        self.iid = self.seeded["instance_id"]
        self.elbv2 = self.aws.client("elbv2", credentials="user")
        self.elb = self.aws.client("elb", credentials="user")
        self.remove_registrations()

    # -- moto -------------------------------------------------------------

    def remove_registrations(self):
        """The instance out of the seeded target group (any port) and classic ELB."""
        tg = self.seeded["target_group_arn"]
        for d in self.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]:
            self.elbv2.deregister_targets(TargetGroupArn=tg, Targets=[d["Target"]])
        name = self.seeded["classic_elb_name"]
        if self.elb_instances():
            self.elb.deregister_instances_from_load_balancer(
                LoadBalancerName=name, Instances=[{"InstanceId": self.iid}]
            )
        self.assertEqual(self.tg_targets(), [])
        self.assertEqual(self.elb_instances(), [])

    def tg_targets(self):
        """[(id, port, state)] of the seeded target group (per moto)."""
        r = self.elbv2.describe_target_health(TargetGroupArn=self.seeded["target_group_arn"])
        return [
            (d["Target"]["Id"], d["Target"].get("Port"), d["TargetHealth"]["State"])
            for d in r["TargetHealthDescriptions"]
        ]

    def target_state(self, port=8080):
        """The state moto gives this instance on port when asked for it by name."""
        r = self.elbv2.describe_target_health(
            TargetGroupArn=self.seeded["target_group_arn"], Targets=[{"Id": self.iid, "Port": port}]
        )
        return [d["TargetHealth"]["State"] for d in r["TargetHealthDescriptions"]]

    def elb_instances(self):
        """The classic ELB's instances per moto, which lists an instance once
        per RegisterInstancesWithLoadBalancer (AWS keeps a set)."""
        r = self.elb.describe_load_balancers(LoadBalancerNames=[self.seeded["classic_elb_name"]])
        return [i["InstanceId"] for i in r["LoadBalancerDescriptions"][0]["Instances"]]

    # -- config and runs --------------------------------------------------

    def config(self, *, asg=True, on_failure=None, target_group=None, port=8080, signal=True, secrets_=True):
        s = self.seeded
        lines = []
        if secrets_:
            lines += [
                "[licence]",
                "key = ssm:%s" % s["ssm_licence_name"],
                "[tls]",
                "keystore_password = secretsmanager:%s#password" % s["secret_json_id"],
            ]
        lines += [
            "[register]",
            "target_group = %s" % (target_group or s["target_group_arn"]),
            "port = %d" % port,
            "classic_elb = %s" % s["classic_elb_name"],
        ]
        if signal:
            lines += [
                "[signal]",
                "lifecycle_hook = %s" % s["hook_name"],
                "cfn_stack = %s" % s["cfn_stack"],
                "cfn_resource = %s" % s["cfn_resource"],
            ]
            if asg:
                lines.append("asg = %s" % s["asg_name"])
            if on_failure is not None:
                lines.append("on_failure = %s" % on_failure)
        return "\n".join(lines) + "\n"

    @property
    def state_path(self):
        return os.path.join(self.state_dir, "state.json")

    def load_state(self):
        with open(self.state_path, encoding="utf-8") as f:
            return json.load(f)

    def state_text(self):
        with open(self.state_path, encoding="utf-8") as f:
            return f.read()

    def steps(self):
        return {s["name"]: s for s in self.load_state()["steps"]}

    def run_agent(self, *args, **kw):
        r = super().run_agent(*args, **kw)
        # A sanitizer build's report would otherwise pass as an ordinary exit 1.
        self.assertNotRegex(r.stderr, r"ERROR: (Address|Leak)Sanitizer|runtime error:", r.stderr)
        return r

    def run_ok(self, *args, **kw):
        r = self.run_agent(*args, **kw)
        self.assertEqual(r.rc, 0, "%s\nstderr:\n%s" % (args, r.stderr))
        return r

    def calls(self, action=None):
        return self.aws.endpoint.calls(action)

    def secret_values(self):
        """Every secret value the twin gave out: none may be printed or stored."""
        s = self.seeded
        cr = self.aws.credentials()
        return {
            "ssm licence": s["ssm_licence_value"],
            "secret password": s["secret_password"],
            "secret JSON": s["secret_json_value"],
            "role secret key": cr["SecretAccessKey"],
            "role session token": cr["Token"],
            "user secret key": s["user_secret_access_key"],
        }

    def assert_no_secret(self, texts, extra=None):
        values = dict(self.secret_values())
        values.update(extra or {})
        for what, value in values.items():
            self.assertGreaterEqual(len(value), 12, "%s is too short to look for" % what)
        for where, text in texts.items():
            for what, value in values.items():
                self.assertNotIn(value, text, "%s printed in %s" % (what, where))
            self.assertNotRegex(text, r"(?i)authorization:|x-amz-security-token:", where)

    def error_lines(self, stderr, needle):
        return [line for line in stderr.splitlines() if needle in line]

    def assert_one_line_with_request_id(self, stderr, code, call):
        """The diagnosis: one line of the failed call names the AWS code and
        carries the request id the endpoint gave that call (the step's
        progress line and the summary repeat it; nothing else mentions it)."""
        lines = self.error_lines(stderr, code)
        diag = [x for x in lines if ": " + code + ": " in x and call["request_id"] in x]
        self.assertGreaterEqual(len(diag), 1, "want a line naming %s:\n%s" % (code, stderr))
        for x in lines:
            self.assertTrue(
                call["request_id"] in x
                or "failed at" in x
                or "failed (" in x
                or "signalling FAILURE" in x,
                "a line names %s without the request id: %r" % (code, x),
            )
        return diag[0]


class RunTest(AgentAwsCase):
    """The happy path and its second run."""

    def check_first_run(self, r):
        s = self.seeded
        self.assertEqual(r.stdout, "")
        lines = r.stderr.splitlines()
        self.assertRegex(lines[-1], SUMMARY_OK_RE)
        # moto: registered on port 8080 in the target group and in the classic ELB.
        self.assertEqual([(t[0], t[1]) for t in self.tg_targets()], [(self.iid, 8080)])
        self.assertEqual(self.elb_instances(), [self.iid])
        # The endpoint: one authenticated CompleteLifecycleAction CONTINUE, one SignalResource SUCCESS.
        done = self.calls("CompleteLifecycleAction")
        self.assertEqual(len(done), 1, done)
        c = done[0]
        self.assertTrue(c["auth_ok"], c)
        self.assertTrue(c["session_token_sent"], "signed with the IMDS role credentials")
        self.assertEqual(c["access_key_id"], self.aws.credentials()["AccessKeyId"])
        self.assertEqual(c["status"], 200, c)
        p = c["params"]
        self.assertEqual(p["LifecycleActionResult"], "CONTINUE")
        self.assertEqual(p["LifecycleHookName"], s["hook_name"])
        self.assertEqual(p["AutoScalingGroupName"], s["asg_name"])
        self.assertEqual(p["InstanceId"], self.iid)
        self.assertEqual(self.aws.endpoint.instance_state(self.iid), "InService")
        sig = self.calls("SignalResource")
        self.assertEqual(len(sig), 1, sig)
        self.assertTrue(sig[0]["auth_ok"], sig[0])
        self.assertEqual(sig[0]["status"], 200, sig[0])
        self.assertEqual(sig[0]["params"]["Status"], "SUCCESS")
        self.assertEqual(sig[0]["params"]["UniqueId"], self.iid)
        self.assertEqual(sig[0]["params"]["StackName"], s["cfn_stack"])
        self.assertEqual(sig[0]["params"]["LogicalResourceId"], s["cfn_resource"])
        self.assertEqual(self.aws.endpoint.stack_status(s["cfn_stack"]), "CREATE_COMPLETE")
        # state.json
        doc = self.load_state()
        self.assertEqual(doc["instance_id"], self.iid)
        self.assertEqual(doc["run"]["result"], "ok")
        steps = self.steps()
        self.assertEqual(steps["discover"]["result"], "ok")
        self.assertEqual(steps["secrets"]["result"], "ok", steps["secrets"])
        self.assertIn("2 references", steps["secrets"]["detail"])
        self.assertEqual(steps["register"]["result"], "ok", steps["register"])
        self.assertIn("8080", steps["register"]["detail"])
        self.assertEqual(steps["signal"]["result"], "changed", steps["signal"])
        for name in ("update", "configure", "licence", "tls", "service", "ready"):
            self.assertEqual(steps[name]["result"], "skipped", name)
        self.assertIn("lifecycle:in-service", doc["ready"]["signalled"])
        self.assertIn("cloudformation", doc["ready"]["signalled"])
        self.assert_no_secret({"stdout": r.stdout, "stderr": r.stderr, "state.json": self.state_text()})

    def test_run_asg_given_then_second_run(self):
        self.write_config(self.config(asg=True))
        r = self.run_ok("run", *ONLY)
        self.check_first_run(r)
        self.assertEqual(self.calls("DescribeAutoScalingInstances"), [], "signal.asg given: no lookup")

        # Second run: register again (idempotent), no second hook or CFN signal.
        self.aws.endpoint.clear_calls()
        r2 = self.run_ok("run", *ONLY)
        self.assertEqual(self.calls(), [], "the hook and CloudFormation are signalled once per instance")
        self.assertEqual([(t[0], t[1]) for t in self.tg_targets()], [(self.iid, 8080)])
        self.assertEqual(set(self.elb_instances()), {self.iid})
        steps = self.steps()
        self.assertEqual(steps["register"]["result"], "ok", steps["register"])
        self.assertEqual(steps["signal"]["result"], "skipped", steps["signal"])
        self.assertIn("already signalled", steps["signal"]["detail"])
        doc = self.load_state()
        self.assertIn("lifecycle:in-service", doc["ready"]["signalled"])
        self.assertIn("cloudformation", doc["ready"]["signalled"])
        self.assert_no_secret({"stderr": r2.stderr, "state.json": self.state_text()})

        # Third run after the registrations were removed behind its back: register really calls AWS.
        self.remove_registrations()
        self.run_ok("run", *ONLY)
        self.assertEqual([(t[0], t[1]) for t in self.tg_targets()], [(self.iid, 8080)])
        self.assertEqual(self.elb_instances(), [self.iid])
        self.assertEqual(self.calls(), [])

    def test_asg_from_instance_tag(self):
        self.assertEqual(self.imds.metadata.get("tags")["aws:autoscaling:groupName"], self.seeded["asg_name"])
        self.write_config(self.config(asg=False))
        r = self.run_ok("run", *ONLY)
        self.check_first_run(r)
        self.assertEqual(self.calls("DescribeAutoScalingInstances"), [], "the tag names the group")

    def test_asg_from_describe_auto_scaling_instances(self):
        self.imds.set_metadata(tags_enabled=False)
        self.write_config(self.config(asg=False))
        r = self.run_ok("run", *ONLY)
        self.check_first_run(r)
        looks = self.calls("DescribeAutoScalingInstances")
        self.assertEqual(len(looks), 1, looks)
        self.assertTrue(looks[0]["auth_ok"])
        self.assertEqual(looks[0]["params"].get("InstanceIds.member.1"), self.iid)
        self.assertLess(looks[0]["seq"], self.calls("CompleteLifecycleAction")[0]["seq"])

    def test_no_secret_in_verbose_or_json_output(self):
        self.write_config(self.config())
        r = self.run_ok("run", *ONLY, global_args=("-v", "-v"))
        # -v -v really is verbose (the HTTP calls are logged) and the secrets were fetched.
        self.assertIn(self.seeded["ssm_licence_name"], r.stderr)
        self.assertIn("http: POST", r.stderr)
        self.assertEqual(self.steps()["secrets"]["result"], "ok")
        texts = {"stdout": r.stdout, "stderr -v -v": r.stderr, "state.json": self.state_text()}
        self.assert_no_secret(texts)
        self.aws.reset()
        r = self.run_ok("run", *ONLY, "--force", global_args=("--log-format", "json", "-v", "-v"))
        n = 0
        for line in r.stderr.splitlines():
            doc = json.loads(line)
            self.assertIn("msg", doc)
            n += 1
        self.assertGreater(n, 10)
        self.assertEqual(len(self.calls("CompleteLifecycleAction")), 1, "--force signals again")
        self.assert_no_secret({"stdout json": r.stdout, "stderr json": r.stderr, "state.json": self.state_text()})

    def test_missing_ssm_parameter_fails_secrets(self):
        self.write_config(self.config().replace(self.seeded["ssm_licence_name"], "/wcs/no-such-licence"))
        r = self.run_agent("run", *ONLY)
        self.assertEqual(r.rc, 1, r.stderr)
        self.assertIn("ParameterNotFound", r.stderr)
        self.assertIn("/wcs/no-such-licence", r.stderr)
        self.assertIn("failed at secrets:", r.stderr.splitlines()[-1])
        self.assertEqual(self.tg_targets(), [], "nothing registered after a failed secrets step")
        # Failure mode: the hook hears ABANDON and CloudFormation FAILURE.
        self.assertEqual(
            [c["params"]["LifecycleActionResult"] for c in self.calls("CompleteLifecycleAction")], ["ABANDON"]
        )
        self.assertEqual([c["params"]["Status"] for c in self.calls("SignalResource")], ["FAILURE"])


class SigningTest(AgentAwsCase):
    """Credentials from the environment: the right secret works, a wrong one is refused."""

    def creds_env(self, secret):
        return {
            "AWS_ACCESS_KEY_ID": self.seeded["user_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": secret,
        }

    def test_env_credentials_with_the_right_secret(self):
        self.write_config(self.config(secrets_=False))
        r = self.run_ok("run", *ONLY, env=self.creds_env(self.seeded["user_secret_access_key"]))
        self.assertEqual([(t[0], t[1]) for t in self.tg_targets()], [(self.iid, 8080)])
        done = self.calls("CompleteLifecycleAction")
        self.assertEqual(len(done), 1)
        self.assertEqual(done[0]["access_key_id"], self.seeded["user_access_key_id"])
        self.assertFalse(done[0]["session_token_sent"])
        self.assert_no_secret({"stderr": r.stderr})

    def test_mis_signed_requests_are_refused(self):
        wrong = self.seeded["user_secret_access_key"][:-4] + "WXYZ"
        self.assertNotEqual(wrong, self.seeded["user_secret_access_key"])
        self.write_config(self.config(secrets_=False))
        r = self.run_agent("run", *ONLY, env=self.creds_env(wrong))
        self.assertEqual(r.rc, 1, r.stderr)
        lines = r.stderr.splitlines()
        self.assertTrue(lines[-1].startswith("wcs-agent: failed at register: "), lines[-1])
        # moto refused RegisterTargets: one line names the code and a request id.
        moto_lines = [
            line for line in lines if "SignatureDoesNotMatch" in line and "RegisterTargets" in line
        ]
        self.assertGreaterEqual(len(moto_lines), 1, r.stderr)
        self.assertRegex(moto_lines[0], r"request id [A-Za-z0-9-]{8,}")
        self.assertEqual(self.tg_targets(), [])
        self.assertEqual(self.elb_instances(), [])
        # The endpoint refused the failure-mode ABANDON the same way; the
        # agent's line carries that call's request id.
        done = self.calls("CompleteLifecycleAction")
        self.assertEqual(len(done), 1, done)
        self.assertFalse(done[0]["auth_ok"])
        self.assertEqual(done[0]["auth_error"], "SignatureDoesNotMatch")
        self.assertEqual(done[0]["params"]["LifecycleActionResult"], "ABANDON")
        line = [x for x in lines if done[0]["request_id"] in x]
        self.assertGreaterEqual(len(line), 1, r.stderr)
        self.assertIn("SignatureDoesNotMatch", line[0])
        self.assertIsNotNone(self.aws.endpoint.lifecycle_action(self.seeded["asg_name"], self.iid))
        self.assertEqual(self.aws.endpoint.instance_state(self.iid), "Pending:Wait")
        self.assertNotIn("lifecycle:in-service", self.load_state()["ready"]["signalled"])
        self.assert_no_secret({"stderr": r.stderr, "state.json": self.state_text()}, {"wrong secret": wrong})

    def test_clock_skew_is_reported(self):
        self.aws.endpoint.set_faults(clock_skew_s=3600)
        self.write_config(self.config(secrets_=False))
        r = self.run_agent("run", "--only", "discover,signal")
        self.assertNotEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.rc, 1, r.stderr)
        skew = self.error_lines(r.stderr, "clock skew")
        self.assertTrue(skew, r.stderr)
        self.assertRegex(skew[0], r"\b3[56]\d\d s behind\b")
        self.assertTrue(r.stderr.splitlines()[-1].startswith("wcs-agent: failed at signal: "), r.stderr)
        done = self.calls("CompleteLifecycleAction")
        self.assertEqual(len(done), 1, "a skewed clock is not retried: %r" % done)
        self.assertEqual(done[0]["auth_error"], "SignatureDoesNotMatch")
        self.assertEqual(self.aws.endpoint.instance_state(self.iid), "Pending:Wait")


class FailureTest(AgentAwsCase):
    """Throttling, AccessDenied and the failure mode of signal."""

    def test_throttling_burst_is_retried(self):
        self.aws.endpoint.throttle(2, actions=["CompleteLifecycleAction"])
        self.write_config(self.config(secrets_=False))
        t0 = time.monotonic()
        r = self.run_ok("run", "--only", "discover,signal")
        self.assertLess(time.monotonic() - t0, 30)
        done = self.calls("CompleteLifecycleAction")
        self.assertEqual([c["error_code"] for c in done], ["Throttling", "Throttling", None], done)
        self.assertEqual(done[-1]["status"], 200)
        self.assertTrue(all(c["auth_ok"] for c in done))
        self.assertEqual(self.aws.endpoint.instance_state(self.iid), "InService")
        self.assertEqual(self.steps()["signal"]["result"], "changed")
        self.assertNotIn("Throttling", r.stderr.splitlines()[-1])

    def test_access_denied_on_the_hook(self):
        self.aws.endpoint.deny("CompleteLifecycleAction")
        self.write_config(self.config(secrets_=False))
        r = self.run_agent("run", "--only", "discover,signal")
        self.assertEqual(r.rc, 1, r.stderr)
        done = self.calls("CompleteLifecycleAction")
        self.assertEqual(len(done), 1, "AccessDenied is not retried: %r" % done)
        self.assertEqual(done[0]["error_code"], "AccessDenied")
        self.assertTrue(done[0]["auth_ok"])
        self.assert_one_line_with_request_id(r.stderr, "AccessDenied", done[0])
        self.assertTrue(r.stderr.splitlines()[-1].startswith("wcs-agent: failed at signal: "), r.stderr)
        self.assertEqual(self.steps()["signal"]["result"], "failed")
        self.assertNotIn("lifecycle:in-service", self.load_state()["ready"]["signalled"])
        self.assertEqual(self.aws.endpoint.instance_state(self.iid), "Pending:Wait")

    def register_failure(self, on_failure):
        bad = self.seeded["target_group_arn"].replace(self.seeded["target_group_name"], "no-such-tg")
        self.assertNotEqual(bad, self.seeded["target_group_arn"])
        self.write_config(self.config(on_failure=on_failure, target_group=bad))
        r = self.run_agent("run", *ONLY)
        self.assertEqual(r.rc, 1, r.stderr)
        last = r.stderr.splitlines()[-1]
        self.assertTrue(last.startswith("wcs-agent: failed at register: "), last)
        self.assertIn("TargetGroupNotFound", r.stderr)
        self.assertIn("no-such-tg", last)
        steps = self.steps()
        self.assertEqual(steps["secrets"]["result"], "ok")
        self.assertEqual(steps["register"]["result"], "failed")
        self.assertNotEqual(steps["signal"]["result"], "failed", steps["signal"])
        self.assertEqual(self.load_state()["run"]["result"], "failed")
        self.assertEqual(self.load_state()["run"]["exit_code"], 1)
        done = self.calls("CompleteLifecycleAction")
        self.assertEqual(len(done), 1, done)
        self.assertTrue(done[0]["auth_ok"])
        self.assertEqual(done[0]["status"], 200, done[0])
        sig = self.calls("SignalResource")
        self.assertEqual(len(sig), 1, sig)
        self.assertTrue(sig[0]["auth_ok"])
        self.assertEqual(sig[0]["params"]["Status"], "FAILURE")
        self.assertEqual(sig[0]["params"]["UniqueId"], self.iid)
        self.assertNotIn("Reason", sig[0]["params"], "SignalResource has no reason field")
        # The reason is logged locally, on the line that announces the signal.
        announce = [x for x in r.stderr.splitlines() if "signalling FAILURE" in x]
        self.assertEqual(len(announce), 1, r.stderr)
        self.assertIn("register", announce[0])
        self.assertIn("no-such-tg", announce[0])
        self.assertEqual(self.aws.endpoint.stack_status(self.seeded["cfn_stack"]), "ROLLBACK_COMPLETE")
        self.assert_no_secret({"stderr": r.stderr, "stdout": r.stdout, "state.json": self.state_text()})
        return done[0]["params"]["LifecycleActionResult"]

    def test_register_failure_abandons_the_hook(self):
        self.assertEqual(self.register_failure(None), "ABANDON")
        self.assertEqual(self.aws.endpoint.instance_state(self.iid), "Terminating")

    def test_register_failure_with_on_failure_continue(self):
        self.assertEqual(self.register_failure("continue"), "CONTINUE")
        self.assertEqual(self.aws.endpoint.instance_state(self.iid), "InService")


class SecretRefTest(AgentAwsCase):
    """file:, env: and literal values (design.md §3.3, §3.4)."""

    def secrets_run(self, licence, env=None):
        self.write_config("[licence]\nkey = %s\n" % licence)
        return self.run_agent("run", "--only", "discover,secrets", env=env, global_args=("-v", "-v"))

    def test_file_secret(self):
        value = "LIC-FILE-" + secrets.token_hex(10)
        path = os.path.join(self.tmp, "licence.txt")
        with open(path, "w", encoding="ascii") as f:
            f.write(value)
        os.chmod(path, 0o600)
        r = self.secrets_run("file:" + path)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(self.steps()["secrets"]["result"], "ok")
        self.assert_no_secret({"stderr": r.stderr, "state.json": self.state_text()}, {"file licence": value})
        for mode in (0o666, 0o620, 0o602):
            os.chmod(path, mode)
            r = self.secrets_run("file:" + path)
            self.assertEqual(r.rc, 1, "mode %o: %s" % (mode, r.stderr))
            lines = self.error_lines(r.stderr, path)
            self.assertTrue(lines, "mode %o: no line names %s:\n%s" % (mode, path, r.stderr))
            self.assertEqual(self.steps()["secrets"]["result"], "failed")
            self.assert_no_secret({"stderr": r.stderr, "state.json": self.state_text()}, {"file licence": value})

    def test_env_secret(self):
        value = "LIC-ENV-" + secrets.token_hex(10)
        r = self.secrets_run("env:WCS_TEST_LICENCE", env={"WCS_TEST_LICENCE": value})
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(self.steps()["secrets"]["result"], "ok")
        self.assert_no_secret({"stderr": r.stderr, "state.json": self.state_text()}, {"env licence": value})
        r = self.secrets_run("env:WCS_TEST_LICENCE")
        self.assertEqual(r.rc, 1, r.stderr)
        self.assertIn("WCS_TEST_LICENCE", r.stderr.splitlines()[-1])

    def test_literal_licence_from_user_data_is_accepted_with_a_warning(self):
        value = "LIC-LIT-" + secrets.token_hex(10)
        # Given in the config file: no warning.
        r = self.secrets_run(value)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual([x for x in r.stderr.splitlines() if "licence.key" in x and "user data" in x], [])
        self.assert_no_secret({"stderr": r.stderr, "state.json": self.state_text()}, {"literal licence": value})
        # Given in a user-data overlay: accepted, with a warning naming the key.
        self.write_config("")
        self.imds.set_metadata(user_data=("#wcs-agent\n[licence]\nkey = %s\n" % value).encode("ascii"))
        r = self.run_agent("run", "--only", "discover,secrets", global_args=("-v", "-v"))
        self.assertEqual(r.rc, 0, r.stderr)
        warn = [x for x in r.stderr.splitlines() if "licence.key" in x and "user data" in x]
        self.assertEqual(len(warn), 1, r.stderr)
        self.assertIn("literal secret", warn[0])
        self.assertEqual(self.steps()["discover"]["result"], "ok")
        self.assert_no_secret(
            {"stdout": r.stdout, "stderr": r.stderr, "state.json": self.state_text()}, {"literal licence": value}
        )


class DeregisterTest(AgentAwsCase):
    def register(self, port=8080):
        self.write_config(self.config(signal=False, secrets_=False, port=port))
        self.run_ok("run", "--only", "discover,register")
        self.assertEqual([(t[0], t[1]) for t in self.tg_targets()], [(self.iid, port)])
        self.assertEqual(self.elb_instances(), [self.iid])

    def assert_gone(self, port=8080):
        self.assertNotIn(self.iid, [t[0] for t in self.tg_targets() if t[2] != "unused"])
        self.assertIn(self.target_state(port), (["unused"], []))
        self.assertEqual(self.elb_instances(), [])

    def test_deregister(self):
        self.register()
        r = self.run_ok("deregister")
        self.assertEqual(r.stdout, "")
        self.assert_gone()
        self.assertIn(self.seeded["target_group_arn"], r.stderr)
        self.assertIn(self.seeded["classic_elb_name"], r.stderr)
        self.assertEqual(self.calls(), [], "deregister signals nothing")

    def test_deregister_twice_succeeds_with_not_registered(self):
        self.register()
        self.run_ok("deregister")
        self.assert_gone()
        r = self.run_ok("deregister")
        self.assertIn("%s not registered with %s" % (self.iid, self.seeded["target_group_arn"]), r.stderr)
        self.assertIn("not registered with classic ELB %s" % self.seeded["classic_elb_name"], r.stderr)
        self.assertNotIn("removed from", r.stderr)
        self.assert_gone()

    def test_status_after_deregister_says_deregistered(self):
        self.register()
        self.assertNotIn("deregistered", self.run_agent("status").stdout)
        self.run_ok("deregister")
        doc = self.load_state()
        self.assertRegex(doc.get("deregistered", ""), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        r = self.run_agent("status")
        self.assertRegex(r.stdout, r"(?m)^deregistered: since \S+Z")
        # A run that registers again clears it.
        self.run_ok("run", "--only", "discover,register")
        self.assertNotIn("deregistered", self.load_state())
        self.assertNotIn("deregistered", self.run_agent("status").stdout)

    def test_register_port_is_sent(self):
        """A port other than the target group's own (8080): RegisterTargets and
        DeregisterTargets carry register.port."""
        self.register(port=9090)
        self.assertEqual(self.target_state(9090), ["healthy"])
        r = self.run_ok("deregister")
        self.assertIn("port 9090", r.stderr)
        self.assert_gone(9090)

    def test_deregister_wait(self):
        self.register()
        t0 = time.monotonic()
        r = self.run_ok("deregister", "--wait", "--timeout", "30")
        self.assertLess(time.monotonic() - t0, 25)
        self.assertIn("unused", r.stderr)
        self.assert_gone()

    def test_on_stop_respects_deregister_on_stop(self):
        s = self.seeded
        self.write_config(
            "[register]\ntarget_group = %s\nport = 8080\nclassic_elb = %s\nderegister_on_stop = false\n"
            % (s["target_group_arn"], s["classic_elb_name"])
        )
        self.run_ok("run", "--only", "discover,register")
        self.assertEqual([(t[0], t[1]) for t in self.tg_targets()], [(self.iid, 8080)])
        r = self.run_ok("deregister", "--on-stop")
        self.assertIn("deregister_on_stop", r.stderr)
        self.assertEqual([(t[0], t[1]) for t in self.tg_targets()], [(self.iid, 8080)], "left registered")
        self.assertEqual(self.elb_instances(), [self.iid])
        # The default (true): --on-stop deregisters.
        self.write_config(
            "[register]\ntarget_group = %s\nport = 8080\nclassic_elb = %s\n"
            % (s["target_group_arn"], s["classic_elb_name"])
        )
        self.run_ok("deregister", "--on-stop")
        self.assert_gone()


if __name__ == "__main__":
    unittest.main()
