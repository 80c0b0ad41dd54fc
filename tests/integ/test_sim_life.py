"""The twin's model of a node's life after boot (issue 11 item 5): the IMDS
lifecycle / Spot / rebalance documents, the Auto Scaling endpoint's lifecycle
states, pending actions per hook, heartbeat times and moves, the fake WCS's
falling counters, CDN forced state and bin/deactivation.sh, and the wiring of
the endpoint to the IMDS through twin.py."""

import json
import os
import subprocess
import tempfile
import time
import unittest

from twin_testlib import TwinTestCase, http_request, imds, twin  # noqa: F401  (sets sys.path)

import aws  # noqa: E402
import aws_endpoint  # noqa: E402
import wcs  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

CONTROL = {"X-Twin-Control": "1"}


class ImdsLifeTest(TwinTestCase):
    twin_scope = "class"

    def get(self, path):
        return self.imds_get("/latest/meta-data/" + path, self.imds_token())

    def test_target_state_spot_and_rebalance_change_while_running(self):
        self.assertEqual(self.get("autoscaling/target-lifecycle-state")[0], 404, "not in an ASG")
        self.assertEqual(self.get("spot/instance-action")[0], 404)
        self.assertEqual(self.get("events/recommendations/rebalance")[0], 404)
        # Through the control API, as a test does while the agent runs.
        st, _, body = http_request(
            "POST", self.imds.url + "/_twin/metadata", CONTROL,
            json.dumps({"lifecycle_state": "Terminated",
                        "spot_action": {"action": "terminate", "time": "2026-12-07T18:00:00Z"},
                        "rebalance": "2026-12-07T17:55:00Z"}).encode(),
        )
        self.assertEqual(st, 200, body)
        self.assertEqual(self.get("autoscaling/target-lifecycle-state")[2], b"Terminated")
        spot = json.loads(self.get("spot/instance-action")[2])
        self.assertEqual(spot, {"action": "terminate", "time": "2026-12-07T18:00:00Z"})
        self.assertEqual(json.loads(self.get("events/recommendations/rebalance")[2]),
                         {"noticeTime": "2026-12-07T17:55:00Z"})
        self.imds.set_metadata(rebalance=True, lifecycle_state=None)
        notice = json.loads(self.get("events/recommendations/rebalance")[2])["noticeTime"]
        self.assertRegex(notice, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(self.get("autoscaling/target-lifecycle-state")[0], 404)
        for bad in ({"noticeTime": 5}, 7, ["x"]):
            with self.assertRaises(ValueError):
                self.imds.set_metadata(rebalance=bad)
        self.imds.reset()
        self.assertEqual(self.get("events/recommendations/rebalance")[0], 404)


class EndpointLifeTest(unittest.TestCase):
    """AwsEndpoint alone: lifecycle states, actions per hook, heartbeats, moves."""

    AKID, SECRET = "AKIALIFETEST00000001", "life/test/secret/0001"
    IID = "i-0123456789abcdef0"

    def setUp(self):
        self.offset = 0.0
        self.ep = aws_endpoint.AwsEndpoint(clock=lambda: time.time() + self.offset)
        self.addCleanup(self.ep.stop)
        self.ep.start()
        self.ep.add_credentials(self.AKID, self.SECRET)
        self.ep.add_group("asg")
        self.ep.add_instance("asg", self.IID)
        self.ep.add_lifecycle_hook("asg", "launch", heartbeat_timeout=60)
        self.ep.add_lifecycle_hook(
            "asg", "drain", transition="autoscaling:EC2_INSTANCE_TERMINATING", heartbeat_timeout=30,
            default_result="CONTINUE",
        )
        self.targets = []
        self.ep.on_target_state = lambda iid, st: self.targets.append((iid, st))
        self.asg = aws.boto_client("autoscaling", self.ep.url, self.AKID, self.SECRET)

    def state(self):
        return self.ep.instance_state(self.IID)

    def test_scale_in_heartbeats_complete_twice(self):
        moved = self.ep.move("asg", self.IID, "scale-in")
        self.assertEqual(moved["state"], "Terminating:Wait")
        self.assertTrue(moved["token"])
        self.assertEqual(self.targets, [(self.IID, "Terminated")])
        kw = dict(AutoScalingGroupName="asg", LifecycleHookName="drain", InstanceId=self.IID)
        self.asg.record_lifecycle_action_heartbeat(**kw)
        self.offset = 20
        self.asg.record_lifecycle_action_heartbeat(**kw)
        a = self.ep.lifecycle_action("asg", self.IID)
        self.assertEqual((a["hook"], a["kind"], a["heartbeats"]), ("drain", "terminate", 2))
        self.assertAlmostEqual(a["heartbeat_times"][1] - a["heartbeat_times"][0], 20, delta=1)
        with self.assertRaises(ClientError) as cm:  # the launch hook has nothing pending
            self.asg.complete_lifecycle_action(
                AutoScalingGroupName="asg", LifecycleHookName="launch", InstanceId=self.IID,
                LifecycleActionResult="CONTINUE")
        self.assertEqual(cm.exception.response["Error"]["Code"], "ValidationError")
        self.asg.complete_lifecycle_action(LifecycleActionResult="CONTINUE", **kw)
        self.assertEqual(self.state(), "Terminated")
        with self.assertRaises(ClientError) as cm:  # completed twice: as AWS answers
            self.asg.complete_lifecycle_action(LifecycleActionResult="CONTINUE", **kw)
        err = cm.exception.response["Error"]
        self.assertEqual((err["Code"], err["Message"]),
                         ("ValidationError", "No active Lifecycle Action found with instance ID %s" % self.IID))
        hist = self.ep.history("asg", self.IID)
        self.assertEqual([(h["hook"], h["result"], h["how"], h["heartbeats"]) for h in hist],
                         [("drain", "CONTINUE", "completed", 2)])

    def test_action_times_out_to_default_result(self):
        self.ep.move("asg", self.IID, "scale-in")
        self.offset = 31
        kw = dict(AutoScalingGroupName="asg", LifecycleHookName="drain", InstanceId=self.IID)
        with self.assertRaises(ClientError) as cm:
            self.asg.record_lifecycle_action_heartbeat(**kw)
        self.assertIn("No active Lifecycle Action", cm.exception.response["Error"]["Message"])
        hist = self.ep.history("asg")
        self.assertEqual([(h["result"], h["how"]) for h in hist], [("CONTINUE", "timeout")])
        self.assertEqual(self.state(), "Terminated")

    def test_standby_and_back_detach_and_refusals(self):
        self.assertEqual(self.ep.move("asg", self.IID, "Standby"), {"state": "Standby", "token": None})
        with self.assertRaises(ValueError):
            self.ep.move("asg", self.IID, "Standby")
        self.assertEqual(self.ep.move("asg", self.IID, "InService")["state"], "InService")
        with self.assertRaises(ValueError):
            self.ep.move("asg", self.IID, "nowhere")
        self.assertEqual(self.ep.move("asg", self.IID, "Detached")["state"], "Detached")
        with self.assertRaises(ValueError):
            self.ep.move("asg", self.IID, "scale-in")
        self.assertEqual([t for _, t in self.targets], ["Standby", "InService", "Detached"])

    def test_warm_pool_launch_then_service_then_reuse_on_scale_in(self):
        self.ep.add_instance("asg", "i-warm", lifecycle_state="Warmed:Pending")
        token = self.ep.start_lifecycle_action("asg", "i-warm", "launch", warm=True, warm_state="Warmed:Stopped")
        self.assertEqual(self.ep.instance_state("i-warm"), "Warmed:Pending:Wait")
        with self.assertRaises(ValueError):
            self.ep.move("asg", "i-warm", "InService")  # its action first
        self.asg.complete_lifecycle_action(AutoScalingGroupName="asg", LifecycleHookName="launch",
                                           LifecycleActionToken=token, LifecycleActionResult="CONTINUE")
        self.assertEqual(self.ep.instance_state("i-warm"), "Warmed:Stopped")
        moved = self.ep.move("asg", "i-warm", "InService")
        self.assertEqual(moved["state"], "Pending:Wait")
        self.asg.complete_lifecycle_action(AutoScalingGroupName="asg", LifecycleHookName="launch",
                                           InstanceId="i-warm", LifecycleActionResult="CONTINUE")
        self.assertEqual(self.ep.instance_state("i-warm"), "InService")
        self.ep.move("asg", "i-warm", "scale-in-to-warm-pool", warm_state="Warmed:Hibernated")
        self.assertEqual(self.ep.instance_state("i-warm"), "Warmed:Pending:Wait")
        self.asg.complete_lifecycle_action(AutoScalingGroupName="asg", LifecycleHookName="drain",
                                           InstanceId="i-warm", LifecycleActionResult="CONTINUE")
        self.assertEqual(self.ep.instance_state("i-warm"), "Warmed:Hibernated")
        kinds = [(h["kind"], h["hook"]) for h in self.ep.history("asg", "i-warm")]
        self.assertEqual(kinds, [("warm-launch", "launch"), ("launch", "launch"), ("warm-return", "drain")])
        self.assertEqual([t for i, t in self.targets if i == "i-warm"],
                         ["Warmed:Stopped", "InService", "Warmed:Hibernated"])
        with self.assertRaises(ValueError):
            self.ep.start_lifecycle_action("asg", self.IID, "drain", warm=True)

    def test_move_over_http_control(self):
        st, _, body = http_request("POST", self.ep.url + "/_twin/move", CONTROL,
                                   json.dumps({"group": "asg", "instance_id": self.IID, "to": "scale-in"}).encode())
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["state"], "Terminating:Wait")
        st, _, body = http_request("POST", self.ep.url + "/_twin/move", CONTROL,
                                   json.dumps({"group": "asg", "instance_id": self.IID, "to": "Standby"}).encode())
        self.assertEqual(st, 400, body)
        self.asg.complete_lifecycle_action(AutoScalingGroupName="asg", LifecycleHookName="drain",
                                           InstanceId=self.IID, LifecycleActionResult="CONTINUE")
        st, _, body = http_request("GET", self.ep.url + "/_twin/history?group=asg", CONTROL)
        self.assertEqual([h["how"] for h in json.loads(body)["history"]], ["completed"])


class TwinWiringTest(TwinTestCase):
    """twin.py keeps the IMDS target lifecycle state in step with the endpoint."""

    twin_scope = "class"
    use_aws = True

    def test_moves_show_in_imds(self):
        tok = self.imds_token()
        path = "/latest/meta-data/autoscaling/target-lifecycle-state"
        self.assertEqual(self.imds_get(path, tok)[2], b"InService")
        s = self.aws.seeded
        # the seeded instance waits on its launch action: complete it first
        self.aws.client("autoscaling").complete_lifecycle_action(
            AutoScalingGroupName=s["asg_name"], LifecycleHookName=s["hook_name"],
            InstanceId=s["instance_id"], LifecycleActionResult="CONTINUE")
        self.aws.move("Standby")
        self.assertEqual(self.imds_get(path, tok)[2], b"Standby")
        self.aws.move("InService")
        moved = self.aws.move("scale-in")
        self.assertEqual(moved["state"], "Terminating:Wait")
        self.assertEqual(self.imds_get(path, tok)[2], b"Terminated")
        hooks = self.aws.client("autoscaling").describe_lifecycle_hooks(
            AutoScalingGroupName=s["asg_name"])["LifecycleHooks"]
        self.assertEqual([(h["LifecycleHookName"], h["LifecycleTransition"]) for h in hooks],
                         [(s["hook_name"], "autoscaling:EC2_INSTANCE_LAUNCHING"),
                          (s["terminate_hook_name"], "autoscaling:EC2_INSTANCE_TERMINATING")])
        self.assertEqual(self.aws.endpoint.lifecycle_action(s["asg_name"], s["instance_id"])["hook"],
                         s["terminate_hook_name"])


class FakeWcsLifeTest(unittest.TestCase):
    def setUp(self):
        self.s = wcs.StatsServer().start()
        self.addCleanup(self.s.stop)

    def req(self, method, path, body=None, headers=None):
        return http_request(method, "http://127.0.0.1:%d%s" % (self.s.port, path), headers or {}, body)

    def test_counters_fall_over_time(self):
        st, _, body = self.req("POST", "/_twin/fields", json.dumps({"connections": 30, "connections_websocket": 20}).encode(), CONTROL)
        self.assertEqual(st, 200, body)
        st, _, _ = self.req("POST", "/_twin/fall", json.dumps({"seconds": 0.6}).encode(), CONTROL)
        self.assertEqual(st, 200)
        time.sleep(0.3)
        mid = self.s.fields()
        self.assertTrue(0 < int(mid["connections"]) < 30, mid)
        self.assertTrue(0 < int(mid["connections_websocket"]) < 20, mid)
        time.sleep(0.45)
        page = self.req("GET", "/?action=stat")[2].decode()
        self.assertIn("connections=0\n", page)
        self.assertIn("connections_websocket=0\n", page)
        self.s.ramp("connections", 5, 5, 100)
        self.s.set_field("connections", 9)  # a set value stops the ramp
        time.sleep(0.05)
        self.assertEqual(self.s.fields()["connections"], "9")

    def test_enforce_node_state_recorded_and_cleared(self):
        body = b'{"state":"GROUP_CONNECTIONS_ALLOWED"}'
        st, _, _ = self.req("POST", "/rest-api/cdn/enforce_node_state", body, {"Content-Type": "application/json"})
        self.assertEqual(st, 200)
        self.assertEqual(self.s.cdn_forced(), "GROUP_CONNECTIONS_ALLOWED")
        st, _, reply = self.req("POST", "/rest-api/cdn/show_node_state", b"{}")
        self.assertEqual(json.loads(reply), {"processingState": "GROUP_CONNECTIONS_ALLOWED"})
        self.assertEqual(self.req("POST", "/rest-api/cdn/enforce_node_state", b'{"state":"BOGUS"}')[0], 400)
        self.assertEqual(self.s.cdn_forced(), "GROUP_CONNECTIONS_ALLOWED")
        st, _, _ = self.req("POST", "/rest-api/cdn/enforce_node_state", b"")
        self.assertEqual(st, 200)
        self.assertIsNone(self.s.cdn_forced())
        hist = json.loads(self.req("GET", "/_twin/cdn", None, CONTROL)[2])["history"]
        self.assertEqual([(h["status"], h.get("state"), h["content_length"]) for h in hist],
                         [(200, "GROUP_CONNECTIONS_ALLOWED", "37"), (400, None, "17"), (200, None, "0")])
        self.s.configure(rest_status=500)
        self.assertEqual(self.req("POST", "/rest-api/cdn/enforce_node_state", b"")[0], 500)
        self.s.configure(rest_status=200, mode="never")
        self.assertEqual(self.req("POST", "/rest-api/cdn/enforce_node_state", b"")[0], 503, "WCS down")

    def test_post_without_length_is_refused(self):
        import http.client

        c = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=5)
        self.addCleanup(c.close)
        c.putrequest("POST", "/rest-api/cdn/enforce_node_state")
        c.endheaders()
        self.assertEqual(c.getresponse().status, 411)
        self.assertEqual(self.s.cdn_history(), [])

    def test_deactivation_script_records(self):
        with tempfile.TemporaryDirectory(prefix="wcs-deact-") as d:
            t = wcs.make_install_tree(d)
            self.assertIsNone(t.deactivation())
            script = os.path.join(t.bin_dir, "deactivation.sh")
            r = subprocess.run([script], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
            self.assertEqual(r.returncode, 0, r.stderr)
            rec = t.deactivation()
            self.assertEqual((rec["count"], rec["argv"]), (1, [script]))
            self.assertAlmostEqual(rec["times"][0], time.time(), delta=5)
            open(os.path.join(t.activation_dir, "fail"), "w").close()
            r = subprocess.run([script], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
            self.assertEqual(r.returncode, 1)
            self.assertEqual(t.deactivation()["count"], 2)


if __name__ == "__main__":
    unittest.main()
