"""The twin's network pieces (tests/sim/netutil.py): the test CA and TLS,
connection counting, TCP_NODELAY on every twin server, the token buckets."""

import http.client
import http.server
import os
import socket
import socketserver
import ssl
import threading
import unittest

from twin_testlib import http_request, imds, twin  # noqa: F401  (sets sys.path)

import netutil  # noqa: E402


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def do_GET(self):
        nodelay = self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        body = ("tls=%d nodelay=%d" % (isinstance(self.connection, ssl.SSLSocket), nodelay != 0)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(netutil.TlsServerMixin, netutil.CountingServerMixin, socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class TestTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = netutil.TestCA()
        cls.server = _Server(("127.0.0.1", 0), _Handler)
        cls.server.ssl_context = cls.ca.server_context()
        cls.th = threading.Thread(target=cls.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        cls.th.start()
        cls.url = "https://127.0.0.1:%d/" % cls.server.server_address[1]

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        cls.ca.cleanup()

    def test_bundle_is_system_plus_ca(self):
        with open(self.ca.bundle, "rb") as f:
            bundle = f.read()
        with open(self.ca.ca_cert, "rb") as f:
            ca = f.read()
        self.assertTrue(bundle.endswith(ca))
        sysb = netutil.system_bundle()
        if sysb is not None:
            self.assertGreater(bundle.count(b"BEGIN CERTIFICATE"), 50)

    def test_trusted_and_untrusted(self):
        before = self.server.connections_total
        ctx = ssl.create_default_context(cafile=self.ca.bundle)
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.server_address[1], context=ctx)
        for _ in range(3):  # one connection, kept alive
            conn.request("GET", "/")
            r = conn.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"tls=1 nodelay=1"))
        conn.close()
        self.assertEqual(self.server.connections_total - before, 1)
        # The system bundle alone does not trust the test CA.
        if netutil.system_bundle() is not None:
            bad = ssl.create_default_context(cafile=netutil.system_bundle())
            with self.assertRaises(ssl.SSLCertVerificationError):
                with socket.create_connection(("127.0.0.1", self.server.server_address[1]), timeout=5) as s:
                    bad.wrap_socket(s, server_hostname="127.0.0.1")
        # A failed handshake does not stop the server.
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.server_address[1], context=ctx)
        conn.request("GET", "/")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()

    def test_shared_ca_reused_by_children(self):
        ca = netutil.shared_ca()
        self.assertEqual(os.environ.get("TWIN_CA_DIR"), ca.dir)
        again = netutil.TestCA(folder=ca.dir)
        self.assertEqual(again.bundle, ca.bundle)
        self.assertTrue(os.path.isfile(again.cert))


class TestNodelay(unittest.TestCase):
    def test_imds_sets_nodelay_and_counts(self):
        # The IMDS twin: header block and body in two writes; with NODELAY a
        # kept-alive request takes well under Nagle's 40 ms (not asserted:
        # the flag itself is).
        with twin.Twin() as t:
            c = socket.create_connection(("127.0.0.1", t.imds.port), timeout=5)
            c.close()
            self.assertTrue(imds._Handler.disable_nagle_algorithm)
            http_request("PUT", t.imds.url + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
            self.assertGreaterEqual(t.imds.connections_total, 2)

    def test_handlers_set_nodelay(self):
        import aws_endpoint
        import wcs

        for h in (imds._Handler, aws_endpoint._Handler, wcs._StatsHandler):
            self.assertTrue(h.disable_nagle_algorithm, h)


class TestTokenBuckets(unittest.TestCase):
    def test_burst_then_rate(self):
        now = [100.0]
        b = netutil.TokenBuckets(rate=10, burst=5, clock=lambda: now[0])
        self.assertEqual([b.take("elb") for _ in range(6)], [True] * 5 + [False])
        self.assertTrue(b.take("autoscaling"))  # per service
        now[0] += 0.1  # one token back
        self.assertEqual([b.take("elb"), b.take("elb")], [True, False])
        now[0] += 10  # refills to the burst, not beyond
        self.assertEqual(sum(b.take("elb") for _ in range(10)), 5)
        snap = b.snapshot()
        self.assertEqual(snap["passed"]["elb"], 11)
        self.assertEqual(snap["throttled"]["elb"], 7)

    def test_off(self):
        b = netutil.TokenBuckets()
        self.assertTrue(all(b.take("x") for _ in range(1000)))
        with self.assertRaises(ValueError):
            b.configure(rate=1, burst=0)

    def test_service_from_authorization(self):
        h = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/elasticloadbalancing/aws4_request, "
             "SignedHeaders=host;x-amz-date, Signature=abc")
        self.assertEqual(netutil.service_from_authorization(h), "elasticloadbalancing")
        self.assertIsNone(netutil.service_from_authorization("Bearer x"))
        self.assertIsNone(netutil.service_from_authorization(None))


if __name__ == "__main__":
    unittest.main()
