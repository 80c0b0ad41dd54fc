"""What `run` prints (issue 9, item 18): one progress line per step by
default, detail lines at -v; --log-format json carries result, duration_ms
and detail as fields; counts read "1 poll", not "1 polls"."""

import json
import re
import unittest

from twin_testlib import TwinTestCase

STEPS = ("discover", "secrets", "update", "configure", "licence", "tls", "service", "ready", "register", "signal")
PROGRESS_RE = re.compile(r"^wcs-agent: (\w+): (ok|changed|skipped|failed) \(\d+ ms\)(: .*)?$")


class ProgressTest(TwinTestCase):
    twin_scope = "class"
    fake_wcs = True
    need_agent = True

    def test_one_line_per_step_by_default(self):
        r = self.run_agent("run")
        self.assertEqual(r.rc, 0, r.stderr)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), len(STEPS) + 1, r.stderr)
        self.assertEqual([PROGRESS_RE.match(l).group(1) for l in lines[:-1]], list(STEPS), r.stderr)
        self.assertRegex(lines[-1], r"^wcs-agent: ready in \d+\.\d\d s \(10 steps: ")

    def test_detail_lines_at_v_and_singular_counts(self):
        r = self.run_agent("run", global_args=("-v",))
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertGreater(len(r.stderr.splitlines()), len(STEPS) + 1)
        self.assertRegex(r.stderr, r"ready: waiting for ")
        self.assertRegex(r.stderr, r"answered after \d+ ms \(1 poll\)")
        self.assertNotRegex(r.stderr, r"\b1 (polls|days|attempts|steps)\b")

    def test_json_progress_fields(self):
        r = self.run_agent("run", global_args=("--log-format", "json"))
        self.assertEqual(r.rc, 0, r.stderr)
        objs = [json.loads(l) for l in r.stderr.splitlines()]
        progress = [o for o in objs if "result" in o]
        self.assertEqual([o["step"] for o in progress], list(STEPS))
        for o in progress:
            self.assertIn(o["result"], ("ok", "changed", "skipped"))
            self.assertIsInstance(o["duration_ms"], int)
            self.assertIsInstance(o["detail"], str)
            self.assertEqual(o["msg"], o["result"], o)
            self.assertEqual(o["level"], "info")
        ready = [o for o in progress if o["step"] == "ready"][0]
        self.assertIn("stats page answered", ready["detail"])


if __name__ == "__main__":
    unittest.main()
