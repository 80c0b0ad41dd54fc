#!/usr/bin/env python3
"""A static file server for the update download's tests and tests/bench/download.py
(Python 3 standard library only): files from disk over plain http or https with the
twin's test CA (netutil.shared_ca()), as a download site or S3 serves a tarball.

    from files import FileServer

    with FileServer(tls=True) as fs:          # tls=False: plain http
        fs.add("/wcs.tar.gz", "/tmp/x.tar.gz")
        fs.url("/wcs.tar.gz")                 # https://127.0.0.1:PORT/wcs.tar.gz
        fs.chunked = True                     # 200s without Content-Length (chunked)
        fs.close_delimited = True             # 200s as HTTP/1.0 without Content-Length: the
                                              # body ends when the connection closes (over
                                              # TLS after a close_notify), as openssl s_server -WWW
        fs.cut_after = N                      # a body stops after N bytes and the connection
                                              # is cut (over TLS without close_notify)
        fs.inm_any_304 = True                 # any If-None-Match gets 304 (a careless server)
        fs.requests()                         # [{"path", "headers", "status"}, ...]

A response carries ETag (size and mtime of the file) and Last-Modified; a matching
If-None-Match (or, without it, If-Modified-Since) gets 304; Range "bytes=A-" gets 206
(416 past the end) when If-Range is absent or matches; anything not added gets 404.
Bodies go out with sendfile on plain http and in 1 MiB writes over TLS.  Every handler
sets TCP_NODELAY.

Runnable (what the benchmark starts, so that the server's CPU is not the client's):

    python3 files.py serve [--tls] [--port 0] URLPATH=FILE ...
        prints FILES_URL=http(s)://127.0.0.1:PORT and then serves until SIGTERM/SIGINT;
        with --tls the CA is the one in $TWIN_CA_DIR (made there when absent).
"""

import argparse
import email.utils
import http.server
import os
import signal
import socket
import socketserver
import sys
import threading
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import netutil  # noqa: E402

CHUNK = 1 << 20


class _Server(netutil.TlsServerMixin, netutil.CountingServerMixin, http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        # Skip HTTPServer.server_bind: its getfqdn() may wait on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "files"
    sys_version = ""
    timeout = 60
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        if self.server.owner.verbose:
            sys.stderr.write("files: %s\n" % (fmt % args))

    def do_GET(self):
        self._serve(head=False)

    def do_HEAD(self):
        self._serve(head=True)

    def _head(self, status, fields):
        self.send_response(status)
        for k, v in fields:
            self.send_header(k, v)
        self.end_headers()

    def _serve(self, head):
        owner = self.server.owner
        path = urllib.parse.urlsplit(self.path).path
        with owner.lock:
            src = owner.files.get(path)
            chunked, any304 = owner.chunked, owner.inm_any_304
            close_delimited, cut_after = owner.close_delimited, owner.cut_after
        rec = {"path": self.path, "headers": dict(self.headers.items()), "status": 404}
        owner._record(rec)
        if src is None:
            rec["status"] = 404
            self._head(404, [("Content-Length", "0")])
            return
        st = os.stat(src)
        size = st.st_size
        etag = '"%x-%x"' % (size, st.st_mtime_ns)
        lm = email.utils.formatdate(st.st_mtime, usegmt=True)
        validators = [("ETag", etag), ("Last-Modified", lm)]
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if (inm is not None and (any304 or inm == etag)) or (inm is None and ims == lm):
            rec["status"] = 304
            self._head(304, validators)
            return
        start = 0
        rng, ifr = self.headers.get("Range"), self.headers.get("If-Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-") and (ifr is None or ifr in (etag, lm)):
            try:
                start = int(rng[6:-1])
            except ValueError:
                start = 0
            if start >= size:
                rec["status"] = 416
                self._head(416, [("Content-Range", "bytes */%d" % size), ("Content-Length", "0")])
                return
        if start > 0:
            rec["status"] = 206
            fields = [("Content-Length", str(size - start)), ("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))]
        elif close_delimited:
            rec["status"] = 200
            self.protocol_version = "HTTP/1.0"
            self.close_connection = True
            fields = [("Connection", "close")]
        elif chunked:
            rec["status"] = 200
            fields = [("Transfer-Encoding", "chunked")]
        else:
            rec["status"] = 200
            fields = [("Content-Length", str(size)), ("Accept-Ranges", "bytes")]
        self._head(rec["status"], fields + validators)
        if head:
            return
        count = size - start
        if cut_after is not None and not (chunked and start == 0):
            count = min(count, cut_after)
        with open(src, "rb") as f:
            if chunked and start == 0 and not close_delimited:
                self._send_chunked(f)
            elif self.server.ssl_context is None:
                self.connection.sendfile(f, start, count)
            else:
                self._send_tls(f, start, count)
        if cut_after is not None:
            self._cut()
        elif close_delimited and start == 0:
            self._close_notify()

    def _cut(self):
        """Ends the connection now (a FIN after the bytes sent; over TLS no close_notify)."""
        self.close_connection = True
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)

    def _close_notify(self):
        """TLS: the close_notify alert that marks the end of a close-delimited body (a server
        that closes without it cannot be told from a cut connection)."""
        if self.server.ssl_context is None:
            return
        self.wfile.flush()
        try:
            self.connection.unwrap()
        except (OSError, ValueError):
            pass

    def _send_tls(self, f, start, count):
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        f.seek(start)
        while count > 0:
            n = f.readinto(view[: min(CHUNK, count)])
            if not n:
                break
            self.connection.sendall(view[:n])
            count -= n

    def _send_chunked(self, f):
        while True:
            data = f.read(CHUNK)
            if not data:
                break
            self.connection.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
        self.connection.sendall(b"0\r\n\r\n")


class FileServer:
    """Serves added files on 127.0.0.1 (see the module doc)."""

    def __init__(self, tls=False, port=0, verbose=False):
        self.tls = tls
        self.verbose = verbose
        self.files = {}
        self.chunked = False
        self.close_delimited = False
        self.cut_after = None
        self.inm_any_304 = False
        self.lock = threading.Lock()
        self._requests = []
        self._port = port
        self._server = None
        self._thread = None

    def add(self, urlpath, filepath):
        with self.lock:
            self.files[urlpath] = filepath

    def remove(self, urlpath):
        with self.lock:
            self.files.pop(urlpath, None)

    def _record(self, rec):
        with self.lock:
            self._requests.append(rec)

    def requests(self):
        with self.lock:
            return list(self._requests)

    def clear_requests(self):
        with self.lock:
            self._requests = []

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def base_url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def url(self, urlpath):
        return self.base_url + urlpath

    def start(self):
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._server.owner = self
        if self.tls:
            self._server.ssl_context = netutil.shared_ca().server_context()
        self._thread = threading.Thread(target=self._server.serve_forever, name="files", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="files.py", description="a static file server for the twin")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="serve files until SIGTERM/SIGINT")
    s.add_argument("--tls", action="store_true", help="https with the test CA in $TWIN_CA_DIR")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--chunked", action="store_true", help="200s without Content-Length")
    s.add_argument("--close-delimited", action="store_true", help="200s as HTTP/1.0, the body ended by closing")
    s.add_argument("-v", "--verbose", action="store_true")
    s.add_argument("files", nargs="+", metavar="URLPATH=FILE")
    a = ap.parse_args(argv)
    fs = FileServer(tls=a.tls, port=a.port, verbose=a.verbose)
    fs.chunked = a.chunked
    fs.close_delimited = a.close_delimited
    for spec in a.files:
        urlpath, sep, path = spec.partition("=")
        if not sep or not urlpath.startswith("/") or not os.path.isfile(path):
            ap.error("want URLPATH=FILE with an existing file: %s" % spec)
        fs.add(urlpath, path)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    fs.start()
    print("FILES_URL=%s" % fs.base_url, flush=True)
    stop.wait()
    fs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
