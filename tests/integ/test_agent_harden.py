"""Failure handling of `run` (issue 9, items 7, 8, 9, 15): a SIGTERM or
SIGINT, a configuration error in user data, a temporary failure and a state
folder the agent cannot write must never leave a lifecycle hook or a
CloudFormation resource waiting.

Each test has a launch hook and a CloudFormation resource waiting for this
instance (the twin's seeded ones) and checks what they were told.
"""

import json
import os
import signal
import socket
import threading
import time
import unittest

from twin_testlib import TwinTestCase


class Forwarder:
    """A TCP port that refuses connections until start() and then forwards
    them to target (host, port): an AWS endpoint that comes up late."""

    def __init__(self, target, scheme="http"):
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.sock = None
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)

    def start(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        if self.sock is not None:
            self.sock.close()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(self.target)
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass


class HardenCase(TwinTestCase):
    twin_scope = "class"
    use_aws = True
    fake_wcs = True
    need_agent = True
    agent_timeout = 90

    def setUp(self):
        super().setUp()
        self.seeded = s = self.aws.seeded
        self.signal_config = "[signal]\nlifecycle_hook = %s\nasg = %s\ncfn_stack = %s\ncfn_resource = %s\n" % (
            s["hook_name"],
            s["asg_name"],
            s["cfn_stack"],
            s["cfn_resource"],
        )
        self.write_config(self.signal_config)

    def calls(self, action):
        return [c for c in self.aws.endpoint.calls() if c["action"] == action]

    def hook_results(self):
        return [c["params"]["LifecycleActionResult"] for c in self.calls("CompleteLifecycleAction")]

    def cfn_signals(self):
        return self.aws.endpoint.signals(self.seeded["cfn_stack"], self.seeded["cfn_resource"])

    def load_state(self):
        with open(os.path.join(self.state_dir, "state.json")) as f:
            return json.load(f)

    def steps(self, doc=None):
        return {x["name"]: x for x in (doc or self.load_state())["steps"]}

    def assert_failure_signalled(self, stderr, cause):
        """ABANDON to the hook, FAILURE to CloudFormation (which carries no
        reason: the agent logs it on the signal line)."""
        self.assertEqual(self.hook_results(), ["ABANDON"], stderr)
        sig = self.cfn_signals()
        self.assertEqual([x["status"] for x in sig], ["FAILURE"], sig)
        lines = [x for x in stderr.splitlines() if "FAILURE" in x and cause in x]
        self.assertTrue(lines, stderr)


class InterruptTest(HardenCase):
    """Item 7: SIGTERM / SIGINT while `ready` waits."""

    def wait_for_step(self, p, name, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.assertIsNone(p.poll(), "the agent ended early")
            try:
                if self.steps()[name]["result"] != "pending":
                    return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        self.fail("step %s not reached" % name)

    def interrupt_during_ready(self, signum, name):
        self.stats.configure(mode="never")
        p = self.start_agent("run", global_args=("--set", "ready.timeout=120"))
        self.wait_for_step(p, "service")
        time.sleep(0.5)  # well inside the ready wait
        t0 = time.monotonic()
        os.kill(p.pid, signum)
        out, err = p.communicate(timeout=30)
        took = time.monotonic() - t0
        self.assertEqual(p.returncode, 75, err)
        self.assertLess(took, 5, err)
        doc = self.load_state()
        self.assertEqual(doc["run"]["result"], "failed")
        self.assertEqual(doc["run"]["exit_code"], 75)
        st = self.steps(doc)
        self.assertEqual(st["ready"]["result"], "failed")
        self.assertEqual(st["ready"]["error"], "interrupted by %s" % name)
        self.assertEqual(st["register"]["result"], "skipped")
        self.assertEqual(st["signal"]["result"], "changed", st["signal"])
        self.assertIn("failed at ready: interrupted by %s" % name, err.splitlines()[-1])
        self.assert_failure_signalled(err, "interrupted by %s" % name)

    def test_sigterm_during_ready_abandons_and_exits_75(self):
        self.interrupt_during_ready(signal.SIGTERM, "SIGTERM")

    def test_sigint_during_ready_abandons_and_exits_75(self):
        self.interrupt_during_ready(signal.SIGINT, "SIGINT")

    def test_sigterm_stops_a_child(self):
        # The service step's restart command hangs; SIGTERM ends it and the run.
        hang = os.path.join(self.tmp, "hang.py")
        with open(hang, "w") as f:
            f.write("import time\ntime.sleep(600)\n")
        self.write_config(self.signal_config + "[wcs]\nrestart_command = python3 %s\n" % hang)
        p = self.start_agent("run")
        # The state is written after a step that changed something: configure is the last before service.
        self.wait_for_step(p, "configure")
        time.sleep(1.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 75, err)
        self.assertLess(time.monotonic() - t0, 5, err)
        self.assertEqual(self.steps()["service"]["error"], "interrupted by SIGTERM")
        self.assert_failure_signalled(err, "interrupted by SIGTERM")


class UserDataConfigErrorTest(HardenCase):
    """Item 8: a typo in the user-data overlay, a missing {tag:...}."""

    def test_typo_in_user_data_signals_failure_and_exits_78(self):
        self.imds.set_metadata(user_data=b"#wcs-agent\n[cdn]\nrole = edgee\n")
        r = self.run_agent("run")
        self.assertEqual(r.rc, 78, r.stderr)
        self.assertIn("edgee", r.stderr)
        doc = self.load_state()
        self.assertEqual(doc["instance_id"], self.seeded["instance_id"])
        self.assertEqual(doc["run"]["result"], "failed")
        self.assertEqual(doc["run"]["exit_code"], 78)
        st = self.steps(doc)
        self.assertEqual(st["discover"]["result"], "failed")
        self.assertIn("edgee", st["discover"]["error"])
        self.assertEqual(st["configure"]["result"], "skipped")
        self.assert_failure_signalled(r.stderr, "edgee")

    def test_missing_tag_signals_failure(self):
        self.imds.set_metadata(user_data=b"#wcs-agent\n[cdn]\nrole = edge\npoint_of_entry = {tag:no-such-tag}\n")
        r = self.run_agent("run")
        self.assertEqual(r.rc, 78, r.stderr)
        self.assertIn("no-such-tag", self.steps()["discover"]["error"])
        self.assert_failure_signalled(r.stderr, "no-such-tag")

    def test_without_hook_or_stack_the_state_is_untouched(self):
        self.write_config("")
        self.imds.set_metadata(user_data=b"#wcs-agent\n[cdn]\nrole = edgee\n")
        r = self.run_agent("run")
        self.assertEqual(r.rc, 78, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.state_dir, "state.json")))
        self.assertEqual(self.calls("CompleteLifecycleAction"), [])


class RetryTest(HardenCase):
    """Item 9: a temporary failure is retried inside agent.deadline."""

    def setUp(self):
        super().setUp()
        scheme, rest = self.aws.moto.url.split("://", 1)
        host, port = rest.rstrip("/").split(":")
        self.late = Forwarder((host, int(port)), scheme)  # TLS passes through untouched
        self.addCleanup(self.late.stop)
        self.write_config(
            self.signal_config + "[licence]\nkey = ssm:%s\n" % self.seeded["ssm_licence_name"]
        )

    def test_ssm_refused_at_first_is_retried(self):
        p = self.start_agent("run", env={"AWS_ENDPOINT_URL_SSM": self.late.url})
        time.sleep(3)
        self.assertIsNone(p.poll(), "the run gave up on a refused connection")
        self.late.start()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        st = self.steps()
        self.assertEqual(st["secrets"]["result"], "ok")
        self.assertGreaterEqual(st["secrets"]["attempts"], 2)
        self.assertIn("retrying in", err)
        self.assertEqual(self.hook_results(), ["CONTINUE"])

    def test_gives_up_before_the_deadline(self):
        t0 = time.monotonic()
        r = self.run_agent(
            "run", env={"AWS_ENDPOINT_URL_SSM": self.late.url}, global_args=("--set", "agent.deadline=20")
        )
        took = time.monotonic() - t0
        self.assertEqual(r.rc, 75, r.stderr)
        self.assertLess(took, 20, r.stderr)
        st = self.steps()
        self.assertEqual(st["secrets"]["result"], "failed")
        self.assertGreaterEqual(st["secrets"]["attempts"], 2)
        self.assertIn("deadline", r.stderr)
        self.assertEqual(self.hook_results(), ["ABANDON"])

    def test_definite_failure_is_not_retried(self):
        self.write_config(self.signal_config + "[licence]\nkey = ssm:/wcs/no-such-parameter\n")
        r = self.run_agent("run")
        self.assertEqual(r.rc, 1, r.stderr)
        self.assertEqual(self.steps()["secrets"]["attempts"], 1)
        self.assertEqual(self.hook_results(), ["ABANDON"])


def as_nobody():
    os.setgid(65534)
    os.setuid(65534)


@unittest.skipUnless(os.geteuid() == 0, "needs root to start the agent as another user")
class NonRootTest(HardenCase):
    """Item 15: a user that cannot write the state folder."""

    def run_as_nobody(self, *args):
        import subprocess

        from twin_testlib import agent_command

        for d in (self.tmp, self.home):
            os.chmod(d, 0o755)
        # The twin's CA bundle (AWS over TLS) must be readable by that user too.
        bundle = self.twin_env().get("AWS_CA_BUNDLE")
        if bundle:
            os.chmod(os.path.dirname(bundle), 0o755)
            os.chmod(bundle, 0o644)
        os.chmod(self.config_path, 0o644)
        argv, env = agent_command(
            args,
            config_path=self.config_path,
            state_dir=self.state_dir,
            imds_url=self.imds.url,
            env=self.twin_env(),
            home=self.home,
        )
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, preexec_fn=as_nobody)
        return p

    def test_non_root_says_run_as_root_and_signals_failure(self):
        os.chmod(self.state_dir, 0o755)  # root's, not writable by nobody
        r = self.run_as_nobody("run")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("run as root (or give --state-dir and wcs.home you can write)", r.stderr)
        self.assertNotIn("mkdir: Permission denied", r.stderr)
        self.assert_failure_signalled(r.stderr, "cannot write the state folder")

    def test_read_only_state_dir_signals_failure(self):
        os.chown(self.state_dir, 65534, 65534)
        os.chmod(self.state_dir, 0o500)
        r = self.run_as_nobody("run")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assert_failure_signalled(r.stderr, "cannot write the state folder %s" % self.state_dir)


if __name__ == "__main__":
    unittest.main()
