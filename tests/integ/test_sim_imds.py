"""Tests of the IMDS twin itself (tests/sim/imds.py, twin.py), with urllib; no agent."""

import base64
import datetime
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from unittest import mock

import twin_testlib
from twin_testlib import TwinTestCase, http_request, imds, twin

TOKEN = imds.TOKEN_HEADER
TTL = imds.TTL_HEADER
CTL = {imds.CONTROL_HEADER: "1"}
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _parse_iso(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def _raw(port, data, read=True, timeout=3.0):
    """Send raw bytes on a fresh connection; the reply bytes (until close or
    timeout) when read is true."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if not read:
            return b""
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if b"\r\n\r\n" in out:
                    head, _, rest = out.partition(b"\r\n\r\n")
                    m = re.search(rb"Content-Length: (\d+)", head)
                    if m and len(rest) >= int(m.group(1)):
                        break
        except socket.timeout:
            pass
        return out


class TokenTest(TwinTestCase):
    twin_scope = "class"

    def test_put_returns_token_and_ttl(self):
        status, hdrs, body = self.imds_request("PUT", "/latest/api/token", {TTL: "21600"})
        self.assertEqual(status, 200)
        self.assertEqual(hdrs[TTL], "21600")
        self.assertEqual(hdrs["Server"], "EC2ws")
        self.assertGreaterEqual(len(body), 40)
        self.assertRegex(body.decode("ascii"), r"^[A-Za-z0-9_=-]+$")
        self.assertNotEqual(body.decode(), self.imds_token(), "tokens must be random")

    def test_ttl_bounds(self):
        for ttl in ("1", "21600", "300"):
            status, hdrs, _ = self.imds_request("PUT", "/latest/api/token", {TTL: ttl})
            self.assertEqual((status, hdrs[TTL]), (200, ttl))
        for ttl in ("0", "21601", "-1", "abc", "", "1.5", "9999999", "+5"):
            status, _, _ = self.imds_request("PUT", "/latest/api/token", {TTL: ttl})
            self.assertEqual(status, 400, "TTL %r" % ttl)
        status, _, _ = self.imds_request("PUT", "/latest/api/token")
        self.assertEqual(status, 400, "missing TTL")

    def test_x_forwarded_for_rejected(self):
        status, _, _ = self.imds_request(
            "PUT", "/latest/api/token", {TTL: "60", "X-Forwarded-For": "10.0.0.5"}
        )
        self.assertEqual(status, 403)
        self.assertTrue(self.imds.requests()[-1]["xff"])

    def test_versioned_and_other_put_paths(self):
        status, _, _ = self.imds_request("PUT", "/2021-03-23/api/token", {TTL: "60"})
        self.assertEqual(status, 403)
        status, hdrs, _ = self.imds_request("PUT", "/latest/meta-data/", {TTL: "60"})
        self.assertEqual(status, 405)
        status, _, _ = self.imds_request("POST", "/latest/api/token", {TTL: "60"}, body=b"")
        self.assertEqual(status, 405)

    def test_get_needs_valid_token(self):
        for path in ("/latest/meta-data/", "/latest/meta-data/instance-id", "/latest/user-data",
                     "/latest/dynamic/instance-identity/document", "/nope"):
            status, hdrs, body = self.imds_get(path, None)
            self.assertEqual(status, 401, path)
            self.assertIn(b"401 - Unauthorized", body)
            self.assertEqual(hdrs["Content-Type"], "text/html")
        status, _, _ = self.imds_get("/latest/meta-data/instance-id", "not-a-token")
        self.assertEqual(status, 401)
        status, _, _ = self.imds_get("/latest/meta-data/instance-id", "")
        self.assertEqual(status, 401)
        log = self.imds.requests("GET")
        self.assertTrue(all(not r["token_valid"] for r in log))
        self.assertEqual([r["token_sent"] for r in log[-2:]], [True, True])

    def test_head_with_token(self):
        tok = self.imds_token()
        status, hdrs, body = self.imds_request(
            "HEAD", "/latest/meta-data/instance-id", {TOKEN: tok}
        )
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertEqual(hdrs["Content-Length"], str(len("i-0123456789abcdef0")))

    def test_tokens_independent_and_expire_tokens(self):
        a, b = self.imds_token(), self.imds_token()
        self.assertEqual(self.imds_get("/latest/meta-data/mac", a)[0], 200)
        self.assertEqual(self.imds_get("/latest/meta-data/mac", b)[0], 200)
        self.assertEqual(self.imds.token_count(), 2)
        self.imds.expire_tokens()
        self.assertEqual(self.imds_get("/latest/meta-data/mac", a)[0], 401)
        self.assertEqual(self.imds_get("/latest/meta-data/mac", b)[0], 401)

    def test_keep_alive_and_chunked_put(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.imds.port, timeout=5)
        try:
            conn.request("PUT", "/latest/api/token", headers={TTL: "60"})
            r = conn.getresponse()
            tok = r.read().decode()
            self.assertEqual(r.status, 200)
            for _ in range(3):
                conn.request("GET", "/latest/meta-data/instance-type", headers={TOKEN: tok})
                r = conn.getresponse()
                self.assertEqual((r.status, r.read()), (200, b"c5.large"))
        finally:
            conn.close()
        reply = _raw(
            self.imds.port,
            b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\n" + TTL.encode()
            + b": 60\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
        )
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), reply[:80])


class TokenClockTest(TwinTestCase):
    """Token lifetime on a fake clock (a fresh twin per test)."""

    def setUp(self):
        self.clock = FakeClock()
        self.imds_kwargs = {"clock": self.clock}
        super().setUp()

    def test_token_expires_after_ttl(self):
        tok = self.imds_token(ttl=10)
        self.clock.t += 9.5
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 200)
        self.clock.t += 0.5
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 401)
        self.assertFalse(self.imds.requests("GET")[-1]["token_valid"])

    def test_token_ttl_override(self):
        self.imds.set_faults(token_ttl_override=5)
        status, hdrs, body = self.imds_request("PUT", "/latest/api/token", {TTL: "21600"})
        self.assertEqual((status, hdrs[TTL]), (200, "5"))
        tok = body.decode()
        self.clock.t += 4
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 200)
        self.clock.t += 1
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 401)


class PathTest(TwinTestCase):
    twin_scope = "class"

    def setUp(self):
        super().setUp()
        self.tok = self.imds_token()

    def get(self, path):
        return self.imds_get(path, self.tok)

    def value(self, path):
        status, hdrs, body = self.get(path)
        self.assertEqual(status, 200, path)
        return body.decode("utf-8")

    def test_leaves(self):
        expected = {
            "instance-id": "i-0123456789abcdef0",
            "instance-type": "c5.large",
            "ami-id": "ami-0abcdef1234567890",
            "placement/availability-zone": "eu-west-1a",
            "placement/region": "eu-west-1",
            "local-ipv4": "10.0.1.23",
            "public-ipv4": "203.0.113.10",
            "mac": "0a:1b:2c:3d:4e:5f",
            "services/domain": "amazonaws.com",
            "services/partition": "aws",
            "network/interfaces/macs/0a:1b:2c:3d:4e:5f/local-ipv4s": "10.0.1.23",
            "network/interfaces/macs/0a:1b:2c:3d:4e:5f/device-number": "0",
            "tags/instance/Name": "wcs-node-1",
        }
        for path, want in expected.items():
            self.assertEqual(self.value("/latest/meta-data/" + path), want, path)
        status, hdrs, _ = self.get("/latest/meta-data/instance-id")
        self.assertEqual(hdrs["Content-Type"], "text/plain")

    def test_listings(self):
        root = self.value("/latest/meta-data/")
        self.assertFalse(root.endswith("\n"))
        entries = root.split("\n")
        for e in ("ami-id", "instance-id", "instance-type", "local-ipv4", "public-ipv4", "mac",
                  "iam/", "network/", "placement/", "services/", "tags/"):
            self.assertIn(e, entries)
        for absent in ("autoscaling/", "spot/"):
            self.assertNotIn(absent, entries)
        self.assertEqual(self.value("/latest/meta-data"), root)
        self.assertEqual(self.value("/latest/meta-data/placement"),
                         self.value("/latest/meta-data/placement/"))
        self.assertIn("region", self.value("/latest/meta-data/placement/").split("\n"))
        self.assertEqual(self.value("/latest/meta-data/network/interfaces/macs/"),
                         "0a:1b:2c:3d:4e:5f/")
        self.assertEqual(self.value("/latest/meta-data/iam/security-credentials/"),
                         "wcs-node-role")
        self.assertEqual(self.value("/latest/meta-data/tags/instance"), "Name\nEnvironment")
        self.assertEqual(self.value("/latest/"), "dynamic/\nmeta-data/")
        self.assertEqual(self.value("/latest/dynamic/instance-identity/"), "document")

    def test_iam(self):
        info = json.loads(self.value("/latest/meta-data/iam/info"))
        self.assertEqual(info["Code"], "Success")
        self.assertTrue(info["InstanceProfileArn"].startswith("arn:aws:iam::123456789012:"))
        raw = self.value("/latest/meta-data/iam/security-credentials/wcs-node-role")
        self.assertIn('"Code" : "Success"', raw)
        c = json.loads(raw)
        self.assertEqual(c["Code"], "Success")
        self.assertEqual(c["Type"], "AWS-HMAC")
        self.assertEqual(c["AccessKeyId"], "ASIAIOSFODNN7EXAMPLE")
        self.assertTrue(c["SecretAccessKey"] and c["Token"])
        for k in ("LastUpdated", "Expiration"):
            self.assertRegex(c[k], ISO_RE)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertGreater(_parse_iso(c["Expiration"]), now + datetime.timedelta(hours=5))
        self.assertLess(_parse_iso(c["LastUpdated"]), now)
        self.assertEqual(self.get("/latest/meta-data/iam/security-credentials/other")[0], 404)

    def test_identity_document(self):
        doc = json.loads(self.value("/latest/dynamic/instance-identity/document"))
        want = {
            "accountId": "123456789012",
            "architecture": "x86_64",
            "availabilityZone": "eu-west-1a",
            "billingProducts": None,
            "imageId": "ami-0abcdef1234567890",
            "instanceId": "i-0123456789abcdef0",
            "instanceType": "c5.large",
            "privateIp": "10.0.1.23",
            "region": "eu-west-1",
            "version": "2017-09-30",
        }
        for k, v in want.items():
            self.assertEqual(doc[k], v, k)
        self.assertRegex(doc["pendingTime"], ISO_RE)
        for k in ("devpayProductCodes", "marketplaceProductCodes", "kernelId", "ramdiskId"):
            self.assertIn(k, doc)

    def test_absent_and_unknown(self):
        for path in (
            "/latest/user-data",
            "/latest/meta-data/autoscaling/target-lifecycle-state",
            "/latest/meta-data/spot/instance-action",
            "/latest/meta-data/nope",
            "/latest/meta-data/instance-id/",
            "/latest/meta-data//instance-id",
            "/latest/meta-data/tags/instance/Missing",
            "/2021-03-23/meta-data/instance-id",
            "/latest/api/token",
            "/latest/meta-data/../instance-id",
        ):
            status, hdrs, body = self.get(path)
            self.assertEqual(status, 404, path)
            self.assertIn(b"404 - Not Found", body)
        self.assertTrue(all(r["token_valid"] for r in self.imds.requests("GET")))
        self.assertEqual(self.value("/"), "latest/")

    def test_percent_encoded_tag_key(self):
        self.imds.set_metadata(tags={"aws:autoscaling:groupName": "wcs-asg"})
        self.assertEqual(self.value("/latest/meta-data/tags/instance/aws%3Aautoscaling%3AgroupName"),
                         "wcs-asg")


class MetadataToggleTest(TwinTestCase):
    twin_scope = "class"

    def setUp(self):
        super().setUp()
        self.tok = self.imds_token()

    def get(self, path):
        return self.imds_get(path, self.tok)

    def test_tags_off_and_custom(self):
        self.imds.set_metadata(tags_enabled=False)
        self.assertEqual(self.get("/latest/meta-data/tags/instance")[0], 404)
        self.assertEqual(self.get("/latest/meta-data/tags/instance/Name")[0], 404)
        self.assertNotIn(b"tags/", self.get("/latest/meta-data/")[2])
        self.imds.set_metadata(tags_enabled=True, tags={"Role": "edge", "a:b@c": "x y"})
        self.assertEqual(self.get("/latest/meta-data/tags/instance")[2], b"Role\na:b@c")
        self.assertEqual(self.get("/latest/meta-data/tags/instance/a:b@c")[2], b"x y")
        for bad in ({"has space": "v"}, {"a/b": "v"}, {"_index": "v"}, {"..": "v"}, {"k": 1}):
            with self.assertRaises(ValueError):
                self.imds.set_metadata(tags=bad)

    def test_public_ip_off(self):
        self.imds.set_metadata(public_ip_enabled=False)
        self.assertEqual(self.get("/latest/meta-data/public-ipv4")[0], 404)
        self.assertEqual(self.get("/latest/meta-data/public-hostname")[0], 404)
        mac = "/latest/meta-data/network/interfaces/macs/0a:1b:2c:3d:4e:5f/"
        self.assertEqual(self.get(mac + "public-ipv4s")[0], 404)
        self.assertNotIn("public-ipv4", self.get("/latest/meta-data/")[2].decode().split("\n"))
        self.imds.set_metadata(public_ip_enabled=True, public_ipv4="198.51.100.7")
        self.assertEqual(self.get("/latest/meta-data/public-ipv4")[2], b"198.51.100.7")

    def test_no_local_ipv4(self):
        self.imds.set_metadata(local_ipv4=None)
        self.assertEqual(self.get("/latest/meta-data/local-ipv4")[0], 404)
        doc = json.loads(self.get("/latest/dynamic/instance-identity/document")[2])
        self.assertIsNone(doc["privateIp"])

    def test_user_data(self):
        data = b"#wcs-agent\n[cdn]\nrole = edge\n\x00\xff"
        self.imds.set_metadata(user_data=data)
        status, hdrs, body = self.get("/latest/user-data")
        self.assertEqual((status, body), (200, data))
        self.assertEqual(hdrs["Content-Type"], "application/octet-stream")
        self.assertIn(b"user-data", self.get("/latest/")[2])
        self.imds.set_metadata(user_data_b64=base64.b64encode(b"abc").decode())
        self.assertEqual(self.get("/latest/user-data")[2], b"abc")
        self.imds.set_metadata(user_data=None)
        self.assertEqual(self.get("/latest/user-data")[0], 404)

    def test_lifecycle_state(self):
        self.imds.set_metadata(lifecycle_state="Warmed:Running")
        self.assertEqual(self.get("/latest/meta-data/autoscaling/target-lifecycle-state")[2],
                         b"Warmed:Running")
        with self.assertRaises(ValueError):
            self.imds.set_metadata(lifecycle_state="Running")

    def test_spot_action(self):
        self.imds.set_metadata(spot_action="terminate")
        status, _, body = self.get("/latest/meta-data/spot/instance-action")
        self.assertEqual(status, 200)
        action = json.loads(body)
        self.assertEqual(action["action"], "terminate")
        self.assertRegex(action["time"], ISO_RE)
        self.assertEqual(self.get("/latest/meta-data/spot/termination-time")[2].decode(),
                         action["time"])
        self.imds.set_metadata(spot_action={"action": "stop", "time": "2026-11-27T08:22:00Z"})
        self.assertEqual(json.loads(self.get("/latest/meta-data/spot/instance-action")[2]),
                         {"action": "stop", "time": "2026-11-27T08:22:00Z"})
        self.assertEqual(self.get("/latest/meta-data/spot/termination-time")[0], 404)
        with self.assertRaises(ValueError):
            self.imds.set_metadata(spot_action="reboot")

    def test_no_role(self):
        self.imds.set_metadata(role=None)
        for p in ("iam/info", "iam/security-credentials/", "iam/security-credentials/wcs-node-role"):
            self.assertEqual(self.get("/latest/meta-data/" + p)[0], 404, p)

    def test_credentials_configurable(self):
        path = "/latest/meta-data/iam/security-credentials/wcs-node-role"
        creds = {"AccessKeyId": "AKIDSTS", "SecretAccessKey": "s3cr3t", "Token": "tok",
                 "Expiration": "2030-01-01T00:00:00Z"}
        self.imds.set_metadata(credentials=creds)
        c = json.loads(self.get(path)[2])
        self.assertEqual({k: c[k] for k in creds}, creds)
        calls = []

        def provider():
            calls.append(1)
            return {"AccessKeyId": "AKID%d" % len(calls), "SecretAccessKey": "x", "Token": "y"}

        self.imds.set_metadata(credentials_provider=provider)
        self.assertEqual(json.loads(self.get(path)[2])["AccessKeyId"], "AKID1")
        self.assertEqual(json.loads(self.get(path)[2])["AccessKeyId"], "AKID2")
        self.get("/latest/meta-data/iam/security-credentials/")
        self.assertEqual(len(calls), 2, "listing must not call the provider")
        self.imds.set_metadata(credentials_error="AssumeRoleUnauthorizedAccess")
        status, _, body = self.get(path)
        c = json.loads(body)
        self.assertEqual(status, 200)
        self.assertEqual(c["Code"], "AssumeRoleUnauthorizedAccess")
        self.assertNotIn("AccessKeyId", c)
        with self.assertRaises(ValueError):
            self.imds.set_metadata(credentials={"AccessKeyId": "only"})

    def test_bad_metadata_names_field(self):
        with self.assertRaisesRegex(ValueError, "unknown metadata field 'nope'"):
            self.imds.set_metadata(nope=1)
        with self.assertRaisesRegex(ValueError, "instance_id"):
            self.imds.set_metadata(instance_id="")


class FaultTest(TwinTestCase):
    twin_scope = "class"

    def put(self, headers=None, timeout=5.0):
        h = {TTL: "21600"}
        h.update(headers or {})
        return self.imds_request("PUT", "/latest/api/token", h, timeout=timeout)

    def test_disabled(self):
        tok = self.imds_token()
        self.imds.set_faults(disabled=True)
        self.assertEqual(self.put()[0], 403)
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 403)
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", None)[0], 403)
        self.imds.set_faults(disabled=False)
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 200)

    def test_fail_first_tokens(self):
        self.imds.set_faults(fail_first_tokens=2, fail_tokens_status=503)
        self.assertEqual(self.put({TTL: "0"})[0], 400, "a bad PUT does not use up a failure")
        self.assertEqual(self.put()[0], 503)
        self.assertEqual(self.put()[0], 503)
        status, hdrs, body = self.put()
        self.assertEqual(status, 200)
        self.assertEqual(self.imds.faults.fail_first_tokens, 0)
        self.assertEqual([r["status"] for r in self.imds.requests("PUT")], [400, 503, 503, 200])

    def test_expire_tokens_after_n_gets(self):
        self.imds.set_faults(expire_tokens_after_n_gets=2)
        tok = self.imds_token()
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 200)
        self.assertEqual(self.imds_get("/latest/meta-data/nope", tok)[0], 404)
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 401)
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 401)
        tok2 = self.imds_token()
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok2)[0], 200)
        self.assertEqual([r["token_valid"] for r in self.imds.requests("GET")],
                         [True, True, False, False, True])

    def test_get_burst(self):
        tok = self.imds_token()
        self.imds.set_faults(fail_next_gets=2, fail_gets_status=429)
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 429)
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 429)
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 200)
        self.imds.set_faults(fail_next_gets=1)  # status stays 429 until changed
        self.assertEqual(self.imds_get("/latest/meta-data/mac", tok)[0], 429)
        self.imds.set_faults(fail_next_gets=1, fail_gets_status=503)
        self.assertEqual(self.imds_get("/latest/meta-data/mac", tok)[0], 503)
        self.assertEqual(self.put()[0], 200, "GET burst does not touch PUTs")

    def test_latency(self):
        tok = self.imds_token()
        self.imds.set_faults(latency_ms=300)
        t0 = time.monotonic()
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 200)
        self.assertEqual(self.put()[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.6)
        with self.assertRaises(OSError):  # urllib's timeout: socket.timeout / URLError
            self.imds_get("/latest/meta-data/instance-id", tok, timeout=0.1)

    def test_token_blackhole(self):
        tok = self.imds_token()
        self.imds.set_faults(token_blackhole=True)
        t0 = time.monotonic()
        with self.assertRaises(OSError):
            self.put(timeout=1.0)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        rec = self.imds.requests("PUT")[-1]
        self.assertIsNone(rec["status"])
        self.assertTrue(rec["blackholed"])
        # Raw: the connection stays open and silent.
        with socket.create_connection(("127.0.0.1", self.imds.port), timeout=0.5) as s:
            s.sendall(b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\n" + TTL.encode()
                      + b": 60\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n")
            with self.assertRaises(socket.timeout):
                s.recv(1)
        # GETs with an existing token still work; the fault can be lifted.
        self.assertEqual(self.imds_get("/latest/meta-data/instance-id", tok)[0], 200)
        self.imds.set_faults(token_blackhole=False)
        self.assertEqual(self.put()[0], 200)

    def test_fault_validation(self):
        for kw in ({"nope": 1}, {"fail_first_tokens": -1}, {"fail_tokens_status": 200},
                   {"disabled": 1}, {"token_ttl_override": 0}, {"latency_ms": "5"},
                   {"fail_next_gets": True}):
            with self.assertRaises(ValueError, msg=repr(kw)):
                self.imds.set_faults(**kw)
        with self.assertRaises(ValueError):
            self.imds.set_faults(latency_ms=5, disabled="yes")
        self.assertEqual(self.imds.faults.latency_ms, 0, "set is all-or-nothing")

    def test_construction_faults_and_reset(self):
        t = imds.ImdsTwin(faults={"fail_first_tokens": 1, "fail_tokens_status": 500},
                          metadata={"instance_type": "m5.large", "tags_enabled": False})
        with t:
            self.assertEqual(http_request("PUT", t.url + "/latest/api/token", {TTL: "9"})[0], 500)
            status, _, body = http_request("PUT", t.url + "/latest/api/token", {TTL: "9"})
            self.assertEqual(status, 200)
            got = http_request("GET", t.url + "/latest/meta-data/instance-type", {TOKEN: body.decode()})
            self.assertEqual(got[2], b"m5.large")
            t.set_metadata(instance_type="c5.xlarge")
            t.reset()
            self.assertEqual(t.faults.fail_first_tokens, 1)
            self.assertEqual(t.metadata.get("instance_type"), "m5.large")
            self.assertEqual((t.requests(), t.token_count()), ([], 0))


class ControlApiTest(TwinTestCase):
    twin_scope = "class"

    def ctl(self, method, path, obj=None, headers=None):
        h = dict(CTL)
        h.update(headers or {})
        body = None if obj is None else (obj if isinstance(obj, bytes) else json.dumps(obj).encode())
        status, _, data = self.imds_request(method, path, h, body=body)
        return status, json.loads(data) if data.startswith(b"{") else data

    def test_not_reachable_without_header_or_with_token(self):
        tok = self.imds_token()
        self.assertEqual(self.imds_request("GET", "/_twin/requests")[0], 401)
        self.assertEqual(self.imds_get("/_twin/requests", tok)[0], 404)
        status, _ = self.ctl("GET", "/_twin/requests", headers={TOKEN: tok})
        self.assertEqual(status, 404)
        status, _, _ = self.imds_request("GET", "/_twin/state", {imds.CONTROL_HEADER: "yes"})
        self.assertEqual(status, 401)
        status, _, _ = self.imds_request("POST", "/_twin/faults", body=b'{"disabled": true}')
        self.assertEqual(status, 405)
        self.assertFalse(self.imds.faults.disabled)

    def test_state_faults_metadata(self):
        status, st = self.ctl("GET", "/_twin/state")
        self.assertEqual(status, 200)
        self.assertEqual(st["faults"], imds.FAULT_DEFAULTS)
        self.assertEqual(st["metadata"]["region"], "eu-west-1")
        status, got = self.ctl("POST", "/_twin/faults", {"fail_next_gets": 1, "fail_gets_status": 429})
        self.assertEqual(status, 200)
        self.assertEqual(got["faults"]["fail_next_gets"], 1)
        tok = self.imds_token()
        self.assertEqual(self.imds_get("/latest/meta-data/mac", tok)[0], 429)
        status, got = self.ctl("POST", "/_twin/metadata",
                               {"public_ip_enabled": False, "user_data": "#wcs-agent\n"})
        self.assertEqual(status, 200)
        self.assertEqual(got["metadata"]["user_data_b64"], base64.b64encode(b"#wcs-agent\n").decode())
        self.assertEqual(self.imds_get("/latest/meta-data/public-ipv4", tok)[0], 404)
        self.assertEqual(self.imds_get("/latest/user-data", tok)[2], b"#wcs-agent\n")

    def test_errors(self):
        self.assertEqual(self.ctl("POST", "/_twin/faults", b"{nope")[0], 400)
        status, err = self.ctl("POST", "/_twin/faults", {"nope": 1})
        self.assertEqual(status, 400)
        self.assertIn("nope", err["error"])
        self.assertEqual(self.ctl("POST", "/_twin/faults", [1])[0], 400)
        self.assertEqual(self.ctl("POST", "/_twin/metadata", {"credentials_provider": 1})[0], 400)
        self.assertEqual(self.ctl("GET", "/_twin/nothing")[0], 404)

    def test_tokens_expire_and_reset(self):
        tok = self.imds_token()
        self.assertEqual(self.ctl("POST", "/_twin/tokens/expire")[0], 200)
        self.assertEqual(self.imds_get("/latest/meta-data/mac", tok)[0], 401)
        self.ctl("POST", "/_twin/faults", {"disabled": True})
        status, st = self.ctl("POST", "/_twin/reset")
        self.assertEqual(status, 200)
        self.assertFalse(st["faults"]["disabled"])
        self.assertEqual(st["requests"], 0)

    def test_request_log(self):
        tok = self.imds_token()
        self.imds_get("/latest/meta-data/instance-id", tok)
        self.imds_get("/latest/meta-data/instance-id?x=1", None)
        self.ctl("GET", "/_twin/state")
        status, got = self.ctl("GET", "/_twin/requests")
        self.assertEqual(status, 200)
        reqs = got["requests"]
        self.assertEqual([(r["method"], r["path"], r["token_valid"], r["status"]) for r in reqs], [
            ("PUT", "/latest/api/token", False, 200),
            ("GET", "/latest/meta-data/instance-id", True, 200),
            ("GET", "/latest/meta-data/instance-id?x=1", False, 401),
        ])
        self.assertEqual(reqs[0]["ttl_header"], "21600")
        self.assertEqual([r["seq"] for r in reqs], [1, 2, 3])
        self.assertEqual(reqs, self.imds.requests())
        with self.assertRaises(AssertionError):
            self.assert_all_gets_had_valid_token()
        self.assertEqual(self.ctl("DELETE", "/_twin/requests")[0], 200)
        self.assertEqual(self.imds.requests(), [])
        self.imds_get("/latest/meta-data/instance-id", tok)
        self.assert_all_gets_had_valid_token()
        self.assertEqual(self.ctl("POST", "/_twin/requests/clear")[0], 200)
        self.assertEqual(self.imds.requests(), [])


class RobustnessTest(TwinTestCase):
    def test_concurrent_gets(self):
        tok = self.imds_token()
        errors = []

        def worker():
            for _ in range(25):
                try:
                    status, _, body = self.imds_get("/latest/meta-data/instance-id", tok)
                    if (status, body) != (200, b"i-0123456789abcdef0"):
                        errors.append((status, body))
                except OSError as e:
                    errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(self.imds.requests("GET")), 200)

    def test_disconnects_and_garbage(self):
        port = self.imds.port
        _raw(port, b"GET /latest/meta-data/ HTTP/1.1\r\nHost:", read=False)
        _raw(port, b"PUT /latest/api/token HTTP/1.1\r\n" + TTL.encode() + b": 60\r\n\r\n", read=False)
        _raw(port, b"PUT /latest/api/token HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc", read=False)
        self.assertTrue(_raw(port, b"\x00\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400"))
        reply = _raw(port, b"PUT /latest/api/token HTTP/1.1\r\nContent-Length: x\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply[:60])
        self.assertEqual(self.imds_request("PUT", "/latest/api/token", {TTL: "5"})[0], 200)

    def test_stop_with_held_and_idle_connections(self):
        self.imds.set_faults(token_blackhole=True)
        held = socket.create_connection(("127.0.0.1", self.imds.port))
        idle = socket.create_connection(("127.0.0.1", self.imds.port))
        held.sendall(b"PUT /latest/api/token HTTP/1.1\r\n" + TTL.encode() + b": 60\r\n\r\n")
        time.sleep(0.2)
        t0 = time.monotonic()
        self.imds.stop()
        self.assertLess(time.monotonic() - t0, 3.0)
        held.settimeout(2)
        self.assertEqual(held.recv(10), b"", "held connection closed on stop")
        held.close()
        idle.close()
        self.imds.stop()  # idempotent


def _start(argv):
    return subprocess.Popen(
        [sys.executable] + argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


class CommandLineTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="twin-cli-")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name

    def test_imds_py(self):
        state = os.path.join(self.tmp, "state.json")
        with open(state, "w") as f:
            json.dump({"faults": {"fail_first_tokens": 1}, "metadata": {"region": "eu-central-1"}}, f)
        ud = os.path.join(self.tmp, "ud")
        with open(ud, "wb") as f:
            f.write(b"#!/bin/sh\necho hi\n")
        log = os.path.join(self.tmp, "requests.jsonl")
        proc = _start([os.path.join(twin_testlib.SIM_DIR, "imds.py"), "--port", "0",
                       "--state-file", state, "--user-data-file", ud, "--no-tags",
                       "--tag", "ignored=1", "--request-log", log, "--lifecycle-state", "InService"])
        try:
            line = proc.stdout.readline()
            m = re.fullmatch(r"IMDS_PORT=(\d+)\n", line)
            self.assertIsNotNone(m, line)
            url = "http://127.0.0.1:%s" % m.group(1)
            self.assertEqual(http_request("PUT", url + "/latest/api/token", {TTL: "60"})[0], 503)
            tok = http_request("PUT", url + "/latest/api/token", {TTL: "60"})[2].decode()
            get = lambda p: http_request("GET", url + p, {TOKEN: tok})  # noqa: E731
            self.assertEqual(get("/latest/meta-data/placement/region")[2], b"eu-central-1")
            self.assertEqual(get("/latest/user-data")[2], b"#!/bin/sh\necho hi\n")
            self.assertEqual(get("/latest/meta-data/tags/instance")[0], 404)
            self.assertEqual(get("/latest/meta-data/autoscaling/target-lifecycle-state")[2], b"InService")
            port = int(m.group(1))
            _raw(port, b"GET /latest/meta-data/ HTTP/1.1\r\n", read=False)
            _raw(port, b"GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\n" + TOKEN.encode()
                 + b": " + tok.encode() + b"\r\n\r\n", read=False)
        finally:
            rc, out, err = _stop(proc)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("Traceback", err)
        with open(log) as f:
            logged = [json.loads(x) for x in f]
        self.assertEqual([r["status"] for r in logged[:3]], [503, 200, 200])

    def test_imds_py_bad_options(self):
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"faults": {"nope": 1}}')
        for argv in (["--state-file", bad], ["--state-file", os.path.join(self.tmp, "missing")],
                     ["--fail-tokens-status", "200"], ["--host", "0.0.0.0"],
                     ["--user-data-file", os.path.join(self.tmp, "missing")]):
            p = subprocess.run([sys.executable, os.path.join(twin_testlib.SIM_DIR, "imds.py")] + argv,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, argv)
            self.assertEqual(p.stdout, "")
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertNotIn("Traceback", p.stderr)

    def test_twin_py(self):
        env_file = os.path.join(self.tmp, "twin.env")
        proc = _start([os.path.join(twin_testlib.SIM_DIR, "twin.py"), "--env-file", env_file,
                       "--no-public-ip", "--imds-opts", "--spot-action terminate"])
        try:
            lines = [proc.stdout.readline() for _ in range(3)]
            env = dict(x.rstrip("\n").split("=", 1) for x in lines)
            with open(env_file) as f:
                self.assertEqual(f.read(), "".join(lines))
            self.assertEqual(env["TWIN_PID"], str(proc.pid))
            url = env["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
            self.assertRegex(url, r"^http://127\.0\.0\.1:\d+$")
            self.assertEqual(url, "http://127.0.0.1:" + env["TWIN_IMDS_PORT"])
            tok = http_request("PUT", url + "/latest/api/token", {TTL: "60"})[2].decode()
            self.assertEqual(http_request("GET", url + "/latest/meta-data/public-ipv4", {TOKEN: tok})[0], 404)
            self.assertEqual(http_request("GET", url + "/latest/meta-data/spot/instance-action",
                                          {TOKEN: tok})[0], 200)
        finally:
            rc, out, err = _stop(proc)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("Traceback", err)
        with self.assertRaises(OSError):
            http_request("GET", url + "/latest/meta-data/", timeout=1)


FAKE_AGENT = """#!/bin/sh
printf '%s\\n' "$@"
env | sort >&2
if [ -n "$FAKE_SLEEP" ]; then sleep "$FAKE_SLEEP" & wait; fi
if [ -n "$FAKE_READ" ]; then cat; fi
exit 3
"""


class TestLibTest(TwinTestCase):
    """twin_testlib.run_agent with a stand-in for the agent binary."""

    def setUp(self):
        super().setUp()
        self.fake = os.path.join(self.tmp, "fake-agent")
        with open(self.fake, "w") as f:
            f.write(FAKE_AGENT)
        os.chmod(self.fake, 0o755)

    def test_run_agent_argv_and_clean_env(self):
        with mock.patch.dict(os.environ, {"WCS_AGENT_BIN": self.fake, "AWS_REGION": "leak",
                                          "ASAN_OPTIONS": "detect_leaks=1"}):
            rc, out, err = self.run_agent("metadata", "--json", global_args=["-v"],
                                          env={"EXTRA": "1", "LANG": None})
        self.assertEqual(rc, 3)
        self.assertEqual(out.splitlines(), ["-c", self.config_path, "--state-dir", self.state_dir,
                                            "-v", "metadata", "--json"])
        env = dict(x.split("=", 1) for x in err.splitlines())
        self.assertEqual(env["AWS_EC2_METADATA_SERVICE_ENDPOINT"], self.imds.url)
        self.assertEqual(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:9")
        self.assertEqual(env["HOME"], self.home)
        self.assertEqual(env["EXTRA"], "1")
        self.assertEqual(env["ASAN_OPTIONS"], "detect_leaks=1")
        self.assertNotIn("AWS_REGION", env)
        self.assertNotIn("LANG", env)
        self.assertTrue(os.path.isfile(self.config_path))
        self.assertEqual(os.stat(self.config_path).st_mode & 0o777, 0o600)

    def test_run_agent_input_and_timeout(self):
        with mock.patch.dict(os.environ, {"WCS_AGENT_BIN": self.fake}):
            res = self.run_agent("x", env={"FAKE_READ": "1"}, input="secret-on-stdin\n")
            self.assertEqual(res.stdout.splitlines()[-1], "secret-on-stdin")
            t0 = time.monotonic()
            with self.assertRaisesRegex(AssertionError, "timed out after 1s"):
                self.run_agent("x", env={"FAKE_SLEEP": "30"}, timeout=1)
            self.assertLess(time.monotonic() - t0, 10, "the sleeping child was killed too")

    def test_agent_bin_unset_skips(self):
        with mock.patch.dict(os.environ, {"WCS_AGENT_BIN": ""}):
            with self.assertRaises(unittest.SkipTest):
                twin_testlib.agent_bin()
        with mock.patch.dict(os.environ, {"WCS_AGENT_BIN": os.path.join(self.tmp, "none")}):
            with self.assertRaises(AssertionError):
                twin_testlib.agent_bin()


class TwinClassTest(unittest.TestCase):
    def test_env_and_services(self):
        # The port is chosen when the service starts, after the IMDS has its own: a port
        # chosen before could be taken by the IMDS in between (it once answered 401 here).
        web = twin.SubprocessService(
            "web",
            [sys.executable, "-m", "http.server", "--bind", "{host}", "{port}"],
            {"WEB_URL": "http://{host}:{port}"},
        )
        with twin.Twin(imds={"metadata": {"region": "us-east-2"}}, services=[web]) as t:
            env = t.env()
            self.assertIsNotNone(web.port)
            self.assertNotEqual(web.port, urllib.parse.urlsplit(t.imds.url).port)
            self.assertEqual(env["WEB_URL"], "http://127.0.0.1:%d" % web.port)
            self.assertEqual(env["AWS_EC2_METADATA_SERVICE_ENDPOINT"], t.imds.url)
            self.assertEqual(env["TWIN_PID"], str(os.getpid()))
            self.assertEqual(http_request("GET", env["WEB_URL"] + "/")[0], 200)
            self.assertIs(t.service("web"), web)
            self.assertEqual(t.imds.metadata.get("region"), "us-east-2")
            pid = web.proc.pid
        self.assertIsNone(web.proc)
        with self.assertRaises(OSError):
            os.kill(pid, 0)  # reaped: no such process
        with self.assertRaises(OSError):
            http_request("GET", env["WEB_URL"] + "/", timeout=1)

    def test_failed_start_stops_started_services(self):
        class Broken(twin.Service):
            name = "broken"

            def start(self):
                raise RuntimeError("cannot start")

        t = twin.Twin(services=[Broken()])
        with self.assertRaisesRegex(RuntimeError, "cannot start"):
            t.start()
        with self.assertRaises(RuntimeError):
            t.imds.port  # the IMDS was stopped again

    def test_subprocess_service_that_never_listens(self):
        s = twin.SubprocessService("dud", [sys.executable, "-c", "print('bye')"], ready_timeout=5)
        with self.assertRaisesRegex(RuntimeError, "did not listen.*bye"):
            s.start()
        self.assertIsNone(s.proc)

    def test_refuses_non_loopback(self):
        with self.assertRaises(ValueError):
            imds.ImdsTwin(host="0.0.0.0")


if __name__ == "__main__":
    unittest.main()
