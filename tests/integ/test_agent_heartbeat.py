"""Lifecycle heartbeats while a launch hook waits and a step runs long
(issue: end to end, item 2).  The hook's HeartbeatTimeout is 30 s (the AWS
minimum), so the agent sends RecordLifecycleActionHeartbeat every 10 s while
`ready` waits for the stats page; a denied DescribeLifecycleHooks does not
stop the run."""

import json
import os
import unittest

from twin_testlib import TwinTestCase

# WCS answers 11.5 s after its restart: one heartbeat period (10 s) passes inside `ready`.
SLOW_START_MS = 11500


class StateWrites:
    """Counts the atomic writes of state.json (renames into the folder) with inotify."""

    IN_MOVED_FROM = 0x40
    IN_MOVED_TO = 0x80

    def __init__(self, folder):
        import ctypes

        self.libc = ctypes.CDLL(None, use_errno=True)
        self.folder = folder

    def __enter__(self):
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK)
        if self.fd < 0:
            raise unittest.SkipTest("no inotify")
        if self.libc.inotify_add_watch(
            self.fd, self.folder.encode(), self.IN_MOVED_FROM | self.IN_MOVED_TO
        ) < 0:
            os.close(self.fd)
            raise unittest.SkipTest("no inotify watch")
        self.names = []
        return self

    def __exit__(self, *exc):
        import struct

        data = b""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        os.close(self.fd)
        off = 0
        while off + 16 <= len(data):
            # Watching both halves of a rename keeps the kernel from merging the
            # identical IN_MOVED_TO events of successive writes into one.
            _, mask, _, n = struct.unpack_from("iIII", data, off)
            if mask & self.IN_MOVED_TO:
                self.names.append(data[off + 16 : off + 16 + n].rstrip(b"\0").decode())
            off += 16 + n

    def count(self):
        return self.names.count("state.json")


class HeartbeatTest(TwinTestCase):
    twin_scope = "class"
    use_aws = True
    aws_kwargs = {"names": {"hook_heartbeat_timeout": 30}}
    fake_wcs = True
    stats_kwargs = {"delay_ms": SLOW_START_MS}
    need_agent = True
    agent_timeout = 90

    def setUp(self):
        super().setUp()
        s = self.aws.seeded
        self.write_config(
            "[ready]\ninterval_ms = 100\ntimeout = 60\n"
            "[signal]\nlifecycle_hook = %s\nasg = %s\n" % (s["hook_name"], s["asg_name"])
        )

    def calls(self, action):
        return [c for c in self.aws.endpoint.calls() if c["action"] == action]

    def steps(self):
        with open(os.path.join(self.state_dir, "state.json")) as f:
            return {x["name"]: x for x in json.load(f)["steps"]}

    def test_heartbeats_while_ready_waits(self):
        r = self.run_agent("run", global_args=("-v",))
        self.assertEqual(r.rc, 0, r.stderr)
        ready = self.steps()["ready"]
        self.assertEqual(ready["result"], "ok")
        self.assertGreaterEqual(ready["duration_ms"], SLOW_START_MS - 1000)
        hooks = self.calls("DescribeLifecycleHooks")
        self.assertEqual(len(hooks), 1, hooks)
        beats = self.calls("RecordLifecycleActionHeartbeat")
        # 10 s period (a third of 30 s) inside an ~11.5 s wait: one, maybe two.
        self.assertIn(len(beats), (1, 2), beats)
        for b in beats:
            self.assertTrue(b["auth_ok"], b)
            self.assertEqual(b["params"]["LifecycleHookName"], self.aws.seeded["hook_name"])
            self.assertEqual(b["params"]["InstanceId"], self.aws.seeded["instance_id"])
        done = self.calls("CompleteLifecycleAction")
        self.assertEqual(len(done), 1, done)
        self.assertEqual(done[0]["params"]["LifecycleActionResult"], "CONTINUE")
        # Heartbeats come before the completion, never after.
        self.assertLess(max(b["time"] for b in beats), done[0]["time"])

    def test_denied_describe_hooks_does_not_fail_the_run(self):
        self.aws.endpoint.deny("DescribeLifecycleHooks")
        r = self.run_agent("run", global_args=("-v",))  # the period is a detail line
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertIn("HeartbeatTimeout of", r.stderr)
        self.assertEqual(len(self.calls("CompleteLifecycleAction")), 1)
        # The first heartbeat is due after 10 s (a third of the 30 s minimum); the 20 s
        # default period that follows does not elapse inside an 11.5 s wait.
        self.assertLessEqual(len(self.calls("RecordLifecycleActionHeartbeat")), 1)

    def test_no_hook_calls_before_a_heartbeat_is_due(self):
        # WCS ready at once: the run ends before the first heartbeat is due, so neither
        # DescribeLifecycleHooks nor a heartbeat is sent; state.json is written at the
        # start, after each step that changed something, and at the end (not per step).
        self.stats.configure(delay_ms=0)
        with StateWrites(self.state_dir) as w:
            r = self.run_agent("run", global_args=("-v",))
        self.assertEqual(r.rc, 0, r.stderr)
        steps = self.steps()
        acted = [n for n, x in steps.items() if x["result"] in ("changed", "failed")]
        self.assertGreaterEqual(len(acted), 2, steps)
        self.assertEqual(w.count(), 2 + len(acted), (acted, w.count()))
        self.assertEqual(self.calls("DescribeLifecycleHooks"), [])
        self.assertEqual(self.calls("RecordLifecycleActionHeartbeat"), [])
        self.assertEqual(len(self.calls("CompleteLifecycleAction")), 1)


if __name__ == "__main__":
    unittest.main()
