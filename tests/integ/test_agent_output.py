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
    # No AWS here: the wcs-agent:result tag (on by default) would log its refused CreateTags.
    agent_config = "[signal]\ntag_instance = false\n"

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



class PlanTest(TwinTestCase):
    """Item 17: plan's diff goes plain to stdout and applies with patch;
    --detailed-exitcode says whether anything would change."""

    twin_scope = "class"
    fake_wcs = True
    need_agent = True

    def test_plan_diff_applies_with_patch_and_detailed_exitcode(self):
        import shutil
        import subprocess

        if shutil.which("patch") is None:
            self.skipTest("patch is not installed")
        self.assertEqual(self.run_agent("run").rc, 0)
        self.write_config("[properties]\nrtmp_port = 1936\n")
        with open(self.wcs.properties) as f:
            before = f.read()
        r = self.run_agent("plan", "--detailed-exitcode")
        self.assertEqual(r.rc, 2, r.stderr)
        self.assertTrue(r.stdout.startswith("--- a/"), r.stdout)
        self.assertRegex(r.stdout, r"(?m)^\+rtmp_port=1936$")
        self.assertNotRegex(r.stdout, r"(?m)^(wcs-agent:|configure )")
        self.assertRegex(r.stderr, r"(?m)^wcs-agent: service: .*would restart")
        with open(self.wcs.properties) as f:
            self.assertEqual(f.read(), before, "plan changed a file")
        p = subprocess.run(["patch", "-p1", "-d", "/"], input=r.stdout, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # What plan showed is exactly what run would write: nothing is left to change.
        r = self.run_agent("plan", "--detailed-exitcode")
        self.assertEqual((r.rc, r.stdout), (0, ""), r.stderr)
        r = self.run_agent("run", "--dry-run", "--detailed-exitcode")
        self.assertEqual(r.rc, 0, r.stderr)

    def test_detailed_exitcode_error_is_1(self):
        r = self.run_agent("plan", "--detailed-exitcode", global_args=("--set", "imds.endpoint=http://127.0.0.1:9"))
        self.assertEqual(r.rc, 1, r.stderr)
        r = self.run_agent("run", "--detailed-exitcode")
        self.assertEqual(r.rc, 64, r.stderr)



class HelpTest(TwinTestCase):
    """Item 16: `wcs-agent COMMAND --help` and `wcs-agent --version`."""

    need_agent = True

    def general_help(self):
        """{command: [its options]} from the commands section of --help."""
        r = self.run_agent("--help")
        self.assertEqual(r.rc, 0, r.stderr)
        cmds, section = {}, None
        for line in r.stdout.splitlines():
            if line.endswith(":") and not line.startswith(" "):
                section = line[:-1]
            elif section == "commands" and re.match(r"^  [a-z]", line):
                last = line.split()[0]
                # The options on the command's own line (the description below may name others).
                cmds[last] = re.findall(r"--[a-z][a-z-]*", re.split(r"\s{2,}", line.strip())[0])
        return cmds

    def test_every_command_has_its_own_help(self):
        cmds = self.general_help()
        self.assertGreaterEqual(len(cmds), 8, cmds)
        for cmd, opts in cmds.items():
            for flag in ("--help",):
                with self.subTest(cmd=cmd, flag=flag):
                    r = self.run_agent(cmd, flag)
                    self.assertEqual(r.rc, 0, r.stderr)
                    self.assertEqual(r.stderr, "")
                    self.assertTrue(r.stdout.startswith("usage: wcs-agent"), r.stdout)
                    self.assertRegex(r.stdout, r"(?m)^usage: .*\b%s\b" % re.escape(cmd))
                    self.assertRegex(r.stdout, r"(?m)^exit status:\n  0 ")
                    for o in opts:
                        self.assertRegex(r.stdout, r"(?m)^  %s\b" % re.escape(o), "%s --help lacks %s" % (cmd, o))
        # --help after other options, and a help that needs no instance: IMDS is never asked.
        r = self.run_agent("run", "--force", "--help")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(self.imds.requests(), [])

    def test_version_option(self):
        r = self.run_agent("--version")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertRegex(r.stdout, r"^wcs-agent \d+\.\d+\.\d+\n$")
        self.assertEqual(r.stdout, self.run_agent("version").stdout.splitlines(True)[0])


if __name__ == "__main__":
    unittest.main()
