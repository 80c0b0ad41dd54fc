"""Network pieces the twin's servers share: a test certificate authority
(made with the openssl program at test time), TLS for a socketserver with
the handshake in the connection's own thread, connection counting, and a
per-service token bucket that throttles the way AWS does (no queueing: a
request over the rate is answered "throttled" at once).

    ca = TestCA()                      # a temp folder; ca.cleanup() removes it
    ca.cert, ca.key                    # server certificate for 127.0.0.1, localhost, ::1
    ca.bundle                          # the system CA bundle + the test CA (AWS_CA_BUNDLE)
    ca.ca_cert                         # the test CA alone (clients in the tests: verify=)
    ctx = ca.server_context()

    class _Server(TlsServerMixin, CountingServerMixin, http.server.ThreadingHTTPServer): ...
    server.ssl_context = ctx           # None: plain TCP

    buckets = TokenBuckets(rate=10, burst=10)
    buckets.take("elasticloadbalancing")   # True: go on; False: answer Throttling

Every twin handler sets disable_nagle_algorithm = True (TCP_NODELAY): the
servers write the header block and the body separately, and with Nagle's
algorithm on a kept-alive connection then waits for the client's delayed ACK
(about 40 ms a request), which is a defect of the twin, not of reuse.
"""

import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time

# Where Debian (and most distributions) keep the system bundle.
SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
)


def system_bundle():
    """Path of the system CA bundle, or None."""
    for p in SYSTEM_BUNDLES:
        if os.path.isfile(p):
            return p
    return None


def _openssl(args, cwd):
    exe = shutil.which("openssl")
    if exe is None:
        raise RuntimeError("the twin's TLS needs the openssl program (Debian package openssl)")
    r = subprocess.run([exe] + args, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr.decode("utf-8", "replace")[-500:]))


class TestCA:
    """A throw-away CA and one server certificate (EC P-256, 2 days) for the
    loopback names, made with openssl in a temp folder.  bundle holds the
    system bundle followed by the CA, so a client given it parses the whole
    system trust store, as on an instance."""

    FILES = ("ca.key", "ca.pem", "server.key", "server.pem", "bundle.pem")

    @classmethod
    def complete(cls, folder):
        """True when folder holds a whole TestCA (made by another process)."""
        return all(os.path.isfile(os.path.join(folder, n)) for n in cls.FILES)

    def __init__(self, folder=None, system=True):
        """folder None: a new CA in a temp folder (removed by cleanup());
        a folder holding a complete CA: that one, used as it is."""
        self._own = folder is None
        self.dir = folder or tempfile.mkdtemp(prefix="twin-ca-")
        d = self.dir
        self.ca_key = os.path.join(d, "ca.key")
        self.ca_cert = os.path.join(d, "ca.pem")
        self.key = os.path.join(d, "server.key")
        self.cert = os.path.join(d, "server.pem")
        self.bundle = os.path.join(d, "bundle.pem")
        ext = os.path.join(d, "server.ext")
        if not self._own and self.complete(d):
            return
        try:
            ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
            _openssl(
                ["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]
                + ["-subj", "/CN=wcs-agent twin test CA", "-addext", "basicConstraints=critical,CA:TRUE"]
                + ["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                d,
            )
            _openssl(["req", "-new"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"], d)
            with open(ext, "w", encoding="ascii") as f:
                f.write(
                    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n"
                )
            _openssl(
                ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]
                + ["-out", "server.pem", "-days", "2", "-extfile", "server.ext"],
                d,
            )
            parts = []
            sysb = system_bundle() if system else None
            if sysb is not None:
                with open(sysb, "rb") as f:
                    parts.append(f.read().rstrip(b"\n") + b"\n")
            with open(self.ca_cert, "rb") as f:
                parts.append(f.read())
            with open(self.bundle, "wb") as f:
                f.write(b"".join(parts))
        except BaseException:
            self.cleanup()
            raise

    def server_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def cleanup(self):
        if self._own and self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


_CA = None
_CA_LOCK = threading.Lock()


def shared_ca():
    """The process's TestCA: the one in $TWIN_CA_DIR when a parent made it,
    else one made on first use (and TWIN_CA_DIR set for children), removed
    at exit."""
    global _CA
    with _CA_LOCK:
        if _CA is None:
            d = os.environ.get("TWIN_CA_DIR")
            if d and TestCA.complete(d):
                _CA = TestCA(folder=d)
            else:
                import atexit

                _CA = TestCA()
                atexit.register(_CA.cleanup)
                os.environ["TWIN_CA_DIR"] = _CA.dir
        return _CA


def client_context():
    """An ssl.SSLContext for test clients: trusts the shared test CA only."""
    return ssl.create_default_context(cafile=shared_ca().ca_cert)


class CountingServerMixin:
    """Counts the TCP connections a socketserver accepted (connections_total)."""

    connections_total = 0
    _count_lock = threading.Lock()

    def get_request(self):
        req = super().get_request()
        with self._count_lock:
            self.connections_total += 1
        return req


class TlsServerMixin:
    """With ssl_context set, each accepted socket is wrapped in the thread
    that serves it (a slow handshake never holds up the accept loop).  A
    failed handshake closes the connection."""

    ssl_context = None

    def finish_request(self, request, client_address):
        ctx = self.ssl_context
        if ctx is None:
            return super().finish_request(request, client_address)
        try:
            request.settimeout(10)
            tls = ctx.wrap_socket(request, server_side=True)
            tls.settimeout(None)
        except (OSError, ssl.SSLError):
            return None
        try:
            return super().finish_request(tls, client_address)
        finally:
            try:
                tls.close()
            except OSError:
                pass


class TokenBuckets:
    """One token bucket per key (an AWS service): burst tokens at most,
    refilled at rate tokens a second.  rate None or 0: no limit."""

    def __init__(self, rate=None, burst=None, clock=time.monotonic):
        self._lock = threading.Lock()
        self._clock = clock
        self.configure(rate, burst)

    def configure(self, rate=None, burst=None):
        if rate is not None and rate < 0:
            raise ValueError("token bucket: rate must be >= 0")
        if burst is not None and burst < 1:
            raise ValueError("token bucket: burst must be >= 1")
        with self._lock:
            self.rate = float(rate) if rate else 0.0
            self.burst = float(burst if burst is not None else max(1, rate or 1))
            self._buckets = {}
            self.passed = {}
            self.throttled = {}

    def take(self, key):
        """True when a request for key may go on; False when it is throttled."""
        with self._lock:
            if self.rate <= 0:
                self.passed[key] = self.passed.get(key, 0) + 1
                return True
            now = self._clock()
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0 - 1e-9:  # float error of now - last
                self._buckets[key] = (tokens - 1.0, now)
                self.passed[key] = self.passed.get(key, 0) + 1
                return True
            self._buckets[key] = (tokens, now)
            self.throttled[key] = self.throttled.get(key, 0) + 1
            return False

    def snapshot(self):
        with self._lock:
            return {"rate": self.rate, "burst": self.burst, "passed": dict(self.passed), "throttled": dict(self.throttled)}

    def reset_counts(self):
        with self._lock:
            self.passed = {}
            self.throttled = {}
            self._buckets = {}


def service_from_authorization(value):
    """The signing service of a SigV4 Authorization header
    ("... Credential=AKID/20260101/eu-west-1/elasticloadbalancing/aws4_request, ..."), or None."""
    if not value:
        return None
    i = value.find("Credential=")
    if i < 0:
        return None
    scope = value[i + len("Credential=") :].split(",", 1)[0].strip().split("/")
    return scope[3] if len(scope) == 5 else None
