"""The real wcs-agent's `run` and `status` against the IMDS twin: the state
document (design.md §4), status exit codes, the run lock, the state of
another instance, step selection, and what goes to stdout and stderr
(design.md §4, §5)."""

import datetime
import fcntl
import json
import os
import re
import threading
import time
import unittest

from twin_testlib import TwinTestCase, dir_snapshot

STEPS = (
    "discover",
    "secrets",
    "update",
    "configure",
    "licence",
    "tls",
    "service",
    "ready",
    "register",
    "signal",
)
NOT_IN_BUILD = "not available in this build"
# A first run on the fake WCS with the base config only (no secrets, no
# update, no licence, no certificate, nothing to register or signal).
FIRST_RUN = {
    "discover": "ok",
    "secrets": "skipped",
    "update": "skipped",
    "configure": "changed",
    "licence": "skipped",
    "tls": "skipped",
    "service": "changed",
    "ready": "ok",
    "register": "skipped",
    "signal": "skipped",
}
# A progress line: "wcs-agent: <step>: <result> (<N> ms)[: detail]".
PROGRESS_RE = re.compile(
    r"^wcs-agent: (%s): (ok|changed|skipped|failed) \(\d+ ms\)(: \S.*)?$" % "|".join(STEPS)
)
RFC3339_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
SUMMARY_RE = re.compile(
    r"^wcs-agent: (ready|finished) in \d+\.\d\d s \(10 steps: (\d+) changed, (\d+) ok, (\d+) skipped\)$"
)
OTHER_INSTANCE = "i-0aaaabbbbccccdddd"


def parse_time(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


class AgentRunCase(TwinTestCase):
    twin_scope = "class"
    need_agent = True
    fake_wcs = True  # configure, service and ready need an installed WCS
    agent_timeout = 30

    @property
    def state_path(self):
        return os.path.join(self.state_dir, "state.json")

    def load_state(self):
        with open(self.state_path, encoding="utf-8") as f:
            return json.load(f)

    def status_json(self):
        r = self.run_agent("status", "--json")
        try:
            doc = json.loads(r.stdout)
        except ValueError as e:
            self.fail("status --json printed no JSON (%s): %r" % (e, r))
        return r.rc, doc, r

    def good_run(self, *args, **kw):
        r = self.run_agent("run", *args, **kw)
        self.assertEqual(r.rc, 0, r.stderr)
        return r

    def assert_state_shape(self, doc, result, exit_code):
        self.assertEqual(doc["version"], 1)
        self.assertIsInstance(doc["instance_id"], str)
        run = doc["run"]
        self.assertEqual(set(run), {"id", "started", "finished", "result", "exit_code"})
        self.assertRegex(run["id"], r"^[0-9a-f]{16,}$")
        self.assertRegex(run["started"], RFC3339_RE)
        self.assertEqual(run["result"], result)
        self.assertEqual(run["exit_code"], exit_code)
        if result != "running":
            self.assertRegex(run["finished"], RFC3339_RE)
            self.assertLessEqual(parse_time(run["started"]), parse_time(run["finished"]))
        steps = doc["steps"]
        self.assertEqual([s["name"] for s in steps], list(STEPS), "10 steps, in order")
        for s in steps:
            self.assertIn(s["result"], ("ok", "changed", "skipped", "failed", "pending"), s)
            self.assertIsInstance(s["duration_ms"], int, s)
            self.assertGreaterEqual(s["duration_ms"], 0)
            self.assertIsInstance(s["attempts"], int, s)
            self.assertIsInstance(s.get("detail", ""), str)
            if "started" in s:
                self.assertRegex(s["started"], RFC3339_RE)
        self.assertIsInstance(doc.get("applied"), dict)
        self.assertIsInstance(doc.get("ready"), dict)
        self.assertIsInstance(doc["ready"].get("signalled"), list)
        return {s["name"]: s for s in steps}

    def wait_for_state(self, pred, proc, timeout=10.0):
        """Polls state.json until pred(doc) holds; fails if proc ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                doc = self.load_state()
                if pred(doc):
                    return doc
            except (OSError, ValueError):
                pass
            if proc.poll() is not None:
                out, err = proc.communicate()
                self.fail("the run ended (rc %s) before the state was seen: %s" % (proc.returncode, err))
            time.sleep(0.02)
        self.fail("state.json never reached the expected state")

    def hold_lock(self):
        """Takes <state_dir>/lock as a running agent would; returns the fd
        (closed, which releases the lock, at cleanup)."""
        fd = os.open(os.path.join(self.state_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
        self.addCleanup(os.close, fd)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd


class StateDocumentTest(AgentRunCase):
    def test_run_then_status_json(self):
        r = self.good_run()
        self.assertEqual(r.stdout, "")
        rc, doc, sr = self.status_json()
        self.assertEqual(rc, 0, sr.stderr)
        steps = self.assert_state_shape(doc, "ok", 0)
        self.assertEqual(doc["instance_id"], self.imds.metadata.get("instance_id"))
        self.assertEqual(steps["discover"]["result"], "ok")
        self.assertEqual(steps["discover"]["attempts"], 1)
        self.assertRegex(steps["discover"]["started"], RFC3339_RE)
        self.assertIn(self.imds.metadata.get("instance_id"), steps["discover"]["detail"])
        self.assertEqual({n: s["result"] for n, s in steps.items()}, FIRST_RUN)
        for name in STEPS[1:]:
            self.assertTrue(steps[name]["detail"], name)
            self.assertNotEqual(steps[name]["detail"], NOT_IN_BUILD, name)
        self.assertEqual(doc["ready"]["signalled"], [], "nothing to signal outside systemd")
        self.assertRegex(doc["ready"]["at"], RFC3339_RE)
        self.assertEqual(doc, self.load_state(), "status --json prints the state document")

    def test_every_run_gets_a_new_id(self):
        self.good_run()
        first = self.load_state()["run"]["id"]
        self.good_run()
        self.assertNotEqual(self.load_state()["run"]["id"], first)

    def test_state_file_mode_and_no_temp_files(self):
        self.good_run()
        self.assertEqual(os.stat(self.state_path).st_mode & 0o777, 0o600)
        self.assertEqual(sorted(os.listdir(self.state_dir)), ["lock", "state.json"])
        self.assertEqual(os.stat(os.path.join(self.state_dir, "lock")).st_mode & 0o077, 0)
        # Keep the old file open: a file replaced by rename keeps its old
        # bytes and loses its last link; one rewritten in place does not.
        with open(self.state_path, "rb") as old:
            old_bytes = old.read()
            self.good_run()
            self.assertEqual(os.fstat(old.fileno()).st_nlink, 0, "state.json rewritten in place")
            old.seek(0)
            self.assertEqual(old.read(), old_bytes, "state.json rewritten in place")
        self.assertEqual(sorted(os.listdir(self.state_dir)), ["lock", "state.json"])
        self.assertEqual(os.stat(self.state_path).st_mode & 0o777, 0o600)

    def test_state_file_is_always_whole(self):
        """Read the state file as often as possible during a slowed-down run:
        every read is a complete document (atomic replacement)."""
        self.good_run()
        self.imds.set_faults(latency_ms=40)
        p = self.start_agent("run")
        reads = 0
        while p.poll() is None:
            try:
                with open(self.state_path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                self.fail("state.json vanished during the run")
            doc = json.loads(data)  # a torn write fails here
            self.assertEqual(doc["version"], 1)
            reads += 1
        out, err = p.communicate()
        self.assertEqual(p.returncode, 0, err)
        self.assertGreater(reads, 10)
        self.assertEqual(sorted(os.listdir(self.state_dir)), ["lock", "state.json"])

    def test_state_dir_created_0700(self):
        os.rmdir(self.state_dir)
        self.state_dir = os.path.join(self.tmp, "new", "state")
        self.good_run()
        self.assertEqual(os.stat(self.state_dir).st_mode & 0o777, 0o700)
        self.assertTrue(os.path.isfile(self.state_path))

    def test_state_of_another_instance_is_set_aside(self):
        self.good_run()
        with open(self.state_path, encoding="utf-8") as f:
            doc = json.load(f)
        doc["instance_id"] = OTHER_INSTANCE
        doc["applied"] = {"config_sha256": "ab" * 32, "wcs_version": "5.2.1999"}
        old = json.dumps(doc, indent=1).encode()
        with open(self.state_path, "wb") as f:
            f.write(old)
        r = self.good_run()
        self.assertIn("state.json.previous", r.stderr)
        self.assertIn(OTHER_INSTANCE, r.stderr)
        with open(self.state_path + ".previous", "rb") as f:
            previous = f.read()
        prev = json.loads(previous)
        self.assertEqual(
            (prev["instance_id"], prev["run"]), (OTHER_INSTANCE, doc["run"]),
            "state.json.previous must hold the other instance's own last run, not this run's start",
        )
        self.assertEqual(previous, old, "the other instance's state is kept byte for byte")
        new = self.load_state()
        self.assertEqual(new["instance_id"], self.imds.metadata.get("instance_id"))
        for k, v in doc["applied"].items():
            self.assertNotEqual(new["applied"].get(k), v, "nothing applied on another instance is carried over")
        self.assert_state_shape(new, "ok", 0)
        self.assertEqual(sorted(os.listdir(self.state_dir)), ["lock", "state.json", "state.json.previous"])

    def test_unreadable_state_is_set_aside(self):
        with open(self.state_path, "w") as f:
            f.write("{ this is not json")
        r = self.good_run()
        self.assertTrue(os.path.exists(self.state_path + ".previous"), r.stderr)
        self.assert_state_shape(self.load_state(), "ok", 0)


class StatusTest(AgentRunCase):
    def test_no_state_is_3(self):
        r = self.run_agent("status")
        self.assertEqual(r.rc, 3, r)
        r = self.run_agent("status", "--json")
        self.assertEqual(r.rc, 3, r)
        self.assertEqual(sorted(os.listdir(self.state_dir)), [], "status creates nothing")
        self.assertEqual(self.imds.requests(), [], "status does not call IMDS")

    def test_good_run_is_0(self):
        self.good_run()
        r = self.run_agent("status")
        self.assertEqual(r.rc, 0, r)
        for name in STEPS:
            self.assertRegex(r.stdout, r"(?m)^%s\s+(ok|skipped|changed)\b" % name)

    def test_failed_run_is_1(self):
        self.imds.set_faults(disabled=True)
        r = self.run_agent("run")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.stdout, "")
        self.assertRegex(r.stderr, r"(?m)^wcs-agent: failed at discover: .+$")
        self.assertIn("disabled", r.stderr)
        rc, doc, _ = self.status_json()
        self.assertEqual(rc, 1)
        steps = self.assert_state_shape(doc, "failed", 1)
        self.assertEqual(steps["discover"]["result"], "failed")
        self.assertTrue(steps["discover"].get("error"), steps["discover"])
        for name in STEPS[1:]:
            self.assertEqual(steps[name]["result"], "skipped", name)
        r = self.run_agent("status")
        self.assertEqual(r.rc, 1)
        self.assertRegex(r.stdout, r"(?m)^discover\s+failed\b")

    def test_temporary_failure_is_recorded_as_75(self):
        closed = ("--set", "imds.endpoint=http://127.0.0.1:9", "--set", "imds.attempts=1")
        r = self.run_agent("run", global_args=closed)
        self.assertEqual(r.rc, 75, r)
        self.assertIn("refused", r.stderr)
        rc, doc, _ = self.status_json()
        self.assertEqual(rc, 1)
        self.assert_state_shape(doc, "failed", 75)

    def write_running_state(self):
        """The state a run leaves while it is between steps: run.result
        "running", the first steps done; returns its bytes."""
        self.good_run()
        doc = self.load_state()
        doc["run"].update(
            {"id": "feedfacefeedfacefeedfacefeedface", "finished": "", "result": "running", "exit_code": 0}
        )
        for s in doc["steps"][1:]:
            s.update({"result": "pending", "detail": "", "duration_ms": 0, "attempts": 0})
            s.pop("started", None)
        data = json.dumps(doc, indent=1).encode()
        with open(self.state_path, "wb") as f:
            f.write(data)
        return data

    def test_run_in_progress_is_4_and_a_second_run_is_75(self):
        """While a run holds the lock (held here with flock, as the agent
        does): status says 4 at once, a second run exits 75 with a clear
        message and changes nothing."""
        self.write_running_state()
        self.hold_lock()
        t0 = time.monotonic()
        r = self.run_agent("status")
        self.assertEqual(r.rc, 4, r)
        self.assertLess(time.monotonic() - t0, 2, "status must not wait without --wait")
        self.assertRegex(r.stdout, r"(?m)^secrets\s+pending\b")
        rc, doc, _ = self.status_json()
        self.assertEqual(rc, 4)
        self.assert_state_shape(doc, "running", 0)
        before = dir_snapshot(self.state_dir)
        second = self.run_agent("run")
        self.assertEqual(second.rc, 75, second)
        self.assertEqual(second.stdout, "")
        self.assertRegex(second.stderr, r"another wcs-agent run holds the lock")
        self.assertIn(os.path.join(self.state_dir, "lock"), second.stderr)
        self.assertEqual(dir_snapshot(self.state_dir), before, "the refused run changed the state folder")

    def lock_is_held(self):
        fd = os.open(os.path.join(self.state_dir, "lock"), os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def test_real_run_blocked_on_imds_holds_the_lock(self):
        """A real run waiting on IMDS (token blackhole, long timeout) holds
        the lock: status says 4 at once and a second run exits 75."""
        self.imds.set_faults(token_blackhole=True)
        p = self.start_agent("run", global_args=("--set", "imds.timeout_ms=2500", "--set", "imds.attempts=1"))
        deadline = time.monotonic() + 2
        while not (os.path.exists(os.path.join(self.state_dir, "lock")) and self.lock_is_held()):
            self.assertIsNone(p.poll(), "the run ended before taking the lock")
            self.assertLess(time.monotonic(), deadline, "the run never took the lock")
            time.sleep(0.02)
        t0 = time.monotonic()
        r = self.run_agent("status")
        self.assertEqual(r.rc, 4, r)
        self.assertLess(time.monotonic() - t0, 2, "status must not wait without --wait")
        second = self.run_agent("run")
        self.assertEqual(second.rc, 75, second)
        self.assertIn("another wcs-agent run holds the lock", second.stderr)
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 75, err)
        self.assertEqual(out, "")
        self.assertRegex(err, r"(?i)hop limit")
        r = self.run_agent("status")
        self.assertEqual(r.rc, 1, r)

    def test_real_concurrent_runs(self):
        """Two real runs started together on a slowed-down twin: one of them
        runs, the other either waits its turn or is refused with 75 (never
        a second writer); the state ends as a good run's."""
        self.imds.set_faults(latency_ms=20)
        procs = [self.start_agent("run") for _ in range(3)]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=30)
            results.append((p.returncode, err))
            self.assertEqual(out, "")
        self.assertIn(0, [rc for rc, _ in results], results)
        for rc, err in results:
            self.assertIn(rc, (0, 75), err)
            if rc == 75:
                self.assertIn("another wcs-agent run holds the lock", err)
        self.assert_state_shape(self.load_state(), "ok", 0)
        self.assertEqual(self.run_agent("status").rc, 0)

    def test_lock_held_before_any_state(self):
        self.hold_lock()
        r = self.run_agent("status")
        self.assertEqual(r.rc, 4, r)
        r = self.run_agent("run")
        self.assertEqual(r.rc, 75, r)
        self.assertIn("another wcs-agent run holds the lock", r.stderr)
        self.assertEqual(sorted(os.listdir(self.state_dir)), ["lock"])

    def test_lock_held_after_a_finished_run(self):
        self.good_run()
        before = dir_snapshot(self.state_dir)
        self.hold_lock()
        self.assertEqual(self.run_agent("status").rc, 4, "the lock is held: a run is in progress")
        r = self.run_agent("run")
        self.assertEqual(r.rc, 75, r)
        self.assertEqual(dir_snapshot(self.state_dir), before)

    def test_status_wait_times_out_while_locked(self):
        self.write_running_state()
        self.hold_lock()
        t0 = time.monotonic()
        r = self.run_agent("status", "--wait", "--timeout", "1")
        took = time.monotonic() - t0
        self.assertEqual(r.rc, 4, r)
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 5)

    def test_status_wait_returns_when_the_run_ends(self):
        self.write_running_state()
        fd = os.open(os.path.join(self.state_dir, "lock"), os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)

        def finish():
            doc = self.load_state()
            doc["run"].update({"result": "ok", "finished": doc["run"]["started"]})
            tmp = self.state_path + ".tmp-test"
            with open(tmp, "w") as f:
                json.dump(doc, f)
            os.rename(tmp, self.state_path)
            os.close(fd)

        timer = threading.Timer(0.6, finish)
        timer.start()
        self.addCleanup(timer.cancel)
        t0 = time.monotonic()
        r = self.run_agent("status", "--wait", "--timeout", "20")
        self.assertEqual(r.rc, 0, r)
        self.assertGreaterEqual(time.monotonic() - t0, 0.5)
        timer.join()

    def test_interrupted_run_is_reported_and_the_next_run_converges(self):
        """A run killed mid-way leaves "running" and no lock holder."""
        self.write_running_state()
        r = self.run_agent("status")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("interrupted", r.stdout)
        self.good_run()
        self.assertEqual(self.run_agent("status").rc, 0)
        self.assert_state_shape(self.load_state(), "ok", 0)

    def test_killed_real_run(self):
        """kill -9 of a real run at any moment: the next status never says
        "running" with nobody holding the lock as a success, and the next run
        converges."""
        self.imds.set_faults(latency_ms=30)
        p = self.start_agent("run")
        time.sleep(0.3)
        p.kill()
        p.communicate()
        r = self.run_agent("status")
        self.assertIn(r.rc, (1, 3), r)
        self.imds.set_faults(latency_ms=0)
        self.good_run()
        self.assertEqual(self.run_agent("status").rc, 0)


class SelectionTest(AgentRunCase):
    def test_only(self):
        self.good_run("--only", "discover")
        steps = {s["name"]: s for s in self.load_state()["steps"]}
        self.assertEqual(steps["discover"]["result"], "ok")
        for name in STEPS[1:]:
            self.assertEqual(steps[name]["result"], "skipped")
            self.assertIn("--only", steps[name]["detail"], name)

    def test_only_always_includes_discover(self):
        self.good_run("--only", "configure,ready")
        steps = {s["name"]: s for s in self.load_state()["steps"]}
        self.assertEqual(steps["discover"]["result"], "ok")
        self.assertIn("--only", steps["secrets"]["detail"])
        self.assertNotIn("--only", steps["configure"]["detail"])

    def test_skip(self):
        self.good_run("--skip", "update,tls")
        steps = {s["name"]: s for s in self.load_state()["steps"]}
        self.assertIn("--skip", steps["update"]["detail"])
        self.assertIn("--skip", steps["tls"]["detail"])
        for name in ("secrets", "configure", "service", "ready"):
            self.assertNotIn("--skip", steps[name]["detail"], name)
        self.assertEqual(steps["configure"]["result"], "changed")

    def test_selection_errors_are_usage_errors(self):
        for args in (
            ("--only", "discover,nosuchstep"),
            ("--skip", "nosuchstep"),
            ("--only", ""),
            ("--only", "discover,,update"),
            ("--skip", "discover"),
            ("--skip", "update,discover"),
            ("--only",),
        ):
            with self.subTest(args=args):
                r = self.run_agent("run", *args)
                self.assertEqual(r.rc, 64, r)
                self.assertEqual(r.stdout, "")
                self.assertTrue(r.stderr.strip(), "a usage error says why")
                self.assertEqual(os.listdir(self.state_dir), [])
        r = self.run_agent("run", "--only", "nosuchstep")
        self.assertIn("nosuchstep", r.stderr)
        r = self.run_agent("run", "--skip", "discover")
        self.assertIn("discover", r.stderr)
        self.assertEqual(self.imds.requests(), [])


class OutputTest(AgentRunCase):
    def test_progress_lines_and_summary_on_stderr_only(self):
        r = self.good_run()
        self.assertEqual(r.stdout, "")
        lines = r.stderr.splitlines()
        for line in lines:
            self.assertTrue(line.startswith("wcs-agent: "), line)
        progress = [PROGRESS_RE.match(ln) for ln in lines]
        progress = [(m.group(1), m.group(2)) for m in progress if m is not None]
        self.assertEqual(progress, list(FIRST_RUN.items()), r.stderr)
        m = SUMMARY_RE.match(lines[-1])
        self.assertIsNotNone(m, lines[-1])
        self.assertEqual(m.group(1), "ready", "the ready step saw WCS answer")
        counts = [list(FIRST_RUN.values()).count(k) for k in ("changed", "ok", "skipped")]
        self.assertEqual([int(m.group(i)) for i in (2, 3, 4)], counts)

    def test_failure_summary(self):
        self.imds.set_faults(disabled=True)
        r = self.run_agent("run")
        self.assertEqual(r.rc, 1)
        self.assertEqual(r.stdout, "")
        progress = [PROGRESS_RE.match(ln) for ln in r.stderr.splitlines()]
        progress = [(m.group(1), m.group(2)) for m in progress if m is not None]
        self.assertEqual(progress, [("discover", "failed")] + [(n, "skipped") for n in STEPS[1:]], r.stderr)
        self.assertRegex(r.stderr.splitlines()[-1], r"^wcs-agent: failed at discover: \S.*$")

    def test_quiet_suppresses_info(self):
        r = self.run_agent("run", global_args=("-q",))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, "")
        self.imds.set_faults(disabled=True)
        r = self.run_agent("run", global_args=("-q",))
        self.assertEqual(r.rc, 1)
        self.assertNotRegex(r.stderr, r"(?m)^wcs-agent: (secrets|update):? +skipped")
        self.assertIn("failed at discover", r.stderr)

    def test_verbose_adds_lines(self):
        quiet = self.good_run()
        loud = self.run_agent("run", global_args=("-v",))
        self.assertEqual(loud.rc, 0)
        self.assertGreater(len(loud.stderr.splitlines()), len(quiet.stderr.splitlines()))

    def test_json_log_format(self):
        for fault in (False, True):
            with self.subTest(failing=fault):
                self.imds.reset()
                self.imds.set_faults(disabled=fault)
                r = self.run_agent("run", global_args=("--log-format", "json"))
                self.assertEqual(r.rc, 1 if fault else 0, r.stderr)
                self.assertEqual(r.stdout, "")
                lines = r.stderr.splitlines()
                self.assertGreaterEqual(len(lines), 11)
                docs = []
                for line in lines:
                    try:
                        d = json.loads(line)
                    except ValueError:
                        self.fail("a stderr line is not one JSON object: %r" % line)
                    self.assertIsInstance(d, dict)
                    for k in ("ts", "level", "step", "msg"):
                        self.assertIn(k, d, line)
                    self.assertRegex(d["ts"], RFC3339_RE)
                    self.assertIn(d["level"], ("debug", "info", "notice", "warning", "error"))
                    self.assertTrue(d["step"] is None or d["step"] in STEPS, d)
                    self.assertIsInstance(d["msg"], str)
                    self.assertFalse(d["msg"].startswith("wcs-agent:"), d)
                    docs.append(d)
                if fault:
                    self.assertEqual(docs[-1]["level"], "error")
                    self.assertRegex(docs[-1]["msg"], r"^failed at discover: ")
                    imds_errs = [d for d in docs if "disabled" in d["msg"] and d["level"] == "error"]
                    self.assertTrue(imds_errs, docs)
                    self.assertEqual(imds_errs[0]["step"], "discover", "an error inside a step names it")
                else:
                    self.assertEqual(docs[-1]["level"], "info")
                    self.assertRegex(docs[-1]["msg"], r"^(ready|finished) in .* \(10 steps: ")

    def test_journal_stream_priorities(self):
        env = {"JOURNAL_STREAM": "8:123456"}
        r = self.run_agent("run", env=env)
        self.assertEqual(r.rc, 0, r)
        lines = r.stderr.splitlines()
        progress = [ln for ln in lines if PROGRESS_RE.match(ln[3:])]
        self.assertEqual(len(progress), 10, r.stderr)
        for line in progress + [lines[-1]]:
            self.assertRegex(line, r"^<6>wcs-agent: ")
        for line in lines:
            self.assertRegex(line, r"^<[5-7]>wcs-agent: ", "a good run logs no warning or error")
        self.assertTrue(SUMMARY_RE.match(lines[-1][3:]), lines[-1])
        self.imds.set_faults(disabled=True)
        r = self.run_agent("run", env=env)
        self.assertEqual(r.rc, 1)
        for line in r.stderr.splitlines():
            self.assertRegex(line, r"^<[0-7]>")
        self.assertRegex(r.stderr.splitlines()[-1], r"^<3>wcs-agent: failed at discover")
        r = self.run_agent("run", env={"JOURNAL_STREAM": None})
        self.assertNotRegex(r.stderr, r"(?m)^<\d>")

    def test_usage_errors(self):
        for args in (
            (),
            ("nosuchcommand",),
            ("run", "extra-argument"),
            ("run", "--nosuchoption"),
            ("status", "--nosuchoption"),
            ("status", "--timeout", "0"),
            ("status", "--timeout", "abc"),
            ("status", "extra"),
            ("metadata", "a", "b"),
            ("check-config", "extra"),
            ("version", "extra"),
            ("--log-format", "xml", "run"),
            ("--state-dir", "relative/dir", "run"),
            ("--no-such-global", "run"),
            ("-x", "run"),
            ("plan", "--only", "discover"),
        ):
            with self.subTest(args=args):
                r = self.run_agent(*args)
                self.assertEqual(r.rc, 64, r)
                self.assertEqual(r.stdout, "")
                self.assertTrue(r.stderr.startswith("wcs-agent: "), r.stderr)
                self.assertEqual(os.listdir(self.state_dir), [])
        self.assertEqual(self.imds.requests(), [])

    def test_help_and_version(self):
        r = self.run_agent("--help")
        self.assertEqual(r.rc, 0)
        self.assertIn("usage: wcs-agent", r.stdout)
        for cmd in ("run", "plan", "status", "metadata", "check-config", "deregister", "seal", "version"):
            self.assertIn(cmd, r.stdout)
        r = self.run_agent("version")
        self.assertEqual(r.rc, 0, r)
        for lib in ("wcs-agent", "curl", "OpenSSL", "cJSON", "inih", "expat"):
            self.assertIn(lib.lower(), r.stdout.lower(), lib)


if __name__ == "__main__":
    unittest.main()
