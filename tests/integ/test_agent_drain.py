"""Drains on the twin (issue 11, design.md §8.1, §8.2): `watch` sees a
scale-in, a Spot notice, Standby and back, SIGTERM; `drain`/`undrain` by
hand.  The terminate hook's HeartbeatTimeout is 30 s (the AWS minimum), so
heartbeats come every 10 s; watch polls every 200 ms (the test-only
interval override)."""

import json
import os
import signal
import time
import unittest

from twin_testlib import TwinTestCase

INTERVAL_ENV = {"WCS_AGENT_TEST_INTERVAL_MS": "200"}


class DrainTest(TwinTestCase):
    twin_scope = "class"
    use_aws = True
    aws_kwargs = {"names": {"terminate_hook_heartbeat_timeout": 30}}
    fake_wcs = True
    need_agent = True
    agent_timeout = 90
    drain_config = "[drain]\ntimeout = 60\n"

    def setUp(self):
        super().setUp()
        s = self.s = self.aws.seeded
        self.asg = self.aws.client("autoscaling")
        self.elbv2 = self.aws.client("elbv2")
        # The node is in service: its launch action done, its target registered.
        self.asg.complete_lifecycle_action(
            AutoScalingGroupName=s["asg_name"], LifecycleHookName=s["hook_name"],
            InstanceId=s["instance_id"], LifecycleActionResult="CONTINUE")
        self.elbv2.register_targets(TargetGroupArn=s["target_group_arn"],
                                    Targets=[{"Id": s["instance_id"], "Port": 8080}])
        self.main_text = (
            "[cdn]\nrole = edge\npoint_of_entry = 10.0.0.5\n"
            "[register]\ntarget_group = %s\n"
            "[signal]\nasg = %s\n"
            "[watch]\ninterval = 1\n%s" % (s["target_group_arn"], s["asg_name"], self.drain_config))
        self.write_config(self.main_text)
        self.stats.set_field("connections", 20)
        self.stats.set_field("connections_websocket", 15)

    # -- helpers -------------------------------------------------------------

    def state(self):
        try:
            with open(os.path.join(self.state_dir, "state.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def registered(self):
        r = self.elbv2.describe_target_health(TargetGroupArn=self.s["target_group_arn"])
        return [d["Target"]["Id"] for d in r["TargetHealthDescriptions"]
                if d["TargetHealth"]["State"] not in ("draining", "unused")]

    def history(self):
        return self.aws.endpoint.history(self.s["asg_name"], self.s["instance_id"])

    def wait_for(self, what, cond, timeout=45, proc=None):
        end = time.time() + timeout
        while time.time() < end:
            v = cond()
            if v:
                return v
            if proc is not None and proc.poll() is not None:
                out, err = proc.communicate()
                self.fail("watch ended (rc %s) before %s:\n%s" % (proc.returncode, what, err))
            time.sleep(0.2)
        err = ""
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            err = proc.communicate()[1]
        self.fail("no %s within %d s\n%s" % (what, timeout, err))

    def start_watch(self):
        p = self.start_agent("watch", env=INTERVAL_ENV)
        # Watch has read the node once: the stats page was asked.
        self.wait_for("first poll", lambda: len(self.stats.requests()) > 0, 20, p)
        return p

    def stop_watch(self, p, timeout=30):
        os.kill(p.pid, signal.SIGTERM)
        out, err = p.communicate(timeout=timeout)
        return p.returncode, err

    def terminate_completions(self):
        return [c for c in self.aws.endpoint.calls("CompleteLifecycleAction")
                if c["params"].get("LifecycleHookName") == self.s["terminate_hook_name"]]

    # -- cases ---------------------------------------------------------------

    def test_scale_in_with_connections_falling_to_zero(self):
        p = self.start_watch()
        self.assertEqual(self.registered(), [self.s["instance_id"]])
        t0 = time.time()
        self.aws.move("scale-in")
        # The counters start falling once the drain has recorded its start counts.
        self.wait_for("the drain's start", lambda: self.state().get("drain", {}).get("state") == "draining",
                      20, p)
        self.stats.fall(12.0)
        done = self.wait_for("a completed terminate action",
                             lambda: [h for h in self.history() if h["kind"] == "terminate"], 60, p)
        rc, err = self.stop_watch(p)
        self.assertEqual(rc, 0, err)
        self.assertEqual([(h["hook"], h["result"], h["how"]) for h in done],
                         [(self.s["terminate_hook_name"], "CONTINUE", "completed")])
        self.assertEqual(len(self.terminate_completions()), 1, "hook completed once")
        # CDN route-away, then deregistered.
        cdn = self.stats.cdn_history()
        self.assertEqual(cdn[0]["state"], "GROUP_CONNECTIONS_ALLOWED", cdn)
        self.assertEqual(self.registered(), [])
        # Heartbeats: when the drain starts, then every third of 30 s.
        beats = done[0]["heartbeat_times"]
        self.assertGreaterEqual(len(beats), 2, beats)
        self.assertLess(beats[0] - t0, 3.0)
        for a, b in zip(beats, beats[1:]):
            self.assertAlmostEqual(b - a, 10.0, delta=1.5)
        self.assertLess(beats[-1], done[0]["finished"])
        d = self.state()["drain"]
        self.assertEqual((d["state"], d["reason"]), ("drained", "scale-in"))
        self.assertEqual(d["start_counts"]["connections"], 20)
        self.assertEqual(d["start_counts"]["connections_websocket"], 15)
        self.assertEqual(d["last_counts"]["connections"], 0)
        self.assertIn("drained in", err)
        self.assertIn("connections 20 -> 0", err)
        st = self.run_agent("status")
        self.assertIn("drain: drained (reason: scale-in)", st.stdout)
        self.assertIn("connections=20", st.stdout)
        js = json.loads(self.run_agent("status", "--json").stdout)
        self.assertEqual(js["drain"]["state"], "drained")

    def test_scale_in_connections_never_fall_times_out(self):
        self.write_config(self._config_text().replace("timeout = 60", "timeout = 6"))
        p = self.start_watch()
        t0 = time.time()
        self.aws.move("scale-in")
        done = self.wait_for("a completed terminate action",
                             lambda: [h for h in self.history() if h["kind"] == "terminate"], 40, p)
        rc, err = self.stop_watch(p)
        self.assertEqual(rc, 0, err)
        self.assertEqual(done[0]["how"], "completed", "the hook is completed, not left to time out")
        self.assertAlmostEqual(done[0]["finished"] - t0, 6.0, delta=2.5)
        self.assertEqual(len(self.terminate_completions()), 1)
        d = self.state()["drain"]
        self.assertEqual(d["state"], "timed_out")
        self.assertEqual(d["last_counts"]["connections"], 20)
        self.assertIn("drain timed out after", err)

    def test_spot_notice_ends_before_notice_time_minus_margin(self):
        self.write_config(self._config_text() + "spot_margin = 5\n")
        p = self.start_watch()
        notice = int(time.time()) + 12
        self.imds.set_metadata(spot_action={
            "action": "terminate",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(notice))})
        self.wait_for("the spot drain to end",
                      lambda: self.state().get("drain", {}).get("finished"), 30, p)
        ended = time.time()
        rc, err = self.stop_watch(p)
        self.assertEqual(rc, 0, err)
        d = self.state()["drain"]
        self.assertEqual((d["state"], d["reason"]), ("timed_out", "spot"))
        # Seen within a 200 ms poll of the record; the drain's own end is before the bound.
        self.assertLessEqual(ended, notice - 5 + 0.3)
        self.assertGreater(ended, notice - 5 - 3.0)
        fin = time.mktime(time.strptime(d["finished"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        self.assertLess(fin, notice - 5)

    def test_sigterm_drains_within_stop_timeout_and_exits_0(self):
        self.write_config(self._config_text() + "stop_timeout = 3\n")
        p = self.start_watch()
        t0 = time.time()
        rc, err = self.stop_watch(p, timeout=20)
        self.assertEqual(rc, 0, err)
        self.assertLess(time.time() - t0, 8.0)
        d = self.state()["drain"]
        self.assertEqual((d["state"], d["reason"]), ("timed_out", "stop"))
        self.assertEqual(self.registered(), [])
        self.assertIn("SIGTERM", err)

    def test_standby_drains_and_inservice_undrains(self):
        self.stats.set_field("connections", 0)
        self.stats.set_field("connections_websocket", 0)
        p = self.start_watch()
        self.aws.move("Standby")
        self.wait_for("drained", lambda: self.state().get("drain", {}).get("state") == "drained", 30, p)
        self.assertEqual(self.registered(), [])
        self.assertEqual(self.stats.cdn_forced(), "GROUP_CONNECTIONS_ALLOWED")
        self.aws.move("InService")
        self.wait_for("undrained", lambda: self.state()["drain"]["state"] == "cancelled", 30, p)
        self.wait_for("registered again", lambda: self.registered() == [self.s["instance_id"]], 30, p)
        self.assertIsNone(self.stats.cdn_forced())
        last = self.stats.cdn_history()[-1]
        self.assertEqual((last["content_length"], last["body"]), ("0", ""))
        self.assertEqual(self.terminate_completions(), [], "no terminate action for Standby")
        rc, err = self.stop_watch(p)
        self.assertEqual(rc, 0, err)

    def test_hand_drain_and_undrain(self):
        self.stats.set_field("connections", 3)
        self.stats.fall(2.0)
        r = self.run_agent("drain", "--reason", "kernel update", "--timeout", "30")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertIn("drained in", r.stderr)
        self.assertIn("kernel update", r.stderr)
        d = self.state()["drain"]
        self.assertEqual((d["state"], d["reason"]), ("drained", "manual"))
        self.assertEqual(self.terminate_completions(), [])
        r = self.run_agent("undrain")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(self.state()["drain"]["state"], "cancelled")
        self.assertEqual(self.registered(), [self.s["instance_id"]])
        self.assertIsNone(self.stats.cdn_forced())

    def test_second_drain_is_refused_and_undrain_cancels(self):
        p = self.start_agent("drain", "--timeout", "60")
        self.wait_for("draining", lambda: os.path.exists(os.path.join(self.state_dir, "state.json"))
                      and self.state().get("drain", {}).get("state") == "draining", 20, p)
        r = self.run_agent("drain")
        self.assertEqual(r.rc, 75, r.stderr)
        self.assertIn("already running", r.stderr)
        t0 = time.time()
        r = self.run_agent("undrain")
        self.assertEqual(r.rc, 0, r.stderr)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertLess(time.time() - t0, 15)
        self.assertIn("drain cancelled", err)
        self.assertEqual(self.state()["drain"]["state"], "cancelled")
        self.assertEqual(self.registered(), [self.s["instance_id"]])

    def _config_text(self):
        return self.main_text


class WatchResilienceTest(TwinTestCase):
    """watch lives through an IMDS outage, throttling, expiring tokens and a WCS
    that is down, logging each problem once per change, and keeps its IMDS
    token fresh."""

    fake_wcs = True
    need_agent = True

    def test_outages_logged_once_per_change_and_tokens_renewed(self):
        self.imds.set_metadata(lifecycle_state="InService")
        self.imds.set_faults(token_ttl_override=1)
        self.write_config("[watch]\ninterval = 1\n[drain]\nstop_timeout = 1\n"
                          "[imds]\ntimeout_ms = 300\nattempts = 2\n")
        p = self.start_agent("watch", env=INTERVAL_ENV)
        time.sleep(3)  # tokens of 1 s: renewed while watching
        self.imds.set_faults(fail_next_gets=40, fail_gets_status=503)   # an outage
        time.sleep(3)
        self.imds.set_faults(fail_next_gets=0)
        time.sleep(1.5)
        self.imds.set_faults(fail_next_gets=40, fail_gets_status=429)   # throttling
        time.sleep(3)
        self.imds.set_faults(fail_next_gets=0)
        time.sleep(1.5)
        self.stats.configure(mode="never")                             # WCS down
        time.sleep(3)
        self.stats.configure(mode="ready")
        time.sleep(1.5)
        self.assertIsNone(p.poll(), "watch exited")
        os.kill(p.pid, signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        imds_down = err.count("watch: instance metadata: ")
        imds_back = err.count("watch: instance metadata answers again")
        page_down = err.count("watch: the stats page: ")
        page_back = err.count("watch: the stats page answers again")
        # Two IMDS problems (503, then 429; possibly the same words), each back once.
        self.assertIn(imds_down, (1, 2), err)
        self.assertEqual(imds_back, imds_down, err)
        self.assertEqual((page_down, page_back), (1, 1), err)
        puts = [r for r in self.imds.requests() if r["method"] == "PUT"]
        self.assertGreaterEqual(len(puts), 4, "the 1 s token was not renewed")
        gets = self.imds.requests("GET")
        self.assertGreater(len(gets), 20)
        self.assertFalse([r for r in gets if r["status"] == 401], "a GET with an expired token")


if __name__ == "__main__":
    unittest.main()
