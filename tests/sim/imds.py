#!/usr/bin/env python3
"""A strict IMDSv2 twin for the wcs-agent tests (Python 3 standard library only).

Protocol facts come from shared/docs/aws.md section 1; the defaults are the
"realistic" values of the test plan (eu-west-1, c5.large, documentation IPs).

Importable:

    from imds import ImdsTwin
    with ImdsTwin(faults={"fail_first_tokens": 2}) as t:
        ... t.url, t.port, t.set_faults(...), t.set_metadata(...), t.requests()

Runnable:

    python3 imds.py --port 0 [--state-file F] [options]   # prints IMDS_PORT=NNNN

Strict IMDSv2: every GET/HEAD needs a valid token, there is no IMDSv1.

Test control lives under /_twin/ and answers only to requests that carry the
header "X-Twin-Control: 1" and no metadata token header; any other request to
/_twin/ is handled as ordinary metadata traffic (401 or 404).
"""

import argparse
import base64
import datetime
import http.server
import json
import re
import secrets
import select
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
import urllib.parse

import netutil

TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
CONTROL_HEADER = "X-Twin-Control"
TOKEN_PATH = "/latest/api/token"
MAX_TTL = 21600
MAX_BODY = 1024 * 1024
IDLE_TIMEOUT_S = 60
BLACKHOLE_MAX_S = 600

LIFECYCLE_STATES = (
    "InService",
    "Terminated",
    "Detached",
    "Standby",
    "Warmed:Hibernated",
    "Warmed:Running",
    "Warmed:Stopped",
    "Warmed:Terminated",
)
SPOT_ACTIONS = ("hibernate", "stop", "terminate")
TAG_KEY_RE = re.compile(r"^[A-Za-z0-9+\-=.,_:@]{1,128}$")

FAULT_DEFAULTS = {
    # 403 on every metadata request (HttpEndpoint=disabled).
    "disabled": False,
    # Token PUTs get no reply at all until the client gives up (hop limit).
    "token_blackhole": False,
    # The next N token PUTs that would succeed get fail_tokens_status.
    "fail_first_tokens": 0,
    "fail_tokens_status": 503,
    # Tokens live this many seconds (and the TTL header says so), whatever was asked.
    "token_ttl_override": None,
    # A token is good for N GETs; the next GET with it gets 401 (0: unlimited).
    "expire_tokens_after_n_gets": 0,
    # The next N GET/HEAD requests get fail_gets_status (429 throttling, 503).
    "fail_next_gets": 0,
    "fail_gets_status": 503,
    # Delay before each metadata response.
    "latency_ms": 0,
}

DEFAULT_CREDENTIALS = {
    "AccessKeyId": "ASIAIOSFODNN7EXAMPLE",
    "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "Token": "IQoJb3JpZ2luX2VjEXAMPLEtwinSESSIONtoken0123456789abcdefghijklmnopqrstuvwxyz==",
}

METADATA_DEFAULTS = {
    "instance_id": "i-0123456789abcdef0",
    "instance_type": "c5.large",
    "ami_id": "ami-0abcdef1234567890",
    "account_id": "123456789012",
    "architecture": "x86_64",
    "region": "eu-west-1",
    "availability_zone": "eu-west-1a",
    "availability_zone_id": "euw1-az1",
    "local_ipv4": "10.0.1.23",
    "public_ipv4": "203.0.113.10",
    "public_ip_enabled": True,
    "mac": "0a:1b:2c:3d:4e:5f",
    "interface_id": "eni-0123456789abcdef0",
    "subnet_id": "subnet-0123456789abcdef0",
    "subnet_cidr": "10.0.1.0/24",
    "vpc_id": "vpc-0123456789abcdef0",
    "vpc_cidr": "10.0.0.0/16",
    "security_group_ids": ["sg-0123456789abcdef0"],
    "security_group_names": ["wcs-node"],
    "reservation_id": "r-0123456789abcdef0",
    "domain": "amazonaws.com",
    "partition": "aws",
    "pending_time": "2026-11-26T08:00:00Z",
    "role": "wcs-node-role",
    "instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/wcs-node-profile",
    "instance_profile_id": "AIPAJ2Q5EXAMPLE7JMBNK",
    "credentials": dict(DEFAULT_CREDENTIALS),
    "credentials_provider": None,
    "credentials_error": None,
    "tags_enabled": True,
    "tags": {"Name": "wcs-node-1", "Environment": "test"},
    "user_data": None,
    "lifecycle_state": None,
    "spot_action": None,
    "rebalance": None,
}

_STRING_FIELDS = (
    "instance_id",
    "instance_type",
    "ami_id",
    "account_id",
    "architecture",
    "region",
    "availability_zone",
    "availability_zone_id",
    "mac",
    "interface_id",
    "subnet_id",
    "subnet_cidr",
    "vpc_id",
    "vpc_cidr",
    "reservation_id",
    "domain",
    "partition",
    "pending_time",
    "instance_profile_arn",
    "instance_profile_id",
)
_OPTIONAL_STRING_FIELDS = ("local_ipv4", "public_ipv4", "role", "credentials_error")


def _utc(ts):
    """ISO 8601 UTC with seconds, as IMDS prints it."""
    dt = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _aws_json(obj):
    """JSON the way IMDS prints documents: 2-space indent and ' : '."""
    return json.dumps(obj, indent=2, separators=(",", " : "))


class Faults:
    """Thread-safe fault-injection settings (names and defaults: FAULT_DEFAULTS)."""

    def __init__(self, initial=None):
        self._lock = threading.Lock()
        self._values = dict(FAULT_DEFAULTS)
        if initial:
            self.set(**initial)

    @staticmethod
    def _check(name, value):
        if name not in FAULT_DEFAULTS:
            raise ValueError("unknown fault %r" % name)
        if name in ("disabled", "token_blackhole"):
            if not isinstance(value, bool):
                raise ValueError("fault %s: want true or false, got %r" % (name, value))
            return value
        if name == "token_ttl_override" and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("fault %s: want an integer, got %r" % (name, value))
        if name in ("fail_tokens_status", "fail_gets_status"):
            if not 400 <= value <= 599:
                raise ValueError("fault %s: want a status 400..599, got %d" % (name, value))
        elif name == "token_ttl_override":
            if not 1 <= value <= MAX_TTL:
                raise ValueError("fault %s: want 1..%d seconds, got %d" % (name, MAX_TTL, value))
        elif value < 0:
            raise ValueError("fault %s: want >= 0, got %d" % (name, value))
        return value

    def set(self, **kw):
        """Set several faults at once; all are checked before any is applied."""
        checked = {k: self._check(k, v) for k, v in kw.items()}
        with self._lock:
            self._values.update(checked)

    def reset(self, initial=None):
        with self._lock:
            self._values = dict(FAULT_DEFAULTS)
        if initial:
            self.set(**initial)

    def get(self, name):
        with self._lock:
            return self._values[name]

    def __getattr__(self, name):
        if name.startswith("_") or name not in FAULT_DEFAULTS:
            raise AttributeError(name)
        return self.get(name)

    def snapshot(self):
        with self._lock:
            return dict(self._values)

    def _take(self, count_name, status_name):
        with self._lock:
            if self._values[count_name] <= 0:
                return None
            self._values[count_name] -= 1
            return self._values[status_name]

    def take_token_failure(self):
        """The status for this token PUT if it must fail, else None (counts down)."""
        return self._take("fail_first_tokens", "fail_tokens_status")

    def take_get_failure(self):
        """The status for this GET if it must fail, else None (counts down)."""
        return self._take("fail_next_gets", "fail_gets_status")


def _check_tags(tags):
    if not isinstance(tags, dict):
        raise ValueError("metadata tags: want an object of key -> value")
    out = {}
    for k, v in tags.items():
        if not isinstance(k, str) or not TAG_KEY_RE.match(k) or k in (".", "..", "_index"):
            raise ValueError("metadata tags: key %r is not allowed in instance metadata" % (k,))
        if not isinstance(v, str):
            raise ValueError("metadata tags: value of %r must be a string" % k)
        out[k] = v
    return out


def _check_spot(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = {"action": value}
    if not isinstance(value, dict) or value.get("action") not in SPOT_ACTIONS:
        raise ValueError("metadata spot_action: want one of %s or {action, time}" % (SPOT_ACTIONS,))
    time_s = value.get("time")
    if time_s is None:
        time_s = _utc(time.time() + 120)
    if not isinstance(time_s, str):
        raise ValueError("metadata spot_action: time must be a string")
    return {"action": value["action"], "time": time_s}


def _check_rebalance(value):
    """None (no recommendation: 404), True (noticed now) or {"noticeTime": RFC3339}."""
    if value is None:
        return None
    if value is True:
        return {"noticeTime": _utc(time.time())}
    if isinstance(value, str):
        value = {"noticeTime": value}
    if not isinstance(value, dict) or not isinstance(value.get("noticeTime"), str):
        raise ValueError("metadata rebalance: want null, true, an RFC 3339 time or {noticeTime}")
    return {"noticeTime": value["noticeTime"]}


def _check_credentials(value):
    if not isinstance(value, dict):
        raise ValueError("metadata credentials: want an object")
    for k in ("AccessKeyId", "SecretAccessKey", "Token"):
        if not isinstance(value.get(k), str) or not value[k]:
            raise ValueError("metadata credentials: %s missing or not a string" % k)
    for k, v in value.items():
        if not isinstance(v, str):
            raise ValueError("metadata credentials: %s must be a string" % k)
    return dict(value)


class Metadata:
    """Thread-safe instance facts served by the twin (names: METADATA_DEFAULTS)."""

    def __init__(self, initial=None):
        self._lock = threading.Lock()
        self._values = self._defaults()
        if initial:
            self.set(**initial)

    @staticmethod
    def _defaults():
        v = dict(METADATA_DEFAULTS)
        v["credentials"] = dict(DEFAULT_CREDENTIALS)
        v["tags"] = dict(METADATA_DEFAULTS["tags"])
        v["security_group_ids"] = list(METADATA_DEFAULTS["security_group_ids"])
        v["security_group_names"] = list(METADATA_DEFAULTS["security_group_names"])
        return v

    @staticmethod
    def _check(name, value):
        if name == "user_data_b64":
            if value is None:
                return "user_data", None
            try:
                return "user_data", base64.b64decode(value, validate=True)
            except (ValueError, TypeError) as e:
                raise ValueError("metadata user_data_b64: %s" % e) from None
        if name not in METADATA_DEFAULTS:
            raise ValueError("unknown metadata field %r" % name)
        if name in _STRING_FIELDS:
            if not isinstance(value, str) or not value:
                raise ValueError("metadata %s: want a non-empty string" % name)
        elif name in _OPTIONAL_STRING_FIELDS:
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError("metadata %s: want a non-empty string or null" % name)
        elif name in ("public_ip_enabled", "tags_enabled"):
            if not isinstance(value, bool):
                raise ValueError("metadata %s: want true or false" % name)
        elif name in ("security_group_ids", "security_group_names"):
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise ValueError("metadata %s: want a list of strings" % name)
            value = list(value)
        elif name == "tags":
            value = _check_tags(value)
        elif name == "user_data":
            if isinstance(value, str):
                value = value.encode("utf-8")
            if value is not None and not isinstance(value, (bytes, bytearray)):
                raise ValueError("metadata user_data: want bytes, a string or null")
            value = None if value is None else bytes(value)
        elif name == "lifecycle_state":
            if value is not None and value not in LIFECYCLE_STATES:
                raise ValueError("metadata lifecycle_state: want one of %s" % (LIFECYCLE_STATES,))
        elif name == "spot_action":
            value = _check_spot(value)
        elif name == "rebalance":
            value = _check_rebalance(value)
        elif name == "credentials":
            value = _check_credentials(value)
        elif name == "credentials_provider":
            if value is not None and not callable(value):
                raise ValueError("metadata credentials_provider: want a callable or None")
        return name, value

    def set(self, **kw):
        """Set several fields at once; all are checked before any is applied."""
        checked = dict(self._check(k, v) for k, v in kw.items())
        with self._lock:
            self._values.update(checked)

    def reset(self, initial=None):
        with self._lock:
            self._values = self._defaults()
        if initial:
            self.set(**initial)

    def get(self, name):
        with self._lock:
            return self._values[name]

    def snapshot(self):
        """A shallow copy of every field (containers copied too)."""
        with self._lock:
            v = dict(self._values)
        v["tags"] = dict(v["tags"])
        v["credentials"] = dict(v["credentials"])
        return v

    def public_view(self):
        """The fields as JSON-friendly values (user data as base64, no callables)."""
        v = self.snapshot()
        ud = v.pop("user_data")
        v["user_data_b64"] = None if ud is None else base64.b64encode(ud).decode("ascii")
        v["credentials_provider"] = v["credentials_provider"] is not None
        return v


def _hostname(ip, region, public):
    dashed = ip.replace(".", "-")
    if public:
        return "ec2-%s.%s.compute.amazonaws.com" % (dashed, region)
    return "ip-%s.%s.compute.internal" % (dashed, region)


def build_tree(m):
    """The metadata tree for one request: dicts are directories, leaves are
    str/bytes or zero-argument callables evaluated only when fetched."""
    public = m["public_ipv4"] if m["public_ip_enabled"] else None
    local = m["local_ipv4"]

    iface = {"device-number": "0", "interface-id": m["interface_id"]}
    if local is not None:
        iface["local-hostname"] = _hostname(local, m["region"], False)
        iface["local-ipv4s"] = local
    iface["mac"] = m["mac"]
    iface["owner-id"] = m["account_id"]
    if public is not None:
        iface["public-hostname"] = _hostname(public, m["region"], True)
        iface["public-ipv4s"] = public
    iface["security-group-ids"] = "\n".join(m["security_group_ids"])
    iface["security-groups"] = "\n".join(m["security_group_names"])
    iface["subnet-id"] = m["subnet_id"]
    iface["subnet-ipv4-cidr-block"] = m["subnet_cidr"]
    iface["vpc-id"] = m["vpc_id"]
    iface["vpc-ipv4-cidr-block"] = m["vpc_cidr"]
    iface["vpc-ipv4-cidr-blocks"] = m["vpc_cidr"]

    md = {"ami-id": m["ami_id"], "ami-launch-index": "0"}
    if m["lifecycle_state"] is not None:
        md["autoscaling"] = {"target-lifecycle-state": m["lifecycle_state"]}
    if local is not None:
        md["hostname"] = _hostname(local, m["region"], False)
    if m["role"] is not None:
        md["iam"] = {
            "info": lambda: _aws_json(
                {
                    "Code": "Success",
                    "LastUpdated": _utc(time.time() - 60),
                    "InstanceProfileArn": m["instance_profile_arn"],
                    "InstanceProfileId": m["instance_profile_id"],
                }
            ),
            "security-credentials": {m["role"]: lambda: _credentials_doc(m)},
        }
    md["instance-id"] = m["instance_id"]
    md["instance-life-cycle"] = "spot" if m["spot_action"] is not None else "on-demand"
    md["instance-type"] = m["instance_type"]
    if local is not None:
        md["local-hostname"] = _hostname(local, m["region"], False)
        md["local-ipv4"] = local
    md["mac"] = m["mac"]
    md["network"] = {"interfaces": {"macs": {m["mac"]: iface}}}
    md["placement"] = {
        "availability-zone": m["availability_zone"],
        "availability-zone-id": m["availability_zone_id"],
        "region": m["region"],
    }
    if public is not None:
        md["public-hostname"] = _hostname(public, m["region"], True)
        md["public-ipv4"] = public
    md["reservation-id"] = m["reservation_id"]
    md["security-groups"] = "\n".join(m["security_group_names"])
    md["services"] = {"domain": m["domain"], "partition": m["partition"]}
    if m["spot_action"] is not None:
        spot = {"instance-action": json.dumps(m["spot_action"])}
        if m["spot_action"]["action"] == "terminate":
            spot["termination-time"] = m["spot_action"]["time"]
        md["spot"] = spot
    if m["rebalance"] is not None:
        md["events"] = {"recommendations": {"rebalance": json.dumps(m["rebalance"])}}
    if m["tags_enabled"]:
        md["tags"] = {"instance": dict(m["tags"])}

    identity = {
        "accountId": m["account_id"],
        "architecture": m["architecture"],
        "availabilityZone": m["availability_zone"],
        "billingProducts": None,
        "devpayProductCodes": None,
        "marketplaceProductCodes": None,
        "imageId": m["ami_id"],
        "instanceId": m["instance_id"],
        "instanceType": m["instance_type"],
        "kernelId": None,
        "pendingTime": m["pending_time"],
        "privateIp": local,
        "ramdiskId": None,
        "region": m["region"],
        "version": "2017-09-30",
    }
    latest = {
        "dynamic": {"instance-identity": {"document": _aws_json(identity)}},
        "meta-data": md,
    }
    if m["user_data"] is not None:
        latest["user-data"] = m["user_data"]
    return {"latest": latest}


def _credentials_doc(m):
    now = time.time()
    if m["credentials_error"] is not None:
        return _aws_json(
            {
                "Code": m["credentials_error"],
                "Message": "The twin was told to fail role credentials",
                "LastUpdated": _utc(now),
            }
        )
    creds = m["credentials"]
    if m["credentials_provider"] is not None:
        creds = _check_credentials(m["credentials_provider"]())
    return _aws_json(
        {
            "Code": "Success",
            "LastUpdated": creds.get("LastUpdated", _utc(now - 60)),
            "Type": "AWS-HMAC",
            "AccessKeyId": creds["AccessKeyId"],
            "SecretAccessKey": creds["SecretAccessKey"],
            "Token": creds["Token"],
            "Expiration": creds.get("Expiration", _utc(now + 6 * 3600)),
        }
    )


def resolve(tree, path):
    """(200, bytes, content type) or (404, None, None) for a decoded path."""
    if not path.startswith("/"):
        return 404, None, None
    parts = path[1:].split("/")
    want_dir = parts[-1] == ""
    if want_dir:
        parts = parts[:-1]
    node = tree
    for p in parts:
        if not isinstance(node, dict) or p == "" or p not in node:
            return 404, None, None
        node = node[p]
    if isinstance(node, dict):
        names = [k + "/" if isinstance(v, dict) else k for k, v in node.items()]
        return 200, "\n".join(names).encode("utf-8"), "text/plain"
    if want_dir:
        return 404, None, None
    if callable(node):
        node = node()
    if isinstance(node, bytes):
        return 200, node, "application/octet-stream"
    return 200, node.encode("utf-8"), "text/plain"


class _TokenStore:
    """Issued tokens: token -> [expiry on the twin clock, GETs served]."""

    def __init__(self, clock):
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = {}

    def issue(self, ttl):
        token = base64.urlsafe_b64encode(secrets.token_bytes(42)).decode("ascii")
        now = self._clock()
        with self._lock:
            self._tokens = {k: v for k, v in self._tokens.items() if v[0] > now}
            self._tokens[token] = [now + ttl, 0]
        return token

    def valid(self, token, max_gets):
        with self._lock:
            return self._valid_locked(token, max_gets)

    def _valid_locked(self, token, max_gets):
        if token is None or token not in self._tokens:
            return False
        expiry, gets = self._tokens[token]
        if self._clock() >= expiry:
            return False
        return max_gets <= 0 or gets < max_gets

    def use(self, token, max_gets):
        """True (and one GET counted) if token may serve this GET."""
        with self._lock:
            if not self._valid_locked(token, max_gets):
                return False
            self._tokens[token][1] += 1
            return True

    def clear(self):
        with self._lock:
            self._tokens = {}

    def count(self):
        with self._lock:
            return len(self._tokens)


class _Server(netutil.CountingServerMixin, http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def server_bind(self):
        # Skip HTTPServer.server_bind: its getfqdn() may wait on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        sys.stderr.write("imds twin: internal error for %s:\n" % (client_address,))
        traceback.print_exc(file=sys.stderr)


def _error_body(status, reason):
    text = "%d - %s" % (status, reason)
    return (
        '<?xml version="1.0" encoding="iso-8859-1"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
        " <head>\n  <title>%s</title>\n </head>\n <body>\n  <h1>%s</h1>\n </body>\n</html>\n"
        % (text, text)
    ).encode("ascii")


class _BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "EC2ws"
    sys_version = ""
    default_request_version = "HTTP/1.1"  # headers even on a garbage request line
    timeout = IDLE_TIMEOUT_S
    disable_nagle_algorithm = True  # header block and body are written separately

    def version_string(self):
        return self.server_version

    # -- plumbing ---------------------------------------------------------

    def setup(self):
        super().setup()
        self.server.twin._conn_opened(self.connection)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.twin._conn_closed(self.connection)

    def handle(self):
        try:
            super().handle()
        except (OSError, ValueError):
            # Client went away, reset, timed out, or sent garbage framing.
            self.close_connection = True

    def log_message(self, fmt, *args):
        if self.server.twin.verbose:
            sys.stderr.write("imds twin: %s\n" % (fmt % args))

    def handle_expect_100(self):
        # A blackholed PUT must not even see "100 Continue".
        if self.command == "PUT" and self.server.twin.faults.get("token_blackhole"):
            return True
        return super().handle_expect_100()

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            body = bytearray()
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("eof in chunked body")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _BadRequest(400, "bad chunk size") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(body)
                if len(body) + size > MAX_BODY:
                    raise _BadRequest(413, "body too large")
                body += self.rfile.read(size)
                self.rfile.readline(1024)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            raise _BadRequest(400, "bad Content-Length")
        n = int(length)
        if n > MAX_BODY:
            raise _BadRequest(413, "body too large")
        data = self.rfile.read(n)
        if len(data) != n:
            raise ConnectionError("eof in body")
        return data

    def _send(self, status, body=b"", ctype="text/plain", headers=None):
        if body is None:
            body = b""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.wfile.flush()

    def _reply(self, status, body=None, ctype="text/plain", headers=None, record=None):
        """Answer a metadata request and record it in the request log."""
        if status >= 400:
            reason = self.responses.get(status, ("Error",))[0]
            body = _error_body(status, reason)
            ctype = "text/html"
        if record is not None:
            record["status"] = status
            self.server.twin._record(record)
        self._send(status, body, ctype, headers)

    # -- dispatch ---------------------------------------------------------

    def do_GET(self):
        self._dispatch()

    do_HEAD = do_GET
    do_PUT = do_GET
    do_POST = do_GET
    do_DELETE = do_GET
    do_PATCH = do_GET
    do_OPTIONS = do_GET

    def _dispatch(self):
        twin = self.server.twin
        raw = self.path
        path = urllib.parse.unquote(raw.split("?", 1)[0].split("#", 1)[0])
        try:
            body = self._read_body()
        except _BadRequest as e:
            self.close_connection = True
            self._reply(e.status, record=twin._new_record(self, raw))
            return
        try:
            if self._is_control(path):
                self._control(path, body)
            else:
                self._metadata(path, raw)
        except (OSError, ConnectionError):
            raise
        except Exception:
            sys.stderr.write("imds twin: internal error on %s %s:\n" % (self.command, raw))
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            try:
                self._send(500, b"internal error\n")
            except OSError:
                pass

    def _is_control(self, path):
        return (
            (path == "/_twin" or path.startswith("/_twin/"))
            and self.headers.get(CONTROL_HEADER, "").strip() == "1"
            and self.headers.get(TOKEN_HEADER) is None
        )

    # -- metadata ---------------------------------------------------------

    def _metadata(self, path, raw):
        twin = self.server.twin
        faults = twin.faults
        rec = twin._new_record(self, raw)
        delay = faults.get("latency_ms")
        if delay > 0:
            twin._stopping.wait(delay / 1000.0)
        if self.command == "PUT" and faults.get("token_blackhole"):
            self._hold(rec)
            return
        if faults.get("disabled"):
            self._reply(403, record=rec)
            return
        if self.command == "PUT":
            self._put_token(path, rec)
        elif self.command in ("GET", "HEAD"):
            self._get(path, rec)
        else:
            self._reply(405, headers={"Allow": "GET, HEAD, PUT"}, record=rec)

    def _hold(self, rec):
        """Hop-limit simulation: never answer; wait until the client closes."""
        twin = self.server.twin
        rec["status"] = None
        rec["blackholed"] = True
        twin._record(rec)
        self.close_connection = True
        sock = self.connection
        deadline = time.monotonic() + BLACKHOLE_MAX_S
        while not twin._stopping.is_set() and time.monotonic() < deadline:
            try:
                readable, _, _ = select.select([sock], [], [], 0.1)
                if readable:
                    if not sock.recv(1, socket.MSG_PEEK):
                        break
                    twin._stopping.wait(0.1)
            except (OSError, ValueError):
                break

    def _put_token(self, path, rec):
        twin = self.server.twin
        faults = twin.faults
        if path != TOKEN_PATH:
            if re.fullmatch(r"/[^/]+/api/token/?", path):
                self._reply(403, record=rec)
            else:
                self._reply(405, headers={"Allow": "GET, HEAD"}, record=rec)
            return
        if self.headers.get("X-Forwarded-For") is not None:
            self._reply(403, record=rec)
            return
        ttl_raw = self.headers.get(TTL_HEADER)
        ttl_s = (ttl_raw or "").strip()
        if not re.fullmatch(r"[0-9]{1,6}", ttl_s) or not 1 <= int(ttl_s) <= MAX_TTL:
            self._reply(400, record=rec)
            return
        failure = faults.take_token_failure()
        if failure is not None:
            self._reply(failure, record=rec)
            return
        ttl = faults.get("token_ttl_override") or int(ttl_s)
        token = twin._tokens.issue(ttl)
        self._reply(200, token.encode("ascii"), headers={TTL_HEADER: str(ttl)}, record=rec)

    def _get(self, path, rec):
        twin = self.server.twin
        faults = twin.faults
        failure = faults.take_get_failure()
        if failure is not None:
            self._reply(failure, record=rec)
            return
        token = self.headers.get(TOKEN_HEADER)
        if not twin._tokens.use(token, faults.get("expire_tokens_after_n_gets")):
            self._reply(401, record=rec)
            return
        status, body, ctype = resolve(build_tree(twin.metadata.snapshot()), path)
        self._reply(status, body, ctype or "text/plain", record=rec)

    # -- control ------------------------------------------------------------

    def _control(self, path, body):
        twin = self.server.twin
        cmd = self.command
        try:
            arg = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (UnicodeDecodeError, ValueError) as e:
            self._json(400, {"error": "body is not JSON: %s" % e})
            return
        try:
            if cmd == "GET" and path == "/_twin/state":
                self._json(200, twin.state())
            elif cmd == "GET" and path == "/_twin/requests":
                self._json(200, {"requests": twin.requests()})
            elif (cmd == "DELETE" and path == "/_twin/requests") or (
                cmd == "POST" and path == "/_twin/requests/clear"
            ):
                twin.clear_requests()
                self._json(200, {"requests": []})
            elif cmd == "POST" and path == "/_twin/faults":
                self._need_object(arg)
                twin.set_faults(**arg)
                self._json(200, {"faults": twin.faults.snapshot()})
            elif cmd == "POST" and path == "/_twin/metadata":
                self._need_object(arg)
                if "credentials_provider" in arg:
                    raise ValueError("metadata credentials_provider: only settable from Python")
                twin.set_metadata(**arg)
                self._json(200, {"metadata": twin.metadata.public_view()})
            elif cmd == "POST" and path == "/_twin/tokens/expire":
                twin.expire_tokens()
                self._json(200, {"tokens": 0})
            elif cmd == "POST" and path == "/_twin/reset":
                twin.reset()
                self._json(200, twin.state())
            else:
                self._json(404, {"error": "no control endpoint %s %s" % (cmd, path)})
        except ValueError as e:
            self._json(400, {"error": str(e)})

    @staticmethod
    def _need_object(arg):
        if not isinstance(arg, dict):
            raise ValueError("body must be a JSON object")

    def _json(self, status, obj):
        self._send(status, (json.dumps(obj) + "\n").encode("utf-8"), "application/json")


class ImdsTwin:
    """A strict IMDSv2 server on 127.0.0.1 (port 0: a free port)."""

    def __init__(
        self,
        port=0,
        *,
        host="127.0.0.1",
        faults=None,
        metadata=None,
        clock=time.monotonic,
        request_log_file=None,
        verbose=False,
    ):
        if not _is_loopback(host):
            raise ValueError("imds twin: refusing to bind %r: loopback only" % host)
        self.host = host
        self._want_port = port
        self._initial_faults = dict(faults or {})
        self._initial_metadata = dict(metadata or {})
        self.faults = Faults(self._initial_faults)
        self.metadata = Metadata(self._initial_metadata)
        self.verbose = verbose
        self._tokens = _TokenStore(clock)
        self._log_lock = threading.Lock()
        self._log = []
        self._seq = 0
        self._log_file = request_log_file
        self._conns_lock = threading.Lock()
        self._conns = set()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None

    # -- lifecycle ----------------------------------------------------------

    def start(self):
        if self._server is not None:
            raise RuntimeError("imds twin already started")
        self._stopping.clear()
        self._server = _Server((self.host, self._want_port), _Handler)
        self._server.twin = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="imds-twin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        self._thread.join(timeout=5)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            with self._conns_lock:
                if not self._conns:
                    break
            time.sleep(0.02)
        self._server = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        if self._server is None:
            raise RuntimeError("imds twin not started")
        return self._server.server_address[1]

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    @property
    def connections_total(self):
        """TCP connections accepted since start()."""
        return 0 if self._server is None else self._server.connections_total

    # -- control ------------------------------------------------------------

    def set_faults(self, **kw):
        self.faults.set(**kw)

    def set_metadata(self, **kw):
        self.metadata.set(**kw)

    def initial_metadata(self):
        """A copy of the metadata reset() goes back to."""
        return dict(self._initial_metadata)

    def set_initial_metadata(self, metadata, *, apply=()):
        """Replace the metadata reset() goes back to (fields as for the
        constructor's metadata=); the fields named in apply are also set now.
        Everything is checked first: a bad value changes nothing."""
        md = dict(metadata)
        Metadata(md)
        missing = [k for k in apply if k not in md]
        if missing:
            raise ValueError("imds twin: apply names fields not in the metadata: %s" % ", ".join(missing))
        self._initial_metadata = md
        if apply:
            self.metadata.set(**{k: md[k] for k in apply})

    def expire_tokens(self):
        """Every token issued so far becomes invalid (next GET: 401)."""
        self._tokens.clear()

    def token_count(self):
        return self._tokens.count()

    def requests(self, method=None):
        """Copies of the request-log entries, oldest first."""
        with self._log_lock:
            out = [dict(r) for r in self._log]
        if method is not None:
            out = [r for r in out if r["method"] == method]
        return out

    def clear_requests(self):
        """Empty the log; seq starts again at 1."""
        with self._log_lock:
            self._log = []
            self._seq = 0

    def reset(self):
        """Faults and metadata back to the construction values; no tokens, empty log."""
        self.faults.reset(self._initial_faults)
        self.metadata.reset(self._initial_metadata)
        self._tokens.clear()
        self.clear_requests()

    def state(self):
        return {
            "faults": self.faults.snapshot(),
            "metadata": self.metadata.public_view(),
            "tokens": self._tokens.count(),
            "requests": len(self._log),
        }

    # -- internals ----------------------------------------------------------

    def _new_record(self, handler, raw_path):
        token = handler.headers.get(TOKEN_HEADER)
        return {
            "method": handler.command,
            "path": raw_path,
            "token_sent": token is not None,
            "token_valid": self._tokens.valid(token, self.faults.get("expire_tokens_after_n_gets")),
            "ttl_header": handler.headers.get(TTL_HEADER),
            "xff": handler.headers.get("X-Forwarded-For") is not None,
            "status": None,
            "time": time.time(),
        }

    def _record(self, rec):
        with self._log_lock:
            self._seq += 1
            rec["seq"] = self._seq
            self._log.append(rec)
            if self._log_file is not None:
                try:
                    with open(self._log_file, "a", encoding="utf-8") as f:
                        f.write(json.dumps(rec) + "\n")
                except OSError as e:
                    sys.stderr.write("imds twin: request log %s: %s\n" % (self._log_file, e))
        if self.verbose:
            sys.stderr.write(
                "imds twin: %s %s token=%s -> %s\n"
                % (rec["method"], rec["path"], "valid" if rec["token_valid"] else "no", rec["status"])
            )

    def _conn_opened(self, conn):
        with self._conns_lock:
            self._conns.add(conn)

    def _conn_closed(self, conn):
        with self._conns_lock:
            self._conns.discard(conn)


def _is_loopback(host):
    return host == "localhost" or host.startswith("127.") or host == "::1"


# -- command line -----------------------------------------------------------


def _kv(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError("want KEY=VALUE, got %r" % text)
    k, v = text.split("=", 1)
    return k, v


def add_arguments(p):
    """The IMDS options, shared with twin.py."""
    g = p.add_argument_group("IMDS twin")
    g.add_argument("--state-file", help="JSON {metadata: {...}, faults: {...}} applied at start")
    g.add_argument("--request-log", help="append every metadata request here as a JSON line")
    g.add_argument("--user-data-file", help="serve this file as /latest/user-data")
    g.add_argument("--credentials-file", help="role credentials JSON, re-read on every request")
    g.add_argument("--no-tags", action="store_true", help="instance metadata tags off (404)")
    g.add_argument(
        "--tag", action="append", type=_kv, metavar="K=V", help="instance tag (repeatable; replaces the defaults)"
    )
    g.add_argument("--no-public-ip", action="store_true", help="public-ipv4 gives 404")
    g.add_argument("--no-role", action="store_true", help="no instance profile (iam/ gives 404)")
    g.add_argument("--role", help="instance profile role name")
    g.add_argument("--lifecycle-state", choices=LIFECYCLE_STATES)
    g.add_argument("--spot-action", choices=SPOT_ACTIONS)
    g.add_argument(
        "--metadata", action="append", type=_kv, metavar="FIELD=VALUE", help="set a string metadata field (repeatable)"
    )
    g.add_argument("--disabled", action="store_true", help="403 on everything")
    g.add_argument("--token-blackhole", action="store_true", help="never answer token PUTs")
    g.add_argument("--fail-first-tokens", type=int, metavar="N")
    g.add_argument("--fail-tokens-status", type=int, metavar="STATUS")
    g.add_argument("--token-ttl-override", type=int, metavar="SECONDS")
    g.add_argument("--expire-tokens-after-n-gets", type=int, metavar="N")
    g.add_argument("--fail-next-gets", type=int, metavar="N")
    g.add_argument("--fail-gets-status", type=int, metavar="STATUS")
    g.add_argument("--latency-ms", type=int, metavar="MS")
    return p


def twin_kwargs(args):
    """ImdsTwin keyword arguments from parsed add_arguments() options.
    Raises ValueError with a one-line message on bad input."""
    faults, metadata = {}, {}
    if args.state_file:
        try:
            with open(args.state_file, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError("state file %s: %s" % (args.state_file, e)) from None
        if not isinstance(doc, dict) or set(doc) - {"metadata", "faults"}:
            raise ValueError("state file %s: want an object with metadata and/or faults" % args.state_file)
        faults.update(doc.get("faults") or {})
        metadata.update(doc.get("metadata") or {})
    for k, v in args.metadata or []:
        if k not in _STRING_FIELDS and k not in _OPTIONAL_STRING_FIELDS:
            raise ValueError("--metadata %s: not a string field" % k)
        metadata[k] = v
    if args.user_data_file:
        try:
            with open(args.user_data_file, "rb") as f:
                metadata["user_data"] = f.read()
        except OSError as e:
            raise ValueError("user data file %s: %s" % (args.user_data_file, e.strerror)) from None
    if args.credentials_file:
        metadata["credentials_provider"] = _file_credentials(args.credentials_file)
    if args.no_tags:
        metadata["tags_enabled"] = False
    if args.tag:
        metadata["tags"] = dict(args.tag)
    if args.no_public_ip:
        metadata["public_ip_enabled"] = False
    if args.role:
        metadata["role"] = args.role
    if args.no_role:
        metadata["role"] = None
    if args.lifecycle_state:
        metadata["lifecycle_state"] = args.lifecycle_state
    if args.spot_action:
        metadata["spot_action"] = args.spot_action
    if args.disabled:
        faults["disabled"] = True
    if args.token_blackhole:
        faults["token_blackhole"] = True
    for name in (
        "fail_first_tokens",
        "fail_tokens_status",
        "token_ttl_override",
        "expire_tokens_after_n_gets",
        "fail_next_gets",
        "fail_gets_status",
        "latency_ms",
    ):
        value = getattr(args, name)
        if value is not None:
            faults[name] = value
    # Check now, so a bad option fails before any port is bound.
    Faults(faults)
    Metadata(metadata)
    return {"faults": faults, "metadata": metadata, "request_log_file": args.request_log}


def _file_credentials(path):
    def provider():
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    return provider


def main(argv=None):
    p = argparse.ArgumentParser(description="Strict IMDSv2 twin on loopback.")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    p.add_argument("--port", type=int, default=0, help="0: a free port")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per request on stderr")
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        kw = twin_kwargs(args)
        twin = ImdsTwin(args.port, host=args.host, verbose=args.verbose, **kw)
        twin.start()
    except (ValueError, OSError) as e:
        sys.stderr.write("imds.py: %s\n" % e)
        return 2
    done = threading.Event()

    def on_signal(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.stdout.write("IMDS_PORT=%d\n" % twin.port)
    sys.stdout.flush()
    while not done.wait(0.5):
        pass
    twin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
