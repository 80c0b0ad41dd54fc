"""The agent over TLS, as on AWS: the twin's AWS endpoints speak HTTPS with a
test CA, the agent trusts it through AWS_CA_BUNDLE (the system bundle + the
CA); a certificate it does not trust is refused; one connection per
endpoint host serves the whole run (counted by the twin)."""

import os
import re
import unittest

from twin_testlib import TwinTestCase

import netutil  # noqa: E402  (twin_testlib sets sys.path)

ONLY = ("--only", "discover,register,signal")


class TlsCase(TwinTestCase):
    twin_scope = "class"
    use_aws = True
    need_agent = True
    agent_timeout = 40

    def setUp(self):
        super().setUp()
        s = self.seeded = self.aws.seeded
        self.elbv2 = self.aws.client("elbv2", credentials="user")
        tg = s["target_group_arn"]
        for d in self.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]:
            self.elbv2.deregister_targets(TargetGroupArn=tg, Targets=[d["Target"]])
        self.write_config(
            "[register]\ntarget_group = %s\nport = 8080\n"
            "[signal]\nlifecycle_hook = %s\nasg = %s\n" % (tg, s["hook_name"], s["asg_name"])
        )

    def targets(self):
        r = self.elbv2.describe_target_health(TargetGroupArn=self.seeded["target_group_arn"])
        return [d["Target"]["Id"] for d in r["TargetHealthDescriptions"]]

    def test_tls_run_one_connection_per_host(self):
        self.assertTrue(self.twin_env()["AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"].startswith("https://"))
        self.aws.moto.control("/_twin/reset-counts", {})
        imds0 = self.imds.connections_total
        self.imds.clear_requests()
        ep0 = self.aws.endpoint.connections_total
        r = self.run_agent("run", *ONLY, global_args=("-v",))
        self.assertEqual(r.rc, 0, r.stderr)
        moto = self.aws.moto.stats()  # before this test's own boto3 calls
        self.assertEqual(self.targets(), [self.seeded["instance_id"]])
        self.assertEqual(len(self.aws.endpoint.calls("CompleteLifecycleAction")), 1)
        # A first boot asks the IMDS at most 8 things: token, identity document, public
        # address, lifecycle state, role name, user data, the one tag used (the group), credentials.
        paths = [r["path"] for r in self.imds.requests()]
        self.assertLessEqual(len(paths), 8, paths)
        self.assertFalse([p for p in paths if p.rstrip("/").endswith("tags/instance")], paths)
        # One TCP connection per endpoint host for the whole run.
        self.assertEqual(self.imds.connections_total - imds0, 1)
        self.assertEqual(self.aws.endpoint.connections_total - ep0, 1)
        # moto's server keeps connections alive as AWS does (moto_launch.py): the run's
        # requests to moto (ELBv2 and classic ELB share its host) share one connection.
        self.assertGreaterEqual(sum(moto["passed"].values()), 2, moto)
        self.assertEqual(moto["connections"], 1, moto)

    def assert_refused(self, env, needle):
        r = self.run_agent("run", *ONLY, env=env)
        self.assertNotEqual(r.rc, 0, r.stderr)
        self.assertRegex(r.stderr, needle)
        self.assertEqual(self.targets(), [], "registered through an untrusted connection")
        self.assertEqual(self.aws.endpoint.calls("CompleteLifecycleAction"), [])

    def test_untrusted_certificate_refused(self):
        sysb = netutil.system_bundle()
        if sysb is None:
            raise unittest.SkipTest("no system CA bundle")
        # The system bundle without the test CA, named explicitly ...
        self.assert_refused({"AWS_CA_BUNDLE": sysb}, r"(?i)TLS failure|certificate")
        # ... and the default trust store (OpenSSL's hashed folder, looked up lazily).
        self.assert_refused({"AWS_CA_BUNDLE": None}, r"(?i)TLS failure|certificate")

    def test_missing_bundle_named(self):
        missing = os.path.join(self.tmp, "no-such-bundle.pem")
        self.assert_refused({"AWS_CA_BUNDLE": missing}, re.escape(missing))


if __name__ == "__main__":
    unittest.main()
