"""The whole `wcs-agent run` on the twin: IMDS, moto (ELBv2, classic ELB,
SSM, Secrets Manager, S3; signatures checked), the Auto Scaling /
CloudFormation endpoint and a fake WCS (install tree, service, stats page,
activation script).  design.md §1 (the pipeline, check -> act -> verify ->
record, convergence), §2 (run, plan, exit codes), §3.4 (secrets), §4 (state,
signals once per instance, another instance's state), §5 (logging).

The node: a CDN edge whose point of entry comes from an instance tag, the
licence from SSM, the TLS certificate from a file, its key from S3, the
keystore password from Secrets Manager, one target group (port 8080), one
classic ELB, the launch lifecycle hook and a CloudFormation signal.

moto starts once per class; before each test the endpoint goes back to its
seeded state (a pending lifecycle action, a resource waiting for a signal),
the instance leaves the target group and the classic ELB, and the fake WCS,
the state folder and the config are new.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from twin_testlib import TwinTestCase, dir_snapshot

import wcs  # noqa: E402  (tests/sim, on sys.path through twin_testlib)
import wcs_service  # noqa: E402

STEPS = ("discover", "secrets", "update", "configure", "licence", "tls", "service", "ready", "register", "signal")
FIRST_RUN = {
    "discover": "ok",
    "secrets": "ok",
    "update": "skipped",
    "configure": "changed",
    "licence": "changed",
    "tls": "changed",
    "service": "changed",
    "ready": "ok",
    "register": "ok",
    "signal": "changed",
}
CONVERGED_RUN = dict(FIRST_RUN, configure="ok", licence="ok", tls="ok", service="ok", signal="skipped")
SUMMARY_RE = re.compile(r"^wcs-agent: ready in \d+\.\d\d s \(10 steps: (\d+) changed, (\d+) ok, (\d+) skipped\)$")
ORIGIN = "10.0.1.200"
ORIGIN_TAG = "wcs-origin"
KEY_OBJECT = "tls/e2e-leaf-key.pem"
DENY_REGISTER = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "elasticloadbalancing:RegisterTargets", "Resource": "*"}],
    }
)
# The calls that change something on the Auto Scaling / CloudFormation side.
MUTATING_ENDPOINT_ACTIONS = ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat", "SignalResource")
# What a temporary file of an atomic write looks like (core/fileio: ".<name>.XXXXXX").
TEMP_RE = re.compile(r"^\..+\.[A-Za-z0-9]{6}$")


def openssl(*args, input=None):
    r = subprocess.run(["openssl"] + list(args), input=input, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout


def make_pki(d):
    """A CA, a leaf certificate it signed and the leaf's key (PEM files in d)."""
    ca_key, ca, key, csr, leaf, ext = (
        os.path.join(d, n) for n in ("ca.key", "ca.pem", "leaf.key", "leaf.csr", "leaf.pem", "leaf.ext")
    )
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "30",
            "-subj", "/CN=wcs-agent e2e test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=wcs.e2e.test")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:wcs.e2e.test\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", leaf,
            "-days", "30", "-extfile", ext)
    return {"ca": ca, "cert": leaf, "key": key}


def cert_fingerprint(pem):
    return openssl("x509", "-noout", "-fingerprint", "-sha256", input=pem).decode().strip().split("=", 1)[1]


def public_key_der(pem_key):
    return openssl("pkey", "-pubout", "-outform", "DER", input=pem_key)


def file_sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tree_content(path):
    """{relative name: (mode, sha256 or "dir" or "->target")}: what a tree
    holds, without times or inode numbers."""
    out = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            if os.path.islink(full):
                what = "->" + os.readlink(full)
            elif os.path.isdir(full):
                what = "dir"
            else:
                what = file_sha(full)
            out[os.path.relpath(full, path)] = (st.st_mode, what)
    return out


class E2ECase(TwinTestCase):
    twin_scope = "class"
    use_aws = True
    fake_wcs = True
    need_agent = True
    agent_timeout = 60

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pki_dir = tempfile.mkdtemp(prefix="wcs-agent-e2e-pki-")
        try:
            cls.pki = make_pki(cls.pki_dir)
            with open(cls.pki["key"], "rb") as f:
                cls.key_pem = f.read()
            with open(cls.pki["cert"], "rb") as f:
                cls.cert_pem = f.read()
            cls.cert_fp = cert_fingerprint(cls.cert_pem)
            cls.key_pub = public_key_der(cls.key_pem)
            s = cls.class_twin.aws.seeded
            cls.class_twin.aws.client("s3", credentials="user").put_object(
                Bucket=s["s3_bucket"], Key=KEY_OBJECT, Body=cls.key_pem
            )
        except BaseException:
            shutil.rmtree(cls.pki_dir, ignore_errors=True)
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(getattr(cls, "pki_dir", ""), ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.seeded = self.aws.seeded
        self.iid = self.seeded["instance_id"]
        self.elbv2 = self.aws.client("elbv2", credentials="user")
        self.elb = self.aws.client("elb", credentials="user")
        self.remove_registrations()
        self.set_origin_tag()
        self.cert_path = os.path.join(self.tmp, "cert.pem")
        self.write_private(self.cert_path, self.cert_pem)
        self.chain_path = os.path.join(self.tmp, "chain.pem")
        shutil.copyfile(self.pki["ca"], self.chain_path)
        self.password = self.seeded["secret_password"]
        self.password_file = os.path.join(self.tmp, "storepass")
        self.write_private(self.password_file, self.password.encode())
        self.write_config(self.node_config())

    # -- the node ---------------------------------------------------------

    def set_origin_tag(self):
        tags = dict(self.imds.metadata.get("tags"))
        tags[ORIGIN_TAG] = ORIGIN
        self.imds.set_metadata(tags=tags)

    @staticmethod
    def write_private(path, data):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    def node_config(self):
        s = self.seeded
        return "\n".join(
            [
                "[cdn]",
                "role = edge",
                "point_of_entry = {tag:%s}" % ORIGIN_TAG,
                "[licence]",
                "key = ssm:%s" % s["ssm_licence_name"],
                "[tls]",
                "certificate = file:%s" % self.cert_path,
                "chain = file:%s" % self.chain_path,
                "private_key = s3://%s/%s" % (s["s3_bucket"], KEY_OBJECT),
                "keystore = %s" % self.wcs.keystore,
                "keystore_password = secretsmanager:%s#password" % s["secret_json_id"],
                "[register]",
                "target_group = %s" % s["target_group_arn"],
                "port = 8080",
                "classic_elb = %s" % s["classic_elb_name"],
                "[signal]",
                "lifecycle_hook = %s" % s["hook_name"],
                "asg = %s" % s["asg_name"],
                "cfn_stack = %s" % s["cfn_stack"],
                "cfn_resource = %s" % s["cfn_resource"],
                "",
            ]
        )

    def remove_registrations(self):
        tg = self.seeded["target_group_arn"]
        for d in self.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]:
            self.elbv2.deregister_targets(TargetGroupArn=tg, Targets=[d["Target"]])
        if self.elb_instances():
            self.elb.deregister_instances_from_load_balancer(
                LoadBalancerName=self.seeded["classic_elb_name"], Instances=[{"InstanceId": self.iid}]
            )

    def tg_targets(self):
        r = self.elbv2.describe_target_health(TargetGroupArn=self.seeded["target_group_arn"])
        return [(d["Target"]["Id"], d["Target"].get("Port")) for d in r["TargetHealthDescriptions"]]

    def elb_instances(self):
        r = self.elb.describe_load_balancers(LoadBalancerNames=[self.seeded["classic_elb_name"]])
        return sorted({i["InstanceId"] for i in r["LoadBalancerDescriptions"][0]["Instances"]})

    def deny_register(self):
        iam = self.aws.client("iam", credentials="user")
        role, name = self.seeded["role_name"], "e2e-deny-register"
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=DENY_REGISTER)
        self.addCleanup(iam.delete_role_policy, RoleName=role, PolicyName=name)

    # -- runs and records -------------------------------------------------

    @property
    def state_path(self):
        return os.path.join(self.state_dir, "state.json")

    def load_state(self):
        with open(self.state_path, encoding="utf-8") as f:
            return json.load(f)

    def state_bytes(self):
        with open(self.state_path, "rb") as f:
            return f.read()

    def results(self, doc=None):
        doc = doc or self.load_state()
        return {s["name"]: s["result"] for s in doc["steps"]}

    def steps(self, doc=None):
        doc = doc or self.load_state()
        return {s["name"]: s for s in doc["steps"]}

    def run_agent(self, *args, **kw):
        r = super().run_agent(*args, **kw)
        self.assertNotRegex(r.stderr, r"ERROR: (Address|Leak)Sanitizer|runtime error:", r.stderr)
        return r

    def run_ok(self, *args, **kw):
        r = self.run_agent(*args, **kw)
        self.assertEqual(r.rc, 0, "%s\nstdout:\n%s\nstderr:\n%s" % (args, r.stdout, r.stderr))
        return r

    def calls(self, action=None):
        return self.aws.endpoint.calls(action)

    def mutating_calls(self):
        return [c for c in self.calls() if c["action"] in MUTATING_ENDPOINT_ACTIONS]

    def keystore_identity(self, path=None):
        """(certificate SHA-256 fingerprint, DER public key of the key) in the
        PKCS#12 keystore, read with the openssl CLI."""
        path = path or self.wcs.keystore
        pw = "file:" + self.password_file
        certs = openssl("pkcs12", "-in", path, "-passin", pw, "-nokeys", "-clcerts")
        key = openssl("pkcs12", "-in", path, "-passin", pw, "-nocerts", "-nodes")
        return cert_fingerprint(certs), public_key_der(key)

    def wcs_content(self):
        """What the WCS install holds (bytes and modes; the keystore, whose
        bytes differ on every build, by the certificate and key it holds)."""
        out = tree_content(self.wcs.real_home)
        ks = os.path.relpath(os.path.realpath(self.wcs.keystore), self.wcs.real_home)
        mode, _ = out[ks]
        out[ks] = (mode, self.keystore_identity())
        return out

    def conf_temp_files(self):
        return [n for n in os.listdir(self.wcs.conf_dir) if TEMP_RE.match(n)]

    def state_temp_files(self):
        return [n for n in os.listdir(self.state_dir) if TEMP_RE.match(n)]

    # -- what a good first run leaves -------------------------------------

    def assert_converged_node(self, doc):
        """The node as a good first run leaves it, whatever the way there."""
        s = self.seeded
        self.assertEqual(doc["run"]["result"], "ok", doc)
        self.assertEqual(doc["run"]["exit_code"], 0)
        self.assertEqual(doc["instance_id"], self.iid)
        self.assertEqual(sorted(doc["ready"]["signalled"]), ["cloudformation", "lifecycle:in-service"])
        applied = doc["applied"]
        self.assertEqual(applied["licence_sha256"], hashlib.sha256(s["ssm_licence_value"].encode()).hexdigest())
        self.assertEqual(applied["certificate_sha256"].lower().replace(":", ""), self.cert_fp.lower().replace(":", ""))
        self.assertRegex(applied["config_sha256"], r"^[0-9a-f]{64}$")
        # flashphoner.properties: the edge, the addresses; the previous file in .bak.
        props = self.wcs.read_properties()
        self.assertEqual(props["cdn_enabled"], "true")
        self.assertEqual(props["cdn_role"], "edge")
        self.assertEqual(props["cdn_point_of_entry"], ORIGIN)
        self.assertEqual(props["cdn_ip"], s["private_ip"])
        self.assertEqual(props["ip"], s["public_ip"])
        self.assertEqual(props["ip_local"], s["private_ip"])
        bak = self.wcs.read_properties(self.wcs.properties + ".bak")
        self.assertEqual(bak["cdn_enabled"], "false", "the .bak holds the shipped file")
        self.assertNotIn("cdn_role", bak)
        # The keystore: this certificate and this key, mode 0640.
        self.assertEqual(self.keystore_identity(), (self.cert_fp, self.key_pub))
        self.assertEqual(os.stat(self.wcs.keystore).st_mode & 0o777, 0o640)
        # The licence went to the activation script, which saw it on stdin.
        act = self.wcs.activation()
        self.assertIsNotNone(act, "the activation script never ran")
        self.assertEqual(act["licence"], (s["ssm_licence_value"] + "\n").encode())
        # WCS enabled and running.
        self.assertTrue(self.wcs_service.is_enabled())
        self.assertTrue(self.wcs_service.is_active())
        # AWS: registered, the hook continued, CloudFormation got SUCCESS.
        self.assertEqual(self.tg_targets(), [(self.iid, 8080)])
        self.assertEqual(self.elb_instances(), [self.iid])
        self.assertEqual(self.aws.endpoint.instance_state(self.iid), "InService")
        self.assertEqual(
            [x["status"] for x in self.aws.endpoint.signals(s["cfn_stack"], s["cfn_resource"])], ["SUCCESS"]
        )
        self.assertEqual(self.conf_temp_files(), [], "temporary files left in the WCS conf folder")
        self.assertEqual(self.state_temp_files(), [], "temporary files left in the state folder")


class SuccessTest(E2ECase):
    def test_first_run_then_converged_rerun(self):
        s = self.seeded
        before = tree_content(self.wcs.real_home)
        r = self.run_ok("run")
        self.assertEqual(r.stdout, "")
        m = SUMMARY_RE.match(r.stderr.splitlines()[-1])
        self.assertIsNotNone(m, r.stderr)
        self.assertEqual(
            [int(x) for x in m.groups()],
            [list(FIRST_RUN.values()).count(k) for k in ("changed", "ok", "skipped")],
        )
        doc = self.load_state()
        self.assertEqual(self.results(doc), FIRST_RUN, json.dumps(doc["steps"], indent=1))
        self.assert_converged_node(doc)
        steps = self.steps(doc)
        self.assertIn("restarted", steps["service"]["detail"])
        self.assertIn("update.enabled", steps["update"]["detail"])

        # The endpoint: one CONTINUE, one SUCCESS, both signed by the role.
        done = self.calls("CompleteLifecycleAction")
        self.assertEqual(len(done), 1, done)
        self.assertEqual(done[0]["status"], 200, done[0])
        self.assertEqual(done[0]["params"]["LifecycleActionResult"], "CONTINUE")
        self.assertEqual(done[0]["params"]["LifecycleHookName"], s["hook_name"])
        self.assertEqual(done[0]["params"]["InstanceId"], self.iid)
        sig = self.calls("SignalResource")
        self.assertEqual(len(sig), 1, sig)
        self.assertEqual(sig[0]["status"], 200, sig[0])
        self.assertEqual(sig[0]["params"]["Status"], "SUCCESS")
        self.assertEqual(sig[0]["params"]["LogicalResourceId"], s["cfn_resource"])
        self.assertEqual(self.aws.endpoint.stack_status(s["cfn_stack"]), "CREATE_COMPLETE")

        # Only flashphoner.properties (and its .bak), the keystore and the licence file that
        # activation.sh writes changed.
        after = tree_content(self.wcs.real_home)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        self.assertEqual(
            changed,
            ["conf/flashphoner.license", "conf/flashphoner.properties", "conf/flashphoner.properties.bak", "conf/wss.jks"],
        )
        self.assertEqual(after["conf/flashphoner.properties.bak"][1], before["conf/flashphoner.properties"][1])

        # The key on stdin, never in argv or the environment of the activation.
        act = self.wcs.activation()
        lic = s["ssm_licence_value"].encode()
        self.assertEqual(act["count"], 1)
        self.assertEqual(act["stdin"].strip(), lic)
        self.assertEqual(act["cmdline"], [b"/bin/sh", self.wcs.activation_cmd.encode()])
        for arg in act["cmdline"] + [a.encode() for a in act["argv"]]:
            self.assertNotIn(lic, arg)
        for k, v in act["environ"].items():
            self.assertNotIn(lic, k + b"=" + v)

        # Exactly one restart (and the service enabled).
        self.assertEqual(self.wcs_service.restart_count(), 1)
        self.assertEqual(len(self.wcs_service.calls("enable")), 1)

        # keytool sees one PrivateKeyEntry under the alias.
        if shutil.which("keytool"):
            k = subprocess.run(
                ["keytool", "-list", "-v", "-storetype", "PKCS12", "-keystore", self.wcs.keystore,
                 "-storepass:file", self.password_file],
                capture_output=True, text=True, timeout=60,
            )
            self.assertEqual(k.returncode, 0, k.stdout + k.stderr)
            self.assertRegex(k.stdout, r"(?m)^Alias name: wcs$")
            self.assertRegex(k.stdout, r"(?m)^Entry type: PrivateKeyEntry$")
            self.assertRegex(k.stdout, r"(?m)^Certificate chain length: 2$")
            self.assertRegex(k.stdout, r"Your keystore contains 1 entry")

        # The second run: no byte, no mtime, no restart, no signal; register again.
        self.remove_registrations()
        snap = dir_snapshot(self.wcs.real_home)
        restarts = len(self.wcs_service.calls("restart"))
        self.aws.endpoint.clear_calls()
        r2 = self.run_ok("run")
        self.assertEqual(self.results(), CONVERGED_RUN, r2.stderr)
        self.assertEqual(dir_snapshot(self.wcs.real_home), snap, "the second run changed the WCS install")
        self.assertEqual(len(self.wcs_service.calls("restart")), restarts)
        self.assertEqual(self.wcs_service.calls("enable"), self.wcs_service.calls("enable")[:1])
        self.assertEqual(self.wcs.activation()["count"], 1, "the licence was activated again")
        self.assertEqual(self.mutating_calls(), [], "the second run signalled again")
        self.assertEqual(self.tg_targets(), [(self.iid, 8080)], "register runs on every run")
        self.assertEqual(self.elb_instances(), [self.iid])
        self.assertIn("already signalled", self.steps()["signal"]["detail"])
        self.assert_converged_node(self.load_state())


class FailureTest(E2ECase):
    def assert_failure_mode(self, r, step, needle):
        s = self.seeded
        self.assertEqual(r.rc, 1, r.stderr)
        self.assertEqual(r.stdout, "")
        last = r.stderr.splitlines()[-1]
        self.assertRegex(last, r"^wcs-agent: failed at %s: \S" % step)
        self.assertIn(needle, last)
        doc = self.load_state()
        self.assertEqual(doc["run"]["result"], "failed")
        self.assertEqual(doc["run"]["exit_code"], 1)
        res = self.results(doc)
        self.assertEqual(res[step], "failed")
        self.assertIn(needle, self.steps(doc)[step]["error"])
        later = STEPS[STEPS.index(step) + 1 : -1]
        for name in later:
            self.assertEqual(res[name], "skipped", name)
        self.assertEqual(res["signal"], "changed", self.steps(doc)["signal"])
        done = self.calls("CompleteLifecycleAction")
        self.assertEqual([c["params"]["LifecycleActionResult"] for c in done], ["ABANDON"])
        self.assertEqual(done[0]["status"], 200, done[0])
        sig = self.calls("SignalResource")
        self.assertEqual([c["params"]["Status"] for c in sig], ["FAILURE"])
        self.assertEqual(self.aws.endpoint.stack_status(s["cfn_stack"]), "ROLLBACK_COMPLETE")
        self.assertNotIn("systemd", doc["ready"]["signalled"])
        return doc

    def test_wcs_never_ready_abandons_in_time(self):
        self.stats.configure(mode="never")
        t0 = time.monotonic()
        r = self.run_agent("run", global_args=("--set", "ready.timeout=3"))
        took = time.monotonic() - t0
        self.assertLess(took, 3 + 5, r.stderr)
        self.assertGreaterEqual(took, 3, "gave up before ready.timeout")
        self.assert_failure_mode(r, "ready", "not ready after 3 s")
        self.assertEqual(self.tg_targets(), [], "a node that never got ready was registered")
        self.assertEqual(self.elb_instances(), [])
        self.assertNotEqual(self.aws.endpoint.instance_state(self.iid), "InService")

    def test_access_denied_on_register_abandons(self):
        self.deny_register()
        r = self.run_agent("run")
        doc = self.assert_failure_mode(r, "register", "AccessDenied")
        self.assertIn("RegisterTargets", self.steps(doc)["register"]["error"])
        self.assertEqual(self.tg_targets(), [])
        # What came before is done: WCS configured, ready.
        for name in ("configure", "licence", "tls", "service"):
            self.assertEqual(self.results(doc)[name], "changed", name)
        self.assertEqual(self.results(doc)["ready"], "ok")


class DryRunTest(E2ECase):
    def snapshot(self):
        """The WCS install, what the activation script recorded, the state
        folder (the fake service logs every call, is-active too: its calls
        are checked apart)."""
        return (
            dir_snapshot(self.wcs.real_home),
            dir_snapshot(self.wcs.activation_dir),
            dir_snapshot(self.state_dir),
        )

    def assert_service_untouched(self):
        self.assertEqual({c["action"] for c in self.wcs_service.calls()} - {"is-active"}, set())

    def test_plan_and_dry_run_change_nothing(self):
        before = self.snapshot()
        for args in (("plan",), ("run", "--dry-run")):
            with self.subTest(args=args):
                r = self.run_ok(*args)
                # The diff alone on stdout (for patch), the plan's other lines on stderr.
                out, err = r.stdout, r.stderr
                self.assertRegex(out, r"^--- a/.*flashphoner\.properties\n")
                self.assertRegex(out, r"(?m)^\+\+\+ b/.*flashphoner\.properties")
                self.assertRegex(out, r"(?m)^@@ -\d+(,\d+)? \+\d+(,\d+)? @@")
                self.assertRegex(out, r"(?m)^\+cdn_role ?= ?edge$")
                self.assertRegex(out, r"(?m)^-cdn_enabled ?= ?false$")
                self.assertRegex(out, r"(?m)^\+cdn_point_of_entry ?= ?%s$" % re.escape(ORIGIN))
                self.assertRegex(err, r"(?m)^wcs-agent: register: .*RegisterTargets")
                self.assertRegex(err, r"(?m)^wcs-agent: signal: .*CompleteLifecycleAction")
                self.assertRegex(err, r"(?m)^wcs-agent: signal: .*SignalResource")
                self.assertRegex(err, r"(?m)^wcs-agent: licence: .*stdin")
                self.assertNotRegex(out, r"RegisterTargets|stdin")
                self.assertEqual(self.snapshot(), before)
                self.assert_service_untouched()
                self.assertEqual(self.mutating_calls(), [])
                self.assertEqual(self.tg_targets(), [])
                self.assertEqual(self.elb_instances(), [])
                self.assertIsNone(self.wcs.activation(), "the activation script ran")
                self.assertEqual(self.wcs_service.restart_count(), 0)
                self.assertEqual(self.aws.endpoint.instance_state(self.iid), "Pending:Wait")

    def test_plan_on_a_converged_node(self):
        self.run_ok("run")
        self.aws.endpoint.clear_calls()
        self.remove_registrations()
        before = self.snapshot()
        self.wcs_service.reset()
        r = self.run_ok("plan")
        self.assertEqual(r.stdout, "")
        self.assertRegex(r.stderr, r"(?m)^wcs-agent: configure: .*no change")
        self.assertNotRegex(r.stderr, r"(?m)^wcs-agent: signal: .*(CompleteLifecycleAction|SignalResource)")
        self.assertEqual(self.snapshot(), before)
        self.assert_service_untouched()
        self.assertEqual(self.mutating_calls(), [])
        self.assertEqual(self.tg_targets(), [])


class SecretsTest(E2ECase):
    def secret_values(self):
        s = self.seeded
        body = [ln for ln in self.key_pem.decode().splitlines() if ln and not ln.startswith("-----")]
        out = {
            "licence": s["ssm_licence_value"],
            "keystore password": self.password,
            "private key body": "".join(body),
            "role secret key": self.aws.credentials()["SecretAccessKey"],
            "role session token": self.aws.credentials()["Token"],
        }
        for i, line in enumerate(body):
            out["private key line %d" % i] = line
        return out

    def assert_clean(self, where, data):
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        for what, value in self.secret_values().items():
            self.assertGreaterEqual(len(value), 8, what)
            self.assertNotIn(value, data, "%s found in %s" % (what, where))

    def children_of(self, pid):
        """{pid: (cmdline bytes, environ bytes)} of the descendants of pid now."""
        kids = {}
        parents = {pid}
        for _ in range(4):
            found = False
            for name in os.listdir("/proc"):
                if not name.isdigit() or int(name) in kids:
                    continue
                try:
                    with open("/proc/%s/stat" % name, "rb") as f:
                        stat = f.read()
                    ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
                    if ppid not in parents:
                        continue
                    with open("/proc/%s/cmdline" % name, "rb") as f:
                        cmdline = f.read()
                    with open("/proc/%s/environ" % name, "rb") as f:
                        environ = f.read()
                except (OSError, ValueError):
                    continue
                kids[int(name)] = (cmdline, environ)
                parents.add(int(name))
                found = True
            if not found:
                break
        return kids

    def test_no_secret_anywhere(self):
        # The first run, held in the licence step so its children can be read from /proc.
        with open(os.path.join(self.wcs.activation_dir, "sleep-ms"), "w") as f:
            f.write("1500\n")
        self.wcs_service.delay("restart", 300)
        p = self.start_agent("run", global_args=("-v", "-v"))
        seen = {}
        while p.poll() is None:
            seen.update(self.children_of(p.pid))
            time.sleep(0.01)
        out, err = p.communicate()
        self.assertEqual(p.returncode, 0, err)
        # The fake activation prints the key back: the agent logs that line, redacted.
        self.assertRegex(err, r"(?m)^wcs-agent: licence: Activating licence \S")
        os.unlink(os.path.join(self.wcs.activation_dir, "sleep-ms"))
        self.wcs_service.delay("restart", None)
        cmdlines = [c for c, _ in seen.values()]
        self.assertTrue(any(self.wcs.activation_cmd.encode() in c for c in cmdlines), cmdlines)
        self.assertTrue(any(b"restart" in c for c in cmdlines), cmdlines)
        texts = {"run -v -v stdout": out, "run -v -v stderr": err}
        for pid, (cmdline, environ) in seen.items():
            texts["argv of child %d (%r)" % (pid, cmdline[:80])] = cmdline
            texts["environment of child %d (%r)" % (pid, cmdline[:80])] = environ
        texts["state.json after the first run"] = self.state_bytes()

        vv = ("-v", "-v")
        runs = (
            # (name, args, global args, environment)
            ("run --force --log-format json", ("run", "--force"), vv + ("--log-format", "json"), None),
            ("run --force under JOURNAL_STREAM", ("run", "--force"), vv, {"JOURNAL_STREAM": "8:4242"}),
            ("plan -v -v", ("plan",), vv, None),
            ("status --json", ("status", "--json"), (), None),
            ("check-config", ("check-config",), (), None),
        )
        for name, args, global_args, env in runs:
            r = self.run_ok(*args, global_args=global_args, env=env)
            texts[name + " stdout"] = r.stdout
            texts[name + " stderr"] = r.stderr
            if "--log-format json" in name:
                for line in r.stderr.splitlines():
                    self.assertIsInstance(json.loads(line), dict, line)
            if "JOURNAL_STREAM" in name:
                for line in r.stderr.splitlines():
                    self.assertRegex(line, r"^<[0-7]>")
            if name.startswith("run"):
                self.assertIn("Activating licence", r.stderr, "the activation's output is logged (redacted)")
        self.assertEqual(self.wcs.activation()["count"], 3, "--force activates again")
        texts["state.json"] = self.state_bytes()
        texts["service calls"] = json.dumps(self.wcs_service.calls())
        act = self.wcs.activation()
        texts["activation argv"] = "\n".join(act["argv"])
        texts["activation cmdline"] = b"\0".join(act["cmdline"])
        texts["activation environ"] = b"\0".join(k + b"=" + v for k, v in act["environ"].items())
        texts["endpoint calls"] = json.dumps(self.calls())
        for where, data in texts.items():
            self.assert_clean(where, data)
        self.assertEqual(act["stdin"].strip(), self.seeded["ssm_licence_value"].encode(), "the key came on stdin")


class AnotherInstanceTest(E2ECase):
    def test_state_of_another_instance_means_first_boot(self):
        self.run_ok("run")
        doc = self.load_state()
        doc["instance_id"] = "i-0aaaabbbbccccdddd"
        other = json.dumps(doc, indent=1).encode()
        with open(self.state_path, "wb") as f:
            f.write(other)
        self.aws.reset()  # the new instance's own hook and CloudFormation signal wait
        r = self.run_ok("run")
        self.assertIn("state.json.previous", r.stderr)
        with open(self.state_path + ".previous", "rb") as f:
            self.assertEqual(f.read(), other)
        res = self.results()
        self.assertEqual(res["licence"], "changed", "the licence is activated again on a new instance")
        self.assertEqual(res["signal"], "changed")
        self.assertEqual(self.wcs.activation()["count"], 2)
        done = self.calls("CompleteLifecycleAction")
        self.assertEqual([(c["params"]["LifecycleActionResult"], c["status"]) for c in done], [("CONTINUE", 200)])
        self.assertEqual([c["params"]["Status"] for c in self.calls("SignalResource")], ["SUCCESS"])
        self.assert_converged_node(self.load_state())


class KillTest(E2ECase):
    """kill -9 at each step boundary (and inside the file writes): the next
    run converges on the same end state as a clean run."""

    reference = None  # (what a clean run changes in the WCS install, applied), once per class

    # -- the fresh node, again --------------------------------------------

    def fresh_node(self):
        """The WCS install, the fake service, the state folder and the AWS
        side as they were at setUp (same paths, so the config still holds)."""
        shutil.rmtree(self.wcs.root)
        wcs.make_install_tree(self.wcs.root)
        wcs_service.make_service_scripts(self.wcs.service_dir)
        shutil.rmtree(self.state_dir)
        os.mkdir(self.state_dir, 0o700)
        self.aws.reset()
        self.remove_registrations()
        self.imds.reset()
        self.set_origin_tag()
        self.stats.configure(delay_ms=0)

    def content_delta(self):
        """What changed in the WCS install since self.initial (paths in the
        scripts differ per test: only the changes are compared)."""
        now = self.wcs_content()
        return {k: now.get(k) for k in set(now) | set(self.initial) if now.get(k) != self.initial.get(k)}

    def clean_reference(self):
        cls = type(self)
        if cls.reference is None:
            self.initial = tree_content(self.wcs.real_home)
            self.run_ok("run")
            doc = self.load_state()
            self.assertEqual(self.results(doc), FIRST_RUN)
            self.assert_converged_node(doc)
            cls.reference = (self.content_delta(), doc["applied"])
            self.fresh_node()
        self.initial = tree_content(self.wcs.real_home)
        return cls.reference

    # -- holding the run inside a step ------------------------------------

    def slow_twin(self):
        self.imds.set_faults(latency_ms=60)
        with open(os.path.join(self.wcs.activation_dir, "sleep-ms"), "w") as f:
            f.write("800\n")
        self.wcs_service.delay("restart", 800)
        self.stats.configure(delay_ms=800)
        self.aws.endpoint.set_faults(latency_ms=600)

    def fast_twin(self):
        self.imds.set_faults(latency_ms=0)
        try:
            os.unlink(os.path.join(self.wcs.activation_dir, "sleep-ms"))
        except FileNotFoundError:
            pass
        self.wcs_service.delay("restart", None)
        self.stats.configure(delay_ms=0)
        self.aws.endpoint.set_faults(latency_ms=0)

    def state_now(self):
        try:
            with open(self.state_path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def wait_group_gone(self, pgid, timeout=15.0):
        """Waits for the killed agent's orphans (a restart or an activation
        in progress) to end; kills what is left after timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def run_and_kill(self, after):
        """Starts a run on the slow twin and SIGKILLs the agent (its PID
        only) once the state file records step `after` (None: during
        discover; "start": at the run's first state write, every step
        pending); returns the state document seen at the kill.  A run that
        ended before the kill landed (the test's poll starved on a loaded
        machine: the slow twin leaves over a second after each boundary) is
        tried again on a fresh node, twice at most."""
        for attempt in range(3):
            seen = self._run_and_kill_once(after, last=attempt == 2)
            if seen is not False:
                return seen
            self.fresh_node()
            self.initial = tree_content(self.wcs.real_home)

    def _run_and_kill_once(self, after, last):
        self.slow_twin()
        self.aws.endpoint.clear_calls()
        p = self.start_agent("run")
        deadline = time.monotonic() + 30
        seen = None
        while True:
            self.assertLess(time.monotonic(), deadline, "the run never reached the kill point")
            if p.poll() is not None:
                out, err = p.communicate()
                self.fail("the run ended (rc %s) before the kill point after %s:\n%s" % (p.returncode, after, err))
            if after is None:
                if len(self.imds.requests()) >= 2:
                    break
            elif after == "start":
                doc = self.state_now()
                if doc is not None and doc["run"]["result"] == "running":
                    seen = doc
                    break
            elif after in ("ready", "register"):
                # These end "ok" and the state file is written again only after signal, just
                # before the run ends: the kill comes inside signal, while the endpoint holds
                # the CompleteLifecycleAction (the slow twin's 600 ms).
                if self.aws.endpoint.calls("CompleteLifecycleAction"):
                    seen = self.state_now()
                    break
            else:
                doc = self.state_now()
                if doc is not None and doc["run"]["result"] == "running":
                    if self.results(doc)[after] != "pending":
                        seen = doc
                        break
            time.sleep(0.005)
        os.kill(p.pid, signal.SIGKILL)
        p.communicate()
        if p.returncode == 0 and not last:
            self.wait_group_gone(p.pid)
            self.fast_twin()
            return False  # the run was over before the kill: try again
        self.assertEqual(p.returncode, -signal.SIGKILL)
        self.wait_group_gone(p.pid)
        self.fast_twin()
        return seen

    def converge_and_compare(self):
        ref_delta, ref_applied = self.reference
        r = self.run_ok("run")
        doc = self.load_state()
        res = self.results(doc)
        for name in STEPS:
            if FIRST_RUN[name] == "skipped":
                allowed = ("skipped",)
            elif name == "signal":
                allowed = ("ok", "changed", "skipped")  # skipped: signalled before the kill
            else:
                allowed = ("ok", "changed")
            self.assertIn(res[name], allowed, "%s\n%s" % (name, r.stderr))
        self.assert_converged_node(doc)
        # config_sha256 covers wcs.home, a folder of its own in every test.
        self.assertEqual(
            {k: v for k, v in doc["applied"].items() if k != "config_sha256"},
            {k: v for k, v in ref_applied.items() if k != "config_sha256"},
        )
        self.assertEqual(self.content_delta(), ref_delta, "the WCS install differs from a clean run's")
        # One more run: a converged node (nothing changes, nothing restarts, nothing signalled).
        snap = dir_snapshot(self.wcs.real_home)
        restarts = self.wcs_service.restart_count()
        self.aws.endpoint.clear_calls()
        r = self.run_ok("run")
        self.assertEqual(self.results(), CONVERGED_RUN, r.stderr)
        self.assertEqual(self.load_state()["applied"], doc["applied"])
        self.assertEqual(dir_snapshot(self.wcs.real_home), snap)
        self.assertEqual(self.wcs_service.restart_count(), restarts)
        self.assertEqual(self.mutating_calls(), [])

    def kill_test(self, after):
        self.clean_reference()
        self.run_and_kill(after)
        self.converge_and_compare()

    # -- the middle of the file writes (what a kill there leaves) ---------

    def test_kill_inside_properties_write(self):
        """Killed between the temporary file and the rename: the old file,
        a half-written ".flashphoner.properties.XXXXXX", the state of a run
        that has not finished configure.  (The state file is written at the
        start and then only after a step that changed something, so the kill
        comes at that first write; the half-written files are laid by hand.)"""
        self.clean_reference()
        self.run_and_kill("start")
        self.assertEqual(self.results(self.state_now())["configure"], "pending")
        with open(self.wcs.properties, "rb") as f:
            half = f.read()[:300]
        for name in (".flashphoner.properties.Ab12Cd", ".flashphoner.properties.bak.Zz09Yx"):
            with open(os.path.join(self.wcs.conf_dir, name), "wb") as f:
                f.write(half)
        self.converge_and_compare()

    def test_kill_inside_keystore_write(self):
        """Killed while writing the keystore (and the state file): the old
        keystore, a half-written ".wss.jks.XXXXXX" and ".state.json.XXXXXX"."""
        self.clean_reference()
        self.run_and_kill("configure")
        self.assertEqual(self.results(self.state_now())["tls"], "pending")
        with open(os.path.join(self.wcs.conf_dir, ".wss.jks.Q1w2E3"), "wb") as f:
            f.write(b"\x30\x82\x0a")
        with open(os.path.join(self.state_dir, ".state.json.R4t5Y6"), "wb") as f:
            f.write(b'{"version": 1, "inst')
        self.converge_and_compare()
        self.assertEqual(self.conf_temp_files(), [])


def _kill_case(after):
    def test(self):
        self.kill_test(after)

    test.__doc__ = "SIGKILL %s, then run again" % ("during discover" if after is None else "after " + after)
    return test


# After signal there is only the last state write: that boundary is the end of
# a run (the second run of SuccessTest).
for _after in (None,) + STEPS[:-1]:
    setattr(KillTest, "test_kill_%s" % ("in_discover" if _after is None else "after_" + _after), _kill_case(_after))
del _after


if __name__ == "__main__":
    unittest.main()
