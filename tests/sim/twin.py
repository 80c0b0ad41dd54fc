#!/usr/bin/env python3
"""The local twin launcher: starts the simulated AWS side on loopback.

    python3 tests/sim/twin.py [IMDS options] [--imds-opts "..."] [--aws [--moto-log F]]
                              [--wcs DIR [--wcs-version V] [--wcs-stats-delay-ms N]] --env-file PATH

starts every service on free 127.0.0.1 ports, writes the environment for the
agent to PATH as shell lines (KEY=value, values shell-quoted) and prints the
same lines on stdout, then stays in the foreground until SIGTERM or SIGINT and
stops everything it started.  The IMDS options are those of imds.py (see
--help); --imds-opts takes them as one shell-quoted string as well.

--aws adds moto_server (seeded, signatures checked) and the Auto Scaling /
CloudFormation endpoint (aws.py, aws_endpoint.py), both over HTTPS with a
test CA made at start (AWS_CA_BUNDLE = the system bundle + that CA;
--plain-http for plain http) and both with TCP_NODELAY: the IMDS then serves the
seeded instance and its role credentials, and the environment gains
AWS_ENDPOINT_URL_<SERVICE>, AWS_REGION and TWIN_* names (see aws.AwsTwin.env).

--wcs DIR adds a fake stock WCS (wcs.py, wcs_service.py) under the fake root
DIR: the install tree (DIR/usr/local/FlashphonerWebCallServer, "running"), a
fake systemctl for it and the stats page on a free port, not ready for
--wcs-stats-delay-ms after start and after every restart through that
systemctl.  The environment gains TWIN_WCS_HOME, TWIN_STATS_URL,
TWIN_RESTART_COMMAND, TWIN_STATUS_COMMAND, TWIN_ENABLE_COMMAND and more
(see WcsService.env); the commands keep the agent's {service} placeholder.

Importable:

    from twin import Twin
    with Twin(imds={"faults": {...}, "metadata": {...}}) as t:
        t.env()        # {"AWS_EC2_METADATA_SERVICE_ENDPOINT": ..., "TWIN_PID": ...}
        t.imds         # the ImdsTwin
    with Twin(aws=True) as t:
        t.aws          # the aws.AwsTwin: .seeded, .endpoint, .moto, .client()
    with Twin(wcs="/tmp/root") as t:    # or wcs={"root": ..., "stats_delay_ms": ...}
        t.wcs          # the WcsService: .tree (wcs.WcsTree), .stats, .service_state, .commands

A service is any object with a name, start(), stop() and env() -> dict.
Later services (moto_server, a fake WCS) are added to Twin(services=[...]) or
with Twin.add() before start(); SubprocessService runs an external server.
"""

import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import imds as imds_mod  # noqa: E402


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (for servers that cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(host, port, timeout, proc=None):
    """True once host:port accepts a TCP connection; False on timeout or if
    proc has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Service:
    """Base class: a part of the twin with start(), stop() and env()."""

    name = "service"

    def start(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    def env(self):
        return {}


class ImdsService(Service):
    """The strict IMDSv2 server, in this process (a thread)."""

    name = "imds"

    def __init__(self, **kwargs):
        self.imds = imds_mod.ImdsTwin(**kwargs)
        self._user_metadata = dict(kwargs.get("metadata") or {})

    def set_base_metadata(self, **kw):
        """Facts from another service (the AWS twin's instance and role
        credentials) under the caller's own metadata: both survive
        ImdsTwin.reset(); the fields in kw are served at once."""
        merged = self.imds.initial_metadata()
        merged.update(kw)
        merged.update(self._user_metadata)
        self.imds.set_initial_metadata(merged, apply=list(kw))

    def start(self):
        self.imds.start()

    def stop(self):
        self.imds.stop()

    def env(self):
        return {
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.imds.url,
            "TWIN_IMDS_PORT": str(self.imds.port),
        }


class SubprocessService(Service):
    """An external server started as a child process on a free port.

    argv may contain "{port}" and "{host}"; env_template maps variable names
    to strings that may contain the same placeholders.  The service is ready
    when the port accepts connections.  stop() sends SIGTERM to the child's
    PID, then SIGKILL after stop_timeout seconds.
    """

    def __init__(
        self,
        name,
        argv,
        env_template=None,
        *,
        host="127.0.0.1",
        port=None,
        ready_timeout=30.0,
        stop_timeout=5.0,
        child_env=None,
        log_path=None,
    ):
        self.name = name
        self.argv = list(argv)
        self.env_template = dict(env_template or {})
        self.host = host
        self.port = port
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.child_env = child_env
        self.log_path = log_path
        self.proc = None
        self._log = None

    def _fill(self, text):
        return text.replace("{port}", str(self.port)).replace("{host}", self.host)

    def start(self):
        if self.port is None:
            self.port = free_port(self.host)
        argv = [self._fill(a) for a in self.argv]
        if self.log_path is not None:
            self._log = open(self.log_path, "ab")
        else:
            self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.child_env,
        )
        if not wait_for_port(self.host, self.port, self.ready_timeout, self.proc):
            out = self.output()
            self.stop()
            raise RuntimeError(
                "twin service %s did not listen on %s:%d (%s); output:\n%s"
                % (self.name, self.host, self.port, " ".join(argv), out[-2000:])
            )

    def output(self):
        """What the child printed so far (stdout and stderr)."""
        if self._log is None:
            return ""
        try:
            self._log.flush()
            if self.log_path is not None:
                with open(self.log_path, "rb") as f:
                    data = f.read()
            else:
                pos = self._log.tell()
                self._log.seek(0)
                data = self._log.read()
                self._log.seek(pos)
        except (OSError, ValueError):
            return ""
        return data.decode("utf-8", "replace")

    def stop(self):
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def env(self):
        return {k: self._fill(v) for k, v in self.env_template.items()}


class WcsService(Service):
    """A fake stock WCS (wcs.py) under the fake file-system root `root`: the
    install tree, a fake systemctl (wcs_service.py) in root/var/service/bin,
    and the stats page on a free loopback port in this process.

    The stats page is not ready (503) for stats_delay_ms after start() and
    after every restart through the fake systemctl (its restart.stamp).
    active: the service counts as running from the start (a stock node that
    booted with WCS enabled).  python: the interpreter the fake systemctl
    runs (default this one).  stop() stops the stats page and leaves the
    tree in place (root belongs to the caller)."""

    name = "wcs"

    def __init__(self, root, *, version=None, stats_delay_ms=500, active=True, python=None, verbose=False):
        if not root:
            raise ValueError("wcs: no folder given")
        self.root = os.path.abspath(root)
        self.version = version
        self.stats_delay_ms = int(stats_delay_ms)
        if self.stats_delay_ms < 0:
            raise ValueError("wcs: stats delay must be >= 0 ms")
        self.active = active
        self.python = python
        self.verbose = verbose
        self.tree = None
        self.stats = None
        self.service_state = None
        self.commands = None

    def start(self):
        import wcs as wcs_mod

        kw = {} if self.version is None else {"version": self.version}
        self.tree = wcs_mod.make_install_tree(self.root, **kw)
        self.service_state = self.tree.service()
        self.commands = wcs_mod.make_service_scripts(self.tree.service_dir, python=self.python)
        if self.active:
            self.service_state.set_active(True)
        self.stats = wcs_mod.StatsServer(
            delay_ms=self.stats_delay_ms,
            restart_file=self.service_state.restart_file,
            verbose=self.verbose,
        )
        self.stats.start()

    def stop(self):
        if self.stats is not None:
            self.stats.stop()
            self.stats = None

    def env(self):
        t = self.tree
        return {
            "TWIN_WCS_ROOT": t.root,
            "TWIN_WCS_HOME": t.home,
            "TWIN_WCS_VERSION": t.version,
            "TWIN_WCS_PROPERTIES": t.properties,
            "TWIN_WCS_SERVICE_DIR": t.service_dir,
            "TWIN_ACTIVATION_DIR": t.activation_dir,
            "TWIN_LICENCE_COMMAND": t.activation_cmd,
            "TWIN_SYSTEMCTL": self.commands["systemctl"],
            "TWIN_RESTART_COMMAND": self.commands["restart_command"],
            "TWIN_STATUS_COMMAND": self.commands["status_command"],
            "TWIN_ENABLE_COMMAND": self.commands["enable_command"],
            "TWIN_STATS_URL": self.stats.url if self.stats is not None else "",
            "TWIN_STATS_PORT": str(self.stats.port) if self.stats is not None else "",
            "TWIN_REST_URL": "http://127.0.0.1:%d/rest-api" % self.stats.port if self.stats is not None else "",
        }


class FleetService(Service):
    """The fleet's other nodes (fleet_nodes.FleetNodes) beside the seeded
    instance: moto instances on 127.0.0.2, 127.0.0.3, ... in the target group,
    each with its own stats page.  Started after the AWS twin."""

    name = "fleet"

    def __init__(self, twin, specs):
        self.twin = twin
        self.specs = specs
        self.nodes = None

    def start(self):
        import fleet_nodes

        self.nodes = fleet_nodes.FleetNodes(self.twin.aws, self.specs).start()

    def stop(self):
        if self.nodes is not None:
            self.nodes.stop()

    def env(self):
        return {"TWIN_FLEET_STATS_URL": self.nodes.stats_url, "TWIN_FLEET_IDS": " ".join(self.nodes.ids)}


class Twin:
    """The whole twin: a list of services started in order, stopped in reverse.

    imds: keyword arguments for ImdsTwin (None: defaults; False: no IMDS).
    aws: True or keyword arguments for aws.AwsTwin (moto_server seeded with
      signature checking on, plus the Auto Scaling / CloudFormation endpoint);
      the IMDS then serves the seeded instance and its role credentials
      (metadata given in imds= still wins).  False: no AWS side.
    wcs: a folder, or keyword arguments for WcsService (with "root"): a fake
      stock WCS under that fake root.  None: no WCS.
    services: further Service objects, started after the IMDS, AWS and WCS.
    """

    def __init__(self, imds=None, services=None, aws=False, wcs=None):
        self.services = []
        imds_service = None
        if imds is not False:
            imds_service = ImdsService(**(imds or {}))
            self.services.append(imds_service)
        if aws:
            import aws as aws_mod

            kw = dict(aws) if isinstance(aws, dict) else {}
            kw.setdefault("imds_service", imds_service)
            self.services.append(aws_mod.AwsTwin(**kw))
        if wcs:
            kw = dict(wcs) if isinstance(wcs, dict) else {"root": wcs}
            self.services.append(WcsService(kw.pop("root", None), **kw))
        self.services.extend(services or [])
        self._started = []

    def add(self, service):
        if self._started:
            raise RuntimeError("twin: add services before start()")
        self.services.append(service)
        return service

    def service(self, name):
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError("twin has no service %r" % name)

    @property
    def imds(self):
        return self.service("imds").imds

    @property
    def aws(self):
        """The aws.AwsTwin (Twin(aws=True) only)."""
        return self.service("aws")

    @property
    def wcs(self):
        """The WcsService (Twin(wcs=...) only)."""
        return self.service("wcs")

    def start(self):
        try:
            for s in self.services:
                s.start()
                self._started.append(s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        errors = []
        while self._started:
            s = self._started.pop()
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                errors.append("%s: %s" % (s.name, e))
        if errors:
            raise RuntimeError("twin stop: " + "; ".join(errors))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def env(self):
        out = {}
        for s in self._started:
            out.update(s.env())
        out["TWIN_PID"] = str(os.getpid())
        return out

    def env_lines(self):
        return "".join("%s=%s\n" % (k, shlex.quote(v)) for k, v in self.env().items())


def write_env_file(path, text):
    """Atomically: a reader polling for the file never sees half of it."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".twin-env-", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def main(argv=None):
    p = argparse.ArgumentParser(description="Start the local twin (loopback only).")
    p.add_argument("--env-file", required=True, help="write the agent's environment here")
    p.add_argument("--imds-opts", default="", help="IMDS options as one shell-quoted string")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request on stderr")
    p.add_argument(
        "--aws",
        action="store_true",
        help="also start moto_server (seeded, signatures checked) and the Auto Scaling/CloudFormation endpoint",
    )
    p.add_argument("--moto-log", metavar="PATH", help="with --aws: append moto_server's output here")
    p.add_argument(
        "--plain-http",
        action="store_true",
        help="with --aws: serve the AWS endpoints over plain http (default: https with a test CA, AWS_CA_BUNDLE)",
    )
    p.add_argument(
        "--terminate-hook-timeout",
        type=int,
        metavar="S",
        help="with --aws: the terminate hook's HeartbeatTimeout (30..7200, default 900)",
    )
    p.add_argument(
        "--wcs",
        metavar="DIR",
        help="also create a fake stock WCS under the fake root DIR, with its service scripts and stats page",
    )
    p.add_argument("--wcs-version", metavar="V", help="with --wcs: the installed version (default wcs.py's)")
    p.add_argument(
        "--wcs-stats-delay-ms",
        type=int,
        metavar="MS",
        help="with --wcs: the stats page is not ready for MS after start and after every restart (default 500)",
    )
    p.add_argument(
        "--fleet-file",
        metavar="PATH",
        help="with --aws: a JSON list of fleet_nodes specs: more nodes in the target group, each with "
        "its own stats page on 127.0.0.2, 127.0.0.3, ... (TWIN_FLEET_STATS_URL, TWIN_FLEET_IDS)",
    )
    imds_mod.add_arguments(p)
    args = p.parse_args(argv)
    if args.imds_opts:
        extra = argparse.ArgumentParser(prog="--imds-opts")
        imds_mod.add_arguments(extra)
        extra_args = extra.parse_args(shlex.split(args.imds_opts))
        for k, v in vars(extra_args).items():
            if v not in (None, False):
                setattr(args, k, v)

    stop_now = threading.Event()

    def on_signal(signum, frame):
        stop_now.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        kw = imds_mod.twin_kwargs(args)
        aws = False
        if args.aws:
            aws = {"moto_log_path": args.moto_log, "verbose": args.verbose, "tls": not args.plain_http}
            if args.terminate_hook_timeout is not None:
                aws["names"] = {"terminate_hook_heartbeat_timeout": args.terminate_hook_timeout}
        elif args.moto_log or args.plain_http or args.terminate_hook_timeout is not None or args.fleet_file:
            raise ValueError("--moto-log, --plain-http, --terminate-hook-timeout and --fleet-file need --aws")
        fleet = None
        if args.fleet_file:
            with open(args.fleet_file, encoding="utf-8") as f:
                fleet = json.load(f)
            if not isinstance(fleet, list) or not all(isinstance(x, dict) for x in fleet):
                raise ValueError("--fleet-file %s: want a JSON list of objects" % args.fleet_file)
        wcs = None
        if args.wcs:
            wcs = {"root": args.wcs, "version": args.wcs_version, "verbose": args.verbose}
            if args.wcs_stats_delay_ms is not None:
                wcs["stats_delay_ms"] = args.wcs_stats_delay_ms
        elif args.wcs_version or args.wcs_stats_delay_ms is not None:
            raise ValueError("--wcs-version and --wcs-stats-delay-ms need --wcs")
        twin = Twin(imds=dict(kw, verbose=args.verbose), aws=aws, wcs=wcs)
        if fleet is not None:
            twin.add(FleetService(twin, fleet))
        twin.start()
    except (ValueError, OSError, RuntimeError) as e:
        sys.stderr.write("twin.py: %s\n" % e)
        return 2
    try:
        text = twin.env_lines()
        write_env_file(args.env_file, text)
        sys.stdout.write(text)
        sys.stdout.flush()
        while not stop_now.wait(0.5):
            pass
    except OSError as e:
        sys.stderr.write("twin.py: env file %s: %s\n" % (args.env_file, e))
        return 2
    finally:
        twin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
