#!/usr/bin/env python3
"""moto_server as the twin runs it: moto's own WSGI application on
werkzeug's threaded server, with what moto_server lacks:

- TCP_NODELAY on every connection (see netutil.py);
- TLS with the handshake in the connection's thread (--cert/--key);
- a token bucket per AWS service (--rate/--burst, or at run time), answering
  over-rate requests the way each protocol does (Query: 400 Throttling,
  JSON: 400 ThrottlingException, S3: 503 SlowDown);
- counters: TCP connections accepted, requests and throttled requests per
  service;
- HTTP keep-alive, as AWS endpoints keep connections open: werkzeug's server
  answers every request with "Connection: close" (it cannot be sure an
  application read the whole request body); here the body is read whole
  before moto sees it, so the next request line is where it should be, and
  the connection stays open unless the client asked to close it.

Control requests carry the header X-Twin-Control: 1 and never reach moto
(nor count): GET /_twin/stats, POST /_twin/reset-counts,
POST /_twin/throttle with {"rate": R, "burst": B}.

    python3 moto_launch.py -H 127.0.0.1 -p PORT [--cert C --key K] [--rate R --burst B]
"""

import argparse
import io
import json
import os
import signal
import sys
import threading
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netutil  # noqa: E402

CONTROL_HEADER = "HTTP_X_TWIN_CONTROL"
JSON_SERVICES = ("ssm", "secretsmanager", "kms", "sts_json", "logs", "monitoring_json")


def _throttle_reply(service):
    rid = str(uuid.uuid4())
    if service == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            "<Message>Please reduce your request rate.</Message><RequestId>%s</RequestId></Error>" % rid
        )
        return "503 Slow Down", "application/xml", body.encode()
    if service in JSON_SERVICES:
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
        return "400 Bad Request", "application/x-amz-json-1.1", body.encode()
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
        "</Error><RequestId>%s</RequestId></ErrorResponse>" % rid
    )
    return "400 Bad Request", "text/xml", body.encode()


class Counters:
    def __init__(self, rate, burst):
        self.buckets = netutil.TokenBuckets(rate, burst)
        self.lock = threading.Lock()
        self.conns = set()  # (addr, port) of connections that sent an AWS request

    def snapshot(self, server):
        s = self.buckets.snapshot()
        with self.lock:
            s["connections"] = len(self.conns)
        s["accepted"] = server.connections_total
        return s

    def reset(self):
        self.buckets.reset_counts()
        with self.lock:
            self.conns = set()


def middleware(app, counters, get_server):
    def wrapped(environ, start_response):
        if environ.get(CONTROL_HEADER) == "1" and environ.get("PATH_INFO", "").startswith("/_twin/"):
            return control(environ, start_response)
        with counters.lock:
            counters.conns.add((environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT")))
        # The body read whole (keep-alive: nothing of it may be left for the next request).
        if environ.get("wsgi.input_terminated"):
            environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read())
        else:
            n = int(environ.get("CONTENT_LENGTH") or 0)
            environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(n) if n > 0 else b"")
        service = netutil.service_from_authorization(environ.get("HTTP_AUTHORIZATION")) or "unsigned"
        if not counters.buckets.take(service):
            status, ctype, body = _throttle_reply(service)
            start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    def control(environ, start_response):
        path = environ["PATH_INFO"]
        try:
            n = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(n) if n > 0 else b""
            if path == "/_twin/stats":
                out = counters.snapshot(get_server())
            elif path == "/_twin/reset-counts":
                counters.reset()
                out = {"ok": True}
            elif path == "/_twin/throttle":
                arg = json.loads(raw or b"{}")
                counters.buckets.configure(arg.get("rate"), arg.get("burst"))
                out = {"ok": True}
            else:
                raise ValueError("unknown control path %s" % path)
            status = "200 OK"
        except (ValueError, TypeError) as e:
            out, status = {"error": str(e)}, "400 Bad Request"
        body = json.dumps(out).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return wrapped


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-H", "--host", default="127.0.0.1")
    p.add_argument("-p", "--port", type=int, required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--rate", type=float, default=0.0, help="requests a second per service (0: no limit)")
    p.add_argument("--burst", type=int, default=None)
    args = p.parse_args(argv)
    if not (args.host == "localhost" or args.host.startswith("127.") or args.host == "::1"):
        sys.stderr.write("moto_launch.py: loopback only, not %s\n" % args.host)
        return 2
    os.environ.setdefault("MOTO_PORT", str(args.port))

    import werkzeug.serving as ws
    from moto.server import DomainDispatcherApplication, create_backend_app

    class Handler(ws.WSGIRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_request(self, *a, **kw):
            pass

        def send_header(self, keyword, value):
            # werkzeug's "Connection: close" after every response is dropped (see the top),
            # unless the client asked for it.
            if (
                keyword.lower() == "connection"
                and value.lower() == "close"
                and self.headers.get("Connection", "").lower() != "close"
                and self.request_version == "HTTP/1.1"
            ):
                return
            super().send_header(keyword, value)

    class Server(netutil.TlsServerMixin, netutil.CountingServerMixin, ws.ThreadedWSGIServer):
        daemon_threads = True
        request_queue_size = 128

    class NoDrain:
        """werkzeug reads whatever follows a response on the socket and throws
        it away (it expects to close the connection): with keep-alive that is
        the next request.  The middleware has read each body whole, so there
        is nothing to drain."""

        EVENT_READ = 1

        @classmethod
        def DefaultSelector(cls):
            return cls()

        def register(self, *a):
            pass

        def select(self, timeout=None):
            return []

        def close(self):
            pass

    ws.selectors = NoDrain

    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    counters = Counters(args.rate, args.burst)
    holder = {}
    server = Server(args.host, args.port, middleware(app, counters, lambda: holder["s"]), Handler)
    holder["s"] = server
    if args.cert and args.key:
        ctx = netutil.ssl.SSLContext(netutil.ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.ssl_context = ctx

    def on_signal(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
