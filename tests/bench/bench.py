#!/usr/bin/env python3
"""wcs-agent against a user-data style bash script, on the local twin.

    python3 tests/bench/bench.py [--trials N] [--agent PATH] [--latency-trials N] [...]

One run starts one twin (strict IMDSv2, moto_server with signature checking,
the Auto Scaling endpoint) and a fake WCS stats page that is ready at once,
then times N trials of each side, alternating:

  agent      `wcs-agent run` (discover, configure, service, ready, register,
             signal; the other steps skip), config in bench_config()
  reference  tests/bench/reference.sh: curl for IMDSv2 and the stats page,
             grep/sed for flashphoner.properties, the AWS CLI for
             register-targets, register-instances-with-load-balancer and
             complete-lifecycle-action

Every trial starts from fresh state: a new WCS install tree, a new state dir,
the instance out of the target group and the classic ELB (moto), and the
endpoint back to its checkpoint (the launch lifecycle action pending again).
After each trial the result is checked (exit 0, the same properties on both
sides, the target and instance registered, one CompleteLifecycleAction that
succeeded); a trial that did not do the work stops the benchmark.

Measured per trial, for the process the bench starts (os.posix_spawn of
GNU time, which forks and runs the side; os.wait4 on time's PID):
  wall   monotonic time from spawn to reap
  CPU    ru_utime + ru_stime from wait4: the process and every descendant it
         reaped (bash reaps curl, sed, grep and aws; the agent reaps the
         service command), plus GNU time's own share (about 0.3 ms)
  RSS    GNU time's %M, the ru_maxrss of the side: Linux reports the largest
         of the process's own peak and the peaks of the descendants it
         reaped, so it is the peak of the single largest process of the tree
         (for the reference an `aws` Python process), not a sum.  GNU time is
         in between because Linux also counts the RSS of the address space a
         process had before its execve: spawned straight from this Python
         (about 100 MB with boto3 loaded), every side would report at least
         that; forked from GNU time the floor is about 1 MB

Then the readiness latency: --latency-trials runs of the agent (full run,
fresh state) against a stats page that answers 503 until a known time T,
0.4-0.9 s (random, seeded) after it starts, while the agent is already
polling.  ready_done is the `ts` of the agent's `ready` "ok" log line
(--log-format json, millisecond resolution, CLOCK_REALTIME mapped onto the
bench's monotonic clock, +0.5 ms for the truncation).  latency = ready_done - T; also shown: ready_done
minus the server-side time of the first 200 (the agent's own processing).
Done with ready.interval_ms 250 (the contract default) and, unless
--no-fast-interval, 50.

Nothing here asserts the targets: the figures and "met"/"NOT met" are
printed; the exit status is 0 unless a trial failed to do its work.
"""

import argparse
import datetime
import json
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
SIM_DIR = os.path.join(REPO, "tests", "sim")
if SIM_DIR not in sys.path:
    sys.path.insert(0, SIM_DIR)

import twin as twin_mod  # noqa: E402
import wcs as wcs_mod  # noqa: E402
import wcs_service  # noqa: E402

REFERENCE = os.path.join(HERE, "reference.sh")
CLOSED_ENDPOINT = "http://127.0.0.1:9"
CDN_ROLE = "edge"
CDN_POINT_OF_ENTRY = "10.0.200.5"
TARGET_PORT = 8080

# The targets (reported, never asserted).
TARGET_WALL_RATIO = 25.0
TARGET_CPU_RATIO = 50.0
TARGET_RSS_KB = 10 * 1024
TARGET_LATENCY_MS = 300.0

GNU_TIME = "/usr/bin/time"
MAX_TRIALS = 200
AGENT_TIMEOUT_S = 60
REFERENCE_TIMEOUT_S = 120
LATENCY_DELAY_MS = (400, 900)

# systemctl for the bench: shell built-ins only, so neither side pays for the
# service manager (the same on both sides; --service twin uses the twin's
# Python fake systemctl instead).
STUB_SYSTEMCTL = """#!/bin/sh
# tests/bench stub systemctl: enable, restart, is-active on {dir}
case "$1" in
enable) : >{dir}/enabled ;;
restart|start) : >{dir}/active; echo restart >>{dir}/calls ;;
is-active|status) [ -e {dir}/active ] ;;
*) echo "stub systemctl: unsupported: $*" >&2; exit 2 ;;
esac
"""


class BenchError(Exception):
    """A trial that did not do its work, or a setup problem."""


# ---------------------------------------------------------------------------
# running one process


class Measured:
    __slots__ = ("rc", "wall_s", "cpu_s", "maxrss_kb", "stdout", "stderr", "t_start", "t_end", "conns", "imds_requests")


def spawn_measured(argv, env, out_path, err_path, timeout_s):
    """Runs argv (stdin /dev/null, stdout/stderr to files, own session) and
    reaps it with os.wait4: a Measured.  On timeout the process group is
    killed by the child's PID (which is its group id) and BenchError raised."""
    rss_path = out_path + ".maxrss"
    argv = [GNU_TIME, "-f", "%M", "-o", rss_path, "--"] + list(argv)
    fa = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        (os.POSIX_SPAWN_OPEN, 2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
    ]
    lock = threading.Lock()
    state = {"reaped": False, "killed": False}
    t0 = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=fa, setsid=True)

    def kill():
        with lock:
            if state["reaped"]:
                return
            state["killed"] = True
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    timer = threading.Timer(timeout_s, kill)
    timer.daemon = True
    timer.start()
    try:
        while True:
            try:
                _, status, ru = os.wait4(pid, 0)
                break
            except InterruptedError:
                continue
        t1 = time.monotonic()
        with lock:
            state["reaped"] = True
    finally:
        timer.cancel()
    m = Measured()
    m.rc = os.waitstatus_to_exitcode(status)
    m.wall_s = t1 - t0
    m.cpu_s = ru.ru_utime + ru.ru_stime
    m.maxrss_kb = None
    try:
        with open(rss_path) as f:
            # "Command exited with non-zero status N" may come first.
            m.maxrss_kb = int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        pass
    m.t_start, m.t_end = t0, t1
    with open(out_path, encoding="utf-8", errors="replace") as f:
        m.stdout = f.read()
    with open(err_path, encoding="utf-8", errors="replace") as f:
        m.stderr = f.read()
    if m.maxrss_kb is None and not state["killed"]:
        raise BenchError("%s: no peak RSS from %s\nstderr:\n%s" % (" ".join(argv), GNU_TIME, m.stderr[-2000:]))
    if state["killed"]:
        raise BenchError(
            "%s timed out after %d s\nstdout:\n%s\nstderr:\n%s"
            % (" ".join(argv), timeout_s, m.stdout[-2000:], m.stderr[-2000:])
        )
    return m


# ---------------------------------------------------------------------------
# the setup


def check_gnu_time():
    """GNU time (Debian package time) reports ru_maxrss in KB as %M."""
    if not os.access(GNU_TIME, os.X_OK):
        raise BenchError("%s not found: install GNU time (apt-get install time)" % GNU_TIME)
    r = subprocess.run([GNU_TIME, "--version"], capture_output=True, text=True, timeout=30)
    if "GNU" not in (r.stdout + r.stderr):
        raise BenchError("%s is not GNU time" % GNU_TIME)


def find_agent(path):
    """--agent, else $WCS_AGENT_BIN, else build/wcs-agent."""
    if path:
        candidates = [("--agent", path)]
    else:
        candidates = [("WCS_AGENT_BIN", os.environ.get("WCS_AGENT_BIN")), (None, os.path.join(REPO, "build", "wcs-agent"))]
    for source, p in candidates:
        if not p:
            continue
        p = os.path.abspath(p)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
        if source is not None:
            raise BenchError("%s %s is not an executable file" % (source, p))
    raise BenchError("no agent binary: pass --agent PATH or set WCS_AGENT_BIN")


def build_type(agent):
    """CMAKE_BUILD_TYPE from the CMakeCache.txt beside the binary, or "?"."""
    cache = os.path.join(os.path.dirname(agent), "CMakeCache.txt")
    try:
        with open(cache, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    return line.split("=", 1)[1].strip() or "(none)"
    except OSError:
        pass
    return "?"


def find_aws_cli(path):
    """The aws program itself: a pyenv shim (a bash script that runs `pyenv
    exec`) would add its own cost to every call, which an instance's
    /usr/bin/aws does not have, so it is resolved with `pyenv which aws`."""
    if path:
        p = os.path.abspath(path)
    else:
        p = shutil.which("aws")
        if p is None:
            raise BenchError("no aws CLI on PATH (pass --aws PATH)")
        if "/.pyenv/shims/" in p and shutil.which("pyenv"):
            r = subprocess.run(["pyenv", "which", "aws"], capture_output=True, text=True, timeout=30)
            if r.returncode == 0 and r.stdout.strip():
                p = r.stdout.strip()
    if not (os.path.isfile(p) and os.access(p, os.X_OK)):
        raise BenchError("aws CLI %s is not an executable file" % p)
    return p


def first_line(argv, env=None):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "? (%s)" % e
    text = (r.stdout or r.stderr).strip()
    return text.splitlines()[0] if text else "?"


def machine_info():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%d cores (%s), Linux %s" % (os.cpu_count() or 0, model, platform.release())


class Bench:
    def __init__(self, args):
        self.args = args
        check_gnu_time()
        self.agent = find_agent(args.agent)
        self.aws_cli = find_aws_cli(args.aws)
        self.work = tempfile.mkdtemp(prefix="wcs-agent-bench-")
        self.home = os.path.join(self.work, "home")
        os.mkdir(self.home, 0o700)
        self.twin = None
        self.stats = None
        self.seeded = None
        self.n = 0

    # -- lifecycle ------------------------------------------------------------

    def start(self):
        self.twin = twin_mod.Twin(aws={"tls": not self.args.plain_http}).start()
        self.seeded = self.twin.aws.seeded
        self.elbv2 = self.twin.aws.client("elbv2", credentials="user", retries=3)
        self.elb = self.twin.aws.client("elb", credentials="user", retries=3)
        self.stats = wcs_mod.StatsServer(delay_ms=0).start()
        self.twin_env = {k: v for k, v in self.twin.env().items() if k.startswith("AWS_")}
        for k, v in self.twin_env.items():
            if v.startswith("http") and not v.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
                raise BenchError("twin variable %s=%s is not loopback" % (k, v))

    def stop(self):
        errors = []
        if self.stats is not None:
            self.stats.stop()
            self.stats = None
        if self.twin is not None:
            try:
                self.twin.stop()
            except RuntimeError as e:
                errors.append(str(e))
            self.twin = None
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        if errors:
            raise BenchError("; ".join(errors))

    # -- fresh state ------------------------------------------------------------

    def base_env(self):
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C",
            "HOME": self.home,
        }
        env.update(self.twin_env)
        return env

    def reset_aws(self):
        """Instance out of the target group and the classic ELB; the endpoint
        (lifecycle action pending, no calls) and the IMDS back to their start."""
        iid = self.seeded["instance_id"]
        tg = self.seeded["target_group_arn"]
        for d in self.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]:
            self.elbv2.deregister_targets(TargetGroupArn=tg, Targets=[d["Target"]])
        name = self.seeded["classic_elb_name"]
        lb = self.elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
        if any(i["InstanceId"] == iid for i in lb["Instances"]):
            self.elb.deregister_instances_from_load_balancer(LoadBalancerName=name, Instances=[{"InstanceId": iid}])
        self.twin.aws.reset()
        self.twin.imds.reset()
        self.stats.clear_requests()

    def fresh_trial(self, side):
        """A new trial folder with a fresh WCS tree and service commands."""
        self.n += 1
        d = os.path.join(self.work, "t%03d-%s" % (self.n, side))
        os.mkdir(d)
        tree = wcs_mod.make_install_tree(os.path.join(d, "root"))
        if self.args.service == "twin":
            cmds = wcs_service.make_service_scripts(tree.service_dir)
            systemctl = cmds["systemctl"]
        else:
            systemctl = os.path.join(tree.service_dir, "systemctl")
            with open(systemctl, "w") as f:
                f.write(STUB_SYSTEMCTL.format(dir=shlex.quote(tree.service_dir)))
            os.chmod(systemctl, 0o755)
        self.reset_aws()
        return d, tree, systemctl

    # -- the two sides ------------------------------------------------------------

    def bench_config(self, d, tree, systemctl, stats_url, interval_ms=None):
        s = self.seeded
        lines = [
            "[agent]",
            "state_dir = %s" % os.path.join(d, "state"),
            "deadline = 120",
            "[wcs]",
            "home = %s" % tree.home,
            "restart_command = %s restart {service}" % systemctl,
            "status_command = %s is-active --quiet {service}" % systemctl,
            "enable_command = %s enable --quiet {service}" % systemctl,
            "[cdn]",
            "role = %s" % CDN_ROLE,
            "point_of_entry = %s" % CDN_POINT_OF_ENTRY,
            "[ready]",
            "url = %s" % stats_url,
            "timeout = 60",
        ]
        if interval_ms is not None:
            lines.append("interval_ms = %d" % interval_ms)
        lines += [
            "[register]",
            "target_group = %s" % s["target_group_arn"],
            "port = %d" % TARGET_PORT,
            "classic_elb = %s" % s["classic_elb_name"],
            "[signal]",
            "lifecycle_hook = %s" % s["hook_name"],
        ]
        path = os.path.join(d, "agent.ini")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def run_agent(self, *, stats_url=None, interval_ms=None, log_json=False):
        d, tree, systemctl = self.fresh_trial("agent")
        cfg = self.bench_config(d, tree, systemctl, stats_url or self.stats.url, interval_ms)
        argv = shlex.split(self.args.wrap or "") + [self.agent, "-c", cfg]
        if log_json:
            argv += ["--log-format", "json"]
        argv.append("run")
        c0 = self.connections()
        self.twin.imds.clear_requests()
        m = spawn_measured(
            argv, self.base_env(), os.path.join(d, "stdout"), os.path.join(d, "stderr"), AGENT_TIMEOUT_S
        )
        c1 = self.connections()
        m.conns = {k: c1[k] - (c0[k] if k != "moto" else 0) for k in c0}
        m.imds_requests = len(self.twin.imds.requests())
        self.verify("agent", m, tree, systemctl)
        return m

    def connections(self):
        """TCP connections each twin server accepted so far; for moto, the connections
        that sent AWS requests since the counters were last read (this call resets them,
        so the bench's own boto3 calls before a run are not counted)."""
        moto = self.twin.aws.moto.stats()["connections"]
        self.twin.aws.moto.control("/_twin/reset-counts", {})
        return {
            "IMDS": self.twin.imds.connections_total,
            "moto": moto,
            "Auto Scaling endpoint": self.twin.aws.endpoint.connections_total,
        }

    def memory_trial(self):
        """One agent run sampled every 2 ms through /proc: peak USS (Private_Clean +
        Private_Dirty of smaps_rollup), peak private dirty memory (Private_Dirty:
        the heap, stacks and the library pages the process wrote, e.g. relocated
        data) and peak RSS, while the stats page turns ready after 800 ms (so the
        run lasts long enough to be seen at every step).

        USS counts a shared library's clean pages as private when no other
        process maps that library at that moment: on an idle machine nothing
        else maps libcurl and its 27 dependencies, so their read-only pages (page
        cache, not freed when the agent exits) count in full; on a busy one they
        count as shared.  Private dirty memory is what the run owns either way."""
        stats = wcs_mod.StatsServer(delay_ms=800, not_ready="503")
        stats.start()
        try:
            d, tree, systemctl = self.fresh_trial("memory")
            cfg = self.bench_config(d, tree, systemctl, stats.url, 50)
            err = open(os.path.join(d, "stderr"), "wb")
            p = subprocess.Popen([self.agent, "-c", cfg, "run"], env=self.base_env(), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
            uss = rss = dirty = 0
            deadline = time.monotonic() + AGENT_TIMEOUT_S
            while p.poll() is None and time.monotonic() < deadline:
                try:
                    with open("/proc/%d/smaps_rollup" % p.pid) as f:
                        v = {}
                        for line in f:
                            parts = line.split()
                            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                                v[parts[0][:-1]] = int(parts[1])
                    uss = max(uss, v.get("Private_Clean", 0) + v.get("Private_Dirty", 0))
                    dirty = max(dirty, v.get("Private_Dirty", 0))
                    rss = max(rss, v.get("Rss", 0))
                except (OSError, ValueError):
                    pass
                time.sleep(0.002)
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            err.close()
            if p.returncode != 0:
                raise BenchError("memory trial: agent exit %d" % p.returncode)
            return {"uss_kb": uss, "private_dirty_kb": dirty, "rss_kb": rss}
        finally:
            stats.stop()

    def neighbour(self):
        """A second agent process that maps the same libraries and then waits
        (its IMDS is a socket that never answers), standing for the node's
        `wcs-agent watch`, which runs beside every `run`.  Returns (process,
        listening socket); stop both with stop_neighbour()."""
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        env = self.base_env()
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:%d" % silent.getsockname()[1]
        d = tempfile.mkdtemp(prefix="neighbour-", dir=self.work)
        cfg = os.path.join(d, "agent.ini")
        with open(cfg, "w") as f:
            f.write("[agent]\nstate_dir = %s\n" % os.path.join(d, "state"))
        p = subprocess.Popen([self.agent, "-c", cfg, "metadata"], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.3)
        return p, silent

    @staticmethod
    def stop_neighbour(n):
        p, silent = n
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        silent.close()

    def run_reference(self):
        d, tree, systemctl = self.fresh_trial("reference")
        s = self.seeded
        env = self.base_env()
        env.update(
            {
                "PATH": os.path.dirname(self.aws_cli) + ":/usr/bin:/bin",
                "AWS_CLI": self.aws_cli,
                # No profile or credentials file: the CLI takes the role's
                # credentials from the IMDS, as on an instance.
                "AWS_CONFIG_FILE": os.path.join(self.home, "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.home, "no-aws-credentials"),
                "WCS_HOME": tree.home,
                "STATS_URL": self.stats.url,
                "SYSTEMCTL": systemctl,
                "TARGET_GROUP_ARN": s["target_group_arn"],
                "TARGET_PORT": str(TARGET_PORT),
                "CLASSIC_ELB": s["classic_elb_name"],
                "LIFECYCLE_HOOK": s["hook_name"],
                "CDN_ROLE": CDN_ROLE,
                "CDN_POINT_OF_ENTRY": CDN_POINT_OF_ENTRY,
                "READY_TIMEOUT_S": "60",
            }
        )
        m = spawn_measured(
            ["/bin/bash", REFERENCE],
            env,
            os.path.join(d, "stdout"),
            os.path.join(d, "stderr"),
            REFERENCE_TIMEOUT_S,
        )
        self.verify("reference", m, tree, systemctl)
        return m

    # -- did it do the work? --------------------------------------------------------

    def verify(self, side, m, tree, systemctl):
        s = self.seeded
        iid = s["instance_id"]
        problems = []
        if m.rc != 0:
            problems.append("exit status %d" % m.rc)
        props = tree.read_properties()
        want = {
            "ip": s.get("public_ip") or s["private_ip"],
            "ip_local": s["private_ip"],
            "cdn_enabled": "true",
            "cdn_role": CDN_ROLE,
            "cdn_ip": s["private_ip"],
            "cdn_point_of_entry": CDN_POINT_OF_ENTRY,
        }
        for k, v in want.items():
            if props.get(k) != v:
                problems.append("flashphoner.properties %s=%r, want %r" % (k, props.get(k), v))
        if self.args.service == "twin":
            restarted = tree.service().restart_count() >= 1
        else:
            restarted = os.path.exists(os.path.join(tree.service_dir, "calls"))
        if not restarted:
            problems.append("WCS was not restarted")
        th = self.elbv2.describe_target_health(TargetGroupArn=s["target_group_arn"])
        targets = [(t["Target"]["Id"], t["Target"].get("Port")) for t in th["TargetHealthDescriptions"]]
        if (iid, TARGET_PORT) not in targets:
            problems.append("not in the target group: %r" % targets)
        lb = self.elb.describe_load_balancers(LoadBalancerNames=[s["classic_elb_name"]])
        if iid not in [i["InstanceId"] for i in lb["LoadBalancerDescriptions"][0]["Instances"]]:
            problems.append("not in the classic ELB")
        done = self.twin.aws.endpoint.calls("CompleteLifecycleAction")
        ok = [c for c in done if c.get("status") == 200 and c.get("auth_ok")]
        if len(ok) != 1 or ok[0]["params"].get("LifecycleActionResult") != "CONTINUE":
            problems.append("CompleteLifecycleAction calls: %r" % [(c.get("status"), c.get("auth_ok")) for c in done])
        if self.twin.aws.endpoint.instance_state(iid) != "InService":
            problems.append("instance is %s, not InService" % self.twin.aws.endpoint.instance_state(iid))
        if problems:
            raise BenchError(
                "%s trial did not do the work: %s\nstdout:\n%s\nstderr:\n%s"
                % (side, "; ".join(problems), m.stdout[-3000:], m.stderr[-3000:])
            )

    # -- readiness latency ------------------------------------------------------------

    def latency_trial(self, rng, interval_ms):
        delay_ms = rng.uniform(*LATENCY_DELAY_MS)
        stats = wcs_mod.StatsServer(delay_ms=delay_ms, not_ready="503")
        stats.start()
        try:
            t_ready = stats.clock_started + delay_ms / 1000.0
            # CLOCK_REALTIME - CLOCK_MONOTONIC, taken around the run.
            off0 = time.time() - time.monotonic()
            m = self.run_agent(stats_url=stats.url, interval_ms=interval_ms, log_json=True)
            off1 = time.time() - time.monotonic()
            reqs = stats.requests()
        finally:
            stats.stop()
        done_ts = None
        for line in m.stderr.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("step") == "ready" and str(rec.get("msg", "")).startswith("ok"):
                done_ts = rec["ts"]
        if done_ts is None:
            raise BenchError("no ready ok line in the agent's log:\n%s" % m.stderr[-3000:])
        wall = datetime.datetime.strptime(done_ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        # ts is truncated to the millisecond: take the middle of that millisecond.
        t_done = wall.timestamp() + 0.0005 - (off0 + off1) / 2.0
        first_200 = [t for t, _, st in reqs if st == 200]
        before = [t for t, _, st in reqs if st != 200 and t < t_ready]
        if not first_200:
            raise BenchError("the stats page never answered 200 to the agent")
        if not before:
            raise BenchError("the agent did not poll before the stats page was ready (delay %.0f ms)" % delay_ms)
        return {
            "delay_ms": delay_ms,
            "latency_ms": (t_done - t_ready) * 1000.0,
            "after_200_ms": (t_done - first_200[0]) * 1000.0,
            "polls": len(reqs),
            "wall_s": m.wall_s,
        }


# ---------------------------------------------------------------------------
# report


def count_certs(path):
    with open(path, "rb") as f:
        return f.read().count(b"-----BEGIN CERTIFICATE-----")


def trust_store_parse_s(path, n=5):
    """CPU seconds of one load of the bundle into an OpenSSL store (median of n)."""
    import ssl

    times = []
    for _ in range(n):
        t0 = time.process_time()
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
        times.append(time.process_time() - t0)
    return statistics.median(times)


def fmt_ms(s):
    return "%.1f ms" % (s * 1000.0) if s < 10 else "%.2f s" % s


def fmt_kb(kb):
    return "%.1f MB" % (kb / 1024.0)


def met(ok):
    return "met" if ok else "NOT met"


def summary(values):
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def print_table(agent, ref, out):
    a_wall = statistics.median(m.wall_s for m in agent)
    r_wall = statistics.median(m.wall_s for m in ref)
    a_cpu = statistics.median(m.cpu_s for m in agent)
    r_cpu = statistics.median(m.cpu_s for m in ref)
    a_rss = statistics.median(m.maxrss_kb for m in agent)
    r_rss = statistics.median(m.maxrss_kb for m in ref)
    a_rss_max = max(m.maxrss_kb for m in agent)
    wall_ratio = r_wall / a_wall
    cpu_ratio = r_cpu / a_cpu if a_cpu > 0 else float("inf")
    rows = [
        ("", "wcs-agent", "reference.sh", "ratio", "target", ""),
        (
            "wall time (median)",
            fmt_ms(a_wall),
            fmt_ms(r_wall),
            "%.1fx" % wall_ratio,
            ">= %.0fx less" % TARGET_WALL_RATIO,
            met(wall_ratio >= TARGET_WALL_RATIO),
        ),
        (
            "CPU user+sys (median)",
            fmt_ms(a_cpu),
            fmt_ms(r_cpu),
            "%.1fx" % cpu_ratio,
            ">= %.0fx less" % TARGET_CPU_RATIO,
            met(cpu_ratio >= TARGET_CPU_RATIO),
        ),
        (
            "peak RSS (median)",
            fmt_kb(a_rss),
            fmt_kb(r_rss),
            "%.1fx" % (r_rss / a_rss),
            "agent <= %s" % fmt_kb(TARGET_RSS_KB),
            met(a_rss_max <= TARGET_RSS_KB),
        ),
        (
            "wall time (min..max)",
            "%s..%s" % (fmt_ms(min(m.wall_s for m in agent)), fmt_ms(max(m.wall_s for m in agent))),
            "%s..%s" % (fmt_ms(min(m.wall_s for m in ref)), fmt_ms(max(m.wall_s for m in ref))),
            "",
            "",
            "",
        ),
        (
            "CPU (min..max)",
            "%s..%s" % (fmt_ms(min(m.cpu_s for m in agent)), fmt_ms(max(m.cpu_s for m in agent))),
            "%s..%s" % (fmt_ms(min(m.cpu_s for m in ref)), fmt_ms(max(m.cpu_s for m in ref))),
            "",
            "",
            "",
        ),
        (
            "peak RSS (max)",
            fmt_kb(a_rss_max),
            fmt_kb(max(m.maxrss_kb for m in ref)),
            "",
            "",
            "",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() + "\n")
    return {
        "agent": {
            "wall_s": summary([m.wall_s for m in agent]),
            "cpu_s": summary([m.cpu_s for m in agent]),
            "maxrss_kb": summary([m.maxrss_kb for m in agent]),
        },
        "reference": {
            "wall_s": summary([m.wall_s for m in ref]),
            "cpu_s": summary([m.cpu_s for m in ref]),
            "maxrss_kb": summary([m.maxrss_kb for m in ref]),
        },
        "wall_ratio": wall_ratio,
        "cpu_ratio": cpu_ratio,
        "targets_met": {
            "wall": wall_ratio >= TARGET_WALL_RATIO,
            "cpu": cpu_ratio >= TARGET_CPU_RATIO,
            "rss": a_rss_max <= TARGET_RSS_KB,
        },
    }


def print_latency(interval_ms, results, out):
    lat = [r["latency_ms"] for r in results]
    after = [r["after_200_ms"] for r in results]
    polls = [r["polls"] for r in results]
    med, mx = statistics.median(lat), max(lat)
    out.write(
        "ready.interval_ms=%-4d  latency median %6.1f ms  max %6.1f ms  (target max <= %.0f ms: %s)\n"
        % (interval_ms, med, mx, TARGET_LATENCY_MS, met(mx <= TARGET_LATENCY_MS))
    )
    out.write(
        "                       first 200 -> ready done: median %.1f ms, max %.1f ms; polls median %d\n"
        % (statistics.median(after), max(after), statistics.median(polls))
    )
    return {
        "interval_ms": interval_ms,
        "trials": len(results),
        "latency_ms": summary(lat),
        "after_200_ms": summary(after),
        "target_met": mx <= TARGET_LATENCY_MS,
        "runs": results,
    }


def bounded(lo, hi):
    def conv(text):
        v = int(text)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError("want %d..%d, got %d" % (lo, hi, v))
        return v

    return conv


def main(argv=None):
    p = argparse.ArgumentParser(description="wcs-agent run against a user-data bash script, on the twin.")
    p.add_argument("--trials", type=bounded(1, MAX_TRIALS), default=10, help="timed trials per side (default 10)")
    p.add_argument("--warmup", type=bounded(0, 10), default=1, help="untimed trials per side first (default 1)")
    p.add_argument(
        "--latency-trials", type=bounded(0, MAX_TRIALS), default=20, help="readiness trials per interval (default 20)"
    )
    p.add_argument("--no-fast-interval", action="store_true", help="latency with interval_ms 250 only, not 50 too")
    p.add_argument("--agent", help="the wcs-agent binary (default: $WCS_AGENT_BIN, else build/wcs-agent)")
    p.add_argument("--aws", help="the aws CLI (default: aws on PATH, a pyenv shim resolved)")
    p.add_argument(
        "--service",
        choices=("stub", "twin"),
        default="stub",
        help="service command for both sides: a shell-builtin stub (default) or the twin's Python fake systemctl",
    )
    p.add_argument(
        "--wrap",
        metavar="CMD",
        help="run the agent under CMD (profiling, e.g. 'strace -f -c -o /tmp/s.txt'); its figures then include CMD",
    )
    p.add_argument("--seed", type=int, default=7, help="seed of the latency delays")
    p.add_argument(
        "--plain-http", action="store_true", help="the twin's AWS endpoints over plain http (default: TLS, as on AWS)"
    )
    p.add_argument("--memory-trials", type=bounded(0, 20), default=3, help="USS / RSS sampling runs (default 3)")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    p.add_argument("--keep", action="store_true", help="keep the work folder (trial outputs)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every trial")
    args = p.parse_args(argv)
    out = sys.stdout

    try:
        b = Bench(args)
    except BenchError as e:
        sys.stderr.write("bench.py: %s\n" % e)
        return 2
    env_v = {"PATH": "/usr/bin:/bin", "HOME": b.home, "LANG": "C"}
    out.write("wcs-agent bench  %s\n" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    out.write("machine    %s\n" % machine_info())
    out.write("agent      %s (%s build; %s)\n" % (b.agent, build_type(b.agent), first_line([b.agent, "version"], env_v)))
    out.write("reference  %s\n" % REFERENCE)
    out.write("AWS side   %s\n" % ("plain http (--plain-http)" if args.plain_http else "HTTPS with a test CA (AWS_CA_BUNDLE)"))
    out.write("aws CLI    %s (%s)\n" % (b.aws_cli, first_line([b.aws_cli, "--version"], env_v)))
    out.write("curl       %s\n" % first_line(["curl", "--version"]))
    out.write("service    %s\n" % ("stub systemctl (sh built-ins)" if args.service == "stub" else "twin fake systemctl (Python)"))
    out.write(
        "trials     %d per side, alternating, after %d warm-up per side; fresh state each\n" % (args.trials, args.warmup)
    )
    out.flush()
    report = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "machine": machine_info()}
    rc = 0
    try:
        t0 = time.monotonic()
        b.start()
        out.write("twin       up in %.1f s (IMDS %s)\n\n" % (time.monotonic() - t0, b.twin.imds.url))
        out.flush()
        for _ in range(args.warmup):
            b.run_agent()
            b.run_reference()
        agent, ref = [], []
        for i in range(args.trials):
            a = b.run_agent()
            r = b.run_reference()
            agent.append(a)
            ref.append(r)
            if args.verbose:
                out.write(
                    "trial %2d  agent %s cpu %s rss %s | reference %s cpu %s rss %s\n"
                    % (
                        i + 1,
                        fmt_ms(a.wall_s),
                        fmt_ms(a.cpu_s),
                        fmt_kb(a.maxrss_kb),
                        fmt_ms(r.wall_s),
                        fmt_ms(r.cpu_s),
                        fmt_kb(r.maxrss_kb),
                    )
                )
                out.flush()
        out.write("%d trials per side (ratio = reference / agent):\n" % args.trials)
        report["run"] = print_table(agent, ref, out)
        conns = {k: statistics.median(m.conns[k] for m in agent) for k in agent[0].conns}
        imds_req = statistics.median(m.imds_requests for m in agent)
        out.write(
            "agent per run (median): %d IMDS requests; TCP connections: %s\n"
            % (imds_req, ", ".join("%s %d" % kv for kv in conns.items()))
        )
        report["agent_imds_requests"] = imds_req
        report["agent_connections"] = conns
        bundle = b.twin_env.get("AWS_CA_BUNDLE")
        if bundle:
            parse = trust_store_parse_s(bundle)
            out.write(
                "TLS: AWS_CA_BUNDLE = system bundle + test CA (%d certificates); one parse costs %s CPU (Python's OpenSSL)\n"
                % (count_certs(bundle), fmt_ms(parse))
            )
            report["trust_store_parse_s"] = parse
        if args.memory_trials > 0:
            mem = [b.memory_trial() for _ in range(args.memory_trials)]
            n = b.neighbour()
            try:
                mem_n = [b.memory_trial() for _ in range(args.memory_trials)]
            finally:
                b.stop_neighbour(n)
            out.write(
                "agent memory (%d runs sampled every 2 ms): peak USS median %s (max %s), peak private dirty "
                "median %s (max %s), peak RSS median %s\n"
                % (
                    len(mem),
                    fmt_kb(statistics.median(x["uss_kb"] for x in mem)),
                    fmt_kb(max(x["uss_kb"] for x in mem)),
                    fmt_kb(statistics.median(x["private_dirty_kb"] for x in mem)),
                    fmt_kb(max(x["private_dirty_kb"] for x in mem)),
                    fmt_kb(statistics.median(x["rss_kb"] for x in mem)),
                )
            )
            out.write(
                "agent memory beside a waiting agent (as beside `watch` on a node: the libraries' pages shared): "
                "peak USS median %s (max %s)\n"
                % (fmt_kb(statistics.median(x["uss_kb"] for x in mem_n)), fmt_kb(max(x["uss_kb"] for x in mem_n)))
            )
            report["memory"] = mem
            report["memory_beside_watch"] = mem_n
        out.write("\n")
        out.flush()
        report["latency"] = []
        if args.latency_trials > 0:
            out.write(
                "readiness latency (stats page answering -> ready done), %d trials each, page ready %d-%d ms after start:\n"
                % (args.latency_trials, LATENCY_DELAY_MS[0], LATENCY_DELAY_MS[1])
            )
            rng = random.Random(args.seed)
            for interval in [250] if args.no_fast_interval else [250, 50]:
                res = [b.latency_trial(rng, interval) for _ in range(args.latency_trials)]
                if args.verbose:
                    for i, r in enumerate(res):
                        out.write(
                            "  trial %2d  delay %4.0f ms  latency %6.1f ms  after 200 %5.1f ms  polls %d\n"
                            % (i + 1, r["delay_ms"], r["latency_ms"], r["after_200_ms"], r["polls"])
                        )
                report["latency"].append(print_latency(interval, res, out))
                out.flush()
    except BenchError as e:
        sys.stderr.write("bench.py: %s\n" % e)
        rc = 1
    except KeyboardInterrupt:
        sys.stderr.write("bench.py: interrupted\n")
        rc = 130
    finally:
        try:
            b.stop()
        except BenchError as e:
            sys.stderr.write("bench.py: stopping the twin: %s\n" % e)
            rc = rc or 1
    if args.keep:
        out.write("work folder kept: %s\n" % b.work)
    if args.json and rc == 0:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
