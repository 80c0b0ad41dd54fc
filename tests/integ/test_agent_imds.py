"""The real wcs-agent against the IMDS twin: every IMDS fault class, the
metadata command (facts, raw paths, user data classification) and the
IMDSv2-only token discipline, checked through the twin's request log."""

import base64
import gzip
import json
import time
import unittest

from twin_testlib import CLOSED_ENDPOINT, TwinTestCase

# The facts of design.md §2, in the order of the contract.
FACT_FIELDS = (
    "instance_id",
    "region",
    "availability_zone",
    "instance_type",
    "local_ipv4",
    "public_ipv4",
    "mac",
    "account_id",
    "image_id",
    "partition_domain",
    "lifecycle_state",
    "role",
    "tags",
    "user_data",
)

# Twin values unlike the twin's defaults, so nothing can pass by accident.
CUSTOM_METADATA = {
    "instance_id": "i-0fedcba9876543210",
    "instance_type": "m6i.xlarge",
    "ami_id": "ami-0123456789fedcba0",
    "account_id": "210987654321",
    "region": "us-east-2",
    "availability_zone": "us-east-2c",
    "local_ipv4": "10.20.30.40",
    "public_ipv4": "198.51.100.77",
    "mac": "02:aa:bb:cc:dd:ee",
    "domain": "amazonaws.com.cn",
    "role": "media-node-role",
    "lifecycle_state": "InService",
    "tags": {"Name": "edge-7", "Team": "media", "aws:autoscaling:groupName": "wcs-asg"},
}

OVERLAY = b"#wcs-agent\n[cdn]\ngroups = from-user-data\n"
SHELL = b"#!/bin/sh\nset -e\n/usr/local/bin/wcs-agent run\n"
CLOUD_CONFIG = b"#cloud-config\npackages:\n  - htop\n"


def expected_facts(m, user_data):
    """The metadata --json document the twin's metadata m must give."""
    return {
        "instance_id": m["instance_id"],
        "region": m["region"],
        "availability_zone": m["availability_zone"],
        "instance_type": m["instance_type"],
        "local_ipv4": m["local_ipv4"],
        "public_ipv4": m["public_ipv4"] if m["public_ip_enabled"] else None,
        "mac": m["mac"],
        "account_id": m["account_id"],
        "image_id": m["ami_id"],
        "partition_domain": m["domain"],
        "lifecycle_state": m["lifecycle_state"],
        "role": m["role"],
        "tags": dict(m["tags"]) if m["tags_enabled"] else None,
        "user_data": user_data,
    }


def mime(parts, boundary="==BOUNDARY-wcs-42=="):
    """A cloud-init style MIME multi-part document of (content type, body,
    transfer encoding or None) parts."""
    out = [
        'Content-Type: multipart/mixed; boundary="%s"' % boundary,
        "MIME-Version: 1.0",
        "",
    ]
    for ctype, body, cte in parts:
        out.append("--" + boundary)
        out.append('Content-Type: %s; charset="us-ascii"' % ctype)
        out.append("MIME-Version: 1.0")
        if cte == "base64":
            out.append("Content-Transfer-Encoding: base64")
            body = base64.encodebytes(body).decode("ascii")
        else:
            body = body.decode("ascii")
        out.append("")
        out.append(body.rstrip("\n"))
    out.append("--" + boundary + "--")
    out.append("")
    return "\n".join(out).encode("ascii")


class AgentImdsCase(TwinTestCase):
    twin_scope = "class"
    need_agent = True
    agent_timeout = 30

    def metadata_json(self, *args, **kw):
        r = self.run_agent(*(list(args) + ["metadata", "--json"]), **kw)
        self.assertEqual(r.rc, 0, r.stderr)
        try:
            doc = json.loads(r.stdout)
        except ValueError as e:
            self.fail("metadata --json stdout is not JSON (%s): %r" % (e, r.stdout))
        self.assertIsInstance(doc, dict)
        return doc, r

    def assert_no_imdsv1(self):
        """Every GET carried a token header: there is no IMDSv1 fallback."""
        gets = self.imds.requests("GET") + self.imds.requests("HEAD")
        bare = [(r["seq"], r["path"]) for r in gets if not r["token_sent"]]
        self.assertFalse(bare, "GETs without a token (IMDSv1 fallback): %r" % bare)

    def assert_gets_served_with_valid_token(self):
        """Every GET the twin answered was made with a valid token; each GET
        refused with 401 (a token expired by the twin) is followed by a new
        token and the same GET again."""
        log = self.imds.requests()
        self.assert_no_imdsv1()
        for i, r in enumerate(log):
            if r["method"] != "GET":
                continue
            if r["status"] == 401:
                self.assertFalse(r["token_valid"], r)
                rest = log[i + 1 :]
                self.assertTrue(rest, "nothing after a 401 on %s" % r["path"])
                self.assertEqual(
                    (rest[0]["method"], rest[0]["status"]),
                    ("PUT", 200),
                    "after a 401 on %s the next request must fetch a new token: %r"
                    % (r["path"], rest[0]),
                )
                again = [x for x in rest[1:] if x["method"] == "GET"]
                self.assertTrue(again and again[0]["path"] == r["path"], (r, again[:1]))
            else:
                self.assertTrue(
                    r["token_valid"], "GET %s served without a valid token: %r" % (r["path"], r)
                )


class MetadataFactsTest(AgentImdsCase):
    def test_json_every_fact_with_token_failures_and_expiry(self):
        """The acceptance case: the first two token PUTs get 503 and every
        token dies after 3 GETs, and still every fact is printed and right."""
        self.imds.set_metadata(**CUSTOM_METADATA)
        self.imds.set_faults(fail_first_tokens=2, fail_tokens_status=503, expire_tokens_after_n_gets=3)
        doc, r = self.metadata_json()
        m = self.imds.metadata.snapshot()
        self.assertEqual(list(doc), list(FACT_FIELDS), "fields and their order")
        self.assertEqual(doc, expected_facts(m, "none"))
        puts = self.imds.requests("PUT")
        self.assertEqual([p["status"] for p in puts[:2]], [503, 503])
        self.assertTrue(all(p["path"] == "/latest/api/token" for p in puts))
        self.assertTrue(all(p["ttl_header"] for p in puts), "every PUT asks for a TTL")
        expired = [g for g in self.imds.requests("GET") if g["status"] == 401]
        self.assertGreater(len(expired), 0, "the twin expired no token: the test proves nothing")
        self.assertEqual(len(puts), 2 + 1 + len(expired), "one new token per 401")
        self.assert_gets_served_with_valid_token()

    def test_json_absent_facts_are_null(self):
        self.imds.set_metadata(
            public_ip_enabled=False, tags_enabled=False, role=None, lifecycle_state=None
        )
        doc, _ = self.metadata_json()
        self.assertEqual(list(doc), list(FACT_FIELDS))
        for k in ("public_ipv4", "tags", "role", "lifecycle_state"):
            self.assertIn(k, doc)
            self.assertIsNone(doc[k], k)
        self.assertEqual(doc, expected_facts(self.imds.metadata.snapshot(), "none"))
        self.assert_gets_served_with_valid_token()

    def test_tags_off_gives_null_tags(self):
        self.imds.set_metadata(tags_enabled=False)
        doc, _ = self.metadata_json()
        self.assertIsNone(doc["tags"])
        self.assertEqual(doc["instance_id"], self.imds.metadata.get("instance_id"))

    def test_tags_on_with_no_tags_is_an_empty_object(self):
        self.imds.set_metadata(tags={})
        doc, _ = self.metadata_json()
        self.assertEqual(doc["tags"], {})

    def test_public_ip_off_gives_null(self):
        self.imds.set_metadata(public_ip_enabled=False)
        doc, _ = self.metadata_json()
        self.assertIsNone(doc["public_ipv4"])
        self.assertEqual(doc["local_ipv4"], self.imds.metadata.get("local_ipv4"))

    def test_lifecycle_state_and_role(self):
        self.imds.set_metadata(lifecycle_state="Warmed:Running", role="other-role")
        doc, _ = self.metadata_json()
        self.assertEqual(doc["lifecycle_state"], "Warmed:Running")
        self.assertEqual(doc["role"], "other-role")

    def test_text_form_is_aligned_name_value_lines(self):
        """design.md §2: without --json the same facts print as aligned
        `name: value` lines."""
        self.imds.set_metadata(**CUSTOM_METADATA)
        r = self.run_agent("metadata")
        self.assertEqual(r.rc, 0, r.stderr)
        facts = expected_facts(self.imds.metadata.snapshot(), "none")
        lines = r.stdout.splitlines()
        for name in FACT_FIELDS:
            if name == "tags":
                continue
            found = [ln for ln in lines if ln.startswith(name + ":")]
            self.assertEqual(len(found), 1, "no '%s: value' line in:\n%s" % (name, r.stdout))
            self.assertEqual(found[0].split(":", 1)[1].strip(), str(facts[name]), found[0])
        # Aligned: the values of the fact lines start in one column.
        cols = set()
        for ln in lines:
            head = ln.split(":", 1)[0]
            if head in FACT_FIELDS and head != "tags":
                rest = ln.split(":", 1)[1]
                cols.add(len(ln) - len(rest.lstrip()))
        self.assertEqual(len(cols), 1, "values not aligned:\n%s" % r.stdout)


class RawPathTest(AgentImdsCase):
    def test_meta_data_paths(self):
        self.imds.set_metadata(**CUSTOM_METADATA)
        for path, want in (
            ("instance-id", CUSTOM_METADATA["instance_id"]),
            ("placement/region", CUSTOM_METADATA["region"]),
            ("local-ipv4", CUSTOM_METADATA["local_ipv4"]),
            ("tags/instance/Team", "media"),
            ("/latest/meta-data/instance-type", CUSTOM_METADATA["instance_type"]),
        ):
            r = self.run_agent("metadata", path)
            self.assertEqual(r.rc, 0, (path, r.stderr))
            self.assertEqual(r.stdout.strip(), want, path)
        self.assert_gets_served_with_valid_token()

    def test_identity_document(self):
        self.imds.set_metadata(**CUSTOM_METADATA)
        r = self.run_agent("metadata", "/latest/dynamic/instance-identity/document")
        self.assertEqual(r.rc, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["accountId"], CUSTOM_METADATA["account_id"])
        self.assertEqual(doc["imageId"], CUSTOM_METADATA["ami_id"])

    def test_user_data_path_prints_raw_user_data(self):
        self.imds.set_metadata(user_data=OVERLAY)
        r = self.run_agent("metadata", "/latest/user-data")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stdout, OVERLAY.decode())

    def test_absent_path_is_not_found(self):
        for path in ("no/such/item", "public-ipv4", "/latest/user-data"):
            self.imds.set_metadata(public_ip_enabled=False, user_data=None)
            r = self.run_agent("metadata", path)
            self.assertEqual(r.rc, 1, (path, r))
            self.assertIn("not found", r.stderr, path)
            self.assertIn(path, r.stderr)
            self.assertEqual(r.stdout, "", path)
        self.assert_gets_served_with_valid_token()

    def test_json_with_path_is_a_usage_error(self):
        r = self.run_agent("metadata", "--json", "instance-id")
        self.assertEqual(r.rc, 64, r)
        self.assertEqual(self.imds.requests(), [])


class UserDataKindTest(AgentImdsCase):
    def kind(self, user_data):
        self.imds.set_metadata(user_data=user_data)
        doc, r = self.metadata_json()
        return doc["user_data"], r

    def test_none(self):
        self.assertEqual(self.kind(None)[0], "none")

    def test_empty_user_data_is_none(self):
        self.assertEqual(self.kind(b"")[0], "none")

    def test_overlay(self):
        self.assertEqual(self.kind(OVERLAY)[0], "overlay")

    def test_overlay_crlf(self):
        self.assertEqual(self.kind(OVERLAY.replace(b"\n", b"\r\n"))[0], "overlay")

    def test_gzip_overlay(self):
        self.assertEqual(self.kind(gzip.compress(OVERLAY))[0], "overlay")

    def test_multipart_overlay(self):
        doc = mime(
            [
                ("text/x-shellscript", SHELL, None),
                ("text/x-wcs-agent", b"[cdn]\ngroups = part-two\n", "base64"),
                ("text/cloud-config", CLOUD_CONFIG, None),
            ]
        )
        self.assertEqual(self.kind(doc)[0], "multipart-overlay")

    def test_gzip_multipart_overlay(self):
        doc = mime([("text/x-wcs-agent", b"[cdn]\ngroups = gz-part\n", None)])
        self.assertEqual(self.kind(gzip.compress(doc))[0], "multipart-overlay")

    def test_multipart_without_agent_part_is_other(self):
        doc = mime([("text/x-shellscript", SHELL, None), ("text/cloud-config", CLOUD_CONFIG, None)])
        self.assertEqual(self.kind(doc)[0], "other")

    def test_shell_script_is_other(self):
        self.assertEqual(self.kind(SHELL)[0], "other")

    def test_cloud_config_is_other(self):
        self.assertEqual(self.kind(CLOUD_CONFIG)[0], "other")

    def test_user_data_content_is_never_printed(self):
        marker = "ud-marker-5f1e9c"
        secret = "LIC-ud-secret-77aa"
        overlay = "#wcs-agent\n; %s\n[licence]\nkey = %s\n[cdn]\ngroups = %s\n" % (marker, secret, marker)
        overlay = overlay.encode()
        for ud in (overlay, gzip.compress(overlay), ("#!/bin/sh\necho %s %s\n" % (marker, secret)).encode()):
            self.imds.set_metadata(user_data=ud)
            for args in (("metadata",), ("metadata", "--json"), ("-v", "metadata", "--json")):
                r = self.run_agent(*args)
                self.assertEqual(r.rc, 0, (args, r.stderr))
                for text in (r.stdout, r.stderr):
                    self.assertNotIn(marker, text, args)
                    self.assertNotIn(secret, text, args)

    def test_malformed_multipart_is_a_config_error(self):
        # No closing boundary.
        bad = (
            b'Content-Type: multipart/mixed; boundary="xyz"\nMIME-Version: 1.0\n\n'
            b"--xyz\nContent-Type: text/x-wcs-agent\n\n[cdn]\n"
        )
        self.imds.set_metadata(user_data=bad)
        r = self.run_agent("metadata", "--json")
        self.assertEqual(r.rc, 78, r)
        self.assertIn("user-data", r.stderr)


class FaultTest(AgentImdsCase):
    """Each IMDS failure class: exit status, one precise diagnosis, and no
    GET without a token.  A fresh twin per test: a request delayed by
    latency_ms or held by the blackhole must not land in the next test's log."""

    twin_scope = "test"
    FAST = ("--set", "imds.timeout_ms=300", "--set", "imds.attempts=2")

    def test_token_blackhole_is_hop_limit(self):
        self.imds.set_faults(token_blackhole=True)
        t0 = time.monotonic()
        r = self.run_agent("metadata", "--json", global_args=self.FAST)
        took = time.monotonic() - t0
        self.assertEqual(r.rc, 75, r)
        self.assertEqual(r.stdout, "")
        self.assertRegex(r.stderr, r"(?i)hop limit")
        self.assertIn("HttpPutResponseHopLimit", r.stderr)
        self.assertLess(took, 10, "imds.timeout_ms/attempts not honoured")
        puts = self.imds.requests("PUT")
        self.assertEqual(len(puts), 2, "imds.attempts=2 token PUTs")
        self.assertTrue(all(p.get("blackholed") for p in puts))
        self.assertEqual(self.imds.requests("GET"), [], "a GET without a token (IMDSv1)")

    def test_disabled_403_is_a_definite_failure(self):
        self.imds.set_faults(disabled=True)
        r = self.run_agent("metadata", "--json", global_args=self.FAST)
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.stdout, "")
        self.assertIn("disabled", r.stderr)
        self.assertIn("403", r.stderr)
        log = self.imds.requests()
        self.assertEqual(len(log), 1, "403 is definite: no retries: %r" % log)
        self.assertEqual(log[0]["method"], "PUT")

    def test_connection_refused_from_environment(self):
        r = self.run_agent(
            "metadata",
            "--json",
            global_args=self.FAST,
            env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": CLOSED_ENDPOINT},
        )
        self.assertEqual(r.rc, 75, r)
        self.assertIn("refused", r.stderr)
        self.assertIn(CLOSED_ENDPOINT, r.stderr)
        self.assertEqual(self.imds.requests(), [])

    def test_connection_refused_from_set(self):
        r = self.run_agent(
            "metadata", "--json", global_args=self.FAST + ("--set", "imds.endpoint=" + CLOSED_ENDPOINT)
        )
        self.assertEqual(r.rc, 75, r)
        self.assertIn("refused", r.stderr)
        self.assertEqual(self.imds.requests(), [])

    def test_get_bursts_within_attempts_succeed(self):
        for status in (429, 503, 500):
            with self.subTest(status=status):
                self.imds.reset()
                self.imds.set_faults(fail_next_gets=2, fail_gets_status=status)
                doc, _ = self.metadata_json("--set", "imds.attempts=3")
                self.assertEqual(doc, expected_facts(self.imds.metadata.snapshot(), "none"))
                gets = self.imds.requests("GET")
                self.assertEqual([g["status"] for g in gets[:3]], [status, status, 200])
                self.assertEqual(len({g["path"] for g in gets[:3]}), 1, "the same GET retried")
                self.assert_no_imdsv1()

    def test_token_bursts_within_attempts_succeed(self):
        for status in (429, 503):
            with self.subTest(status=status):
                self.imds.reset()
                self.imds.set_faults(fail_first_tokens=2, fail_tokens_status=status)
                doc, _ = self.metadata_json("--set", "imds.attempts=3")
                self.assertEqual(doc["instance_id"], self.imds.metadata.get("instance_id"))
                puts = self.imds.requests("PUT")
                self.assertEqual([p["status"] for p in puts], [status, status, 200])
                self.assert_gets_served_with_valid_token()

    def test_get_bursts_beyond_attempts_fail_temporarily(self):
        for status, word in ((429, "throttled"), (503, "503")):
            with self.subTest(status=status):
                self.imds.reset()
                self.imds.set_faults(fail_next_gets=3, fail_gets_status=status)
                r = self.run_agent("metadata", "--json", global_args=("--set", "imds.attempts=3"))
                self.assertEqual(r.rc, 75, r)
                self.assertEqual(r.stdout, "")
                self.assertIn(word, r.stderr)
                self.assertIn("3 attempts", r.stderr)
                gets = self.imds.requests("GET")
                self.assertEqual(len(gets), 3, "exactly imds.attempts tries: %r" % gets)
                self.assert_no_imdsv1()

    def test_token_bursts_beyond_attempts_fail_temporarily(self):
        self.imds.set_faults(fail_first_tokens=4, fail_tokens_status=503)
        r = self.run_agent("metadata", "instance-id", global_args=("--set", "imds.attempts=4"))
        self.assertEqual(r.rc, 75, r)
        self.assertIn("503", r.stderr)
        self.assertEqual(len(self.imds.requests("PUT")), 4)
        self.assertEqual(self.imds.requests("GET"), [], "a GET without a token (IMDSv1)")

    def test_latency_within_timeout_succeeds(self):
        self.imds.set_faults(latency_ms=60)
        doc, _ = self.metadata_json("--set", "imds.timeout_ms=2000", "--set", "imds.attempts=1")
        self.assertEqual(doc, expected_facts(self.imds.metadata.snapshot(), "none"))
        self.assertTrue(all(r["status"] in (200, 404) for r in self.imds.requests()))

    def test_latency_beyond_timeout_fails_temporarily(self):
        self.imds.set_faults(latency_ms=1500)
        t0 = time.monotonic()
        r = self.run_agent(
            "metadata",
            "instance-id",
            global_args=("--set", "imds.timeout_ms=200", "--set", "imds.attempts=2"),
        )
        self.assertEqual(r.rc, 75, r)
        self.assertIn("timed out", r.stderr)
        self.assertLess(time.monotonic() - t0, 10)

    def test_metadata_disabled_by_environment(self):
        for value in ("true", "TRUE", "True"):
            with self.subTest(value=value):
                self.imds.clear_requests()
                r = self.run_agent("metadata", "--json", env={"AWS_EC2_METADATA_DISABLED": value})
                self.assertEqual(r.rc, 1, r)
                self.assertEqual(r.stdout, "")
                self.assertIn("AWS_EC2_METADATA_DISABLED", r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertEqual(self.imds.requests(), [], "a request reached the twin")

    def test_metadata_disabled_false_is_ignored(self):
        doc, _ = self.metadata_json(env={"AWS_EC2_METADATA_DISABLED": "false"})
        self.assertEqual(doc["instance_id"], self.imds.metadata.get("instance_id"))

    def test_token_good_for_one_get_is_refreshed_every_time(self):
        """A token that dies while the run goes on is replaced, never sent stale."""
        self.imds.set_faults(expire_tokens_after_n_gets=1)
        doc, _ = self.metadata_json()
        self.assertEqual(doc, expected_facts(self.imds.metadata.snapshot(), "none"))
        self.assert_gets_served_with_valid_token()


if __name__ == "__main__":
    unittest.main()
