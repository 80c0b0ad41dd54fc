"""`run` through the node's life (design.md §4, §8.3, §8.5; issue 11 items 3
and 4), against the full twin (IMDS target lifecycle state, moto with
signature checking, the Auto Scaling endpoint with its lifecycle model) and
a fake WCS (install tree, service commands, stats page with counters):

- a warm-pool launch (Warmed:Pending:Wait): no licence, no registration, the
  warm action completed; entering service: licence, registration, the
  in-service action completed, each exactly once;
- Standby: run does not register;
- a run that fails after changing the properties: the next run restarts WCS;
- a hand rerun with a new certificate on a node with connections:
  restart.mode = defer leaves pending.restart; now restarts with a warning;
  drain drains, restarts, waits ready, registers, in that order.
"""

import json
import os
import subprocess
import time
import unittest

from twin_testlib import TwinTestCase


def make_cert(folder, name):
    """A self-signed P-256 certificate and key (PEM files) named name.*."""
    cert, key = os.path.join(folder, name + ".crt"), os.path.join(folder, name + ".key")
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=%s.life.test" % name],
        capture_output=True, timeout=60,
    )
    if r.returncode != 0:
        raise AssertionError("openssl: %s" % r.stderr.decode(errors="replace"))
    os.chmod(key, 0o600)
    return cert, key


class LifeRunCase(TwinTestCase):
    twin_scope = "class"
    use_aws = True
    aws_kwargs = {"lifecycle_pending": False}
    fake_wcs = True
    need_agent = True
    agent_timeout = 60

    def setUp(self):
        super().setUp()
        self.seeded = self.aws.seeded
        self.iid = self.seeded["instance_id"]
        self.asg = self.seeded["asg_name"]
        self.elbv2 = self.aws.client("elbv2", credentials="user")
        self.remove_registrations()

    # -- the twin ---------------------------------------------------------

    def remove_registrations(self):
        tg = self.seeded["target_group_arn"]
        for d in self.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]:
            self.elbv2.deregister_targets(TargetGroupArn=tg, Targets=[d["Target"]])

    def tg_targets(self):
        r = self.elbv2.describe_target_health(TargetGroupArn=self.seeded["target_group_arn"])
        return [(d["Target"]["Id"], d["Target"].get("Port")) for d in r["TargetHealthDescriptions"]]

    def calls(self, action):
        return [c for c in self.aws.endpoint.calls(action) if c["auth_ok"]]

    def history(self):
        return self.aws.endpoint.history(self.asg, self.iid)

    def config(self, extra="", *, licence=True, signal=True):
        s = self.seeded
        # A loaded CI machine: more room than the fake WCS section's 500 ms for IMDS.
        lines = ["[imds]", "timeout_ms = 3000", "[register]", "target_group = %s" % s["target_group_arn"], "port = 8080"]
        if licence:
            lines += ["[licence]", "key = ssm:%s" % s["ssm_licence_name"]]
        if signal:
            lines += ["[signal]", "lifecycle_hook = %s" % s["hook_name"], "asg = %s" % self.asg]
        return "\n".join(lines) + "\n" + extra

    def tls_config(self, cert, key):
        return "[tls]\ncertificate = file:%s\nprivate_key = file:%s\nkeystore = %s\n" % (
            cert, key, self.wcs.keystore)

    # -- runs and records -------------------------------------------------

    def run_agent(self, *args, **kw):
        r = super().run_agent(*args, **kw)
        self.assertNotRegex(r.stderr, r"ERROR: (Address|Leak)Sanitizer|runtime error:", r.stderr)
        return r

    def run_ok(self, *args, **kw):
        r = self.run_agent("run", *args, **kw)
        self.assertEqual(r.rc, 0, r.stderr)
        return r

    def load_state(self):
        with open(os.path.join(self.state_dir, "state.json"), encoding="utf-8") as f:
            return json.load(f)

    def steps(self):
        return {s["name"]: s for s in self.load_state()["steps"]}

    def activations(self):
        a = self.wcs.activation()
        return 0 if a is None else a["count"]


class WarmPoolTest(LifeRunCase):
    def test_warm_pool_launch_then_entering_service(self):
        self.aws.endpoint.start_lifecycle_action(self.asg, self.iid, self.seeded["hook_name"], warm=True)
        self.assertEqual(self.aws.endpoint.instance_state(self.iid), "Warmed:Pending:Wait")
        self.assertEqual(self.imds.metadata.get("lifecycle_state"), "Warmed:Running")
        self.write_config(self.config())

        # In the warm pool: prepared, WCS running and ready, no licence, not registered.
        self.run_ok()
        steps = self.steps()
        self.assertEqual(steps["licence"]["result"], "skipped", steps["licence"])
        self.assertIn("warm pool", steps["licence"]["detail"])
        self.assertEqual(steps["register"]["result"], "skipped", steps["register"])
        self.assertIn("warm pool", steps["register"]["detail"])
        self.assertEqual(steps["service"]["result"], "changed")
        self.assertEqual(steps["ready"]["result"], "ok")
        self.assertEqual(self.activations(), 0)
        self.assertEqual(self.tg_targets(), [])
        self.assertEqual(len(self.calls("CompleteLifecycleAction")), 1)
        hist = self.history()
        self.assertEqual([(h["kind"], h["result"], h["how"]) for h in hist], [("warm-launch", "CONTINUE", "completed")])
        self.assertEqual(self.aws.endpoint.instance_state(self.iid), "Warmed:Running")
        doc = self.load_state()
        self.assertEqual(doc["phase"], "warm")
        self.assertIn("lifecycle:warm", doc["ready"]["signalled"])
        self.assertNotIn("lifecycle:in-service", doc["ready"]["signalled"])

        # A second run in the warm pool (a reboot) signals nothing again.
        self.run_ok()
        self.assertEqual(len(self.calls("CompleteLifecycleAction")), 1)
        self.assertEqual(self.activations(), 0)
        self.assertEqual(self.tg_targets(), [])

        # Scale-out takes it from the warm pool: Pending:Wait on the launch hook.
        moved = self.aws.move("InService")
        self.assertEqual(moved["state"], "Pending:Wait")
        self.assertEqual(self.imds.metadata.get("lifecycle_state"), "InService")
        restarts = self.wcs_service.restart_count()
        self.run_ok()
        steps = self.steps()
        self.assertEqual(steps["licence"]["result"], "changed", steps["licence"])
        self.assertEqual(steps["register"]["result"], "ok", steps["register"])
        self.assertEqual(self.activations(), 1)
        self.assertEqual(self.tg_targets(), [(self.iid, 8080)])
        done = self.calls("CompleteLifecycleAction")
        self.assertEqual(len(done), 2, done)
        self.assertEqual(done[1]["params"]["LifecycleActionResult"], "CONTINUE")
        hist = self.history()
        self.assertEqual([(h["kind"], h["result"]) for h in hist], [("warm-launch", "CONTINUE"), ("launch", "CONTINUE")])
        self.assertEqual(self.aws.endpoint.instance_state(self.iid), "InService")
        doc = self.load_state()
        self.assertEqual(doc["phase"], "in-service")
        self.assertIn("lifecycle:warm", doc["ready"]["signalled"])
        self.assertIn("lifecycle:in-service", doc["ready"]["signalled"])
        # The licence is a restart reason: it is applied by a restart (WCS carries no calls yet).
        self.assertEqual(self.wcs_service.restart_count(), restarts + 1)

        # Once each: a further run activates, completes and signals nothing.
        self.run_ok()
        self.assertEqual(self.activations(), 1)
        self.assertEqual(len(self.calls("CompleteLifecycleAction")), 2)
        self.assertEqual(self.steps()["signal"]["result"], "skipped")

    def test_licence_in_the_warm_pool_when_asked(self):
        self.aws.endpoint.start_lifecycle_action(self.asg, self.iid, self.seeded["hook_name"], warm=True)
        self.write_config(self.config("[licence]\nactivate_in_warm_pool = true\n"))
        self.run_ok()
        self.assertEqual(self.activations(), 1)
        self.assertEqual(self.tg_targets(), [])
        self.assertEqual(self.load_state()["phase"], "warm")


class StandbyTest(LifeRunCase):
    def test_standby_does_not_register(self):
        self.aws.endpoint.start_lifecycle_action(self.asg, self.iid, self.seeded["hook_name"])
        self.write_config(self.config(licence=False))
        self.run_ok()
        self.assertEqual(self.tg_targets(), [(self.iid, 8080)])
        # Standby: Auto Scaling takes it out of the target group; a rerun leaves it out.
        self.aws.move("Standby")
        self.assertEqual(self.imds.metadata.get("lifecycle_state"), "Standby")
        self.remove_registrations()
        self.run_ok()
        reg = self.steps()["register"]
        self.assertEqual(reg["result"], "skipped", reg)
        self.assertIn("Standby", reg["detail"])
        self.assertEqual(self.tg_targets(), [])
        # Back in service: registered again.
        self.aws.move("InService")
        self.run_ok()
        self.assertEqual(self.tg_targets(), [(self.iid, 8080)])


class DrainedNodeTest(LifeRunCase):
    def test_run_on_a_drained_node_refuses_to_register(self):
        self.aws.endpoint.start_lifecycle_action(self.asg, self.iid, self.seeded["hook_name"])
        self.write_config(self.config(licence=False))
        self.run_ok()
        # A drain took it out (as `wcs-agent drain` records it), and the balancer let it go.
        path = os.path.join(self.state_dir, "state.json")
        doc = self.load_state()
        doc["drain"] = {"state": "drained", "reason": "manual", "started": "2026-12-07T10:00:00Z",
                        "finished": "2026-12-07T10:05:00Z", "start_counts": {"connections": 3},
                        "last_counts": {"connections": 0}}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        self.remove_registrations()
        self.imds.set_metadata(lifecycle_state=None)
        r = self.run_agent("run")
        self.assertEqual(r.rc, 1, r.stderr)
        self.assertIn("node is drained: run `wcs-agent undrain` first", r.stderr)
        self.assertEqual(self.tg_targets(), [])
        # Back to InService (Auto Scaling put it back): run registers it.
        self.imds.set_metadata(lifecycle_state="InService")
        self.run_ok()
        self.assertEqual(self.tg_targets(), [(self.iid, 8080)])


class PendingRestartTest(LifeRunCase):
    def test_failed_run_after_configure_is_restarted_by_the_next(self):
        self.write_config(self.config(licence=False, signal=False))
        self.run_ok()
        restarts = self.wcs_service.restart_count()
        # New properties, and a tls step that fails after configure wrote them.
        cert, _ = make_cert(self.tmp, "a")
        prop = "[properties]\nlife_run_marker = 1\n"
        self.write_config(self.config(prop + "[tls]\ncertificate = file:%s\n" % cert, licence=False, signal=False))
        r = self.run_agent("run")
        self.assertNotEqual(r.rc, 0, r.stderr)
        self.assertIn("failed at tls", r.stderr)
        steps = self.steps()
        self.assertEqual(steps["configure"]["result"], "changed")
        self.assertEqual(steps["service"]["result"], "skipped")
        self.assertEqual(self.load_state()["pending"]["restart"], ["configure"])
        self.assertEqual(self.wcs_service.restart_count(), restarts)
        # Fixed: the files are already as configured, and WCS is restarted anyway.
        self.write_config(self.config(prop, licence=False, signal=False))
        r = self.run_ok()
        steps = self.steps()
        self.assertEqual(steps["configure"]["result"], "ok", steps["configure"])
        self.assertEqual(steps["service"]["result"], "changed", steps["service"])
        self.assertIn("pending from an earlier run", steps["service"]["detail"])
        self.assertEqual(self.wcs_service.restart_count(), restarts + 1)
        self.assertNotIn("pending", self.load_state())
        # And only once.
        self.run_ok()
        self.assertEqual(self.steps()["service"]["result"], "ok")
        self.assertEqual(self.wcs_service.restart_count(), restarts + 1)

    def test_plan_says_a_restart_is_pending(self):
        self.write_config(self.config(licence=False, signal=False))
        self.run_ok()
        cert, _ = make_cert(self.tmp, "a")
        self.write_config(self.config("[properties]\nx_marker = 2\n[tls]\ncertificate = file:%s\n" % cert,
                                      licence=False, signal=False))
        self.assertNotEqual(self.run_agent("run").rc, 0)
        self.write_config(self.config("[properties]\nx_marker = 2\n", licence=False, signal=False))
        r = self.run_agent("plan")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertRegex(r.stderr, r"(?m)^wcs-agent: service: WCS would restart \(configure changed, pending from an earlier run\)")


class RestartModeTest(LifeRunCase):
    """A hand rerun with a new certificate on a node that carries calls."""

    def first_run(self, mode, extra=""):
        self.aws.endpoint.start_lifecycle_action(self.asg, self.iid, self.seeded["hook_name"])
        self.cert_a = make_cert(self.tmp, "a")
        self.cert_b = make_cert(self.tmp, "b")
        self.mode = ("[restart]\nmode = %s\n" % mode if mode else "") + extra
        self.write_config(self.config(self.tls_config(*self.cert_a) + self.mode, licence=False))
        self.run_ok()
        self.assertEqual(self.load_state()["phase"], "in-service")
        self.stats.set_field("connections", 7)
        self.stats.set_field("connections_websocket", 5)
        self.restarts = self.wcs_service.restart_count()
        self.write_config(self.config(self.tls_config(*self.cert_b) + self.mode, licence=False))

    def test_defer_leaves_pending_restart(self):
        self.first_run("defer")
        r = self.run_ok()
        self.assertEqual(self.wcs_service.restart_count(), self.restarts)
        steps = self.steps()
        self.assertEqual(steps["tls"]["result"], "changed")
        self.assertEqual(steps["service"]["result"], "ok", steps["service"])
        self.assertIn("restart deferred", steps["service"]["detail"])
        self.assertEqual(self.load_state()["pending"]["restart"], ["tls"])
        last = r.stderr.splitlines()[-1]
        self.assertIn("WCS restart deferred: 7 live connections (restart.mode = defer)", last)
        s = self.run_agent("status")
        self.assertIn("restart pending: tls changed", s.stdout)
        # Still carrying calls: still deferred, still pending.
        self.run_ok()
        self.assertEqual(self.wcs_service.restart_count(), self.restarts)
        self.assertEqual(self.load_state()["pending"]["restart"], ["tls"])
        # The calls are gone: the next run restarts WCS and clears the debt.
        self.stats.set_field("connections", 0)
        self.run_ok()
        self.assertEqual(self.wcs_service.restart_count(), self.restarts + 1)
        self.assertIn("pending from an earlier run", self.steps()["service"]["detail"])
        self.assertNotIn("pending", self.load_state())

    def test_now_restarts_with_a_warning(self):
        self.first_run("now")
        r = self.run_ok()
        self.assertEqual(self.wcs_service.restart_count(), self.restarts + 1)
        self.assertIn("restarting WCS under 7 live connections (restart.mode = now", r.stderr)
        self.assertNotIn("pending", self.load_state())

    def wait_for(self, what, cond, proc, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            if proc.poll() is not None:
                out, err = proc.communicate()
                self.fail("agent ended (%s) before %s:\n%s" % (proc.returncode, what, err))
            time.sleep(0.05)
        self.fail("timed out waiting for %s" % what)

    def test_drain_restart_ready_register_in_order(self):
        # restart.mode = drain is the default; CDN route-away needs a CDN role.
        self.first_run(None, "[cdn]\nrole = origin\n[watch]\ninterval = 1\n")
        self.assertEqual(self.tg_targets(), [(self.iid, 8080)])
        wall = time.time() - time.monotonic()
        p = self.start_agent("run", global_args=("-v",))  # -v: the balancer calls are debug lines
        # 1-3: CDN route-away and deregistration while WCS still runs the old certificate.
        self.wait_for("deregistration", lambda: self.tg_targets() == [], p)
        self.assertEqual(self.wcs_service.restart_count(), self.restarts, "restarted before the calls ended")
        self.assertEqual(self.stats.cdn_forced(), "GROUP_CONNECTIONS_ALLOWED")
        with open(os.path.join(self.state_dir, "state.json"), encoding="utf-8") as f:
            rec = json.load(f)["drain"]
        self.assertEqual(rec["state"], "draining")
        self.assertEqual(rec["start_counts"]["connections"], 7)
        # 4: the calls end; then restart, ready, register, undrain.
        time.sleep(1.5)
        self.assertEqual(self.wcs_service.restart_count(), self.restarts, "restarted under live calls")
        t_fall = time.monotonic()
        self.stats.fall(1.0)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(self.wcs_service.restart_count(), self.restarts + 1)
        self.assertGreaterEqual(self.wcs_service.restart_times()[-1], t_fall + 0.9)
        self.assertEqual(self.tg_targets(), [(self.iid, 8080)])
        self.assertIsNone(self.stats.cdn_forced())
        hist = self.stats.cdn_history()
        self.assertEqual([h["state"] for h in hist], ["GROUP_CONNECTIONS_ALLOWED", None])
        restarted = self.wcs_service.restart_times()[-1] + wall
        self.assertLess(hist[0]["time"], restarted)
        self.assertGreater(hist[1]["time"], restarted)
        # The run's own lines, in order.
        lines = err.splitlines()

        def first(needle):
            for i, line in enumerate(lines):
                if needle in line:
                    return i
            self.fail("no line with %r in:\n%s" % (needle, err))

        order = [first("drain: started"), first("deregister: %s" % self.iid), first("service: changed"),
                 first("ready: ok"), first("wcs-agent: register: elbv2: registered"), first("undrained: back in service")]
        self.assertEqual(order, sorted(order), err)
        steps = self.steps()
        self.assertIn("drained for the restart (connections 7 -> 0)", steps["service"]["detail"])
        self.assertIn("undrained after the restart", steps["register"]["detail"])
        doc = self.load_state()
        self.assertEqual(doc["drain"]["state"], "cancelled")
        self.assertNotIn("pending", doc)

    def test_no_connections_restarts_at_once(self):
        self.first_run("defer")
        self.stats.set_field("connections", 0)
        self.run_ok()
        self.assertEqual(self.wcs_service.restart_count(), self.restarts + 1)
        self.assertNotIn("pending", self.load_state())


class ServiceStatusTest(LifeRunCase):
    """wcs.status_command runs only when its answer matters: a first boot that
    changed the files restarts WCS without asking (nothing can carry calls
    yet); a run that changed nothing asks whether WCS runs; a change on a node
    in service asks, as a running WCS may carry calls."""

    def actions(self):
        return [c["action"] for c in self.wcs_service.calls()]

    def test_status_asked_only_when_it_decides(self):
        self.aws.endpoint.start_lifecycle_action(self.asg, self.iid, self.seeded["hook_name"])
        cert_a, cert_b = make_cert(self.tmp, "a"), make_cert(self.tmp, "b")
        self.write_config(self.config(self.tls_config(*cert_a), licence=False))
        n = len(self.actions())
        self.run_ok()
        self.assertEqual(self.actions()[n:], ["enable", "restart"])
        self.assertEqual(self.steps()["service"]["result"], "changed")
        self.assertEqual(self.load_state()["phase"], "in-service")
        # Nothing changed: is WCS running? (it is: no restart)
        n = len(self.actions())
        self.run_ok()
        self.assertEqual(self.actions()[n:], ["is-active"])
        self.assertEqual(self.steps()["service"]["detail"], "running; nothing changed")
        # Not running: started.
        self.wcs_service.set_active(False)
        n = len(self.actions())
        self.run_ok()
        self.assertEqual(self.actions()[n:], ["is-active", "enable", "restart"])
        self.assertEqual(self.steps()["service"]["detail"], "started (was not running)")
        # In service, a new certificate: asked first, then restarted (no calls).
        n = len(self.actions())
        self.write_config(self.config(self.tls_config(*cert_b), licence=False))
        self.run_ok()
        self.assertEqual(self.actions()[n:], ["is-active", "enable", "restart"])


if __name__ == "__main__":
    unittest.main()
