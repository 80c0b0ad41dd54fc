"""Fleet signals on the twin (design.md §8.4, §8.6, §8.7): `metrics --once`
against moto's CloudWatch, the failure record (console line and the
wcs-agent:result tag through moto's EC2) before the ABANDON reaches the Auto
Scaling endpoint, and `fleet` over nodes on 127.0.0.2-5 whose stats pages
answer or hang.
"""

import http.client
import http.server
import json
import os
import sys
import threading
import time
import unittest
import urllib.parse

from twin_testlib import TwinTestCase, dir_snapshot

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))

import fleet_nodes  # noqa: E402

TAG = "wcs-agent:result"


class RecordingProxy:
    """Forwards every request to target unchanged (Host kept, so SigV4 still
    verifies) and records (time, Action) of each, for ordering checks.  An
    Action in deny is answered as IAM answers it (403 AccessDenied), for the
    services whose IAM moto does not enforce."""

    def __init__(self, target, deny=()):
        self.target = urllib.parse.urlsplit(target)
        self.calls = []
        self.deny = set(deny)
        proxy = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
                # JSON protocol calls name themselves in X-Amz-Target ("AmazonSSM.GetParameter").
                action = action or self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                proxy.calls.append((time.time(), action))
                if action in proxy.deny:
                    data = (
                        "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: "
                        "arn:aws:sts::123456789012:assumed-role/wcs-node-role/i-x is not authorized to perform: "
                        "cloudwatch:%s</Message></Error><RequestId>1</RequestId></ErrorResponse>" % action
                    ).encode()
                    self.send_response(403)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                c = proxy.connect()
                hdrs = {k: v for k, v in self.headers.items()}
                c.putrequest("POST", self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in hdrs.items():
                    c.putheader(k, v)
                c.endheaders(body)
                r = c.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                c.close()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def connect(self):
        """A connection to the target (moto speaks TLS with the twin's own CA)."""
        if self.target.scheme == "https":
            import ssl

            import netutil

            ctx = ssl.create_default_context(cafile=netutil.shared_ca().ca_cert)
            return http.client.HTTPSConnection(self.target.hostname, self.target.port, timeout=10, context=ctx)
        return http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=10)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class FleetSignalsCase(TwinTestCase):
    twin_scope = "class"
    use_aws = True
    need_agent = True
    fake_wcs = True
    agent_timeout = 40

    def setUp(self):
        super().setUp()
        self.seeded = self.aws.seeded
        self.iid = self.seeded["instance_id"]
        self.iam = self.aws.client("iam", credentials="user")
        self.ec2 = self.aws.client("ec2", credentials="user")
        self.ec2.delete_tags(Resources=[self.iid], Tags=[{"Key": TAG}])

    def deny(self, action):
        """An explicit Deny of action on the instance role, removed at cleanup."""
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": action, "Resource": "*"}]}
        name = "deny-" + action.replace(":", "-")
        self.iam.put_role_policy(RoleName=self.seeded["role_name"], PolicyName=name, PolicyDocument=json.dumps(doc))
        self.addCleanup(self.iam.delete_role_policy, RoleName=self.seeded["role_name"], PolicyName=name)

    def tag(self):
        r = self.ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [self.iid]}, {"Name": "key", "Values": [TAG]}])
        return [t["Value"] for t in r["Tags"]]

    def console(self):
        path = os.path.join(self.tmp, "console")
        with open(path, "w"):
            pass
        return path

    # -- metrics ------------------------------------------------------------

    def test_metrics_once_puts_the_page_values_with_the_group(self):
        for k, v in {
            "connections": "37",
            "connections_websocket": "30",
            "streams_webrtc_in": "3",
            "streams_rtsp_in": "2",
            "streams_rtmfp_in": "1",
            "streams_viewers": "11",
            "ports_media_free": "420",
        }.items():
            self.stats.set_field(k, v)
        ns = "WCS-test-%d-%d" % (os.getpid(), time.monotonic_ns())
        self.write_config("[metrics]\nnamespace = %s\nperiod = 10\n" % ns)
        t0 = time.time()
        r = self.run_agent("metrics", "--once")
        self.assertEqual(r.rc, 0, r.stderr)
        cw = self.aws.client("cloudwatch", credentials="user")
        listed = cw.list_metrics(Namespace=ns)["Metrics"]
        names = sorted({m["MetricName"] for m in listed})
        self.assertEqual(
            names,
            sorted(["Connections", "ConnectionsWebsocket", "StreamsIn", "StreamsViewers", "PortsMediaFree", "CpuLoad", "Draining"]),
        )
        for m in listed:
            self.assertEqual(m["Dimensions"], [{"Name": "AutoScalingGroupName", "Value": self.seeded["asg_name"]}])
        want = {"Connections": 37, "ConnectionsWebsocket": 30, "StreamsIn": 6, "StreamsViewers": 11, "PortsMediaFree": 420, "Draining": 0}
        import datetime

        start = datetime.datetime.fromtimestamp(t0 - 120, datetime.timezone.utc)
        end = datetime.datetime.fromtimestamp(time.time() + 120, datetime.timezone.utc)
        dims = [{"Name": "AutoScalingGroupName", "Value": self.seeded["asg_name"]}]
        for n, v in want.items():
            pts = cw.get_metric_statistics(
                Namespace=ns, MetricName=n, Dimensions=dims, StartTime=start, EndTime=end, Period=3600,
                Statistics=["Maximum", "SampleCount"],
            )["Datapoints"]
            self.assertEqual([(p["SampleCount"], p["Maximum"]) for p in pts], [(1.0, v)], n)

    def test_metrics_denied_says_so_and_names_the_fix(self):
        proxy = RecordingProxy(self.aws.moto_url, deny=("PutMetricData",)).start()
        self.addCleanup(proxy.stop)
        self.stats.set_field("connections", "3")
        r = self.run_agent("metrics", "--once", env={"AWS_ENDPOINT_URL_CLOUDWATCH": proxy.url})
        self.assertEqual([a for _, a in proxy.calls], ["PutMetricData"])
        self.assertEqual(r.rc, 1, r.stderr)
        self.assertIn("AccessDenied", r.stderr)
        self.assertIn("may not call cloudwatch:PutMetricData for namespace WCS", r.stderr)
        self.assertIn("condition cloudwatch:namespace = WCS", r.stderr)
        self.assertNotIn("next period", r.stderr)  # --once: there is none

    # -- a failure that outlives the node -------------------------------------

    def failing_config(self, console):
        return (
            "[agent]\nconsole = %s\n[licence]\nkey = ssm:/wcs/missing-licence\n"
            "[signal]\nlifecycle_hook = %s\nasg = %s\n"
            % (console, self.seeded["hook_name"], self.seeded["asg_name"])
        )

    def test_failed_run_leaves_console_line_and_tag_before_abandon(self):
        console = self.console()
        proxy = RecordingProxy(self.aws.moto_url).start()
        self.addCleanup(proxy.stop)
        self.write_config(self.failing_config(console))
        r = self.run_agent("run", "--only", "discover,secrets,signal", env={"AWS_ENDPOINT_URL_EC2": proxy.url})
        self.assertEqual(r.rc, 1, r.stderr)
        final = [l for l in r.stderr.splitlines() if "failed at secrets" in l][-1]
        # The innermost cause: the AWS code, not "aws error".
        self.assertIn("ParameterNotFound", final)
        self.assertNotIn("aws error", final)
        with open(console, encoding="utf-8") as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("wcs-agent: failed at secrets: licence.key: ssm:/wcs/missing-licence: ParameterNotFound"), lines)
        self.assertEqual(self.tag(), [lines[0][len("wcs-agent: "):][:256]])
        tags = [t for t, a in proxy.calls if a == "CreateTags"]
        done = self.aws.endpoint.calls("CompleteLifecycleAction")
        self.assertEqual(len(tags), 1, proxy.calls)
        self.assertEqual(len(done), 1)
        self.assertEqual(done[0]["params"]["LifecycleActionResult"], "ABANDON")
        self.assertLess(tags[0], done[0]["time"], "the tag must be written before the ABANDON")
        # status shows the same cause.
        st = self.run_agent("status")
        self.assertIn("ParameterNotFound", st.stdout)
        with open(os.path.join(self.state_dir, "state.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["result_tag"], self.tag()[0])

    def test_same_failure_again_does_not_tag_again_and_success_tags_ok(self):
        console = self.console()
        proxy = RecordingProxy(self.aws.moto_url).start()
        self.addCleanup(proxy.stop)
        env = {"AWS_ENDPOINT_URL_EC2": proxy.url}
        self.write_config(self.failing_config(console))
        self.assertEqual(self.run_agent("run", "--only", "discover,secrets", env=env).rc, 1)
        self.assertEqual(self.run_agent("run", "--only", "discover,secrets", env=env).rc, 1)
        self.assertEqual([a for _, a in proxy.calls].count("CreateTags"), 1, proxy.calls)
        self.write_config("[agent]\nconsole = %s\n" % console)
        r = self.run_agent("run", "--only", "discover", env=env)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertRegex(self.tag()[0], r"^ok (\S+ )?in \d+\.\d s$")
        r = self.run_agent("run", "--only", "discover", env=env)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual([a for _, a in proxy.calls].count("CreateTags"), 2, "a converged rerun tags nothing")

    def test_denied_create_tags_still_signals(self):
        self.deny("ec2:CreateTags")
        console = self.console()
        self.write_config(self.failing_config(console))
        r = self.run_agent("run", "--only", "discover,secrets,signal")
        self.assertEqual(r.rc, 1, r.stderr)
        self.assertIn("cannot tag", r.stderr)
        done = self.aws.endpoint.calls("CompleteLifecycleAction")
        self.assertEqual([c["params"]["LifecycleActionResult"] for c in done], ["ABANDON"])
        self.assertEqual(self.tag(), [])
        with open(console, encoding="utf-8") as f:
            self.assertIn("failed at secrets", f.read())

    def test_missing_console_is_skipped(self):
        self.write_config(self.failing_config(os.path.join(self.tmp, "no-such-console")))
        r = self.run_agent("run", "--only", "discover,secrets", global_args=("-vv",))
        self.assertEqual(r.rc, 1, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "no-such-console")))
        self.assertIn("no-such-console", r.stderr)


class FleetCase(TwinTestCase):
    twin_scope = "class"
    use_aws = True
    need_agent = True
    agent_timeout = 30

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.nodes = fleet_nodes.FleetNodes(
            cls.class_twin.aws,
            [
                {"fields": {"connections": "40", "connections_websocket": "38", "streams_webrtc_in": "4"}},
                {"fields": {"connections": "5", "connections_websocket": "5"}, "lifecycle": "Terminating:Wait"},
                {"hang": True},
                {"hang": True, "tags": {TAG: "failed at secrets: licence.key: AccessDenied: no"}},
            ],
        ).start()

    @classmethod
    def tearDownClass(cls):
        cls.nodes.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.nodes.add_to_endpoint()
        self.write_config(
            "[register]\ntarget_group = %s\n[fleet]\nstats_url = %s\n"
            % (self.aws.seeded["target_group_arn"], self.nodes.stats_url)
        )

    def test_json_every_row_within_3_s_with_two_hanging_pages(self):
        t0 = time.monotonic()
        r = self.run_agent("fleet", "--json")
        elapsed = time.monotonic() - t0
        self.assertEqual(r.rc, 0, r.stderr)
        doc = json.loads(r.stdout)
        rows = {t["instance_id"]: t for t in doc["targets"]}
        self.assertEqual(set(rows), set(self.nodes.ids))
        # Two pages hang 30 s: sequential fetching would take 4 s at least.
        self.assertLess(elapsed, 3.0, "fleet took %.2f s" % elapsed)
        a, b, c, d = (rows[i] for i in self.nodes.ids)
        self.assertEqual(a["stats"]["connections"], 40)
        self.assertEqual(a["stats"]["connections_websocket"], 38)
        self.assertEqual(a["stats"]["streams_in"], 4)
        self.assertEqual(a["private_ip"], "127.0.0.2")
        self.assertEqual(a["lifecycle_state"], "InService")
        self.assertEqual(b["lifecycle_state"], "Terminating:Wait")
        self.assertIsNone(c["stats"])
        self.assertIn("timed out", c["error"])
        self.assertEqual(d["result_tag"], "failed at secrets: licence.key: AccessDenied: no")
        for t in doc["targets"]:
            self.assertEqual(
                set(t), {"instance_id", "private_ip", "az", "health", "health_reason", "lifecycle_state", "result_tag", "stats", "error"}
            )
        self.assertEqual(doc["totals"]["targets"], 4)
        self.assertEqual(doc["totals"]["connections"], 45)
        self.assertEqual(doc["totals"]["max_connections"], 40)
        self.assertEqual(doc["totals"]["min_connections"], 5)

    def test_table_puts_the_nodes_that_need_attention_first(self):
        r = self.run_agent("fleet")
        self.assertEqual(r.rc, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("INSTANCE"))
        body = lines[1:5]
        healthy_idle = self.nodes.ids[0]
        self.assertTrue(body[3].startswith(healthy_idle), body)
        self.assertIn("failed at secrets", r.stdout)
        self.assertRegex(r.stdout, r"4 targets, \d+ healthy, 45 connections; spread 35 \(max 40 on i-\w+, min 5 on i-\w+\); 2 without stats")


class FleetTlsCase(TwinTestCase):
    """Stats pages over https: verified with the process's one trust store
    (AWS_CA_BUNDLE: the system bundle and the twin's test CA), and refused when
    the page's certificate comes from a CA the store does not hold."""

    use_aws = True
    need_agent = True
    agent_timeout = 30

    def fleet_over(self, ssl_context):
        import netutil  # noqa: F401  (the twin's folder is on sys.path)
        import wcs

        srv = wcs.StatsServer(fields={"connections": "21"}, ssl_context=ssl_context).start()
        self.addCleanup(srv.stop)
        self.write_config(
            "[register]\ntarget_group = %s\n[fleet]\nstats_url = https://127.0.0.1:%d/?action=stat\n"
            % (self.aws.seeded["target_group_arn"], srv.port)
        )
        ec2 = self.aws.client("ec2", credentials="user")
        elbv2 = self.aws.client("elbv2", credentials="user")
        s = self.aws.seeded
        iid = ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, InstanceType=s["instance_type"])[
            "Instances"
        ][0]["InstanceId"]
        elbv2.register_targets(TargetGroupArn=s["target_group_arn"], Targets=[{"Id": iid, "Port": 8080}])
        r = self.run_agent("fleet", "--json")
        self.assertEqual(r.rc, 0, r.stderr)
        rows = json.loads(r.stdout)["targets"]
        self.assertEqual([t["instance_id"] for t in rows], [iid])
        return rows[0]

    def test_trusted_page(self):
        import netutil

        row = self.fleet_over(netutil.shared_ca().server_context())
        self.assertIsNone(row["error"], row)
        self.assertEqual(row["stats"]["connections"], 21)

    def test_page_of_an_unknown_ca_is_refused(self):
        import netutil

        other = netutil.TestCA(system=False)
        self.addCleanup(other.cleanup)
        row = self.fleet_over(other.server_context())
        self.assertIsNone(row["stats"])
        self.assertIn("TLS", row["error"])


class DoctorCase(TwinTestCase):
    twin_scope = "class"
    use_aws = True
    need_agent = True
    agent_timeout = 60

    def setUp(self):
        super().setUp()
        self.seeded = self.aws.seeded
        self.iid = self.seeded["instance_id"]
        self.iam = self.aws.client("iam", credentials="user")
        self.ec2 = self.aws.client("ec2", credentials="user")
        self.elbv2 = self.aws.client("elbv2", credentials="user")
        # A correct node: hop limit 2, health check on 8081 /?action=stat, delay covering the drain.
        self.ec2.modify_instance_metadata_options(InstanceId=self.iid, HttpPutResponseHopLimit=2, HttpTokens="required")
        self.elbv2.modify_target_group(
            TargetGroupArn=self.seeded["target_group_arn"], HealthCheckPort="8081", HealthCheckPath="/?action=stat"
        )
        self.elbv2.modify_target_group_attributes(
            TargetGroupArn=self.seeded["target_group_arn"],
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1800"}],
        )
        self.write_config(
            "[drain]\ntimeout = 1800\n[register]\ntarget_group = %s\n[signal]\nasg = %s\n[licence]\nkey = ssm:%s\n"
            % (self.seeded["target_group_arn"], self.seeded["asg_name"], self.seeded["ssm_licence_name"])
        )

    def doctor(self, **kw):
        r = self.run_agent("doctor", "--json", **kw)
        self.assertIn(r.rc, (0, 1), r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["failed"], sum(1 for c in doc["checks"] if c["status"] == "fail"))
        self.assertEqual(r.rc, 1 if doc["failed"] else 0)
        for c in doc["checks"]:
            self.assertEqual(set(c), {"name", "status", "detail", "fix"})
            if c["status"] == "fail":
                self.assertTrue(c["fix"], c)
        return {c["name"]: c for c in doc["checks"]}

    def test_correct_node_passes_the_aws_checks(self):
        c = self.doctor()
        for name in ("imds", "imds hop limit", "instance tags", "credentials", "clock", "permissions", "secrets", "health check", "deregistration delay"):
            self.assertEqual(c[name]["status"], "ok", c[name])
        self.assertIn("ec2:CreateTags (DryRun)", c["permissions"]["detail"])

    def test_terminate_hook_found_by_transition_or_by_name(self):
        # No signal.terminate_hook: the group's EC2_INSTANCE_TERMINATING hook, as the drain finds it.
        c = self.doctor()
        self.assertEqual(c["terminate hook"]["status"], "ok", c["terminate hook"])
        self.assertIn(self.seeded["terminate_hook_name"], c["terminate hook"]["detail"])
        self.write_config(
            "[drain]\ntimeout = 1800\n[register]\ntarget_group = %s\n[signal]\nasg = %s\nterminate_hook = no-such-hook\n"
            % (self.seeded["target_group_arn"], self.seeded["asg_name"])
        )
        c = self.doctor()
        self.assertEqual(c["terminate hook"]["status"], "fail", c["terminate hook"])
        self.assertIn("no-such-hook", c["terminate hook"]["detail"])

    def test_wrong_health_check_path(self):
        self.elbv2.modify_target_group(TargetGroupArn=self.seeded["target_group_arn"], HealthCheckPath="/")
        c = self.doctor()
        self.assertEqual(c["health check"]["status"], "fail")
        self.assertIn("path /,", c["health check"]["detail"])
        self.assertIn("--health-check-path '/?action=stat'", c["health check"]["fix"])

    def test_missing_permission(self):
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ec2:CreateTags", "Resource": "*"}]}
        self.iam.put_role_policy(RoleName=self.seeded["role_name"], PolicyName="deny-tags", PolicyDocument=json.dumps(doc))
        self.addCleanup(self.iam.delete_role_policy, RoleName=self.seeded["role_name"], PolicyName="deny-tags")
        c = self.doctor()
        self.assertEqual(c["permissions"]["status"], "fail")
        self.assertIn("ec2:CreateTags", c["permissions"]["detail"])
        self.assertIn("instance role", c["permissions"]["fix"])

    def test_hop_limit_of_1(self):
        self.ec2.modify_instance_metadata_options(InstanceId=self.iid, HttpPutResponseHopLimit=1)
        c = self.doctor()
        self.assertEqual(c["imds hop limit"]["status"], "fail")
        self.assertIn("--http-put-response-hop-limit 2", c["imds hop limit"]["fix"])

    def test_expired_certificate(self):
        with open(os.path.join(self.state_dir, "state.json"), "w", encoding="utf-8") as f:
            json.dump({"version": 1, "instance_id": self.iid, "applied": {"certificate_not_after": "2025-01-01T00:00:00Z"}}, f)
        c = self.doctor()
        self.assertEqual(c["certificate"]["status"], "fail")
        self.assertIn("expired on 2025-01-01", c["certificate"]["detail"])
        self.assertIn("renew", c["certificate"]["fix"])
        with open(os.path.join(self.state_dir, "state.json"), "w", encoding="utf-8") as f:
            json.dump({"version": 1, "instance_id": self.iid, "applied": {"certificate_not_after": "2099-01-01T00:00:00Z"}}, f)
        self.assertEqual(self.doctor()["certificate"]["status"], "ok")

    def test_read_only(self):
        """No file created (not even the state folder), no mutating call on any endpoint."""
        os.rmdir(self.state_dir)
        before = dir_snapshot(self.tmp)
        proxies = {}
        env = {}
        for var in ("AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", "AWS_ENDPOINT_URL_SSM"):
            p = RecordingProxy(self.aws.moto_url).start()
            self.addCleanup(p.stop)
            proxies[var] = p
            env[var] = p.url
        self.aws.endpoint.clear_calls()
        r = self.run_agent("doctor", env=env)
        self.assertIn(r.rc, (0, 1), r.stderr)
        self.assertIn("\u2714 imds", r.stdout)
        self.assertFalse(os.path.exists(self.state_dir))
        self.assertEqual(dir_snapshot(self.tmp), before)
        actions = [a for p in proxies.values() for _, a in p.calls]
        actions += [c["action"] for c in self.aws.endpoint.calls()]
        self.assertTrue(actions)
        read_only = ("Describe", "Get", "List")
        for a in actions:
            self.assertTrue(a.startswith(read_only) or a == "CreateTags", actions)
        # The one CreateTags is the DryRun probe.
        self.assertEqual([a for a in actions if a == "CreateTags"], ["CreateTags"])
        self.assertEqual(self.ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [self.iid]}, {"Name": "key", "Values": [TAG]}])["Tags"], [])


if __name__ == "__main__":
    unittest.main()
