"""watch's reconcile (design.md §8.1: each watch.reconcile_interval, re-resolve
the secret references and apply a changed certificate or licence by the
drain-safe restart of §8.3), against the twin: moto's Secrets Manager holds
the TLS certificate and key, the fake WCS carries calls on its stats page.

- a rotated certificate on a node with connections: after the interval the
  node drains (CDN route-away, deregistered), WCS restarts once the calls
  end, the node registers again and is undrained; status shows the reconcile;
- unchanged secrets: reconciles run, nothing restarts, nothing drains;
- a secret that cannot be read: the reconcile fails with the innermost cause,
  is recorded and tried again, and watch goes on;
- SIGTERM while the reconcile's run drains: the run is stopped, watch drains
  within drain.stop_timeout and exits 0;
- a scale-in while the reconcile's run drains: the run is stopped, watch's
  scale-in drain completes the terminate hook;
- a node taken out by `wcs-agent deregister`: the reconcile waits (its
  register step would undo that);
- watch.reconcile_interval = 0: no reconcile ever runs.

watch polls every 200 ms (WCS_AGENT_TEST_INTERVAL_MS); the reconcile interval
is shortened with WCS_AGENT_TEST_RECONCILE_MS (both test-only).
"""

import json
import os
import signal
import subprocess
import time
import unittest

from twin_testlib import TwinTestCase


def make_cert(folder, name):
    """A self-signed P-256 certificate and key as PEM text: (cert, key)."""
    cert, key = os.path.join(folder, name + ".crt"), os.path.join(folder, name + ".key")
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=%s.reconcile.test" % name],
        capture_output=True, timeout=60,
    )
    if r.returncode != 0:
        raise AssertionError("openssl: %s" % r.stderr.decode(errors="replace"))
    with open(cert, encoding="ascii") as c, open(key, encoding="ascii") as k:
        return c.read(), k.read()


class ReconcileCase(TwinTestCase):
    twin_scope = "class"
    use_aws = True
    aws_kwargs = {"lifecycle_pending": False}
    fake_wcs = True
    need_agent = True
    agent_timeout = 90

    def setUp(self):
        super().setUp()
        s = self.s = self.aws.seeded
        self.iid = s["instance_id"]
        self.elbv2 = self.aws.client("elbv2", credentials="user")
        self.sm = self.aws.client("secretsmanager", credentials="user")
        for d in self.elbv2.describe_target_health(TargetGroupArn=s["target_group_arn"])["TargetHealthDescriptions"]:
            self.elbv2.deregister_targets(TargetGroupArn=s["target_group_arn"], Targets=[d["Target"]])
        self.imds.set_metadata(lifecycle_state="InService")
        # One secret per test (moto lives as long as the class).
        self.secret_id = "wcs/reconcile/%s" % self._testMethodName
        self.cert_a = make_cert(self.tmp, "a")
        self.cert_b = make_cert(self.tmp, "b")
        self.sm.create_secret(Name=self.secret_id, SecretString=self.tls_doc(self.cert_a))
        self.watch_err = ""

    # -- helpers -------------------------------------------------------------

    @staticmethod
    def tls_doc(pair):
        return json.dumps({"certificate": pair[0], "private_key": pair[1]})

    def rotate(self, pair):
        self.sm.put_secret_value(SecretId=self.secret_id, SecretString=self.tls_doc(pair))

    def config(self, extra=""):
        return (
            "[imds]\ntimeout_ms = 3000\n"
            "[register]\ntarget_group = %s\nport = 8080\n"
            "[tls]\ncertificate = secretsmanager:%s#certificate\n"
            "private_key = secretsmanager:%s#private_key\nkeystore = %s\n"
            "[cdn]\nrole = origin\n"
            "[watch]\ninterval = 1\n"
            "[drain]\ntimeout = 60\n%s"
            % (self.s["target_group_arn"], self.secret_id, self.secret_id, self.wcs.keystore, extra))

    def state(self):
        try:
            with open(os.path.join(self.state_dir, "state.json"), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def steps(self):
        return {s["name"]: s for s in self.state()["steps"]}

    def registered(self):
        r = self.elbv2.describe_target_health(TargetGroupArn=self.s["target_group_arn"])
        return [d["Target"]["Id"] for d in r["TargetHealthDescriptions"]
                if d["TargetHealth"]["State"] not in ("draining", "unused")]

    def boot(self, extra=""):
        """The boot run: in service, registered, carrying 7 calls."""
        self.write_config(self.config(extra))
        r = self.run_agent("run")
        self.assertEqual(r.rc, 0, r.stderr)
        doc = self.state()
        self.assertEqual(doc["phase"], "in-service")
        self.assertNotIn("reconcile", doc)
        self.assertEqual(self.registered(), [self.iid])
        self.stats.set_field("connections", 7)
        self.stats.set_field("connections_websocket", 5)
        self.restarts = self.wcs_service.restart_count()
        self.boot_run_id = doc["run"]["id"]
        self.boot_cert = doc["applied"]["certificate_sha256"]

    def start_watch(self, reconcile_ms):
        env = {"WCS_AGENT_TEST_INTERVAL_MS": "200", "WCS_AGENT_TEST_RECONCILE_MS": str(reconcile_ms)}
        p = self.start_agent("watch", env=env)
        self.wait_for("the first poll", lambda: len(self.stats.requests()) > 0, p, 20)
        return p

    def stop_watch(self, p, timeout=60, calls_end=True):
        """SIGTERM: watch drains (within drain.stop_timeout) and exits; calls_end:
        the calls end first, so that drain is quick."""
        if calls_end:
            self.stats.set_field("connections", 0)
            self.stats.set_field("connections_websocket", 0)
        os.kill(p.pid, signal.SIGTERM)
        out, err = p.communicate(timeout=timeout)
        self.watch_err = err
        self.assertNotRegex(err, r"ERROR: (Address|Leak)Sanitizer|runtime error:", err)
        return p.returncode, err

    def wait_for(self, what, cond, p, timeout=45):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = cond()
            if v:
                return v
            if p.poll() is not None:
                out, err = p.communicate()
                self.fail("watch ended (rc %s) before %s:\n%s" % (p.returncode, what, err))
            time.sleep(0.1)
        os.kill(p.pid, signal.SIGKILL)
        err = p.communicate()[1]
        self.fail("no %s within %d s; state %s\n%s" % (what, timeout, json.dumps(self.state().get("reconcile")), err))

    def reconcile(self):
        return self.state().get("reconcile")

    def result_tag(self):
        ec2 = self.aws.client("ec2", credentials="user")
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [self.iid]},
                                          {"Name": "key", "Values": ["wcs-agent:result"]}])["Tags"]
        return tags[0]["Value"] if tags else None


class ReconcileAppliesRotatedCertificateTest(ReconcileCase):
    def test_rotated_certificate_drains_restarts_registers_undrains(self):
        self.boot()
        p = self.start_watch(2000)
        # The first reconcile, one interval after the start: nothing to change.
        first = self.wait_for("the first reconcile", self.reconcile, p, 30)
        self.assertEqual((first["result"], first["detail"]), ("ok", "nothing changed"), first)
        self.assertEqual(self.wcs_service.restart_count(), self.restarts)
        self.assertNotIn("drain", self.state())

        self.rotate(self.cert_b)
        # 1-3 of the drain, in the reconcile's run: route-away, deregistered, WCS not yet restarted.
        self.wait_for("deregistration", lambda: self.registered() == [], p, 30)
        self.assertEqual(self.stats.cdn_forced(), "GROUP_CONNECTIONS_ALLOWED")
        rec = self.state()["drain"]
        self.assertEqual((rec["state"], rec["reason"]), ("draining", "manual"))
        self.assertEqual(rec["start_counts"]["connections"], 7)
        time.sleep(1.0)
        self.assertEqual(self.wcs_service.restart_count(), self.restarts, "restarted under live calls")
        # 4: the calls end; the restart, ready, register, undrain follow.
        t_fall = time.monotonic()
        self.stats.fall(1.0)
        done = self.wait_for("the reconcile that applied the certificate",
                             lambda: (self.reconcile() or {}).get("result") == "changed" and self.reconcile(), p, 60)
        self.assertIn("changed: tls, service", done["detail"])
        self.assertIn("drained for the restart (connections 7 -> 0)", done["detail"])
        self.assertNotEqual(done["run_id"], first["run_id"])
        self.assertEqual(self.wcs_service.restart_count(), self.restarts + 1)
        self.assertGreaterEqual(self.wcs_service.restart_times()[-1], t_fall + 0.9)
        self.assertEqual(self.registered(), [self.iid])
        self.assertIsNone(self.stats.cdn_forced())
        self.assertEqual([h["state"] for h in self.stats.cdn_history()], ["GROUP_CONNECTIONS_ALLOWED", None])
        doc = self.state()
        self.assertEqual(doc["drain"]["state"], "cancelled")
        self.assertNotEqual(doc["applied"]["certificate_sha256"], self.boot_cert)
        self.assertNotIn("pending", doc)
        self.assertEqual(doc["run"]["id"], done["run_id"])
        self.assertIn("undrained after the restart", self.steps()["register"]["detail"])

        st = self.run_agent("status")
        self.assertIn("reconcile: changed at %s: changed: tls, service" % done["at"], st.stdout)
        js = json.loads(self.run_agent("status", "--json").stdout)
        self.assertEqual(js["reconcile"]["result"], "changed")

        # The next reconcile finds the new certificate applied: no second restart.
        self.wait_for("a reconcile after the change",
                      lambda: (self.reconcile() or {}).get("run_id") not in (None, done["run_id"]), p, 30)
        self.assertEqual(self.reconcile()["result"], "ok")
        self.assertEqual(self.wcs_service.restart_count(), self.restarts + 1)
        rc, err = self.stop_watch(p)
        self.assertEqual(rc, 0, err)
        # The run's own lines are in watch's output, in order.
        lines = err.splitlines()

        def first_line(needle):
            for i, line in enumerate(lines):
                if needle in line:
                    return i
            self.fail("no line with %r in:\n%s" % (needle, err))

        order = [first_line("watch: reconcile: nothing changed"), first_line("drain: started"),
                 first_line("service: changed"), first_line("undrained: back in service"),
                 first_line("watch: reconcile: changed: tls, service")]
        self.assertEqual(order, sorted(order), err)
        self.assertNotIn(self.cert_b[1].splitlines()[1], err, "a secret in the log")


class ReconcileUnchangedTest(ReconcileCase):
    def test_unchanged_secrets_no_restart_no_drain(self):
        self.boot()
        p = self.start_watch(800)
        first = self.wait_for("a reconcile", self.reconcile, p, 30)
        self.wait_for("a second reconcile",
                      lambda: (self.reconcile() or {}).get("run_id") not in (None, first["run_id"]), p, 30)
        rec = self.reconcile()
        self.assertEqual((rec["result"], rec["detail"]), ("ok", "nothing changed"), rec)
        doc = self.state()
        # Each was a run of its own (recorded), and none restarted or drained anything.
        self.assertEqual(doc["run"]["id"], rec["run_id"])
        self.assertNotEqual(rec["run_id"], self.boot_run_id)
        self.assertEqual(self.steps()["secrets"]["result"], "ok")
        self.assertEqual(self.steps()["update"]["result"], "skipped")
        self.assertEqual(self.wcs_service.restart_count(), self.restarts)
        self.assertNotIn("drain", doc)
        self.assertEqual(self.stats.cdn_history(), [])
        self.assertEqual(self.registered(), [self.iid])
        self.assertEqual(doc["applied"]["certificate_sha256"], self.boot_cert)
        st = self.run_agent("status")
        self.assertIn("reconcile: ok at %s: nothing changed" % rec["at"], st.stdout)
        rc, err = self.stop_watch(p)
        self.assertEqual(rc, 0, err)
        self.assertIn("watch: reconcile: nothing changed", err)


class ReconcileFailureTest(ReconcileCase):
    def test_failed_reconcile_is_recorded_retried_and_watch_goes_on(self):
        self.boot()
        self.sm.delete_secret(SecretId=self.secret_id, ForceDeleteWithoutRecovery=True)
        p = self.start_watch(800)
        bad = self.wait_for("a failed reconcile",
                            lambda: (self.reconcile() or {}).get("result") == "failed" and self.reconcile(), p, 30)
        self.assertRegex(bad["detail"], r"^secrets: .*ResourceNotFoundException", bad)
        again = self.wait_for("a second failed reconcile",
                              lambda: (self.reconcile() or {}).get("run_id") not in (None, bad["run_id"])
                              and self.reconcile(), p, 30)
        self.assertEqual(again["result"], "failed")
        self.assertEqual(self.wcs_service.restart_count(), self.restarts)
        self.assertEqual(self.registered(), [self.iid])
        # The secret is back: the next reconcile succeeds; watch never stopped.
        self.sm.create_secret(Name=self.secret_id, SecretString=self.tls_doc(self.cert_a))
        self.wait_for("a good reconcile", lambda: (self.reconcile() or {}).get("result") == "ok", p, 30)
        self.assertIsNone(p.poll())
        rc, err = self.stop_watch(p)
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r"watch: reconcile failed: secrets: .*ResourceNotFoundException.*; trying again")


class ReconcileSigtermTest(ReconcileCase):
    def test_sigterm_during_the_reconcile_drain_stops_the_run_and_drains(self):
        self.boot("stop_timeout = 4\n")
        self.rotate(self.cert_b)
        p = self.start_watch(1000)
        self.wait_for("the reconcile's drain", lambda: self.state().get("drain", {}).get("state") == "draining", p, 30)
        t0 = time.monotonic()
        rc, err = self.stop_watch(p, timeout=40, calls_end=False)
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, err)
        self.assertLess(took, 4 + 10, err)
        self.assertIn("watch: reconcile: stopping the run (SIGTERM)", err)
        # The run was stopped before its restart; watch's own stop drain ended it.
        self.assertEqual(self.wcs_service.restart_count(), self.restarts)
        doc = self.state()
        self.assertEqual((doc["drain"]["state"], doc["drain"]["reason"]), ("timed_out", "stop"), err)
        self.assertEqual(doc["reconcile"]["result"], "failed")
        self.assertIn("SIGTERM", doc["reconcile"]["detail"])
        self.assertEqual(self.registered(), [])
        # A run stopped on a healthy node says nothing about it: the boot's tag stands.
        self.assertRegex(self.result_tag() or "", r"^ok ", err)


class ReconcileScaleInTest(ReconcileCase):
    """A scale-in while the reconcile's run drains for its restart: the run is
    stopped, and watch's own scale-in drain takes over and completes the hook."""

    aws_kwargs = {"names": {"terminate_hook_heartbeat_timeout": 30}}

    def setUp(self):
        super().setUp()
        # In service: the launch action done (the IMDS says InService).
        self.aws.client("autoscaling").complete_lifecycle_action(
            AutoScalingGroupName=self.s["asg_name"], LifecycleHookName=self.s["hook_name"],
            InstanceId=self.iid, LifecycleActionResult="CONTINUE")

    def test_scale_in_during_the_reconcile_stops_the_run_then_drains(self):
        self.boot("[signal]\nasg = %s\n" % self.s["asg_name"])
        self.rotate(self.cert_b)
        p = self.start_watch(1000)
        self.wait_for("the reconcile's drain", lambda: self.state().get("drain", {}).get("state") == "draining", p, 30)
        self.assertEqual(self.state()["drain"]["reason"], "manual")
        self.aws.move("scale-in")
        self.wait_for("the scale-in drain", lambda: self.state().get("drain", {}).get("reason") == "scale-in", p, 30)
        self.stats.fall(1.0)
        done = self.wait_for("a completed terminate action",
                             lambda: [h for h in self.aws.endpoint.history(self.s["asg_name"], self.iid)
                                      if h["kind"] == "terminate"], p, 40)
        self.assertEqual((done[0]["result"], done[0]["how"]), ("CONTINUE", "completed"))
        rc, err = self.stop_watch(p)
        self.assertEqual(rc, 0, err)
        self.assertIn("watch: reconcile: stopping the run (target lifecycle state InService -> Terminated)", err)
        doc = self.state()
        self.assertEqual((doc["drain"]["state"], doc["drain"]["reason"]), ("drained", "scale-in"), err)
        self.assertEqual(doc["reconcile"]["result"], "failed")
        self.assertIn("SIGTERM", doc["reconcile"]["detail"])
        self.assertRegex(self.result_tag() or "", r"^ok ", err)
        # The run never restarted WCS under the scale-in, and nothing registered the node again.
        self.assertEqual(self.wcs_service.restart_count(), self.restarts)
        self.assertEqual(self.registered(), [])
        # No reconcile once the node is drained.
        self.assertEqual(err.count("watch: reconcile: `wcs-agent run"), 1, err)


class ReconcileWaitsTest(ReconcileCase):
    def test_no_reconcile_on_a_node_deregistered_by_hand(self):
        self.boot()
        r = self.run_agent("deregister")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(self.registered(), [])
        self.assertIn("deregistered", self.state())
        p = self.start_watch(300)
        polls = len(self.stats.requests())
        self.wait_for("3 s of polling", lambda: len(self.stats.requests()) >= polls + 15, p, 30)
        doc = self.state()
        self.assertNotIn("reconcile", doc)
        self.assertEqual(doc["run"]["id"], self.boot_run_id)
        self.assertEqual(self.registered(), [], "the reconcile registered the node again")
        rc, err = self.stop_watch(p)
        self.assertEqual(rc, 0, err)
        # Said once, not every period.
        self.assertEqual(err.count("watch: reconcile waits: the node was deregistered at"), 1, err)


class ReconcileOffTest(ReconcileCase):
    def test_zero_interval_never_runs(self):
        self.boot("[watch]\nreconcile_interval = 0\n")
        self.rotate(self.cert_b)
        # The test override would reconcile every 300 ms; 0 in the config still turns it off.
        p = self.start_watch(300)
        polls = len(self.stats.requests())
        self.wait_for("3 s of polling", lambda: len(self.stats.requests()) >= polls + 10, p, 30)
        time.sleep(2.0)
        doc = self.state()
        self.assertNotIn("reconcile", doc)
        self.assertEqual(doc["run"]["id"], self.boot_run_id)
        self.assertEqual(doc["applied"]["certificate_sha256"], self.boot_cert)
        self.assertEqual(self.wcs_service.restart_count(), self.restarts)
        self.assertEqual(self.registered(), [self.iid])
        rc, err = self.stop_watch(p)
        self.assertEqual(rc, 0, err)
        self.assertIn("watch: no reconcile (watch.reconcile_interval = 0)", err)
        self.assertNotIn("watch: reconcile:", err)


if __name__ == "__main__":
    unittest.main()
