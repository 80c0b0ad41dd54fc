"""The real wcs-agent's configuration (design.md §3) against the IMDS twin:
every configuration error class (each reported as FILE:LINE, exit 78,
nothing changed), the layer precedence as check-config prints it, secret
masking, and check-config without IMDS."""

import base64
import gzip
import json
import os
import re
import subprocess
import tempfile
import unittest

import twin_testlib
from twin_testlib import CLOSED_ENDPOINT, TwinTestCase, dir_snapshot

TG_A = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/wcs-a/0123456789abcdef"
TG_B = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/wcs-b/0123456789abcdef"
TG_C = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/wcs-c/0123456789abcdef"
INSTANCE_ID = "i-0123456789abcdef0"  # the twin's default

# A state document of an earlier good run of this instance (design.md §4).
PRIOR_STATE = {
    "version": 1,
    "instance_id": INSTANCE_ID,
    "run": {
        "id": "0123456789abcdef0123456789abcdef",
        "started": "2026-01-02T03:04:05Z",
        "finished": "2026-01-02T03:04:06Z",
        "result": "ok",
        "exit_code": 0,
    },
    "steps": [
        {"name": "discover", "result": "ok", "started": "2026-01-02T03:04:05Z", "duration_ms": 12,
         "attempts": 1, "detail": "earlier run"},
    ],
    "applied": {},
    "ready": {"at": None, "signalled": []},
}


def parse_dump(text):
    """check-config's effective config: {"section.key": [values...]} (a list
    key appears once per item)."""
    out, section = {}, None
    for line in text.splitlines():
        s = line.strip()
        if not s or s[0] in ";#":
            continue
        m = re.fullmatch(r"\[([^\]]+)\]", s)
        if m:
            section = m.group(1)
            continue
        k, sep, v = s.partition("=")
        if not sep or section is None:
            raise AssertionError("check-config printed a line that is not INI: %r" % line)
        out.setdefault("%s.%s" % (section, k.strip()), []).append(v.strip())
    return out


def error_lines(stderr):
    """The stderr lines without the "wcs-agent: " prefix and without the
    closing "configuration: N errors" summary."""
    out = []
    for line in stderr.splitlines():
        if line.startswith("wcs-agent: "):
            line = line[len("wcs-agent: ") :]
        if line.startswith("configuration: "):
            continue
        out.append(line)
    return out


def mime(parts, boundary="part-boundary-17"):
    out = ['Content-Type: multipart/mixed; boundary="%s"' % boundary, "MIME-Version: 1.0", ""]
    for ctype, body, cte in parts:
        out += ["--" + boundary, "Content-Type: %s" % ctype]
        if cte:
            out.append("Content-Transfer-Encoding: %s" % cte)
            body = base64.encodebytes(body).decode() if cte == "base64" else body.decode()
        else:
            body = body.decode()
        out += ["", body.rstrip("\n")]
    out += ["--" + boundary + "--", ""]
    return "\n".join(out).encode()


class AgentConfigCase(TwinTestCase):
    twin_scope = "class"
    need_agent = True
    agent_timeout = 30

    def setUp(self):
        super().setUp()
        self.confd = os.path.join(self.tmp, "conf.d")

    # -- helpers ---------------------------------------------------------------

    def write_confd(self, name, text, mode=0o600):
        os.makedirs(self.confd, mode=0o755, exist_ok=True)
        path = os.path.join(self.confd, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def check_config(self, *args, env=None, global_args=()):
        return self.run_agent(*(list(args) + ["check-config"]), env=env, global_args=global_args)

    def effective(self, *args, env=None):
        r = self.check_config(*args, env=env)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertIn("configuration is valid", r.stderr)
        return parse_dump(r.stdout), r

    def value(self, dump, key):
        self.assertIn(key, dump, "check-config does not print %s" % key)
        self.assertEqual(len(dump[key]), 1, (key, dump[key]))
        return dump[key][0]

    def run_in(self, state_dir, *args, env=None):
        return twin_testlib.run_agent(
            args,
            config_path=self.config_path,
            state_dir=state_dir,
            imds_url=self.imds.url,
            env=env,
            timeout=self.agent_timeout,
            home=self.home,
        )

    def prior_state_dir(self):
        """A state folder as an earlier good run left it."""
        d = tempfile.mkdtemp(prefix="state-prior-", dir=self.tmp)
        fd = os.open(os.path.join(d, "state.json"), os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(PRIOR_STATE, f, indent=2)
        os.close(os.open(os.path.join(d, "lock"), os.O_WRONLY | os.O_CREAT, 0o600))
        os.utime(os.path.join(d, "state.json"), ns=(1_000_000_000, 1_000_000_000))
        os.utime(d, ns=(1_000_000_000, 1_000_000_000))
        return d

    def assert_config_error(self, expected, *args, env=None, exact=True, state=True):
        """check-config reports every expected error (regexes matched against
        whole lines, in order) and exits 78 printing no config; `run` exits 78
        too and (state=True) changes nothing: see assert_run_changes_nothing."""
        r = self.check_config(*args, env=env)
        self.assertEqual(r.rc, 78, "check-config %r: %r" % (args, r))
        self.assertEqual(r.stdout, "", "a config was printed despite errors")
        lines = error_lines(r.stderr)
        pos = 0
        for pattern in expected:
            for i in range(pos, len(lines)):
                if re.fullmatch(pattern, lines[i]):
                    pos = i + 1
                    break
            else:
                self.fail("no line matching %r (after line %d) in:\n%s" % (pattern, pos, r.stderr))
        if exact:
            self.assertEqual(len(lines), len(expected), "other errors reported:\n%s" % r.stderr)
            self.assertIn("configuration: %d error%s; nothing was changed"
                          % (len(expected), "" if len(expected) == 1 else "s"), r.stderr)
        fresh = os.path.join(tempfile.mkdtemp(dir=self.tmp), "state")
        r = self.run_in(fresh, *(list(args) + ["run"]), env=env)
        self.assertEqual(r.rc, 78, "run %r: %r" % (args, r))
        self.assertEqual(r.stdout, "")
        if state:
            self.assert_run_changes_nothing(*args, env=env)

    def assert_run_changes_nothing(self, *args, env=None, lock_ok=False):
        """`run` with a configuration error exits 78, creates no state
        folder, and leaves an existing one byte-identical (design.md §3.1:
        "exits 78 having changed nothing").  lock_ok: an error that needs
        IMDS is found under the run lock, so an empty state folder holding
        only the lock file may be left (but never a state file)."""
        fresh = os.path.join(tempfile.mkdtemp(dir=self.tmp), "state")
        r = self.run_in(fresh, *(list(args) + ["run"]), env=env)
        self.assertEqual(r.rc, 78, "run %r: %r" % (args, r))
        snap = dir_snapshot(fresh)
        if lock_ok and snap is not None and set(snap) <= {".", "lock"}:
            self.assertEqual(snap["lock"][3], b"", "the lock file holds nothing")
            snap = None
        if snap is not None:
            self.fail("run %r with a configuration error created the state folder with %s"
                      % (args, sorted(snap)))
        prior = self.prior_state_dir()
        before = dir_snapshot(prior)
        r = self.run_in(prior, *(list(args) + ["run"]), env=env)
        self.assertEqual(r.rc, 78, "run %r: %r" % (args, r))
        after = dir_snapshot(prior)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        self.assertEqual(changed, [], "run %r with a configuration error changed the state folder" % (args,))


class AcceptanceTest(AgentConfigCase):
    def test_three_errors_all_reported_with_file_and_line(self):
        p = self.write_config(
            "[agent]\n"
            "no_such_key = 1\n"
            "[imds]\n"
            "timeout_ms = 0\n"
            "[no_such_section]\n"
            "whatever = 1\n"
            "[register]\n"
            "port = 8080\n"
        )
        q = re.escape(p)
        self.assert_config_error(
            [
                q + r":2: .*agent\.no_such_key.*",
                q + r":4: .*imds\.timeout_ms.*",
                q + r":5: .*\[no_such_section\].*",
            ]
        )

    def test_secrets_masked_and_references_shown(self):
        self.write_config(
            "[licence]\n"
            "key = LIC-4242-SECRET-literal\n"
            "[tls]\n"
            "private_key = ssm:/x\n"
            "keystore_password = Pa55-literal-word\n"
            "certificate = s3://certs/node.pem\n"
        )
        dump, r = self.effective()
        self.assertEqual(self.value(dump, "licence.key"), "***")
        self.assertEqual(self.value(dump, "tls.private_key"), "ssm:/x")
        self.assertEqual(self.value(dump, "tls.keystore_password"), "***")
        self.assertEqual(self.value(dump, "tls.certificate"), "s3://certs/node.pem")
        for text in (r.stdout, r.stderr):
            self.assertNotIn("LIC-4242-SECRET-literal", text)
            self.assertNotIn("Pa55-literal-word", text)

    def test_secret_references_of_every_form_are_shown(self):
        # check-config reports a file: reference it cannot read (issue 9 item 14): a real file.
        licence = os.path.join(self.tmp, "licence")
        with open(licence, "w", encoding="ascii") as f:
            f.write("LIC\n")
        os.chmod(licence, 0o600)
        for ref in ("ssm:/wcs/licence", "secretsmanager:wcs/lic#key", "s3://bucket/lic.txt",
                    "file:" + licence, "env:WCS_LICENCE"):
            with self.subTest(ref=ref):
                self.write_config("[licence]\nkey = %s\n" % ref)
                dump, _ = self.effective()
                self.assertEqual(self.value(dump, "licence.key"), ref)

    def test_default_keystore_password_is_masked(self):
        dump, r = self.effective()
        self.assertEqual(self.value(dump, "tls.keystore_password"), "***")

    def test_imds_unreachable_checks_the_files_alone(self):
        self.write_config("[register]\nport = 8111\n[cdn]\ngroups = {public_ipv4}\n")
        env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": CLOSED_ENDPOINT}
        r = self.check_config("--set", "imds.attempts=1", env=env)
        self.assertEqual(r.rc, 0, r)
        dump = parse_dump(r.stdout)
        self.assertEqual(self.value(dump, "register.port"), "8111")
        self.assertRegex(r.stderr, r"user-data layer .*not checked")
        self.assertEqual(self.imds.requests(), [])

    def test_imds_unreachable_still_reports_file_errors(self):
        p = self.write_config("[register]\nport = 0\n")
        env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": CLOSED_ENDPOINT}
        r = self.check_config("--set", "imds.attempts=1", env=env)
        self.assertEqual(r.rc, 78, r)
        self.assertIn(p + ":2: ", r.stderr)
        self.assertEqual(r.stdout, "")


class ErrorClassTest(AgentConfigCase):
    def test_parse_errors(self):
        p = self.write_config(
            "[wcs]\nservice = webcallserver\nthis line has no equals sign\n[register\nport = 8080\n"
        )
        q = re.escape(p)
        self.assert_config_error([q + r":3: parse error.*", q + r":4: parse error.*"])

    def test_line_too_long_with_its_line_number(self):
        long_value = "x" * (200 - len("groups = "))
        text = "; a comment\n\n[cdn]\nrole = off\ngroups = %s\n" % long_value
        self.assertEqual(len(text.splitlines()[4]), 200)
        p = self.write_config(text)
        self.assert_config_error([re.escape(p) + r":5: line too long.*"])

    def test_line_at_the_limit_is_accepted(self):
        value = "y" * (199 - len("groups = "))
        self.write_config("[cdn]\ngroups = %s\n" % value)
        dump, _ = self.effective()
        self.assertEqual(self.value(dump, "cdn.groups"), value)

    def test_long_comment_line_is_too_long_as_well(self):
        p = self.write_config("[cdn]\n; %s\nrole = off\n" % ("c" * 230))
        self.assert_config_error([re.escape(p) + r":2: line too long.*"])

    def test_unknown_section(self):
        p = self.write_config("[wcs]\nservice = wcs\n\n[nosuchsection]\nkey = 1\nother = 2\n")
        self.assert_config_error([re.escape(p) + r":4: .*\[nosuchsection\].*"])

    def test_unknown_key(self):
        p = self.write_config("[ready]\ntimeout = 60\ntimeout_s = 60\n")
        self.assert_config_error([re.escape(p) + r":3: .*ready\.timeout_s.*"])

    def test_properties_accept_any_key(self):
        self.write_config("[properties]\nmedia_port_from = 31001\nrtc_ice_add_local_interface = true\n")
        dump, _ = self.effective()
        self.assertEqual(self.value(dump, "properties.media_port_from"), "31001")

    def test_bad_values(self):
        cases = [
            ("imds", "timeout_ms", "0"),
            ("imds", "timeout_ms", "60001"),
            ("imds", "attempts", "abc"),
            ("imds", "attempts", "21"),
            ("register", "port", "65536"),
            ("ready", "interval_ms", "5"),
            ("agent", "deadline", "-1"),
            ("agent", "user_data", "maybe"),
            ("cdn", "role", "primary"),
            ("signal", "on_failure", "retry"),
            ("update", "enabled", "perhaps"),
            ("register", "target_group", TG_A.replace("targetgroup/", "loadbalancer/app/")),
            ("register", "target_group", "not-an-arn"),
            ("ready", "url", "ftp://127.0.0.1/stat"),
            ("ready", "url", "not a url"),
            ("update", "url", "http://downloads.example.com/wcs.tar.gz"),
            ("update", "sha256", "abc123"),
            ("imds", "endpoint", "ftp://127.0.0.1"),
            ("agent", "state_dir", "relative/state"),
            ("wcs", "heap", "lots"),
        ]
        for section, key, value in cases:
            with self.subTest(key="%s.%s" % (section, key), value=value):
                p = self.write_config("; bad value on line 3\n[%s]\n%s = %s\n" % (section, key, value))
                self.assert_config_error([re.escape(p) + r":3: .*%s\.%s.*" % (section, key)])

    def test_good_edge_values_are_accepted(self):
        self.write_config(
            "[imds]\ntimeout_ms = 60000\nattempts = 1\n"
            "[register]\nport = 65535\n"
            "[update]\nurl = http://127.0.0.1:8000/wcs.tar.gz\n"
            "sha256 = %s\n" % ("ab" * 32)
        )
        dump, _ = self.effective("--set", "imds.timeout_ms=1000")
        self.assertEqual(self.value(dump, "register.port"), "65535")
        self.assertEqual(self.value(dump, "update.url"), "http://127.0.0.1:8000/wcs.tar.gz")

    def test_set_errors(self):
        cases = [
            ("no-dot-no-equals", r"--set: .*no-dot-no-equals.*"),
            ("imds.attempts", r"--set: .*imds\.attempts.*"),
            ("nosection.key=1", r"--set: .*nosection.*"),
            ("agent.nokey=1", r"--set: .*agent\.nokey.*"),
            ("imds.attempts=0", r"--set: .*imds\.attempts.*"),
            ("register.target_group=arn:bad", r"--set: .*register\.target_group.*"),
        ]
        for arg, pattern in cases:
            with self.subTest(arg=arg):
                self.assert_config_error([pattern], "--set", arg)
        # All of them at once: every one is reported.
        args = []
        for arg, _ in cases:
            args += ["--set", arg]
        self.assert_config_error([pattern for _, pattern in cases], *args, exact=False)

    def test_missing_config_file(self):
        missing = os.path.join(self.tmp, "no-such.ini")
        self.config_path = missing
        self.assert_config_error([re.escape(missing) + r": cannot read.*"])

    def test_missing_file_named_by_environment(self):
        missing = os.path.join(self.tmp, "from-env.ini")
        argv, env = twin_testlib.agent_command(
            ["check-config"], config_path="unused", state_dir=os.path.join(self.tmp, "st"),
            imds_url=self.imds.url, env={"WCS_AGENT_CONFIG": missing}, home=self.home,
        )
        del argv[1:3]  # no -c: WCS_AGENT_CONFIG names the file
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 78, p)
        self.assertIn(missing, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "st")))

    def test_writable_config_file_is_refused(self):
        p = self.write_config("[register]\nport = 8080\n")
        os.chmod(p, 0o666)
        self.assert_config_error([re.escape(p) + r": .*writable.*"])

    def test_errors_in_conf_d_name_their_own_file(self):
        main = self.write_config("[register]\nport = 8080\nbad_main = 1\n")
        a = self.write_confd("10-first.ini", "[cdn]\nrole = off\n\nbogus = 1\n")
        b = self.write_confd("20-second.ini", "[imds]\nattempts = 99\n")
        self.write_confd("README", "this is not ini at all [\n")
        self.write_confd("30-disabled.ini.bak", "[nosuch]\n")
        self.assert_config_error(
            [
                re.escape(main) + r":3: .*register\.bad_main.*",
                re.escape(a) + r":4: .*cdn\.bogus.*",
                re.escape(b) + r":2: .*imds\.attempts.*",
            ]
        )

    def test_errors_in_user_data_overlay(self):
        self.imds.set_metadata(user_data=b"#wcs-agent\n[register]\nport = 99999\n[nosuch]\nx = 1\n")
        self.assert_config_error(
            [r"user-data:3: .*register\.port.*", r"user-data:4: .*\[nosuch\].*"], state=False
        )

    def test_errors_in_gzip_user_data_overlay(self):
        self.imds.set_metadata(user_data=gzip.compress(b"#wcs-agent\n\n[cdn]\nrole = sideways\n"))
        self.assert_config_error([r"user-data:4: .*cdn\.role.*"], state=False)

    def test_errors_in_multipart_user_data_part(self):
        doc = mime(
            [
                ("text/x-shellscript", b"#!/bin/sh\necho hi\n", None),
                ("text/x-wcs-agent", b"[register]\nport = 0\n", "base64"),
            ]
        )
        self.imds.set_metadata(user_data=doc)
        self.assert_config_error([r"user-data part 2:2: .*register\.port.*"], state=False)

    def test_agent_user_data_cannot_be_set_in_user_data(self):
        self.imds.set_metadata(user_data=b"#wcs-agent\n[agent]\nuser_data = ignore\n")
        self.assert_config_error([r"user-data:3: .*agent\.user_data.*"], state=False)

    def test_unknown_placeholder(self):
        p = self.write_config("[cdn]\ngroups = {no_such_fact}\n")
        self.assert_config_error([re.escape(p) + r":2: .*cdn\.groups.*\{no_such_fact\}.*"])

    def test_tag_placeholder_with_tags_off(self):
        self.imds.set_metadata(tags_enabled=False)
        p = self.write_config("[cdn]\ngroups = team-{tag:Team}\n")
        self.assert_config_error([re.escape(p) + r":2: .*cdn\.groups.*\{tag:Team\}.*"], state=False)

    def test_public_ipv4_placeholder_without_public_ip(self):
        self.imds.set_metadata(public_ip_enabled=False)
        p = self.write_config("[properties]\nip = {public_ipv4}\n")
        self.assert_config_error([re.escape(p) + r":2: .*properties\.ip.*\{public_ipv4\}.*"], state=False)

    def test_placeholder_error_in_set(self):
        self.imds.set_metadata(public_ip_enabled=False)
        self.assert_config_error(
            [r"--set: .*cdn\.ip.*\{public_ipv4\}.*"], "--set", "cdn.ip={public_ipv4}", state=False
        )


    def test_errors_found_with_user_data_or_facts_change_nothing(self):
        """The errors that only show once IMDS has been read (the user-data
        overlay, placeholders whose fact is missing) are configuration errors
        as well: run exits 78, writes no state file and leaves an existing
        state folder byte-identical (design.md §3.1)."""
        cases = [
            ("overlay bad value", {"user_data": b"#wcs-agent\n[register]\nport = 0\n"}, ""),
            ("overlay unknown section", {"user_data": b"#wcs-agent\n[nosuch]\n"}, ""),
            ("tags off", {"tags_enabled": False}, "[cdn]\ngroups = {tag:Team}\n"),
            ("no public IP", {"public_ip_enabled": False}, "[cdn]\ngroups = {public_ipv4}\n"),
        ]
        for name, metadata, config in cases:
            with self.subTest(case=name):
                self.imds.reset()
                self.imds.set_metadata(**metadata)
                self.write_config(config)
                self.assert_run_changes_nothing(lock_ok=True)

class PrecedenceTest(AgentConfigCase):
    def test_defaults(self):
        dump, _ = self.effective()
        expect = {
            "agent.user_data": "apply",
            "agent.deadline": "1800",
            "imds.timeout_ms": "1000",
            "imds.attempts": "5",
            "wcs.home": "/usr/local/FlashphonerWebCallServer",
            "wcs.service": "webcallserver",
            "wcs.restart_command": "systemctl restart webcallserver",
            "wcs.heap": "keep",
            "update.enabled": "false",
            "tls.alias": "wcs",
            "register.port": "8080",
            "ready.url": "http://127.0.0.1:8081/?action=stat",
            "signal.on_failure": "abandon",
            "licence.command": "/usr/local/FlashphonerWebCallServer/bin/activation.sh",
            "tls.keystore": "/usr/local/FlashphonerWebCallServer/conf/wss.jks",
        }
        for k, v in expect.items():
            self.assertEqual(self.value(dump, k), v, k)

    def test_placeholders_expand_from_the_twin(self):
        self.write_config(
            "[wcs]\nhome = /opt/wcs\nservice = wcs5\n"
            "[cdn]\ngroups = {instance_id}/{region}/{az}/{instance_type}/{tag:Name}/{local_ipv4}/"
            "{public_or_local_ipv4}/{public_ipv4}/{wcs_home}/{service}\n"
        )
        dump, _ = self.effective()
        m = self.imds.metadata.snapshot()
        want = "/".join(
            [m["instance_id"], m["region"], m["availability_zone"], m["instance_type"], m["tags"]["Name"],
             m["local_ipv4"], m["public_ipv4"], m["public_ipv4"], "/opt/wcs", "wcs5"]
        )
        self.assertEqual(self.value(dump, "cdn.groups"), want)
        self.assertEqual(self.value(dump, "licence.command"), "/opt/wcs/bin/activation.sh")
        self.assertEqual(self.value(dump, "wcs.restart_command"), "systemctl restart wcs5")
        self.assertEqual(self.value(dump, "cdn.ip"), m["local_ipv4"])

    def test_public_or_local_falls_back_to_local(self):
        self.imds.set_metadata(public_ip_enabled=False)
        dump, _ = self.effective()
        local = self.imds.metadata.get("local_ipv4")
        self.assertEqual(self.value(dump, "properties.ip"), local)
        self.assertEqual(self.value(dump, "properties.ip_local"), local)

    def test_layers(self):
        self.write_config(
            "[register]\nport = 8101\n[wcs]\nservice = from-file\nheap = 2g\n[ready]\ntimeout = 11\n"
        )
        self.write_confd("10-a.ini", "[wcs]\nservice = from-10-a\nheap = 3g\n[ready]\ntimeout = 12\n")
        # Byte order of names: "10-a" < "9-b", so 9-b comes last and wins.
        self.write_confd("9-b.ini", "[wcs]\nservice = from-9-b\n")
        self.imds.set_metadata(user_data=b"#wcs-agent\n[wcs]\nheap = 4g\n[register]\nport = 8103\n")
        dump, _ = self.effective("--set", "register.port=8104")
        self.assertEqual(self.value(dump, "ready.timeout"), "12", "conf.d over the file")
        self.assertEqual(self.value(dump, "wcs.service"), "from-9-b", "conf.d in byte order of names")
        self.assertEqual(self.value(dump, "wcs.heap"), "4g", "the user-data overlay over conf.d")
        self.assertEqual(self.value(dump, "register.port"), "8104", "--set over everything")
        dump, _ = self.effective()
        self.assertEqual(self.value(dump, "register.port"), "8103", "the overlay over the file")

    def test_multipart_parts_apply_in_order(self):
        doc = mime(
            [
                ("text/x-wcs-agent", b"[register]\nport = 8201\n[cdn]\ngroups = part-one\n", None),
                ("text/x-shellscript", b"#!/bin/sh\n", None),
                ("text/x-wcs-agent", b"[register]\nport = 8203\n", "base64"),
            ]
        )
        self.imds.set_metadata(user_data=doc)
        self.write_config("[register]\nport = 8200\n")
        dump, _ = self.effective()
        self.assertEqual(self.value(dump, "register.port"), "8203")
        self.assertEqual(self.value(dump, "cdn.groups"), "part-one")

    def test_user_data_ignore(self):
        self.imds.set_metadata(user_data=b"#wcs-agent\n[register]\nport = 8303\n")
        self.write_config("[agent]\nuser_data = ignore\n[register]\nport = 8300\n")
        dump, _ = self.effective()
        self.assertEqual(self.value(dump, "register.port"), "8300")

    def test_shell_script_user_data_is_not_an_overlay(self):
        self.imds.set_metadata(user_data=b"#!/bin/sh\n[register]\nport = 8403\n")
        self.write_config("[register]\nport = 8400\n")
        dump, _ = self.effective()
        self.assertEqual(self.value(dump, "register.port"), "8400")

    def test_region_environment(self):
        self.write_config("[aws]\nregion = eu-central-1\n")
        dump, _ = self.effective()
        self.assertEqual(self.value(dump, "aws.region"), "eu-central-1")
        dump, _ = self.effective(env={"AWS_DEFAULT_REGION": "sa-east-1"})
        self.assertEqual(self.value(dump, "aws.region"), "sa-east-1", "AWS_DEFAULT_REGION over the file")
        env = {"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "sa-east-1"}
        dump, _ = self.effective(env=env)
        self.assertEqual(self.value(dump, "aws.region"), "us-west-2", "AWS_REGION over AWS_DEFAULT_REGION")
        self.imds.set_metadata(user_data=b"#wcs-agent\n[aws]\nregion = ap-northeast-1\n")
        dump, _ = self.effective(env=env)
        self.assertEqual(self.value(dump, "aws.region"), "us-west-2", "the environment over the overlay")
        dump, _ = self.effective("--set", "aws.region=ap-south-1", env=env)
        self.assertEqual(self.value(dump, "aws.region"), "ap-south-1", "--set over the environment")

    def test_bad_region_from_environment_is_a_config_error(self):
        r = self.check_config(env={"AWS_REGION": "Not A Region"})
        self.assertEqual(r.rc, 78, r)
        self.assertIn("AWS_REGION", r.stderr)

    def test_list_key_highest_layer_wins_whole(self):
        self.write_config("[register]\ntarget_group = %s\ntarget_group = %s\n" % (TG_A, TG_B))
        dump, _ = self.effective()
        self.assertEqual(dump["register.target_group"], [TG_A, TG_B])
        self.write_confd("50-tg.ini", "[register]\ntarget_group = %s\n" % TG_C)
        dump, _ = self.effective()
        self.assertEqual(dump["register.target_group"], [TG_C])
        dump, _ = self.effective("--set", "register.target_group=" + TG_A)
        self.assertEqual(dump["register.target_group"], [TG_A])

    def test_literal_secret_in_user_data_is_masked_and_warned(self):
        """design.md §3.3: a secret given in user data as a literal is
        accepted with a warning that says so and names the key."""
        literal = "UD-literal-keystore-pw-991"
        self.imds.set_metadata(user_data=("#wcs-agent\n[tls]\nkeystore_password = %s\n" % literal).encode())
        dump, r = self.effective()
        self.assertEqual(self.value(dump, "tls.keystore_password"), "***")
        self.assertNotIn(literal, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"tls\.keystore_password.*user.data|user.data.*tls\.keystore_password")

    def test_secret_reference_in_user_data_is_not_warned(self):
        self.imds.set_metadata(user_data=b"#wcs-agent\n[licence]\nkey = ssm:/wcs/licence\n")
        dump, r = self.effective()
        self.assertEqual(self.value(dump, "licence.key"), "ssm:/wcs/licence")
        self.assertNotIn("licence.key", r.stderr)


def parse_origins(text):
    """check-config --show-origin: ([source lines], [(origin, "section.key", value)])."""
    sources, values = [], []
    for line in text.splitlines():
        if line.startswith("# "):
            sources.append(line[2:])
            continue
        origin, tab, rest = line.partition("\t")
        key, sep, value = rest.partition(" =")
        if not tab or not sep or "." not in key:
            raise AssertionError("check-config --show-origin printed %r" % line)
        values.append((origin, key, value[1:] if value.startswith(" ") else value))
    return sources, values


def line_of(text, needle):
    """The 1-based number of the line of text that is needle."""
    return text.split("\n").index(needle) + 1


class SourcesAndOriginTest(AgentConfigCase):
    """issue 9 item 19: check-config names every source it read (as INI
    comments ahead of the dump), and --show-origin prints each effective
    value after the place it came from."""

    def origins(self, *global_args, env=None, ok=True):
        r = self.run_agent("check-config", "--show-origin", env=env, global_args=global_args)
        if ok:
            self.assertEqual(r.rc, 0, r.stderr)
        sources, values = parse_origins(r.stdout)
        table = {}
        for origin, key, value in values:
            table.setdefault(key, []).append((origin, value))
        return sources, table, r

    def one(self, table, key):
        self.assertIn(key, table, "--show-origin does not print %s" % key)
        self.assertEqual(len(table[key]), 1, (key, table[key]))
        return table[key][0]

    def test_every_layer_names_its_origin(self):
        base = self.write_config(
            "[register]\nport = 8101\n[licence]\nkey = LIC-ORIGIN-SECRET-5501\n"
            "[tls]\nprivate_key = ssm:/wcs/tls-key\n[wcs]\nheap = 2g\n"
        )
        with open(base, encoding="utf-8") as f:
            base_text = f.read()
        dropin = self.write_confd(
            "20-x.ini", "[wcs]\nheap = 3g\n[register]\ntarget_group = %s\ntarget_group = %s\n"
            % (TG_A, TG_B))
        ud = b"#wcs-agent\n[ready]\ntimeout = 77\n[tls]\nkeystore_password = UD-LIT-PW-7701\n" \
             b"[properties]\nrtc_ice_add_local_component = true\n"
        self.imds.set_metadata(user_data=ud)
        sources, table, r = self.origins("--set", "cdn.groups=from-set",
                                         env={"AWS_REGION": "us-west-2"})
        self.assertEqual(sources, [
            "read " + base,
            "read " + dropin,
            "read user-data (#wcs-agent overlay, %d bytes)" % len(ud),
            "read env AWS_REGION",
            "read env AWS_EC2_METADATA_SERVICE_ENDPOINT",
        ])
        self.assertEqual(self.one(table, "register.port"),
                         ("file:%s:%d" % (base, line_of(base_text, "port = 8101")), "8101"))
        self.assertEqual(self.one(table, "wcs.heap"), ("file:%s:2" % dropin, "3g"))
        self.assertEqual(table["register.target_group"],
                         [("file:%s:4" % dropin, TG_A), ("file:%s:5" % dropin, TG_B)])
        self.assertEqual(self.one(table, "ready.timeout"), ("user-data:3", "77"))
        self.assertEqual(self.one(table, "properties.rtc_ice_add_local_component"),
                         ("user-data:7", "true"))
        self.assertEqual(self.one(table, "cdn.groups"), ("--set", "from-set"))
        self.assertEqual(self.one(table, "aws.region"), ("env:AWS_REGION", "us-west-2"))
        self.assertEqual(self.one(table, "imds.endpoint"),
                         ("env:AWS_EC2_METADATA_SERVICE_ENDPOINT", self.imds.url))
        self.assertEqual(self.one(table, "agent.deadline"), ("default", "1800"))
        self.assertEqual(self.one(table, "properties.ip_local"),
                         ("default", self.imds.metadata.get("local_ipv4")))
        self.assertEqual(self.one(table, "register.classic_elb"), ("default", ""))
        # Secrets: masked exactly as in the plain dump; a reference shown as written.
        self.assertEqual(self.one(table, "licence.key"),
                         ("file:%s:%d" % (base, line_of(base_text, "key = LIC-ORIGIN-SECRET-5501")),
                          "***"))
        self.assertEqual(self.one(table, "tls.keystore_password"), ("user-data:5", "***"))
        self.assertEqual(self.one(table, "tls.private_key")[1], "ssm:/wcs/tls-key")
        for text in (r.stdout, r.stderr):
            self.assertNotIn("LIC-ORIGIN-SECRET-5501", text)
            self.assertNotIn("UD-LIT-PW-7701", text)
        # The same keys and values as the plain dump, which names the same sources.
        dump, plain = self.effective("--set", "cdn.groups=from-set", env={"AWS_REGION": "us-west-2"})
        self.assertEqual(dump, {k: [v for _, v in table[k]] for k in table})
        self.assertEqual([l[2:] for l in plain.stdout.splitlines() if l.startswith("# ")], sources)

    def test_state_dir_option_is_the_effective_state_dir(self):
        # The tests run the agent with --state-dir: it wins over the file, in both dumps.
        self.write_config("[agent]\nstate_dir = /var/lib/elsewhere\n")
        _, table, _ = self.origins()
        self.assertEqual(self.one(table, "agent.state_dir"), ("--state-dir", self.state_dir))
        dump, _ = self.effective()
        self.assertEqual(dump["agent.state_dir"], [self.state_dir])

    def test_an_emptied_list_has_the_origin_of_what_emptied_it(self):
        self.write_config("[register]\ntarget_group = %s\n" % TG_A)
        _, table, _ = self.origins("--set", "register.target_group=")
        self.assertEqual(self.one(table, "register.target_group"), ("--set", ""))

    def test_multipart_parts_are_named(self):
        doc = mime([("text/x-wcs-agent", b"[register]\nport = 8201\n", None),
                    ("text/x-shellscript", b"#!/bin/sh\n", None),
                    ("text/x-wcs-agent", b"[cdn]\ngroups = part-three\n", "base64")])
        self.imds.set_metadata(user_data=doc)
        sources, table, _ = self.origins()
        # A part ends before the line break of its boundary; a base64 part is decoded whole.
        self.assertEqual(sources[2:4], [
            "read user-data part 1 (text/x-wcs-agent, %d bytes)" % len("[register]\nport = 8201"),
            "read user-data part 3 (text/x-wcs-agent, %d bytes)" % len("[cdn]\ngroups = part-three\n")])
        self.assertEqual(self.one(table, "register.port"), ("user-data part 1:2", "8201"))
        self.assertEqual(self.one(table, "cdn.groups"), ("user-data part 3:2", "part-three"))

    def test_absent_sources_and_unused_user_data_are_said(self):
        base = self.write_config("[register]\nport = 8300\n")
        sources, _, _ = self.origins()
        self.assertEqual(sources[:3], ["read " + base,
                                       "not present: %s/ (optional)" % self.confd,
                                       "user data: none"])
        os.makedirs(self.confd)
        self.imds.set_metadata(user_data=b"#!/bin/sh\necho hi\n")
        sources, _, _ = self.origins()
        self.assertEqual(sources[1:3], ["read %s/: no *.ini file" % self.confd,
                                        "user data: not for the agent"])
        self.imds.set_metadata(user_data=b"#wcs-agent\n[register]\nport = 8303\n")
        self.write_config("[agent]\nuser_data = ignore\n[register]\nport = 8300\n")
        sources, table, _ = self.origins()
        self.assertEqual(sources[2], "user data: ignored (agent.user_data = ignore)")
        self.assertEqual(self.one(table, "register.port")[1], "8300")

    def test_imds_unreachable_says_user_data_not_checked(self):
        base = self.write_config("[register]\nport = 8111\n")
        env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": CLOSED_ENDPOINT}
        sources, table, r = self.origins("--set", "imds.attempts=1", env=env)
        self.assertEqual(sources[:3], ["read " + base,
                                       "not present: %s/ (optional)" % self.confd,
                                       "user data: not checked (instance metadata could not be read)"])
        self.assertEqual(self.one(table, "register.port"), ("file:%s:2" % base, "8111"))
        self.assertEqual(self.one(table, "imds.attempts"), ("--set", "1"))
        self.assertRegex(r.stderr, r"user-data layer .*not checked")
        sources, table, r = self.origins("--set", "imds.attempts=1", "--set", "agent.user_data=ignore",
                                         env=env)
        self.assertEqual(sources[2], "user data: ignored (agent.user_data = ignore)")
        self.assertEqual(self.one(table, "agent.user_data"), ("--set", "ignore"))

    def test_errors_print_no_sources(self):
        self.write_config("[register]\nport = 0\n")
        _, _, r = self.origins(ok=False)
        self.assertEqual(r.rc, 78)
        self.assertEqual(r.stdout, "")

    def test_usage(self):
        r = self.run_agent("check-config", "--show-origins")
        self.assertEqual(r.rc, 64, r)
        r = self.run_agent("check-config", "--help")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("--show-origin", r.stdout)


if __name__ == "__main__":
    unittest.main()
