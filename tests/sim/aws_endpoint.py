#!/usr/bin/env python3
"""A SigV4-checking Query-API endpoint for what moto 5.2.1 lacks.

Serves, on 127.0.0.1, the Auto Scaling actions CompleteLifecycleAction,
RecordLifecycleActionHeartbeat, DescribeLifecycleHooks and
DescribeAutoScalingInstances (Version=2011-01-01) and the CloudFormation
action SignalResource (Version=2010-05-15).  Wire facts: shared/docs/aws.md
sections 4, 5.4 and 7.

Every request must carry a valid AWS4-HMAC-SHA256 Authorization header:
the signature is recomputed with botocore's SigV4Auth from the raw request
line and only the signed headers; unknown access keys get 403
InvalidClientTokenId, a wrong signature 403 SignatureDoesNotMatch, a
session token that is not the one issued for the key 403
InvalidClientTokenId, an X-Amz-Date more than 15 minutes from the
endpoint's (possibly skewed) clock 403 SignatureDoesNotMatch "Signature
expired" (or 400 RequestExpired, fault expired_code).

Importable:

    from aws_endpoint import AwsEndpoint
    ep = AwsEndpoint(region="eu-west-1").start()
    ep.add_credentials("AKIA...", "secret", session_token=None, principal_arn="arn:...")
    ep.add_group("wcs-asg"); ep.add_instance("wcs-asg", "i-0123...")
    ep.add_lifecycle_hook("wcs-asg", "launch", heartbeat_timeout=300)
    token = ep.start_lifecycle_action("wcs-asg", "i-0123...", "launch")
    ep.add_stack("wcs-stack"); ep.add_signal_resource("wcs-stack", "WcsGroup", count=1)
    ep.throttle(2); ep.unavailable(1); ep.deny("CompleteLifecycleAction")
    ep.set_faults(latency_ms=200, clock_skew_s=1800)
    ep.calls()            # [{seq, time, action, service, params, auth_ok, ...}]
    ep.stop()

Test control (only with the header "X-Twin-Control: 1"; any other request to
/_twin/ is ordinary AWS traffic and fails authentication):
    GET  /_twin/calls[?action=X]   {"calls": [...]}
    POST /_twin/calls/clear
    GET  /_twin/faults             POST /_twin/faults {name: value, ...}
    GET  /_twin/state              Auto Scaling and CloudFormation state
    GET  /_twin/info               what the owner put in .info (seeded names)
    POST /_twin/lifecycle          {"group", "instance_id", "hook", "warm"?} -> {"token"}
    POST /_twin/move               {"group", "instance_id", "to", "warm_state"?} -> {"token", "state"}
                                   to: scale-in, scale-in-to-warm-pool, Standby, InService, Detached
    POST /_twin/cfn                {"stack", "resource", "count"?} (re)arms a stack
    POST /_twin/reset              faults, state and calls back to the checkpoint
"""

import copy
import datetime
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import socketserver
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netutil  # noqa: E402

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

CONTROL_HEADER = "X-Twin-Control"
MAX_BODY = 1024 * 1024
MAX_SKEW_S = 15 * 60
IDLE_TIMEOUT_S = 60

AUTOSCALING = "autoscaling"
CLOUDFORMATION = "cloudformation"
SERVICES = {
    AUTOSCALING: ("2011-01-01", "http://autoscaling.amazonaws.com/doc/2011-01-01/"),
    CLOUDFORMATION: ("2010-05-15", "http://cloudformation.amazonaws.com/doc/2010-05-15/"),
}
ACTIONS = {
    "CompleteLifecycleAction": AUTOSCALING,
    "RecordLifecycleActionHeartbeat": AUTOSCALING,
    "DescribeLifecycleHooks": AUTOSCALING,
    "DescribeAutoScalingInstances": AUTOSCALING,
    "SignalResource": CLOUDFORMATION,
}

# Codes a fail_next fault may answer with: (HTTP status, Type, Message).
FAIL_CODES = {
    "Throttling": (400, "Sender", "Rate exceeded"),
    "ThrottlingException": (400, "Sender", "Rate exceeded"),
    "RequestLimitExceeded": (400, "Sender", "Request limit exceeded."),
    "ServiceUnavailable": (503, "Receiver", "Service is unavailable. Please try again later."),
    "InternalFailure": (500, "Receiver", "An internal error occurred."),
    "ResourceContention": (500, "Receiver", "You already have a pending update to an Auto Scaling resource."),
}

FAULT_DEFAULTS = {
    # The next N authenticated calls (of fail_actions, or any when empty) fail with fail_code.
    "fail_next": 0,
    "fail_code": "Throttling",
    "fail_actions": [],
    # These actions answer 403 AccessDenied (after authentication).
    "access_denied_actions": [],
    # Delay before every AWS reply (not control replies).
    "latency_ms": 0,
    # The endpoint's clock runs this many seconds ahead (negative: behind):
    # the Date header shows it and the 15-minute window is centred on it.
    "clock_skew_s": 0,
    # How an X-Amz-Date outside the window is refused: 403 SignatureDoesNotMatch or 400 RequestExpired.
    "expired_code": "SignatureDoesNotMatch",
}

LIFECYCLE_TRANSITIONS = ("autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:EC2_INSTANCE_TERMINATING")
LIFECYCLE_RESULTS = ("CONTINUE", "ABANDON")
WARM_STATES = ("Warmed:Running", "Warmed:Stopped", "Warmed:Hibernated")
MOVES = ("scale-in", "scale-in-to-warm-pool", "Standby", "InService", "Detached")
# Where a finished action leaves the instance: (kind, result) -> LifecycleState.
# A warm-pool launch or return ends in the action's warm state (None here).
_AFTER_ACTION = {
    ("launch", "CONTINUE"): "InService",
    ("launch", "ABANDON"): "Terminating",
    ("warm-launch", "CONTINUE"): None,
    ("warm-launch", "ABANDON"): "Terminating",
    ("terminate", "CONTINUE"): "Terminated",
    ("terminate", "ABANDON"): "Terminated",
    ("warm-return", "CONTINUE"): None,
    ("warm-return", "ABANDON"): None,
}

_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request, ?"
    r"SignedHeaders=([a-z0-9;_.-]+), ?Signature=([0-9a-f]{64})"
)
_AMZ_DATE_RE = re.compile(r"^\d{8}T\d{6}Z$")


class AwsError(Exception):
    """An AWS error reply: HTTP status, Code, Message, Type."""

    def __init__(self, status, code, message, kind=None):
        super().__init__("%s: %s" % (code, message))
        self.status = status
        self.code = code
        self.message = message
        self.kind = kind or ("Sender" if status < 500 else "Receiver")


def _validation(message):
    return AwsError(400, "ValidationError", message)


def _amz(ts):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts))


class Faults:
    """Thread-safe fault settings (names and defaults: FAULT_DEFAULTS)."""

    def __init__(self, initial=None):
        self._lock = threading.Lock()
        self._values = copy.deepcopy(FAULT_DEFAULTS)
        if initial:
            self.set(**initial)

    @staticmethod
    def _check(name, value):
        if name not in FAULT_DEFAULTS:
            raise ValueError("unknown endpoint fault %r" % name)
        if name in ("fail_actions", "access_denied_actions"):
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, (list, tuple)) or not all(v in ACTIONS for v in value):
                raise ValueError("fault %s: want a list of actions from %s, got %r" % (name, sorted(ACTIONS), value))
            return list(value)
        if name == "fail_code":
            if value not in FAIL_CODES:
                raise ValueError("fault fail_code: want one of %s, got %r" % (sorted(FAIL_CODES), value))
            return value
        if name == "expired_code":
            if value not in ("SignatureDoesNotMatch", "RequestExpired"):
                raise ValueError("fault expired_code: want SignatureDoesNotMatch or RequestExpired, got %r" % (value,))
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("fault %s: want an integer, got %r" % (name, value))
        if name != "clock_skew_s" and value < 0:
            raise ValueError("fault %s: want >= 0, got %d" % (name, value))
        return value

    def set(self, **kw):
        """Set several faults at once; all are checked before any is applied."""
        checked = {k: self._check(k, v) for k, v in kw.items()}
        with self._lock:
            self._values.update(checked)

    def reset(self, initial=None):
        with self._lock:
            self._values = copy.deepcopy(FAULT_DEFAULTS)
        if initial:
            self.set(**initial)

    def get(self, name):
        with self._lock:
            return copy.deepcopy(self._values[name])

    def snapshot(self):
        with self._lock:
            return copy.deepcopy(self._values)

    def take_failure(self, action):
        """The fail_code for this call if it must fail, else None (counts down)."""
        with self._lock:
            v = self._values
            if v["fail_next"] <= 0 or (v["fail_actions"] and action not in v["fail_actions"]):
                return None
            v["fail_next"] -= 1
            return v["fail_code"]


class _State:
    """Auto Scaling groups, hooks, pending lifecycle actions and CloudFormation stacks."""

    def __init__(self):
        self.groups = {}
        self.stacks = {}


class _Server(netutil.TlsServerMixin, netutil.CountingServerMixin, socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AmazonWebServices"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.server.endpoint._conn_opened(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.endpoint._conn_closed(self.connection)

    def log_message(self, fmt, *args):
        pass

    def date_time_string(self, timestamp=None):
        if timestamp is None:
            timestamp = self.server.endpoint.now()
        return super().date_time_string(timestamp)

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def _read_body(self):
        if self.headers.get("Transfer-Encoding"):
            raise AwsError(411, "MissingContentLength", "chunked bodies are not accepted; send Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.isdigit():
            raise AwsError(400, "MalformedInput", "bad Content-Length %r" % length)
        n = int(length)
        if n > MAX_BODY:
            raise AwsError(413, "RequestEntityTooLarge", "body of %d bytes is over %d" % (n, MAX_BODY))
        return self.rfile.read(n)

    def _dispatch(self):
        ep = self.server.endpoint
        try:
            body = self._read_body()
        except AwsError as e:
            self.close_connection = True
            self._send_error(e, AUTOSCALING, str(uuid.uuid4()))
            return
        except OSError:
            self.close_connection = True
            return
        path = self.path.split("?", 1)[0]
        if path.startswith("/_twin/") and self.headers.get(CONTROL_HEADER) == "1":
            self._control(path, body)
            return
        try:
            status, reply, ctype, request_id = ep._handle(self, body)
        except Exception:  # a bug in the twin: say so loudly, answer 500
            traceback.print_exc()
            request_id = str(uuid.uuid4())
            status, ctype = 500, "text/xml"
            reply = _error_xml(AwsError(500, "InternalFailure", "twin bug; see stderr"), AUTOSCALING, request_id)
        latency = ep.faults.get("latency_ms")
        if latency > 0 and ep._stopping.wait(latency / 1000.0):
            self.close_connection = True
            return
        self._send(status, reply, ctype, request_id)

    def _send(self, status, body, ctype, request_id=None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if request_id is not None:
                self.send_header("x-amzn-RequestId", request_id)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _send_error(self, err, service, request_id):
        self._send(err.status, _error_xml(err, service, request_id), "text/xml", request_id)

    def _control(self, path, body):
        ep = self.server.endpoint
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        try:
            arg = json.loads(body.decode("utf-8")) if body.strip() else {}
        except ValueError as e:
            self._json(400, {"error": "body is not JSON: %s" % e})
            return
        cmd = self.command
        try:
            if cmd == "GET" and path == "/_twin/calls":
                action = (query.get("action") or [None])[0]
                self._json(200, {"calls": ep.calls(action)})
            elif cmd == "POST" and path == "/_twin/calls/clear":
                ep.clear_calls()
                self._json(200, {"calls": []})
            elif cmd == "GET" and path == "/_twin/faults":
                self._json(200, {"faults": ep.faults.snapshot()})
            elif cmd == "POST" and path == "/_twin/faults":
                _need_object(arg)
                ep.set_faults(**arg)
                self._json(200, {"faults": ep.faults.snapshot()})
            elif cmd == "GET" and path == "/_twin/state":
                self._json(200, ep.state())
            elif cmd == "GET" and path == "/_twin/info":
                self._json(200, ep.info)
            elif cmd == "POST" and path == "/_twin/lifecycle":
                _need_object(arg)
                kw = {"warm": bool(arg.get("warm", False))}
                if arg.get("warm_state"):
                    kw["warm_state"] = arg["warm_state"]
                token = ep.start_lifecycle_action(arg.get("group"), arg.get("instance_id"), arg.get("hook"), **kw)
                self._json(200, {"token": token})
            elif cmd == "POST" and path == "/_twin/move":
                _need_object(arg)
                kw = {"warm_state": arg["warm_state"]} if arg.get("warm_state") else {}
                self._json(200, ep.move(arg.get("group"), arg.get("instance_id"), arg.get("to"), **kw))
            elif cmd == "GET" and path == "/_twin/history":
                group = (query.get("group") or [None])[0]
                self._json(200, {"history": ep.history(group)})
            elif cmd == "POST" and path == "/_twin/cfn":
                _need_object(arg)
                ep.add_stack(arg.get("stack"), replace=True)
                ep.add_signal_resource(arg.get("stack"), arg.get("resource"), count=arg.get("count", 1))
                self._json(200, ep.state()["stacks"])
            elif cmd == "POST" and path == "/_twin/reset":
                ep.reset()
                self._json(200, ep.state())
            else:
                self._json(404, {"error": "no control endpoint %s %s" % (cmd, path)})
        except (ValueError, KeyError, TypeError) as e:
            self._json(400, {"error": str(e)})

    def _json(self, status, obj):
        self._send(status, (json.dumps(obj, default=str) + "\n").encode("utf-8"), "application/json")


def _need_object(arg):
    if not isinstance(arg, dict):
        raise ValueError("body must be a JSON object")


def _error_xml(err, service, request_id):
    ns = SERVICES.get(service, SERVICES[AUTOSCALING])[1]
    return (
        '<ErrorResponse xmlns="%s">\n'
        "  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n    <Message>%s</Message>\n  </Error>\n"
        "  <RequestId>%s</RequestId>\n</ErrorResponse>\n"
        % (ns, err.kind, escape(err.code), escape(err.message), request_id)
    ).encode("utf-8")


def _ok_xml(action, service, result_xml, request_id):
    """result_xml None: no <ActionResult> element (SignalResource); "" an empty one."""
    ns = SERVICES[service][1]
    if result_xml is None:
        result = ""
    elif result_xml == "":
        result = "  <%sResult/>\n" % action
    else:
        result = "  <%sResult>\n%s  </%sResult>\n" % (action, result_xml, action)
    return (
        '<%sResponse xmlns="%s">\n%s  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n'
        "  </ResponseMetadata>\n</%sResponse>\n" % (action, ns, result, request_id, action)
    ).encode("utf-8")


def _el(name, value, indent):
    return "%s<%s>%s</%s>\n" % (" " * indent, name, escape(str(value)), name)


class _ExactSigV4(SigV4Auth):
    """SigV4Auth that signs exactly the headers it is given (botocore would
    drop user-agent, expect and x-amzn-trace-id even when a client signed them)."""

    def headers_to_sign(self, request):
        header_map = HTTPHeaders()
        for name, value in request.headers.items():
            header_map[name.lower()] = value
        return header_map


class AwsEndpoint:
    """The Auto Scaling + CloudFormation Query endpoint on 127.0.0.1 (port 0: a free port)."""

    def __init__(
        self,
        port=0,
        *,
        host="127.0.0.1",
        region="eu-west-1",
        account_id="123456789012",
        faults=None,
        clock=time.time,
        verbose=False,
        ssl_context=None,
        rate=None,
        burst=None,
    ):
        if not (host == "localhost" or host.startswith("127.") or host == "::1"):
            raise ValueError("aws endpoint: refusing to bind %r: loopback only" % host)
        self.host = host
        self.region = region
        self.account_id = account_id
        self.verbose = verbose
        self.info = {}
        self._want_port = port
        self._clock = clock
        self._initial_faults = dict(faults or {})
        self.faults = Faults(self._initial_faults)
        self._lock = threading.RLock()
        self._creds = {}
        self._state = _State()
        self._checkpoint = copy.deepcopy(self._state)
        self._calls = []
        self._seq = 0
        self._conns_lock = threading.Lock()
        self._conns = set()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        # Called (instance id, IMDS target lifecycle state) when a move or an
        # action changes where the instance is going (twin.py wires it to the IMDS).
        self.on_target_state = None
        # TLS (an ssl.SSLContext) and the per-service token buckets (netutil.py).
        self.ssl_context = ssl_context
        self.buckets = netutil.TokenBuckets(rate, burst)

    # -- lifecycle ----------------------------------------------------------

    def start(self):
        if self._server is not None:
            raise RuntimeError("aws endpoint already started")
        self._stopping.clear()
        self._server = _Server((self.host, self._want_port), _Handler)
        self._server.endpoint = self
        self._server.ssl_context = self.ssl_context
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="aws-endpoint", daemon=True
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
        self._server = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        if self._server is None:
            raise RuntimeError("aws endpoint not started")
        return self._server.server_address[1]

    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self.ssl_context is not None else "http", self.host, self.port)

    @property
    def connections_total(self):
        """TCP connections accepted since start()."""
        return 0 if self._server is None else self._server.connections_total

    def now(self):
        """The endpoint's clock: the real one plus the clock_skew_s fault."""
        return self._clock() + self.faults.get("clock_skew_s")

    # -- credentials --------------------------------------------------------

    def add_credentials(self, access_key_id, secret_access_key, session_token=None, principal_arn=None):
        """Accept requests signed with this key (and, if given, only with this session token)."""
        if not access_key_id or not secret_access_key:
            raise ValueError("aws endpoint: access key id and secret are required")
        with self._lock:
            self._creds[access_key_id] = {
                "secret": secret_access_key,
                "token": session_token,
                "arn": principal_arn or "arn:aws:iam::%s:user/unknown" % self.account_id,
            }

    def remove_credentials(self, access_key_id):
        with self._lock:
            self._creds.pop(access_key_id, None)

    # -- faults -------------------------------------------------------------

    def set_faults(self, **kw):
        self.faults.set(**kw)

    def throttle(self, n=1, code="Throttling", actions=()):
        """The next n calls (of actions, or any) get 400 Throttling / ThrottlingException."""
        self.faults.set(fail_next=n, fail_code=code, fail_actions=list(actions))

    def unavailable(self, n=1, actions=()):
        """The next n calls (of actions, or any) get 503 ServiceUnavailable."""
        self.faults.set(fail_next=n, fail_code="ServiceUnavailable", fail_actions=list(actions))

    def deny(self, *actions):
        """These actions answer 403 AccessDenied (no arguments: none)."""
        self.faults.set(access_denied_actions=list(actions))

    # -- Auto Scaling state -------------------------------------------------

    def add_group(self, name, *, launch_template=None):
        """An Auto Scaling group (launch_template: {LaunchTemplateId, LaunchTemplateName, Version})."""
        if not name:
            raise ValueError("aws endpoint: group name required")
        with self._lock:
            self._state.groups[name] = {
                "name": name,
                "launch_template": dict(launch_template or {}),
                "instances": {},
                "hooks": {},
                "actions": {},
                "history": [],
            }

    def _group(self, name):
        g = self._state.groups.get(name)
        if g is None:
            raise KeyError("aws endpoint: no group %r" % name)
        return g

    def add_instance(
        self,
        group,
        instance_id,
        *,
        instance_type="c5.large",
        availability_zone=None,
        lifecycle_state="InService",
        health_status="HEALTHY",
        protected=False,
    ):
        with self._lock:
            self._group(group)["instances"][instance_id] = {
                "instance_id": instance_id,
                "instance_type": instance_type,
                "availability_zone": availability_zone or self.region + "a",
                "lifecycle_state": lifecycle_state,
                "health_status": health_status,
                "protected": bool(protected),
            }

    def add_lifecycle_hook(
        self,
        group,
        name,
        *,
        transition="autoscaling:EC2_INSTANCE_LAUNCHING",
        heartbeat_timeout=3600,
        default_result="ABANDON",
    ):
        if transition not in LIFECYCLE_TRANSITIONS:
            raise ValueError("hook transition: want one of %s" % (LIFECYCLE_TRANSITIONS,))
        if default_result not in LIFECYCLE_RESULTS:
            raise ValueError("hook default_result: want CONTINUE or ABANDON")
        if isinstance(heartbeat_timeout, bool) or not isinstance(heartbeat_timeout, int):
            raise ValueError("hook heartbeat_timeout: want an integer")
        if not 30 <= heartbeat_timeout <= 7200:
            raise ValueError("hook heartbeat_timeout: want 30..7200 s, got %d" % heartbeat_timeout)
        with self._lock:
            self._group(group)["hooks"][name] = {
                "name": name,
                "transition": transition,
                "heartbeat_timeout": heartbeat_timeout,
                "global_timeout": min(48 * 3600, 100 * heartbeat_timeout),
                "default_result": default_result,
            }

    def start_lifecycle_action(self, group, instance_id, hook, *, warm=False, warm_state="Warmed:Running"):
        """Put the instance in Pending:Wait / Terminating:Wait for hook (warm: a
        launch into the warm pool, Warmed:Pending:Wait, that ends in warm_state);
        returns the action token."""
        with self._lock:
            g = self._group(group)
            if instance_id not in g["instances"]:
                raise KeyError("aws endpoint: no instance %r in group %r" % (instance_id, group))
            if hook not in g["hooks"]:
                raise KeyError("aws endpoint: no hook %r in group %r" % (hook, group))
            launching = g["hooks"][hook]["transition"].endswith("LAUNCHING")
            if warm and not launching:
                raise ValueError("aws endpoint: a warm-pool launch needs a launch hook, not %r" % hook)
            kind = ("warm-launch" if warm else "launch") if launching else "terminate"
            return self._start_action(g, instance_id, hook, kind, warm_state)

    def _start_action(self, g, instance_id, hook, kind, warm_state=None):
        if warm_state is not None and warm_state not in WARM_STATES:
            raise ValueError("aws endpoint: warm state %r: want one of %s" % (warm_state, WARM_STATES))
        self._expire_actions()
        if instance_id in g["actions"]:
            raise ValueError(
                "aws endpoint: instance %s already waits on hook %r" % (instance_id, g["actions"][instance_id]["hook"])
            )
        h = g["hooks"][hook]
        now = self._clock()
        token = str(uuid.uuid4())
        g["actions"][instance_id] = {
            "hook": hook,
            "kind": kind,
            "token": token,
            "started": now,
            "deadline": now + h["heartbeat_timeout"],
            "global_deadline": now + h["global_timeout"],
            "heartbeats": 0,
            "heartbeat_times": [],
            "warm_state": warm_state,
        }
        inst = g["instances"][instance_id]
        inst["lifecycle_state"] = {
            "launch": "Pending:Wait",
            "warm-launch": "Warmed:Pending:Wait",
            "terminate": "Terminating:Wait",
            "warm-return": "Warmed:Pending:Wait",
        }[kind]
        self._notify_target(instance_id, self._target_of(kind, warm_state))
        return token

    @staticmethod
    def _target_of(kind, warm_state):
        """The IMDS target lifecycle state while an action of kind waits."""
        if kind == "launch":
            return "InService"
        if kind == "terminate":
            return "Terminated"
        return warm_state

    def _notify_target(self, instance_id, target):
        listener = self.on_target_state
        if listener is not None and target is not None:
            listener(instance_id, target)

    def _hook_for(self, g, transition):
        for h in g["hooks"].values():
            if h["transition"] == transition:
                return h["name"]
        return None

    def move(self, group, instance_id, to, *, warm_state="Warmed:Stopped"):
        """What Auto Scaling does to a running instance (the test's lever):
          scale-in               Terminating:Wait with a pending terminate action
                                 (or Terminated at once without a terminate hook)
          scale-in-to-warm-pool  the same, ending in warm_state (ReuseOnScaleIn)
          Standby                InService -> Standby
          InService              Standby -> InService; Warmed:* -> Pending:Wait
                                 with a pending launch action (or InService at
                                 once without a launch hook)
          Detached               -> Detached
        The IMDS target lifecycle state follows (on_target_state).  Returns
        {"state": LifecycleState, "token": the new action's token or None}."""
        if to not in MOVES:
            raise ValueError("aws endpoint: move to %r: want one of %s" % (to, MOVES))
        with self._lock:
            g = self._group(group)
            inst = g["instances"].get(instance_id)
            if inst is None:
                raise KeyError("aws endpoint: no instance %r in group %r" % (instance_id, group))
            self._expire_actions()
            cur = inst["lifecycle_state"]
            token = None
            if instance_id in g["actions"]:
                raise ValueError("aws endpoint: instance %s is in %s; complete its action first" % (instance_id, cur))
            if to in ("scale-in", "scale-in-to-warm-pool"):
                if cur not in ("InService", "Standby"):
                    raise ValueError("aws endpoint: cannot scale in an instance in %s" % cur)
                kind = "terminate" if to == "scale-in" else "warm-return"
                ws = None if kind == "terminate" else warm_state
                hook = self._hook_for(g, "autoscaling:EC2_INSTANCE_TERMINATING")
                if hook is not None:
                    token = self._start_action(g, instance_id, hook, kind, ws)
                else:
                    inst["lifecycle_state"] = "Terminated" if ws is None else ws
                    self._notify_target(instance_id, self._target_of(kind, ws))
            elif to == "Standby":
                if cur != "InService":
                    raise ValueError("aws endpoint: cannot enter Standby from %s" % cur)
                inst["lifecycle_state"] = "Standby"
                self._notify_target(instance_id, "Standby")
            elif to == "InService":
                if cur == "Standby":
                    inst["lifecycle_state"] = "InService"
                    self._notify_target(instance_id, "InService")
                elif cur in WARM_STATES:
                    hook = self._hook_for(g, "autoscaling:EC2_INSTANCE_LAUNCHING")
                    if hook is not None:
                        token = self._start_action(g, instance_id, hook, "launch")
                    else:
                        inst["lifecycle_state"] = "InService"
                        self._notify_target(instance_id, "InService")
                else:
                    raise ValueError("aws endpoint: cannot return to InService from %s" % cur)
            else:
                if cur in ("Terminated", "Detached"):
                    raise ValueError("aws endpoint: cannot detach an instance in %s" % cur)
                inst["lifecycle_state"] = "Detached"
                self._notify_target(instance_id, "Detached")
            return {"state": inst["lifecycle_state"], "token": token}

    def history(self, group, instance_id=None):
        """Finished actions, oldest first: {instance_id, hook, kind, token, started,
        finished, result, how ("completed" or "timeout"), heartbeats, heartbeat_times}."""
        with self._lock:
            self._expire_actions()
            out = copy.deepcopy(self._group(group)["history"])
        return [h for h in out if instance_id is None or h["instance_id"] == instance_id]

    def lifecycle_action(self, group, instance_id):
        """The pending action of the instance (a copy) or None (completed or timed out)."""
        with self._lock:
            self._expire_actions()
            a = self._group(group)["actions"].get(instance_id)
            return None if a is None else dict(a)

    def instance_state(self, instance_id):
        """LifecycleState of the instance in whatever group holds it, or None."""
        with self._lock:
            self._expire_actions()
            for g in self._state.groups.values():
                if instance_id in g["instances"]:
                    return g["instances"][instance_id]["lifecycle_state"]
        return None

    def _finish_action(self, g, instance_id, result, how="completed", when=None):
        a = g["actions"].pop(instance_id)
        inst = g["instances"][instance_id]
        kind = a.get("kind", "launch")
        after = _AFTER_ACTION[(kind, result)]
        inst["lifecycle_state"] = a["warm_state"] if after is None else after
        inst["last_result"] = result
        done = dict(a)
        done.update(
            instance_id=instance_id,
            finished=self._clock() if when is None else when,
            result=result,
            how=how,
        )
        g["history"].append(done)
        if kind in ("launch", "warm-launch") and result == "ABANDON":
            self._notify_target(instance_id, "Terminated")

    def _expire_actions(self):
        now = self._clock()
        for g in self._state.groups.values():
            for iid, a in list(g["actions"].items()):
                if now >= a["deadline"] or now >= a["global_deadline"]:
                    when = min(a["deadline"], a["global_deadline"])
                    self._finish_action(g, iid, g["hooks"][a["hook"]]["default_result"], "timeout", when)

    # -- CloudFormation state -----------------------------------------------

    def add_stack(self, name, *, status="CREATE_IN_PROGRESS", replace=False):
        """A stack; returns its ARN (kept if the stack exists and replace is false)."""
        if not name or not isinstance(name, str):
            raise ValueError("aws endpoint: stack name required")
        with self._lock:
            old = self._state.stacks.get(name)
            if old is not None and not replace:
                return old["stack_id"]
            stack_id = "arn:aws:cloudformation:%s:%s:stack/%s/%s" % (self.region, self.account_id, name, uuid.uuid4())
            self._state.stacks[name] = {"name": name, "stack_id": stack_id, "status": status, "resources": {}}
            return stack_id

    def add_signal_resource(self, stack, logical_id, *, count=1, resource_type="AWS::AutoScaling::AutoScalingGroup"):
        """A resource of stack waiting for count SUCCESS signals (CreationPolicy)."""
        if not logical_id or not isinstance(logical_id, str):
            raise ValueError("aws endpoint: resource logical id required")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("aws endpoint: signal count must be an integer >= 1")
        with self._lock:
            s = self._state.stacks.get(stack)
            if s is None:
                raise KeyError("aws endpoint: no stack %r" % stack)
            s["resources"][logical_id] = {
                "logical_id": logical_id,
                "type": resource_type,
                "count": count,
                "status": "CREATE_IN_PROGRESS",
                "signals": [],
            }

    def stack_status(self, name):
        with self._lock:
            return self._state.stacks[name]["status"]

    def signals(self, stack, logical_id):
        with self._lock:
            return [dict(s) for s in self._state.stacks[stack]["resources"][logical_id]["signals"]]

    # -- state, checkpoint, calls -------------------------------------------

    def state(self):
        with self._lock:
            self._expire_actions()
            return copy.deepcopy({"groups": self._state.groups, "stacks": self._state.stacks})

    def checkpoint(self):
        """Remember the current Auto Scaling / CloudFormation state for reset()."""
        with self._lock:
            self._checkpoint = copy.deepcopy(self._state)

    def reset(self):
        """Faults to the construction values, state to the last checkpoint(), no calls."""
        self.faults.reset(self._initial_faults)
        with self._lock:
            self._state = copy.deepcopy(self._checkpoint)
        self.clear_calls()

    def calls(self, action=None):
        """Copies of the recorded calls, oldest first (optionally of one action)."""
        with self._lock:
            out = copy.deepcopy(self._calls)
        if action is not None:
            out = [c for c in out if c["action"] == action]
        return out

    def clear_calls(self):
        with self._lock:
            self._calls = []
            self._seq = 0

    def _record(self, rec):
        with self._lock:
            self._seq += 1
            rec["seq"] = self._seq
            self._calls.append(rec)
        if self.verbose:
            sys.stderr.write(
                "aws endpoint: %s auth=%s -> %s %s\n"
                % (rec["action"], "ok" if rec["auth_ok"] else rec["auth_error"], rec["status"], rec["error_code"] or "")
            )

    def _conn_opened(self, conn):
        with self._conns_lock:
            self._conns.add(conn)

    def _conn_closed(self, conn):
        with self._conns_lock:
            self._conns.discard(conn)

    # -- request handling ---------------------------------------------------

    def _handle(self, handler, body):
        """(status, body, content type, request id) for one AWS request."""
        request_id = str(uuid.uuid4())
        rec = {
            "time": time.time(),
            "method": handler.command,
            "path": handler.path,
            "action": None,
            "service": None,
            "params": {},
            "access_key_id": None,
            "session_token_sent": False,
            "auth_ok": False,
            "auth_error": None,
            "fault": None,
            "status": None,
            "error_code": None,
            "request_id": request_id,
        }
        service = AUTOSCALING
        try:
            params = self._params(handler, body)
            rec["params"] = params
            rec["action"] = params.get("Action")
            service = ACTIONS.get(rec["action"], service)
            rec["service"] = ACTIONS.get(rec["action"])
            if not self.buckets.take(service):
                rec["fault"] = "Throttling"
                raise AwsError(400, "Throttling", "Rate exceeded", "Sender")
            try:
                akid = self._authenticate(handler, body, rec)
            except AwsError as e:
                rec["auth_error"] = e.code
                raise
            rec["auth_ok"] = True
            action = rec["action"]
            if action is None:
                raise AwsError(400, "MissingAction", "Missing Action")
            if action not in ACTIONS:
                raise AwsError(
                    400,
                    "InvalidAction",
                    "Could not find operation %s for version %s"
                    % (action, params.get("Version", "NO_VERSION_SPECIFIED")),
                )
            version = SERVICES[service][0]
            if params.get("Version") != version:
                raise AwsError(
                    400, "InvalidAction", "Could not find operation %s for version %s" % (action, params.get("Version"))
                )
            if action in self.faults.get("access_denied_actions"):
                rec["fault"] = "AccessDenied"
                with self._lock:
                    arn = self._creds[akid]["arn"]
                raise AwsError(
                    403, "AccessDenied", "User: %s is not authorized to perform: %s:%s" % (arn, service, action)
                )
            fail = self.faults.take_failure(action)
            if fail is not None:
                rec["fault"] = fail
                st, kind, msg = FAIL_CODES[fail]
                raise AwsError(st, fail, msg, kind)
            with self._lock:
                self._expire_actions()
                result = getattr(self, "_do_" + action)(params)
            reply = _ok_xml(action, service, result, request_id)
            rec["status"] = 200
            return 200, reply, "text/xml", request_id
        except AwsError as e:
            rec["status"] = e.status
            rec["error_code"] = e.code
            rec["error_message"] = e.message
            return e.status, _error_xml(e, service, request_id), "text/xml", request_id
        finally:
            self._record(rec)

    @staticmethod
    def _params(handler, body):
        """Query-protocol parameters from the query string and a form body."""
        query = urllib.parse.urlsplit(handler.path).query
        pairs = []
        try:
            if query:
                pairs += urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True)
            ctype = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if body and ctype == "application/x-www-form-urlencoded":
                pairs += urllib.parse.parse_qsl(
                    body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, errors="strict"
                )
            elif body:
                raise AwsError(400, "MalformedInput", "want Content-Type application/x-www-form-urlencoded")
        except (ValueError, UnicodeDecodeError) as e:
            raise AwsError(400, "MalformedQueryString", "bad form or query: %s" % e) from None
        params = {}
        for k, v in pairs:
            if k in params:
                raise AwsError(400, "MalformedQueryString", "parameter %s given twice" % k)
            params[k] = v
        return params

    def _authenticate(self, handler, body, rec):
        """Check the SigV4 signature; returns the access key id or raises AwsError."""
        auth = handler.headers.get_all("Authorization") or []
        query = urllib.parse.urlsplit(handler.path).query
        if not auth:
            if "X-Amz-Signature" in query or "X-Amz-Credential" in query:
                raise AwsError(403, "AccessDenied", "presigned query requests are not accepted by this twin")
            raise AwsError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
        if len(auth) != 1:
            raise AwsError(403, "IncompleteSignature", "more than one Authorization header")
        m = _AUTH_RE.fullmatch(auth[0].strip())
        if m is None:
            raise AwsError(
                403,
                "IncompleteSignature",
                "Authorization header is not a well-formed AWS4-HMAC-SHA256 header: %s" % auth[0][:200],
            )
        akid, scope_date, region, service, signed, signature = m.groups()
        rec["access_key_id"] = akid
        with self._lock:
            cred = self._creds.get(akid)
            cred = None if cred is None else dict(cred)
        if cred is None:
            raise AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
        token = handler.headers.get("X-Amz-Security-Token")
        rec["session_token_sent"] = token is not None
        if cred["token"] is not None:
            if token is None:
                raise AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
            if not hmac.compare_digest(token.encode("utf-8"), cred["token"].encode("utf-8")):
                raise AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
        elif token is not None:
            raise AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
        want_service = ACTIONS.get(rec["action"])
        if want_service is not None and service != want_service:
            raise AwsError(
                403, "SignatureDoesNotMatch", "Credential should be scoped to correct service: '%s'. " % want_service
            )
        if region != self.region:
            raise AwsError(
                403, "SignatureDoesNotMatch", "Credential should be scoped to a valid region, not '%s'. " % region
            )
        names = signed.split(";")
        if "host" not in names:
            raise AwsError(403, "SignatureDoesNotMatch", "'Host' must be a signed header")
        if names != sorted(set(names)):
            raise AwsError(403, "SignatureDoesNotMatch", "SignedHeaders must be sorted, unique and lower case")
        amz_date = handler.headers.get("X-Amz-Date")
        if amz_date is None:
            raise AwsError(
                403,
                "IncompleteSignature",
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        if not _AMZ_DATE_RE.match(amz_date):
            raise AwsError(403, "IncompleteSignature", "X-Amz-Date %r is not YYYYMMDD'T'HHMMSS'Z'" % amz_date)
        if amz_date[:8] != scope_date:
            raise AwsError(
                403,
                "SignatureDoesNotMatch",
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                "'%s' != '%s', from '%s'." % (scope_date, amz_date[:8], amz_date),
            )
        self._check_time(amz_date)
        headers = {}
        for n in names:
            values = handler.headers.get_all(n)
            if values is None:
                raise AwsError(403, "SignatureDoesNotMatch", "signed header %s is not in the request" % n)
            headers[n] = ",".join(values)
        sha = headers.get("x-amz-content-sha256")
        if sha is not None and sha != "UNSIGNED-PAYLOAD" and sha != hashlib.sha256(body).hexdigest():
            raise AwsError(
                400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match"
            )
        req = AWSRequest(method=handler.command, url="http://%s%s" % (headers["host"], handler.path), data=body)
        for n, v in headers.items():
            req.headers[n] = v
        req.context["timestamp"] = amz_date
        signer = _ExactSigV4(Credentials(akid, cred["secret"], cred["token"]), service, region)
        canonical = signer.canonical_request(req)
        expected = signer.signature(signer.string_to_sign(req, canonical), req)
        if not hmac.compare_digest(expected, signature):
            raise AwsError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            )
        return akid

    def _check_time(self, amz_date):
        ts = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
        now = self.now()
        code = self.faults.get("expired_code")
        status = 400 if code == "RequestExpired" else 403
        if ts < now - MAX_SKEW_S:
            raise AwsError(
                status,
                code,
                "Signature expired: %s is now earlier than %s (%s - 15 min.)"
                % (amz_date, _amz(now - MAX_SKEW_S), _amz(now)),
            )
        if ts > now + MAX_SKEW_S:
            raise AwsError(
                status,
                code,
                "Signature not yet current: %s is still later than %s (%s + 15 min.)"
                % (amz_date, _amz(now + MAX_SKEW_S), _amz(now)),
            )

    # -- actions (called with self._lock held) ------------------------------

    @staticmethod
    def _required(params, *names):
        for n in names:
            if not params.get(n):
                field = n[0].lower() + n[1:]
                raise _validation(
                    "1 validation error detected: Value null at '%s' failed to satisfy constraint: "
                    "Member must not be null" % field
                )

    @staticmethod
    def _members(params, prefix):
        out = []
        n = 1
        while "%s.member.%d" % (prefix, n) in params:
            out.append(params["%s.member.%d" % (prefix, n)])
            n += 1
        return out

    def _find_action(self, params):
        """(group, instance id, action) for Complete/Heartbeat, or a ValidationError."""
        self._required(params, "AutoScalingGroupName", "LifecycleHookName")
        iid = params.get("InstanceId")
        token = params.get("LifecycleActionToken")
        if not iid and not token:
            raise _validation("Either InstanceId or LifecycleActionToken must be specified.")
        if iid:
            missing = "No active Lifecycle Action found with instance ID %s" % iid
        else:
            missing = "No active Lifecycle Action found with token %s" % token
        g = self._state.groups.get(params["AutoScalingGroupName"])
        if g is None:
            raise _validation(missing)
        for a_iid, a in g["actions"].items():
            if a["hook"] != params["LifecycleHookName"]:
                continue
            if iid and a_iid != iid:
                continue
            if token and a["token"] != token:
                continue
            return g, a_iid, a
        raise _validation(missing)

    def _do_CompleteLifecycleAction(self, params):
        self._required(params, "LifecycleActionResult")
        result = params["LifecycleActionResult"]
        if result not in LIFECYCLE_RESULTS:
            raise _validation(
                "1 validation error detected: Value '%s' at 'lifecycleActionResult' failed to satisfy "
                "constraint: Member must be CONTINUE or ABANDON" % result
            )
        g, iid, _ = self._find_action(params)
        self._finish_action(g, iid, result)
        return ""

    def _do_RecordLifecycleActionHeartbeat(self, params):
        g, _, a = self._find_action(params)
        h = g["hooks"][a["hook"]]
        now = self._clock()
        a["deadline"] = min(now + h["heartbeat_timeout"], a["global_deadline"])
        a["heartbeats"] += 1
        a["heartbeat_times"].append(now)
        return ""

    def _do_DescribeLifecycleHooks(self, params):
        self._required(params, "AutoScalingGroupName")
        name = params["AutoScalingGroupName"]
        g = self._state.groups.get(name)
        if g is None:
            raise _validation("Group %s not found" % name)
        wanted = self._members(params, "LifecycleHookNames")
        out = []
        for h in g["hooks"].values():
            if wanted and h["name"] not in wanted:
                continue
            out.append(
                "      <member>\n"
                + _el("LifecycleHookName", h["name"], 8)
                + _el("AutoScalingGroupName", name, 8)
                + _el("LifecycleTransition", h["transition"], 8)
                + _el("HeartbeatTimeout", h["heartbeat_timeout"], 8)
                + _el("GlobalTimeout", h["global_timeout"], 8)
                + _el("DefaultResult", h["default_result"], 8)
                + "      </member>\n"
            )
        return "    <LifecycleHooks>\n%s    </LifecycleHooks>\n" % "".join(out)

    def _do_DescribeAutoScalingInstances(self, params):
        wanted = self._members(params, "InstanceIds")
        if len(wanted) > 50:
            raise _validation("The number of instance ids that may be passed in is limited to 50")
        max_records = params.get("MaxRecords")
        if max_records is not None and (not max_records.isdigit() or not 1 <= int(max_records) <= 50):
            raise _validation("MaxRecords must be 1..50")
        out = []
        for g in self._state.groups.values():
            for inst in g["instances"].values():
                if wanted and inst["instance_id"] not in wanted:
                    continue
                lt = g["launch_template"]
                lt_xml = ""
                if lt:
                    lt_xml = (
                        "        <LaunchTemplate>\n"
                        + "".join(
                            _el(k, lt[k], 10)
                            for k in ("LaunchTemplateId", "LaunchTemplateName", "Version")
                            if k in lt
                        )
                        + "        </LaunchTemplate>\n"
                    )
                out.append(
                    "      <member>\n"
                    + _el("InstanceId", inst["instance_id"], 8)
                    + _el("InstanceType", inst["instance_type"], 8)
                    + _el("AutoScalingGroupName", g["name"], 8)
                    + _el("AvailabilityZone", inst["availability_zone"], 8)
                    + _el("LifecycleState", inst["lifecycle_state"], 8)
                    + _el("HealthStatus", inst["health_status"], 8)
                    + lt_xml
                    + _el("ProtectedFromScaleIn", "true" if inst["protected"] else "false", 8)
                    + "      </member>\n"
                )
        return "    <AutoScalingInstances>\n%s    </AutoScalingInstances>\n" % "".join(out)

    def _do_SignalResource(self, params):
        self._required(params, "StackName", "LogicalResourceId", "UniqueId", "Status")
        status = params["Status"]
        if status not in ("SUCCESS", "FAILURE"):
            raise _validation(
                "1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: "
                "Member must satisfy enum value set: [SUCCESS, FAILURE]" % status
            )
        name = params["StackName"]
        stack = self._state.stacks.get(name)
        if stack is None:
            for s in self._state.stacks.values():
                if s["stack_id"] == name:
                    stack = s
        if stack is None:
            raise _validation("Stack with id %s does not exist" % name)
        if not stack["status"].endswith("_IN_PROGRESS"):
            raise _validation("Stack %s is in %s state and cannot be signaled" % (stack["stack_id"], stack["status"]))
        res = stack["resources"].get(params["LogicalResourceId"])
        if res is None:
            raise _validation(
                "Resource %s does not exist for stack %s" % (params["LogicalResourceId"], stack["name"])
            )
        if res["status"] != "CREATE_IN_PROGRESS":
            raise _validation(
                "Resource %s is in %s state and cannot be signaled" % (res["logical_id"], res["status"])
            )
        res["signals"].append({"unique_id": params["UniqueId"], "status": status, "time": self._clock()})
        if status == "FAILURE":
            res["status"] = "CREATE_FAILED"
            stack["status"] = "ROLLBACK_COMPLETE"
            return None
        successes = {s["unique_id"] for s in res["signals"] if s["status"] == "SUCCESS"}
        if len(successes) >= res["count"]:
            res["status"] = "CREATE_COMPLETE"
            if all(r["status"] == "CREATE_COMPLETE" for r in stack["resources"].values()):
                stack["status"] = "CREATE_COMPLETE"
        return None


def main(argv=None):
    """Run standalone (no credentials, no state: mostly for poking at it)."""
    import argparse
    import signal

    p = argparse.ArgumentParser(description="SigV4-checking Auto Scaling / CloudFormation endpoint on loopback.")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--region", default="eu-west-1")
    p.add_argument("--credentials", action="append", default=[], metavar="AKID:SECRET[:TOKEN]")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    ep = AwsEndpoint(args.port, region=args.region, verbose=args.verbose)
    for c in args.credentials:
        parts = c.split(":", 2)
        if len(parts) < 2:
            sys.stderr.write("aws_endpoint.py: --credentials wants AKID:SECRET[:TOKEN]\n")
            return 2
        ep.add_credentials(parts[0], parts[1], parts[2] if len(parts) == 3 else None)
    ep.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    sys.stdout.write("AWS_ENDPOINT_PORT=%d\n" % ep.port)
    sys.stdout.flush()
    while not done.wait(0.5):
        pass
    ep.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
