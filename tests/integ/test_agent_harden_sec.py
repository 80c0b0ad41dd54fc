"""Security hardening of issue 9 (the harden-sec items), end to end on the
real binary: what a core dump, a planted symlink, a hostile tag and a
variant of a secret can and cannot get out of the agent."""

import gzip
import json
import os
import resource
import socket
import subprocess
import tempfile
import unittest

import twin_testlib as tl

tl.require_agent()


class CoreDumpTest(unittest.TestCase):
    """Issue 9 item 4: the core limit is 0 from the start, before any secret."""

    def test_core_limit_zero_while_running(self):
        # An IMDS that accepts and never answers holds the agent in its first request.
        srv = socket.socket()
        self.addCleanup(srv.close)
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        url = "http://127.0.0.1:%d" % srv.getsockname()[1]
        with tempfile.TemporaryDirectory(prefix="wcs-agent-integ-") as tmp:
            cfg = os.path.join(tmp, "agent.ini")
            fd = os.open(cfg, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"[imds]\ntimeout_ms = 5000\nattempts = 1\n")
            os.close(fd)
            argv, env = tl.agent_command(["metadata"], config_path=cfg, state_dir=tmp, imds_url=url)
            _, hard = resource.getrlimit(resource.RLIMIT_CORE)
            if hard == 0:
                self.skipTest("the hard core limit is already 0 here")
            soft = 1 << 20 if hard == resource.RLIM_INFINITY else hard

            def allow_cores():
                resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))

            p = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                preexec_fn=allow_cores,
            )
            try:
                conn, _ = srv.accept()
                self.addCleanup(conn.close)
                with open("/proc/%d/limits" % p.pid) as f:
                    limits = f.read()
            finally:
                p.kill()
                p.communicate()
        line = [ln for ln in limits.splitlines() if ln.startswith("Max core file size")]
        self.assertEqual(len(line), 1, limits)
        self.assertEqual(line[0].split()[4], "0", line[0])


class RedactionVariantsTest(tl.TwinTestCase):
    """Issue 9 item 3: the activation script echoes a file: licence without
    the file's trailing newline; that line is still redacted."""

    fake_wcs = True
    need_agent = True

    def test_file_licence_with_trailing_newline(self):
        value = "LIC-FILE-SECRET-" + os.urandom(6).hex()
        path = os.path.join(self.tmp, "licence.txt")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, (value + "\n").encode("ascii"))
        os.close(fd)
        self.write_config("[licence]\nkey = file:%s\n" % path)
        r = self.run_agent("run", "--only", "discover,secrets,licence", global_args=("-v",))
        self.assertEqual(r.rc, 0, r.stderr)
        # The fake activation script did see the key and echoed it back.
        self.assertEqual(self.wcs.activation()["licence"].strip(), value.encode("ascii"))
        self.assertIn("Activating licence ***", r.stderr)
        self.assertNotIn(value, r.stderr + r.stdout)
        with open(os.path.join(self.state_dir, "state.json"), encoding="utf-8") as f:
            self.assertNotIn(value, f.read())


@unittest.skipUnless(os.geteuid() == 0, "needs root to give a file to another group")
class GroupReadableSecretFileTest(tl.TwinTestCase):
    """Issue 9 item 2: a file: secret that another group may read (like
    /etc/shadow, root:shadow 0640) is refused, by check-config too; one that
    the WCS group (the group of wcs.home) may read is used."""

    fake_wcs = True
    need_agent = True
    OTHER, WCS = 65534, 4242

    def test_other_group_refused_wcs_group_accepted(self):
        value = "LIC-GROUP-SECRET-" + os.urandom(6).hex()
        path = os.path.join(self.tmp, "licence.txt")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o640)
        os.write(fd, value.encode("ascii"))
        os.close(fd)
        os.chmod(path, 0o640)
        os.chown(path, 0, self.OTHER)
        os.chown(self.wcs.home, -1, self.WCS)
        self.write_config("[licence]\nkey = file:%s\n" % path)
        # check-config applies the same rule (by the file's status; it reads no secret).
        c = self.run_agent("check-config")
        self.assertEqual(c.rc, 78, c.stderr)
        self.assertIn("licence.key: %s: group " % path, c.stderr)
        self.assertIn("(%d) may read it (mode 0640)" % self.OTHER, c.stderr)
        r = self.run_agent("run", "--only", "discover,secrets")
        self.assertNotEqual(r.rc, 0, r.stderr)
        self.assertIn("%s: group " % path, r.stderr)
        self.assertIn("(%d) may read it (mode 0640)" % self.OTHER, r.stderr)
        self.assertIn("licence.key: cannot use " + path, r.stderr)
        self.assertNotIn(value, r.stderr + r.stdout)
        os.chown(path, 0, self.WCS)
        c = self.run_agent("check-config")
        self.assertEqual(c.rc, 0, c.stderr)
        r = self.run_agent("run", "--only", "discover,secrets")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertNotIn(value, r.stderr + r.stdout)


@unittest.skipUnless(os.geteuid() == 0, "needs root to give conf/ to another group")
class PlantedSymlinkTest(tl.TwinTestCase):
    """Issue 9 item 2: conf/ is group-writable (root:flashphoner); a group
    member replaces flashphoner.properties with a link to a root file."""

    fake_wcs = True
    need_agent = True

    def test_configure_refuses_a_planted_link(self):
        conf = self.wcs.conf_dir
        os.chown(conf, 0, 4242)
        os.chmod(conf, 0o2775)
        victim = os.path.join(self.tmp, "root-only")
        with open(victim, "w", encoding="ascii") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n")
        os.chmod(victim, 0o600)
        # The install symlink /usr/local/FlashphonerWebCallServer is root's: it keeps working.
        self.assertTrue(os.path.islink(self.wcs.home) or os.path.islink(os.path.dirname(conf)))
        r = self.run_agent("run", "--only", "discover,configure")
        self.assertEqual(r.rc, 0, r.stderr)
        os.unlink(self.wcs.properties)
        os.symlink(victim, self.wcs.properties)
        r = self.run_agent("run", "--only", "discover,configure")
        self.assertEqual(r.rc, 1, r.stderr)
        self.assertRegex(r.stderr, r"flashphoner\.properties is a symbolic link in \S+/conf, which group 4242 may write")
        with open(victim, encoding="ascii") as f:
            self.assertEqual(f.read(), "root:x:0:0:root:/root:/bin/sh\n")
        self.assertFalse(os.path.exists(victim + ".bak"))


class BadTagTest(tl.TwinTestCase):
    """Issue 9 item 11: an unrelated tag with a control character does not
    fail discover; it is named once at -v; a config using it fails."""

    need_agent = True

    def setUp(self):
        super().setUp()
        self.imds.set_metadata(tags={"Name": "wcs-node-1", "Note": "two\nlines", "Origin": "10.0.0.5"})
        self.write_config("[imds]\ntimeout_ms = 500\nattempts = 2\n")

    def test_unrelated_bad_tag_is_skipped(self):
        r = self.run_agent("metadata", "--json")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["tags"], {"Name": "wcs-node-1", "Origin": "10.0.0.5"})
        self.assertNotIn("Note", r.stderr)
        r = self.run_agent("metadata", global_args=("-v",))
        self.assertEqual(r.rc, 0, r.stderr)
        named = [ln for ln in r.stderr.splitlines() if '"Note"' in ln]
        self.assertEqual(len(named), 1, r.stderr)
        self.assertIn("skipped 1 tag that cannot be used", named[0])

    def test_config_using_the_bad_tag_fails(self):
        self.write_config("[imds]\ntimeout_ms = 500\nattempts = 2\n[cdn]\nrole = edge\npoint_of_entry = {tag:Origin}\n")
        r = self.run_agent("run", "--only", "discover")
        self.assertEqual(r.rc, 0, r.stderr)
        self.write_config("[imds]\ntimeout_ms = 500\nattempts = 2\n[cdn]\nrole = edge\npoint_of_entry = {tag:Note}\n")
        r = self.run_agent("run", "--only", "discover")
        self.assertEqual(r.rc, 78, r.stderr)
        self.assertIn("{tag:Note}: the tag's value holds a control character", r.stderr)


class UserDataTooBigTest(tl.TwinTestCase):
    """Issue 9 item 12: user data over 256 KiB is one cause with one message,
    exit 78; `metadata` still prints the facts."""

    need_agent = True

    def setUp(self):
        super().setUp()
        self.write_config("[imds]\ntimeout_ms = 2000\nattempts = 2\n")

    def error_lines(self, stderr):
        return [ln for ln in stderr.splitlines() if ln.strip()]

    def test_raw_user_data_over_the_limit(self):
        body = b"#wcs-agent\n" + b"# padding\n" * 30000
        self.imds.set_metadata(user_data=body)
        want = "user data is %d bytes, over the 256 KiB limit" % len(body)
        r = self.run_agent("metadata", "--json")
        self.assertEqual(r.rc, 78, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["instance_id"], "i-0123456789abcdef0")
        self.assertEqual(doc["user_data"], "other")
        self.assertEqual(self.error_lines(r.stderr), ["wcs-agent: " + want])
        r = self.run_agent("metadata")
        self.assertEqual(r.rc, 78, r.stderr)
        self.assertIn("i-0123456789abcdef0", r.stdout)
        r = self.run_agent("run", "--only", "discover")
        self.assertEqual(r.rc, 78, r.stderr)
        self.assertIn(want, r.stderr)
        self.assertNotIn("instance metadata unavailable", r.stderr)
        # Not meant for the agent: nothing to complain about.
        self.write_config("[imds]\ntimeout_ms = 2000\nattempts = 2\n[agent]\nuser_data = ignore\n")
        r = self.run_agent("metadata")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stderr, "")

    def test_gzip_user_data_over_the_limit(self):
        self.imds.set_metadata(user_data=gzip.compress(b"#wcs-agent\n" + b"#" * 300000))
        r = self.run_agent("metadata", "--json")
        self.assertEqual(r.rc, 78, r.stderr)
        self.assertEqual(json.loads(r.stdout)["instance_id"], "i-0123456789abcdef0")
        lines = self.error_lines(r.stderr)
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("over the 256 KiB limit", lines[0])
        r = self.run_agent("run", "--only", "discover")
        self.assertEqual(r.rc, 78, r.stderr)
        self.assertIn("over the 256 KiB limit", r.stderr)


class TagIsNeverAReferenceTest(tl.TwinTestCase):
    """Issue 9 item 1: whoever may set a tag cannot turn a {tag:...} value
    into a secret reference, in any of the five forms."""

    need_agent = True
    fake_wcs = True

    def forms(self):
        secret_file = os.path.join(self.tmp, "secret.txt")
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"FILE-SECRET-4242\n")
        os.close(fd)
        return [
            "ssm:/wcs/licence",
            "secretsmanager:wcs/licence#key",
            "s3://wcs-bucket/licence.txt",
            "file:" + secret_file,
            "env:WCS_TEST_SECRET",
        ]

    def test_point_of_entry_from_a_tag(self):
        for form in self.forms():
            self.imds.set_metadata(tags={"wcs-origin": form})
            self.write_config("[cdn]\nrole = edge\npoint_of_entry = {tag:wcs-origin}\n")
            before = tl.dir_snapshot(self.wcs.conf_dir)
            r = self.run_agent("run", env={"WCS_TEST_SECRET": "ENV-SECRET-4242"})
            self.assertEqual(r.rc, 78, "%s: %s" % (form, r.stderr))
            self.assertIn("cdn.point_of_entry", r.stderr)
            self.assertIn("is not a host name or IP address", r.stderr)
            self.assertNotIn("SECRET-4242", r.stderr + r.stdout)
            self.assertEqual(tl.dir_snapshot(self.wcs.conf_dir), before, form)

    def test_certificate_chain_from_a_tag_is_a_literal(self):
        for form in self.forms():
            self.imds.set_metadata(tags={"wcs-origin": form})
            self.write_config("[tls]\nchain = {tag:wcs-origin}\n")
            r = self.run_agent(
                "run", "--only", "discover,secrets", env={"WCS_TEST_SECRET": "ENV-SECRET-4242"},
                global_args=("-v", "-v"),
            )
            # Nothing resolved: no AWS call (none is reachable here), no file, no variable read.
            self.assertEqual(r.rc, 0, "%s: %s" % (form, r.stderr))
            self.assertRegex(r.stderr, r"secrets: skipped \(\d+ ms\): no secret references")
            self.assertNotIn("SECRET-4242", r.stderr + r.stdout)


class PemPathTest(tl.TwinTestCase):
    """Issue 9 item 14: tls.certificate = /etc/ssl/wcs/cert.pem is a file
    reference; check-config reports one that cannot be read."""

    need_agent = True

    def test_check_config_reports_an_unreadable_pem_path(self):
        missing = os.path.join(self.tmp, "no-such", "cert.pem")
        self.write_config("[imds]\ntimeout_ms = 500\nattempts = 2\n[tls]\ncertificate = %s\n" % missing)
        r = self.run_agent("check-config")
        self.assertEqual(r.rc, 78, r.stderr)
        self.assertIn(
            "agent.ini:5: tls.certificate: %s cannot be read: No such file or directory" % missing, r.stderr
        )
        cert = os.path.join(self.tmp, "cert.pem")
        with open(cert, "w", encoding="ascii") as f:
            f.write("-----BEGIN CERTIFICATE-----\n")
        self.write_config("[imds]\ntimeout_ms = 500\nattempts = 2\n[tls]\ncertificate = %s\n" % cert)
        r = self.run_agent("check-config")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertIn("file:" + cert, r.stdout)


if __name__ == "__main__":
    unittest.main()
