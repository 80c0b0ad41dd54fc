#!/usr/bin/env python3
"""tests/bench/scale.py: N wcs-agents booting together into a throttled account.

    python3 tests/bench/scale.py [--agents 10,25,50] [--rate 10] [--burst 10]
                                 [--agent PATH] [--plain-http] [--timeout S] [--json PATH] [-v]

A benchmark, not a test: it prints figures and never asserts.  For each N
in --agents, on one twin (moto_server and the Auto Scaling endpoint over TLS,
each with a token bucket per AWS service: --burst requests at once, --rate a
second after that, over-rate requests answered Throttling at once):

- N instances are seeded (moto: run_instances; the endpoint: each in the
  Auto Scaling group, Pending:Wait on the launch hook), each with its own
  IMDS server (own instance id, private address, tags, role credentials);
- N agents start at once, each `wcs-agent run --only discover,register,signal`
  (register in the ELBv2 target group, CompleteLifecycleAction CONTINUE; the
  group from the instance tag), with the default agent.deadline;
- reported: succeeded / N (exit 0, registered, CONTINUE recorded), ABANDONed,
  still in Pending:Wait; AWS API calls against the minimum (what one agent
  needs without throttling, counted on an unthrottled agent first, times N);
  throttled responses per service; the slowest run against the rate-limit
  floor: max over services of (calls needed - burst) / rate, the time the
  buckets need to let every agent's calls through; and, for scale, the
  slowest of the same N agents started together without throttling (how
  long this machine takes to start and run N agents at once).

Bounds: each agent is killed (its process group, by PID) after --timeout
(default 300 s); the twin is stopped at the end, also on failure or Ctrl-C.
Everything is on 127.0.0.1.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "sim"))

import aws as aws_mod  # noqa: E402
import imds as imds_mod  # noqa: E402
import netutil  # noqa: E402

CLOSED = "http://127.0.0.1:9"


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


class Fleet:
    """The twin for up to max_n agents: AwsTwin (TLS, buckets) + one IMDS per instance."""

    def __init__(self, max_n, rate, burst, tls):
        self.tls = tls
        self.aws = aws_mod.AwsTwin(tls=tls, rate=rate, burst=burst)
        self.imds = []
        self.instances = []  # dicts: instance_id, private_ip
        self.max_n = max_n

    def start(self):
        self.aws.start()
        s = self.aws.seeded
        ec2 = self.aws.client("ec2", credentials="user", retries=5)
        res = ec2.run_instances(
            ImageId=s["ami_id"],
            MinCount=self.max_n,
            MaxCount=self.max_n,
            InstanceType=s["instance_type"],
            SubnetId=s["subnet_id"],
            SecurityGroupIds=[s["security_group_id"]],
        )
        base = aws_mod.imds_metadata(s)
        ep = self.aws.endpoint
        for inst in res["Instances"]:
            iid = inst["InstanceId"]
            md = dict(base)
            md["instance_id"] = iid
            md["local_ipv4"] = inst["PrivateIpAddress"]
            md["mac"] = inst["NetworkInterfaces"][0]["MacAddress"] if inst.get("NetworkInterfaces") else base["mac"]
            md["tags"] = {"Name": "wcs-scale", "aws:autoscaling:groupName": s["asg_name"]}
            md["lifecycle_state"] = "InService"
            md.pop("public_ipv4", None)
            md["public_ip_enabled"] = False
            t = imds_mod.ImdsTwin(metadata=md)
            t.start()
            self.imds.append(t)
            ep.add_instance(s["asg_name"], iid, instance_type=s["instance_type"], lifecycle_state="Pending")
            self.instances.append({"instance_id": iid, "private_ip": inst["PrivateIpAddress"]})
        ep.checkpoint()
        return self

    def stop(self):
        for t in self.imds:
            try:
                t.stop()
            except Exception:
                pass
        self.aws.stop()

    def arm(self, n):
        """Back to the checkpoint; the first n instances Pending:Wait; counters zeroed."""
        s = self.aws.seeded
        ep = self.aws.endpoint
        ep.reset()
        elbv2 = self.aws.client("elbv2", credentials="user", retries=5)
        tg = s["target_group_arn"]
        for d in elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]:
            elbv2.deregister_targets(TargetGroupArn=tg, Targets=[d["Target"]])
        for inst in self.instances[:n]:
            ep.start_lifecycle_action(s["asg_name"], inst["instance_id"], s["hook_name"])
        for t in self.imds[:n]:
            t.reset()
        time.sleep(1.5)  # the buckets refill to their burst
        ep.buckets.reset_counts()
        ep.clear_calls()
        self.aws.moto.control("/_twin/reset-counts", {})

    def throttle(self, rate, burst):
        self.aws.endpoint.buckets.configure(rate, burst)
        self.aws.moto.control("/_twin/throttle", {"rate": rate, "burst": burst})

    def registered(self):
        elbv2 = self.aws.client("elbv2", credentials="user", retries=5)
        r = elbv2.describe_target_health(TargetGroupArn=self.aws.seeded["target_group_arn"])
        return {d["Target"]["Id"] for d in r["TargetHealthDescriptions"]}

    def counts(self):
        """{service: (passed, throttled)} over moto and the endpoint."""
        m = self.aws.moto.stats()
        e = self.aws.endpoint.buckets.snapshot()
        out = {}
        for snap in (m, e):
            for svc in set(snap["passed"]) | set(snap["throttled"]):
                p, t = out.get(svc, (0, 0))
                out[svc] = (p + snap["passed"].get(svc, 0), t + snap["throttled"].get(svc, 0))
        out.pop("unsigned", None)
        return out


def write_config(path, seeded):
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            "[register]\ntarget_group = %s\nport = 8080\n"
            "[signal]\nlifecycle_hook = %s\n" % (seeded["target_group_arn"], seeded["hook_name"])
        )
    os.chmod(path, 0o600)


def run_agents(fleet, n, agent, work, timeout, env_base):
    """Starts n agents at once; returns [(instance_id, rc, seconds, stderr)]."""
    procs = []
    cfg = os.path.join(work, "agent.ini")
    write_config(cfg, fleet.aws.seeded)
    for i in range(n):
        sd = os.path.join(work, "state-%d" % i)
        shutil.rmtree(sd, ignore_errors=True)
        os.mkdir(sd, 0o700)
        env = dict(env_base)
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = fleet.imds[i].url
        err = open(os.path.join(work, "stderr-%d" % i), "w+b")
        argv = [agent, "-c", cfg, "--state-dir", sd, "run", "--only", "discover,register,signal"]
        t0 = time.monotonic()
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                             start_new_session=True)
        procs.append((fleet.instances[i]["instance_id"], p, t0, err))
    out = []
    deadline = time.monotonic() + timeout
    pending = list(procs)
    ends = {}
    while pending:
        for item in list(pending):
            iid, p, t0, err = item
            if p.poll() is not None:
                ends[iid] = time.monotonic() - t0
                pending.remove(item)
        if pending and time.monotonic() > deadline:
            for iid, p, t0, err in pending:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
                ends[iid] = time.monotonic() - t0
            pending = []
        time.sleep(0.01)
    for iid, p, t0, err in procs:
        err.seek(0)
        out.append((iid, p.returncode, ends[iid], err.read().decode("utf-8", "replace")))
        err.close()
    return out


def measure(fleet, n, args, work, env_base, per_agent_min):
    fleet.throttle(args.rate, args.burst)
    fleet.arm(n)
    t0 = time.monotonic()
    runs = run_agents(fleet, n, args.agent, work, args.timeout, env_base)
    wall = time.monotonic() - t0
    ep = fleet.aws.endpoint
    counts = fleet.counts()  # before the bench's own calls below
    registered = fleet.registered()
    completes = ep.calls("CompleteLifecycleAction")
    cont = {c["params"].get("InstanceId") for c in completes
            if c["status"] == 200 and c["params"].get("LifecycleActionResult") == "CONTINUE"}
    abandon = {c["params"].get("InstanceId") for c in completes
               if c["status"] == 200 and c["params"].get("LifecycleActionResult") == "ABANDON"}
    waiting = [i["instance_id"] for i in fleet.instances[:n]
               if ep.instance_state(i["instance_id"]) == "Pending:Wait"]
    ok = [r for r in runs if r[1] == 0 and r[0] in registered and r[0] in cont]
    calls = sum(p + t for p, t in counts.values())
    throttled = sum(t for p, t in counts.values())
    minimum = {svc: c * n for svc, c in per_agent_min.items()}
    floor = max([max(0.0, (c - args.burst) / args.rate) for c in minimum.values()] + [0.0])
    times = sorted(r[2] for r in runs)
    res = {
        "agents": n,
        "rate": args.rate,
        "burst": args.burst,
        "tls": not args.plain_http,
        "succeeded": len(ok),
        "abandoned": len(abandon),
        "pending_wait": len(waiting),
        "exit_codes": sorted({r[1] for r in runs}),
        "api_calls": calls,
        "api_calls_min": sum(minimum.values()),
        "throttled": throttled,
        "per_service": {svc: {"passed": p, "throttled": t} for svc, (p, t) in sorted(counts.items())},
        "slowest_s": times[-1],
        "median_s": statistics.median(times),
        "floor_s": floor,
        "wall_s": wall,
    }
    bad = [r for r in runs if r not in ok][:3]
    for r in bad:
        log("  failed agent %s rc=%s after %.1f s; last lines:\n    %s"
            % (r[0], r[1], r[2], "\n    ".join(r[3].strip().splitlines()[-4:])))
    return res


def baseline(fleet, args, work, env_base):
    """Per-agent calls of one unthrottled agent: {service: calls}."""
    fleet.throttle(0, None)
    fleet.arm(1)
    runs = run_agents(fleet, 1, args.agent, work, args.timeout, env_base)
    if runs[0][1] != 0:
        raise RuntimeError("the unthrottled agent failed (rc %s):\n%s" % (runs[0][1], runs[0][3][-2000:]))
    return {svc: p for svc, (p, t) in fleet.counts().items() if p}


def main(argv=None):
    p = argparse.ArgumentParser(description="N agents booting together into a throttled account.")
    p.add_argument("--agents", default="10,25,50", help="comma-separated agent counts (each 1-100)")
    p.add_argument("--rate", type=float, default=10.0, help="requests a second per service after the burst")
    p.add_argument("--burst", type=int, default=10, help="requests a service takes at once")
    p.add_argument("--agent", default=os.environ.get("WCS_AGENT_BIN") or os.path.join(ROOT, "build", "wcs-agent"))
    p.add_argument("--plain-http", action="store_true", help="the AWS endpoints over plain http")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds before an agent is killed")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    try:
        ns = [int(x) for x in args.agents.split(",")]
    except ValueError:
        p.error("--agents: comma-separated numbers")
    if not ns or min(ns) < 1 or max(ns) > 100 or args.rate <= 0 or args.burst < 1:
        p.error("--agents 1-100 each, --rate > 0, --burst >= 1")
    if not os.access(args.agent, os.X_OK):
        p.error("no agent at %s (build it, or --agent)" % args.agent)

    work = tempfile.mkdtemp(prefix="wcs-scale-")
    fleet = Fleet(max(ns), args.rate, args.burst, not args.plain_http)
    results = []
    try:
        log("starting the twin (%d instances)..." % max(ns))
        fleet.start()
        env_base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "AWS_ENDPOINT_URL": CLOSED}
        env_base.update({k: v for k, v in fleet.aws.env().items() if k.startswith("AWS_")})
        per_agent = baseline(fleet, args, work, env_base)
        log("one unthrottled agent: %s" % ", ".join("%s %d" % kv for kv in sorted(per_agent.items())))
        for n in ns:
            log("%d agents, unthrottled (the machine's own spread)..." % n)
            fleet.throttle(0, None)
            fleet.arm(n)
            free = run_agents(fleet, n, args.agent, work, args.timeout, env_base)
            log("%d agents, throttled..." % n)
            r = measure(fleet, n, args, work, env_base, per_agent)
            r["unthrottled_slowest_s"] = max(x[2] for x in free)
            r["unthrottled_succeeded"] = sum(1 for x in free if x[1] == 0)
            results.append(r)
            if args.verbose:
                log(json.dumps(r, indent=1))
    finally:
        fleet.stop()
        shutil.rmtree(work, ignore_errors=True)

    print("%s, %g requests/s per service, burst %d, agents started together"
          % ("TLS" if not args.plain_http else "plain http", args.rate, args.burst))
    print("%-7s %-10s %-9s %-7s %-18s %-9s %-22s %-8s %s" % (
        "agents", "succeeded", "ABANDON", "waiting", "API calls / min", "throttled", "slowest / floor", "median",
        "unthrottled slowest"))
    for r in results:
        ratio = r["api_calls"] / r["api_calls_min"] if r["api_calls_min"] else 0
        fl = "%.1f s / %.1f s (%.2fx)" % (r["slowest_s"], r["floor_s"], r["slowest_s"] / r["floor_s"]) \
            if r["floor_s"] > 0 else "%.1f s / 0 s" % r["slowest_s"]
        print("%-7d %-10s %-9d %-7d %-18s %-9d %-22s %-8s %.1f s" % (
            r["agents"], "%d/%d" % (r["succeeded"], r["agents"]), r["abandoned"], r["pending_wait"],
            "%d / %d (%.2fx)" % (r["api_calls"], r["api_calls_min"], ratio), r["throttled"], fl,
            "%.1f s" % r["median_s"], r["unthrottled_slowest_s"]))
        print("        per service: %s" % ", ".join(
            "%s %d+%d throttled" % (s, v["passed"], v["throttled"]) for s, v in r["per_service"].items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return 0 if all(r["succeeded"] == r["agents"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
