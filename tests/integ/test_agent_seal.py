"""`wcs-agent seal` against the twin: what an AMI must not carry is removed,
the command is idempotent, and the next run behaves as a first boot."""

import json
import os
import unittest

import twin_testlib


class SealTest(twin_testlib.TwinTestCase):
    need_agent = True
    fake_wcs = True  # a run fails at configure without an installed WCS

    def setUp(self):
        super().setUp()
        self.write_config("[imds]\ntimeout_ms = 500\nattempts = 2\n")

    def state(self, name):
        return os.path.join(self.state_dir, name)

    def test_seal_removes_state_cache_and_temp_files_and_is_idempotent(self):
        r = self.run_agent("run")
        self.assertEqual(r.rc, 0, r.stderr)
        os.makedirs(self.state("download/unpacked"))
        with open(self.state("download/wcs.tar.gz.part"), "wb") as f:
            f.write(b"partial")
        with open(self.state(".state.json.Ab12Cd"), "w") as f:
            f.write("{")
        with open(self.state("state.json.previous"), "w") as f:
            f.write("{}")

        bak = os.path.realpath(self.wcs.properties) + ".bak"
        self.assertTrue(os.path.exists(bak))
        r = self.run_agent("seal")
        self.assertEqual(r.rc, 0, r.stderr)
        removed = sorted(line.split(" ", 1)[1] for line in r.stdout.splitlines())
        self.assertEqual(
            removed,
            sorted(
                [
                    self.state("state.json"),
                    self.state("state.json.previous"),
                    self.state("download") + "/",
                    self.state(".state.json.Ab12Cd"),
                    self.state("lock"),
                    bak + " (a backup written by configure)",
                ]
            ),
        )
        self.assertEqual(os.listdir(self.state_dir), [])
        self.assertFalse(os.path.exists(bak))
        self.assertTrue(os.path.exists(self.wcs.properties))

        again = self.run_agent("seal")
        self.assertEqual(again.rc, 0, again.stderr)
        self.assertIn("nothing to remove", again.stdout)
        self.assertEqual(os.listdir(self.state_dir), [])

    def test_seal_removes_the_keystore_built_from_secrets_and_every_bak(self):
        """Issue 9 item 13."""
        conf = os.path.realpath(self.wcs.conf_dir)
        made = [os.path.join(conf, n) for n in ("wss.jks", "flashphoner.properties.bak", "wcs-core.properties.bak")]
        for path in made:
            with open(path, "wb") as f:
                f.write(b"rendered")
        # Without tls.* keys the keystore is the operator's own: kept.
        r = self.run_agent("seal")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertIn("removed %s (a backup written by configure)" % made[1], r.stdout.splitlines())
        self.assertIn("removed %s (a backup written by configure)" % made[2], r.stdout.splitlines())
        self.assertTrue(os.path.exists(made[0]))
        self.write_config(
            "[imds]\ntimeout_ms = 500\nattempts = 2\n"
            "[tls]\ncertificate = file:/etc/wcs/cert.pem\nprivate_key = ssm:/wcs/tls-key\n"
        )
        r = self.run_agent("seal")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(
            r.stdout.splitlines(), ["removed %s (the keystore built from the tls.* secrets)" % made[0]]
        )
        self.assertEqual([p for p in made if os.path.exists(p)], [])

    def test_status_after_seal_says_no_run_and_next_run_is_a_first_boot(self):
        self.assertEqual(self.run_agent("run").rc, 0)
        self.assertEqual(self.run_agent("seal").rc, 0)
        self.assertEqual(self.run_agent("status").rc, 3)
        r = self.run_agent("run")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertNotIn("set aside", r.stderr)
        with open(self.state("state.json")) as f:
            doc = json.load(f)
        self.assertEqual(doc["instance_id"], self.imds.metadata.get("instance_id"))

    def test_seal_refuses_while_a_run_holds_the_lock(self):
        import fcntl

        fd = os.open(self.state("lock"), os.O_RDWR | os.O_CREAT, 0o600)
        self.addCleanup(os.close, fd)
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = self.run_agent("seal")
        self.assertEqual(r.rc, 75, r.stderr)
        self.assertIn("lock", r.stderr)

    def test_seal_with_missing_state_dir(self):
        os.rmdir(self.state_dir)
        r = self.run_agent("seal")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertIn("nothing to remove", r.stdout)
        self.assertFalse(os.path.exists(self.state_dir))


if __name__ == "__main__":
    unittest.main()
