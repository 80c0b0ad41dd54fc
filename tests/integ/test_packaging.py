"""Packaging and templates (issue 6): the .deb and .rpm built with CPack in a
temp build folder and inspected (never installed), the systemd unit
(systemd-analyze verify), the man page, templates/agent.ini against
agent/config/config.def, the IAM policy, the CloudFormation template
(cfn-lint, structure, rendered user data), and every user-data template
accepted by the real agent's check-config against the IMDS twin.

Tools that are missing are skipped with a message (cpack, dpkg-deb, rpmbuild,
systemd-analyze, cfn-lint, shellcheck, groff, PyYAML); as root, a missing
rpmbuild is installed with apt-get (set WCS_AGENT_TEST_NO_APT=1 to skip that).
"""

import configparser
import email
import glob
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

import twin_testlib
from twin_testlib import TwinTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("AGENT_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
TEMPLATES = os.path.join(SRC, "templates")
PACKAGING = os.path.join(SRC, "packaging")
AGENT_INI = os.path.join(TEMPLATES, "agent.ini")
CONFIG_DEF = os.path.join(SRC, "agent", "config", "config.def")
UNIT = os.path.join(PACKAGING, "systemd", "wcs-agent.service")
MAN_PAGE = os.path.join(PACKAGING, "wcs-agent.8")
MAN_PAGE_INI = os.path.join(PACKAGING, "wcs-agent.ini.5")
DOC_PAGES = ("index.md", "configuration.md", "state-and-exit-codes.md", "operations.md",
             "code-layout.md")
CFN_TEMPLATE = os.path.join(TEMPLATES, "cloudformation", "wcs-autoscaling.yaml")
POLICY = os.path.join(TEMPLATES, "iam", "wcs-agent-policy.json")
CUSTOM_AMI = os.path.join(TEMPLATES, "user-data", "custom-ami.ini")
MARKET_SH = os.path.join(TEMPLATES, "user-data", "marketplace-edge.sh")
MARKET_MIME = os.path.join(TEMPLATES, "user-data", "marketplace-edge.mime")
POSTINST = os.path.join(PACKAGING, "scripts", "postinst")
PRERM = os.path.join(PACKAGING, "scripts", "prerm")
POSTRM = os.path.join(PACKAGING, "scripts", "postrm")
AGENT_UNITS = ("wcs-agent.service", "wcs-agent-watch.service")

INI_LINE_MAX = 199  # config.h CONFIG_LINE_MAX
USER_DATA_MAX = 16384  # EC2: raw user data
INSTANCE_ID = "i-0123456789abcdef0"  # the twin's default
TG_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/wcs-test/0123456789abcdef"

# The client file of each service (agent/aws/, .c and .h) -> (IAM prefix, botocore model).
CLIENT_FILES = {
    "elbv2": ("elasticloadbalancing", "elbv2"),
    "elb": ("elasticloadbalancing", "elb"),
    "autoscaling": ("autoscaling", "autoscaling"),
    "ssm": ("ssm", "ssm"),
    "secretsmanager": ("secretsmanager", "secretsmanager"),
    "s3": ("s3", "s3"),
    "cloudformation": ("cloudformation", "cloudformation"),
    "cloudwatch": ("cloudwatch", "cloudwatch"),
    "ec2": ("ec2", "ec2"),
}
# Called by AWS on the agent's behalf (kms:ViaService), never by the agent itself.
INDIRECT_ACTIONS = {"kms:Decrypt"}


def agent_actions_from_code():
    """Every action the agent's clients can send: the string literals of each
    client file (an X-Amz-Target's part after the '.') that are operations of
    that service in botocore's model, and S3 GetObject for awsapi_s3_get()."""
    import botocore.session

    sess = botocore.session.get_session()
    out = set()
    for name, (iam, model) in CLIENT_FILES.items():
        ops = set(sess.get_service_model(model).operation_names)
        text = ""
        for ext in (".c", ".h"):
            with open(os.path.join(SRC, "agent", "aws", name + ext), encoding="utf-8") as f:
                text += f.read()
        for lit in re.findall(r'"([A-Za-z0-9.]+)"', text):
            op = lit.rpartition(".")[2]
            if op in ops:
                out.add("%s:%s" % (iam, op))
        if "awsapi_s3_get(" in text:
            out.add("s3:GetObject")
    return out


# The actions the agent calls: the policy has exactly these (nothing the code does not call).
AGENT_ACTIONS = agent_actions_from_code() | INDIRECT_ACTIONS
# Describe* calls have no resource-level permissions: the only "*" resources.
STAR_OK = {
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "ec2:DescribeInstances",
    # No resource to scope; limited by the cloudwatch:namespace condition instead.
    "cloudwatch:PutMetricData",
    "elasticloadbalancing:DescribeInstanceHealth",
    "autoscaling:DescribeLifecycleHooks",
    "autoscaling:DescribeAutoScalingInstances",
}


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def run(argv, **kw):
    """subprocess.run with text output captured; never raises on exit status."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(argv, **kw)


def need_tool(name):
    path = shutil.which(name)
    if path is None:
        raise unittest.SkipTest("%s is not installed" % name)
    return path


def config_def_keys():
    """[(section, key, default or None)] from config.def, in order."""
    pat = re.compile(
        r'^CONFIG_KEY\(\s*\w+,\s*"(\w+)",\s*"(\w+)",\s*[\w.]+,\s*\w+,\s*(NULL|"[^"\\]*")\s*,'
    )
    out = []
    for line in read(CONFIG_DEF).splitlines():
        if not line.startswith("CONFIG_KEY("):
            continue
        m = pat.match(line)
        if m is None:
            raise AssertionError("config.def: cannot parse %r" % line)
        d = None if m.group(3) == "NULL" else m.group(3)[1:-1]
        out.append((m.group(1), m.group(2), d))
    if len(out) < 40:
        raise AssertionError("config.def: only %d keys found" % len(out))
    return out


# design.md §3.2: the built-in [properties] keys (config.c pushes them as defaults).
PROPERTY_DEFAULTS = [("properties", "ip", "{public_or_local_ipv4}"),
                     ("properties", "ip_local", "{local_ipv4}")]


def parse_dump(text):
    """check-config's effective config: {"section.key": [values]}."""
    out, section = {}, None
    for line in text.splitlines():
        s = line.strip()
        if not s or s[0] in ";#":
            continue
        m = re.fullmatch(r"\[([^\]]+)\]", s)
        if m:
            section = m.group(1)
            continue
        k, sep, v = s.partition("=")
        if not sep or section is None:
            raise AssertionError("check-config printed a line that is not INI: %r" % line)
        out.setdefault("%s.%s" % (section, k.strip()), []).append(v.strip())
    return out


def mime_parts(text):
    """[(content type, payload text)] of a MIME multi-part document."""
    msg = email.message_from_string(text)
    if not msg.is_multipart():
        raise AssertionError("not a MIME multi-part document")
    return [(p.get_content_type(), p.get_payload(decode=True).decode("ascii"))
            for p in msg.walk() if not p.is_multipart()]


def marketplace_script_parts(text):
    """A marketplace script at its fixed points: (the body from IMDS= up to
    the overlay marker, everything after the overlay marker line(s)).  In
    marketplace-edge.sh the overlay lies between "# --- overlay: begin" and
    "# --- overlay: end"; in the MIME script one "# --- overlay:" line stands
    for it."""
    start = text.index('\nIMDS="')
    mark = text.index("# --- overlay:", start)
    last = text.find("# --- overlay: end", mark)
    after = text.index("\n", last if last != -1 else mark)
    return text[start:mark], text[after:]


# ---------------------------------------------------------------------------
# CloudFormation: a YAML loader for the short tags and a small evaluator.

try:
    import yaml
except ImportError:  # pragma: no cover - the pyenv python has PyYAML (cfn-lint needs it)
    yaml = None

NO_VALUE = object()


def eval_rule(node, params):
    """A Rules condition (Fn::Equals, Not, And, Or, Contains over Ref) for params."""
    if isinstance(node, dict):
        ((fn, arg),) = node.items()
        if fn == "Ref":
            return params[arg]
        if fn == "Fn::Equals":
            a, b = (str(eval_rule(x, params)) for x in arg)
            return a == b
        if fn == "Fn::Not":
            return not eval_rule(arg[0], params)
        if fn == "Fn::And":
            return all(eval_rule(x, params) for x in arg)
        if fn == "Fn::Or":
            return any(eval_rule(x, params) for x in arg)
        if fn == "Fn::Contains":
            return str(eval_rule(arg[1], params)) in [str(x) for x in arg[0]]
        raise AssertionError("eval_rule: %s" % fn)
    return node


def load_cfn(path):
    if yaml is None:
        raise unittest.SkipTest("PyYAML is not installed")

    class Loader(yaml.SafeLoader):
        pass

    def tag(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            v = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            v = loader.construct_sequence(node, deep=True)
        else:
            v = loader.construct_mapping(node, deep=True)
        if suffix == "Ref":
            return {"Ref": v}
        if suffix == "Condition":
            return {"Condition": v}
        if suffix == "GetAtt" and isinstance(v, str):
            v = v.split(".", 1)
        return {"Fn::" + suffix: v}

    Loader.add_multi_constructor("!", tag)
    with open(path) as f:
        return yaml.load(f, Loader=Loader)


class CfnEval:
    """Evaluates the intrinsic functions used in the user data for given
    parameters; Ref to a resource gives refs[name]."""

    PSEUDO = {
        "AWS::StackName": "wcs-test",
        "AWS::Region": "eu-west-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/wcs-test/0",
    }

    def __init__(self, doc, params, refs):
        self.doc = doc
        self.params = {}
        for name, p in doc["Parameters"].items():
            self.params[name] = str(params.get(name, p.get("Default", "")))
        for name in params:
            if name not in doc["Parameters"]:
                raise AssertionError("no parameter %s" % name)
        self.refs = refs
        self.conditions = {}

    def ref(self, name, extra=None):
        if extra and name in extra:
            return extra[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.PSEUDO:
            return self.PSEUDO[name]
        if name in self.params:
            return self.params[name]
        if name in self.refs:
            return self.refs[name]
        raise AssertionError("Ref to %s: not known to the test" % name)

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.eval(self.doc["Conditions"][name]))
        return self.conditions[name]

    def sub(self, text, extra=None):
        def repl(m):
            if m.group(1).startswith("!"):
                return "${" + m.group(1)[1:] + "}"
            v = self.ref(m.group(1), extra)
            if not isinstance(v, str):
                raise AssertionError("Fn::Sub ${%s}: not a string" % m.group(1))
            return v

        return re.sub(r"\$\{([^}]+)\}", repl, text)

    def eval(self, node):
        if isinstance(node, list):
            return [v for v in (self.eval(x) for x in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.eval(v) for k, v in node.items()}
        (fn, arg), = node.items()
        if fn == "Ref":
            return self.ref(arg)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Equals":
            a, b = (self.eval(x) for x in arg)
            return a == b
        if fn == "Fn::Not":
            return not self.eval(arg[0])
        if fn == "Fn::Or":
            return any(self.eval(x) for x in arg)
        if fn == "Fn::And":
            return all(self.eval(x) for x in arg)
        if fn == "Fn::If":
            return self.eval(arg[1] if self.condition(arg[0]) else arg[2])
        if fn == "Fn::Join":
            return arg[0].join(self.eval(arg[1]))
        if fn == "Fn::Sub":
            if isinstance(arg, str):
                return self.sub(arg)
            return self.sub(arg[0], {k: self.eval(v) for k, v in arg[1].items()})
        if fn == "Fn::Base64":
            return self.eval(arg)
        return {fn: self.eval(arg)}


def user_data_node(doc):
    lt = doc["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    return lt["UserData"]


def render_user_data(doc, params):
    ev = CfnEval(doc, params, {"TargetGroup": TG_ARN})
    node = user_data_node(doc)
    if "Fn::Base64" not in node:
        raise AssertionError("UserData is not Fn::Base64")
    return ev.eval(node["Fn::Base64"])


def policy_actions(statements):
    out = set()
    for s in statements:
        a = s["Action"]
        out.update([a] if isinstance(a, str) else a)
    return out


# ---------------------------------------------------------------------------


class TemplateFilesTest(unittest.TestCase):
    """Static checks of templates/ and packaging/ (no build, no agent)."""

    def test_every_json_file_parses(self):
        files = sorted(glob.glob(os.path.join(TEMPLATES, "**", "*.json"), recursive=True)
                       + glob.glob(os.path.join(PACKAGING, "**", "*.json"), recursive=True))
        self.assertIn(POLICY, files)
        for path in files:
            with self.subTest(path=os.path.relpath(path, SRC)):
                with open(path, encoding="utf-8") as f:
                    json.load(f)

    def test_agent_ini_has_every_config_def_key_with_its_default(self):
        text = read(AGENT_INI)
        section, commented, sections = None, {}, []
        for n, line in enumerate(text.splitlines(), 1):
            self.assertLessEqual(len(line.encode()), INI_LINE_MAX, "line %d too long" % n)
            m = re.fullmatch(r"\[(\w+)\]", line)
            if m:
                section = m.group(1)
                sections.append(section)
                continue
            if line.strip() and line.lstrip()[0] not in ";#":
                self.fail("agent.ini:%d: an active setting (the file must be all comments): %r"
                          % (n, line))
            m = re.fullmatch(r";(\w+) =(?: (.*))?", line)
            if m:
                self.assertIsNotNone(section, "agent.ini:%d: key before any section" % n)
                name = "%s.%s" % (section, m.group(1))
                self.assertNotIn(name, commented, "agent.ini:%d: %s twice" % (n, name))
                commented[name] = m.group(2) or ""
        want = config_def_keys() + PROPERTY_DEFAULTS
        for sec, key, default in want:
            name = "%s.%s" % (sec, key)
            with self.subTest(key=name):
                self.assertIn(name, commented, "agent.ini lacks ;%s = ... in [%s]" % (key, sec))
                self.assertEqual(commented[name], default or "", "default of %s" % name)
        extra = set(commented) - {"%s.%s" % (s, k) for s, k, _ in want}
        self.assertFalse(extra, "agent.ini has keys config.def does not know: %s" % extra)
        self.assertEqual(len(sections), len(set(sections)), "a section appears twice")

    def test_iam_policy_allows_exactly_the_agent_actions(self):
        doc = json.loads(read(POLICY))
        self.assertEqual(doc["Version"], "2012-10-17")
        st = doc["Statement"]
        self.assertEqual(policy_actions(st), AGENT_ACTIONS)
        for s in st:
            with self.subTest(sid=s.get("Sid")):
                self.assertEqual(s["Effect"], "Allow")
                actions = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
                for a in actions:
                    self.assertNotIn("*", a, "wildcard action")
                res = [s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]
                if "*" in res:
                    self.assertTrue(set(actions) <= STAR_OK,
                                    "Resource * for scopable actions: %s" % actions)
                else:
                    for r in res:
                        self.assertTrue(r.startswith("arn:aws:"), r)
                if "kms:Decrypt" in actions:
                    via = s["Condition"]["StringEquals"]["kms:ViaService"]
                    self.assertTrue(via and all(v.endswith(".amazonaws.com") for v in via), via)
                    self.assertIn("ssm.eu-west-1.amazonaws.com", via)

    def test_unit_settings(self):
        cp = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",),
                                       comment_prefixes=("#", ";"))
        cp.optionxform = str
        # Repeated keys (ReadWritePaths=) are joined: read them by hand too.
        text = read(UNIT)
        cp.read_string(text)
        svc, unit = cp["Service"], cp["Unit"]
        self.assertIn(svc["Type"], ("notify", "oneshot"))
        if svc["Type"] == "oneshot":
            self.assertEqual(svc.get("RemainAfterExit"), "yes")
        self.assertEqual(svc["ExecStart"], "/usr/bin/wcs-agent run")
        self.assertRegex(svc["ExecStop"], r"^-?/usr/bin/wcs-agent deregister\b.*--on-stop")
        self.assertEqual(svc["RestartPreventExitStatus"].split(), ["64", "78"])
        self.assertEqual(svc["ProtectSystem"], "strict")
        rw = " ".join(re.findall(r"^ReadWritePaths=(.*)$", text, re.M)).split()
        rw = [p.lstrip("-").rstrip("/") for p in rw]
        self.assertIn("/var/lib/wcs-agent", rw)
        self.assertIn("/usr/local/FlashphonerWebCallServer", rw)
        for k in ("PrivateTmp", "NoNewPrivileges", "ProtectHome"):
            self.assertEqual(svc[k], "yes", k)
        caps = svc["CapabilityBoundingSet"].split()
        self.assertTrue(caps and not caps[0].startswith("~"), "an allow list of capabilities")
        for bad in ("CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE"):
            self.assertNotIn(bad, caps)
        after = " ".join(re.findall(r"^After=(.*)$", text, re.M)).split()
        self.assertIn("network-online.target", after)
        self.assertIn("network-online.target", unit["Wants"].split())
        self.assertNotRegex(text, r"(?m)^Before=", "ordered before nothing")
        self.assertEqual(cp["Install"]["WantedBy"], "multi-user.target")

    def test_postinst_never_starts_or_enables_the_agent(self):
        text = read(POSTINST)
        self.assertTrue(os.access(POSTINST, os.X_OK))
        code = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
        self.assertNotRegex(code, r"systemctl\s+(start|restart|enable|reload|stop)")
        self.assertNotRegex(code, r"deb-systemd-invoke|wcs-agent\s+run")

    def run_removal_script(self, script, arg, units=AGENT_UNITS, systemd_running=True):
        """Runs a maintainer script with DPKG_ROOT pointing at a fake root
        (units installed, the state folder holding a file) and a systemctl
        that only records its arguments; returns (root, [argument lines])."""
        root = tempfile.mkdtemp(prefix="wcs-agent-maint-")
        self.addCleanup(shutil.rmtree, root)
        unit_dir = os.path.join(root, "usr/lib/systemd/system")
        os.makedirs(unit_dir)
        for u in units:
            with open(os.path.join(unit_dir, u), "w") as f:
                f.write("[Unit]\n")
        if systemd_running:
            os.makedirs(os.path.join(root, "run/systemd/system"))
        os.makedirs(os.path.join(root, "var/lib/wcs-agent"))
        with open(os.path.join(root, "var/lib/wcs-agent/state.json"), "w") as f:
            f.write("{}")
        bindir = os.path.join(root, "fakebin")
        os.makedirs(bindir)
        log = os.path.join(root, "systemctl.log")
        fake = os.path.join(bindir, "systemctl")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\necho "$*" >> %s\n' % log)
        os.chmod(fake, 0o755)
        env = {"PATH": bindir + ":/usr/bin:/bin", "DPKG_ROOT": root}
        r = run([script, arg], env=env)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        calls = read(log).splitlines() if os.path.exists(log) else []
        return root, calls

    def test_prerm_stops_and_disables_every_unit_on_remove(self):
        root, calls = self.run_removal_script(PRERM, "remove")
        self.assertEqual(
            calls,
            [
                "stop wcs-agent-watch.service",
                "--root=%s disable wcs-agent-watch.service" % root,
                "stop wcs-agent.service",
                "--root=%s disable wcs-agent.service" % root,
            ],
        )
        # rpm's %preun on erase gets 0; a unit that is not installed is left alone.
        root, calls = self.run_removal_script(PRERM, "0", units=("wcs-agent.service",))
        self.assertEqual(calls, ["stop wcs-agent.service", "--root=%s disable wcs-agent.service" % root])
        # Without a running systemd the links still go.
        root, calls = self.run_removal_script(PRERM, "remove", systemd_running=False)
        self.assertEqual([c.split()[-2] for c in calls], ["disable", "disable"])

    def test_prerm_leaves_the_units_alone_on_upgrade(self):
        for arg in ("upgrade", "failed-upgrade", "1"):
            with self.subTest(arg=arg):
                _, calls = self.run_removal_script(PRERM, arg)
                self.assertEqual(calls, [])

    def test_postrm_deletes_the_state_folder_on_purge_only(self):
        root, calls = self.run_removal_script(POSTRM, "remove")
        self.assertTrue(os.path.exists(os.path.join(root, "var/lib/wcs-agent/state.json")))
        self.assertEqual(calls, ["daemon-reload"])
        root, _ = self.run_removal_script(POSTRM, "0")
        self.assertTrue(os.path.exists(os.path.join(root, "var/lib/wcs-agent/state.json")))
        root, calls = self.run_removal_script(POSTRM, "purge")
        self.assertFalse(os.path.lexists(os.path.join(root, "var/lib/wcs-agent")))
        self.assertTrue(os.path.isdir(os.path.join(root, "var/lib")))
        root, calls = self.run_removal_script(POSTRM, "upgrade")
        self.assertTrue(os.path.exists(os.path.join(root, "var/lib/wcs-agent/state.json")))
        self.assertEqual(calls, [])

    def test_man_pages_render_without_warnings(self):
        need_tool("groff")
        for page in (MAN_PAGE, MAN_PAGE_INI):
            with self.subTest(page=os.path.basename(page)):
                r = run(["groff", "-man", "-ww", "-z", "-Tutf8", page],
                        env=dict(os.environ, LC_ALL="C.UTF-8"))
                self.assertEqual((r.returncode, r.stderr), (0, ""))

    def test_shell_scripts_pass_shellcheck(self):
        need_tool("shellcheck")
        parts = dict(mime_parts(read(MARKET_MIME)))
        with tempfile.TemporaryDirectory() as tmp:
            mime_script = os.path.join(tmp, "mime-part.sh")
            with open(mime_script, "w") as f:
                f.write(parts["text/x-shellscript"])
            for path in (MARKET_SH, mime_script, POSTINST):
                with self.subTest(script=os.path.basename(path)):
                    r = run(["shellcheck", "-s", "sh" if path == POSTINST else "bash", path])
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_marketplace_mime_matches_the_script(self):
        """The MIME variant's script is marketplace-edge.sh without the
        conf.d overlay; its overlay part holds the same settings."""
        parts = mime_parts(read(MARKET_MIME))
        self.assertEqual([t for t, _ in parts], ["text/x-shellscript", "text/x-wcs-agent"])
        sh_body, sh_tail = marketplace_script_parts(read(MARKET_SH))
        mime_body, mime_tail = marketplace_script_parts(parts[0][1])
        self.assertEqual(mime_body, sh_body)
        self.assertEqual(mime_tail, sh_tail)
        self.assertTrue(parts[0][1].startswith("#!/bin/bash\n"))
        # The overlay written by the .sh and the MIME overlay part set the same keys.
        heredoc = re.search(r"<<EOF\n(.*?)\nEOF\n", read(MARKET_SH), re.S).group(1)

        def keys(ini):
            cp = configparser.ConfigParser(interpolation=None)
            cp.read_string(ini)
            return {"%s.%s" % (s, k) for s in cp.sections() for k in cp[s]}

        self.assertTrue({"update.enabled", "cdn.role", "cdn.point_of_entry",
                         "signal.lifecycle_hook"} <= keys(parts[1][1]))
        self.assertTrue(keys(parts[1][1]) <= keys(heredoc))
        self.assertIn("enabled = true", parts[1][1])
        self.assertIn("role = edge", parts[1][1])


class CloudFormationTest(unittest.TestCase):
    """The stack template: cfn-lint, structure, and its IAM policy."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.doc = load_cfn(CFN_TEMPLATE)
        cls.res = cls.doc["Resources"]

    def of_type(self, t):
        out = {k: v for k, v in self.res.items() if v["Type"] == t}
        self.assertTrue(out, "no %s" % t)
        return out

    def test_cfn_lint(self):
        exe = shutil.which("cfn-lint")
        argv = [exe] if exe else [sys.executable, "-m", "cfnlint"]
        if exe is None and run([sys.executable, "-c", "import cfnlint"]).returncode != 0:
            self.skipTest("cfn-lint is not installed")
        r = run(argv + [CFN_TEMPLATE])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_security_groups_open_the_wcs_ports(self):
        tcp, udp = set(), []
        for sg in self.of_type("AWS::EC2::SecurityGroup").values():
            for rule in sg["Properties"].get("SecurityGroupIngress", []):
                if "Fn::If" in rule:
                    rule = rule["Fn::If"][1]
                lo, hi = rule["FromPort"], rule["ToPort"]
                if rule["IpProtocol"] == "tcp":
                    tcp.update(range(lo, hi + 1))
                elif rule["IpProtocol"] == "udp":
                    udp.append((lo, hi))
        for rule in self.of_type("AWS::EC2::SecurityGroupIngress").values():
            tcp.update(range(rule["Properties"]["FromPort"], rule["Properties"]["ToPort"] + 1))
        self.assertTrue({8080, 8443, 8081, 8444, 8084} <= tcp, sorted(tcp))
        params = self.doc["Parameters"]
        self.assertIn(({"Ref": "MediaPortFrom"}, {"Ref": "MediaPortTo"}), udp)
        self.assertEqual((params["MediaPortFrom"]["Default"], params["MediaPortTo"]["Default"]),
                         (31001, 32000))

    def test_load_balancer_listeners_and_target_group(self):
        (lb,) = self.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer").values()
        self.assertEqual(lb["Properties"]["Type"], "application")
        listeners = self.of_type("AWS::ElasticLoadBalancingV2::Listener")
        by_port = {v["Properties"]["Port"]: v for v in listeners.values()}
        self.assertEqual(by_port[8080]["Properties"]["Protocol"], "HTTP")
        https = by_port[8443]
        self.assertEqual(https["Properties"]["Protocol"], "HTTPS")
        self.assertEqual(https.get("Condition"), "HasCertificate")
        self.assertEqual(https["Properties"]["Certificates"][0]["CertificateArn"],
                         {"Ref": "CertificateArn"})
        (tg,) = self.of_type("AWS::ElasticLoadBalancingV2::TargetGroup").values()
        p = tg["Properties"]
        self.assertEqual((p["Port"], str(p["HealthCheckPort"]), p["HealthCheckPath"]),
                         (8080, "8081", "/?action=stat"))
        attrs = {a["Key"]: a["Value"] for a in p["TargetGroupAttributes"]}
        self.assertEqual(attrs["stickiness.enabled"], "true")

    def test_group_hooks_signals_and_scaling(self):
        (name, asg), = self.of_type("AWS::AutoScaling::AutoScalingGroup").items()
        self.assertEqual(name, "WcsGroup")  # signal.cfn_resource in the user data
        cp = asg["CreationPolicy"]["ResourceSignal"]
        self.assertEqual(cp["Count"], {"Ref": "DesiredCapacity"})
        p = asg["Properties"]
        dist = p["MixedInstancesPolicy"]["Fn::If"][2]["InstancesDistribution"]
        self.assertEqual(dist["OnDemandPercentageAboveBaseCapacity"],
                         {"Ref": "OnDemandPercentageAboveBase"})
        hooks = {h["LifecycleTransition"]: h for h in p["LifecycleHookSpecificationList"]}
        self.assertEqual(hooks["autoscaling:EC2_INSTANCE_LAUNCHING"]["LifecycleHookName"],
                         "wcs-launch")
        self.assertIn("autoscaling:EC2_INSTANCE_TERMINATING", hooks)
        self.assertEqual(p["AutoScalingGroupName"], {"Fn::Sub": "${AWS::StackName}-wcs"})
        pols = self.of_type("AWS::AutoScaling::ScalingPolicy")
        self.assertEqual(set(pols), {"CpuTargetTracking", "ConnectionsTargetTracking"})
        tt = pols["CpuTargetTracking"]["Properties"]["TargetTrackingConfiguration"]
        self.assertEqual(tt["PredefinedMetricSpecification"]["PredefinedMetricType"],
                         "ASGAverageCPUUtilization")
        # Scaling on connections (design §8.4): the group's average of the agent's metric.
        tt = pols["ConnectionsTargetTracking"]["Properties"]["TargetTrackingConfiguration"]
        (m,) = tt["CustomizedMetricSpecification"]["Metrics"]
        self.assertEqual(m["MetricStat"]["Metric"]["Namespace"], "WCS")
        self.assertEqual(m["MetricStat"]["Metric"]["MetricName"], "Connections")
        self.assertEqual(m["MetricStat"]["Stat"], "Average")
        self.assertEqual([d["Name"] for d in m["MetricStat"]["Metric"]["Dimensions"]],
                         ["AutoScalingGroupName"])
        lt = self.res["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
        self.assertEqual(lt["MetadataOptions"]["HttpTokens"], "required")
        self.assertIn("IamInstanceProfile", lt)
        outs = self.doc["Outputs"]
        self.assertIn("LoadBalancerDnsName", outs)
        self.assertTrue(any("ws://" in json.dumps(o["Value"]) for o in outs.values()))

    def test_terminate_hook_drain_and_deregistration_delay(self):
        """The agent completes the terminate hook: its HeartbeatTimeout is
        TerminateHookTimeout (900 s by default), the user data's drain.timeout
        the same number, and the deregistration delay at least that."""
        params = self.doc["Parameters"]
        self.assertEqual(params["TerminateHookTimeout"]["Default"], 900)
        self.assertLessEqual(max(params["DeregistrationDelay"]["AllowedValues"]), 3600)
        p = self.res["WcsGroup"]["Properties"]
        hooks = {h["LifecycleTransition"]: h for h in p["LifecycleHookSpecificationList"]}
        term = hooks["autoscaling:EC2_INSTANCE_TERMINATING"]
        self.assertEqual(term["LifecycleHookName"], "wcs-terminate")
        self.assertEqual(term["HeartbeatTimeout"], {"Ref": "TerminateHookTimeout"})
        self.assertEqual(term["DefaultResult"], "CONTINUE")
        (tg,) = self.of_type("AWS::ElasticLoadBalancingV2::TargetGroup").values()
        attrs = {a["Key"]: a["Value"] for a in tg["Properties"]["TargetGroupAttributes"]}
        self.assertEqual(attrs["deregistration_delay.timeout_seconds"], {"Ref": "DeregistrationDelay"})
        # The rule, evaluated for every pair of allowed values: exactly delay >= drain passes.
        rule = self.doc["Rules"]["DeregistrationDelayCoversTheDrain"]["Assertions"][0]["Assert"]
        for drain in params["TerminateHookTimeout"]["AllowedValues"]:
            for delay in params["DeregistrationDelay"]["AllowedValues"]:
                got = eval_rule(rule, {"TerminateHookTimeout": str(drain), "DeregistrationDelay": str(delay)})
                self.assertEqual(got, delay >= drain, (drain, delay))

    def test_warm_pool_optional_and_refused_with_spot(self):
        params = self.doc["Parameters"]
        self.assertEqual(params["WarmPool"]["Default"], "off")
        pool = self.res["WcsWarmPool"]
        self.assertEqual(pool["Type"], "AWS::AutoScaling::WarmPool")
        self.assertEqual(pool["Condition"], "HasWarmPool")
        self.assertEqual(pool["Properties"]["PoolState"], {"Ref": "WarmPool"})
        self.assertTrue(pool["Properties"]["InstanceReusePolicy"]["ReuseOnScaleIn"])
        rule = self.doc["Rules"]["WarmPoolWithoutSpot"]
        self.assertEqual(rule["RuleCondition"], {"Fn::Not": [{"Fn::Equals": [{"Ref": "WarmPool"}, "off"]}]})
        asserts = [a["Assert"] for a in rule["Assertions"]]
        base = {"WarmPool": "Stopped", "OnDemandPercentageAboveBase": "100", "SecondaryInstanceType": ""}
        self.assertTrue(all(eval_rule(a, base) for a in asserts))
        spot = dict(base, OnDemandPercentageAboveBase="70")
        self.assertFalse(all(eval_rule(a, spot) for a in asserts))
        mixed = dict(base, SecondaryInstanceType="c5.xlarge")
        self.assertFalse(all(eval_rule(a, mixed) for a in asserts))
        # With the pool the group has no mixed instances policy; without it, no plain template.
        p = self.res["WcsGroup"]["Properties"]
        self.assertEqual(p["MixedInstancesPolicy"]["Fn::If"][0], "HasWarmPool")
        self.assertEqual(p["MixedInstancesPolicy"]["Fn::If"][1], {"Ref": "AWS::NoValue"})
        self.assertEqual(p["LaunchTemplate"]["Fn::If"][2], {"Ref": "AWS::NoValue"})

    def test_capacity_rebalance_with_spot(self):
        p = self.res["WcsGroup"]["Properties"]
        self.assertEqual(p["CapacityRebalance"], {"Fn::If": ["UsesSpot", True, False]})
        self.assertEqual(self.doc["Conditions"]["UsesSpot"],
                         {"Fn::Not": [{"Fn::Equals": [{"Ref": "OnDemandPercentageAboveBase"}, 100]}]})

    def test_inline_policy_is_the_agent_policy_scoped_to_the_stack(self):
        role = self.res["InstanceRole"]["Properties"]
        (pol,) = role["Policies"]
        st = [s["Fn::If"][1] if "Fn::If" in s else s for s in pol["PolicyDocument"]["Statement"]]
        actions = policy_actions(st)
        file_actions = policy_actions(json.loads(read(POLICY))["Statement"])
        self.assertTrue(actions <= file_actions, actions - file_actions)
        # Only the classic ELB actions may be missing: the stack has no classic ELB.
        self.assertEqual(file_actions - actions, {
            "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
            "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
            "elasticloadbalancing:DescribeInstanceHealth"})
        for s in st:
            acts = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
            if s["Resource"] == "*":
                self.assertTrue(set(acts) <= STAR_OK, acts)

    def test_marketplace_user_data_script_is_the_template_script(self):
        """The literal script body in the launch template is the body of
        templates/user-data/marketplace-edge.mime."""
        node = user_data_node(self.doc)["Fn::Base64"]["Fn::If"]
        self.assertEqual(node[0], "IsMarketplace")
        join = node[1]["Fn::Join"][1]
        literal = [x for x in join if isinstance(x, str)]
        self.assertEqual(len(literal), 1, "one literal (unsubstituted) script body")
        mime_script = dict(mime_parts(read(MARKET_MIME)))["text/x-shellscript"]
        self.assertEqual(literal[0], mime_script[mime_script.index('IMDS="'):])

    def test_rendered_user_data_fits(self):
        for flavour in ("custom", "marketplace"):
            with self.subTest(flavour=flavour):
                ud = render_user_data(self.doc, {
                    "AmiFlavour": flavour, "CdnOrigin": "10.0.1.10",
                    "AgentPackageUrl": "s3://b/wcs-agent/p.deb", "AgentPackageSha256": "0" * 64})
                self.assertLess(len(ud.encode()), USER_DATA_MAX)
                self.assertNotIn("${", ud.replace("${AWS_EC2_METADATA_SERVICE_ENDPOINT", ""))


class UserDataCheckConfigTest(TwinTestCase):
    """Each user-data template, served by the IMDS twin, is accepted by the
    real agent's check-config (over the packaged agent.ini)."""

    twin_scope = "class"
    need_agent = True

    def setUp(self):
        super().setUp()
        self.write_config(read(AGENT_INI))

    def check(self, user_data, tags=None):
        kw = {"user_data": user_data}
        if tags is not None:
            kw["tags"] = tags
        self.imds.set_metadata(**kw)
        r = self.run_agent("check-config")
        return r, (parse_dump(r.stdout) if r.rc == 0 else None)

    def assert_ok(self, user_data, tags=None):
        r, dump = self.check(user_data, tags)
        self.assertEqual(r.rc, 0, "check-config failed:\n%s" % r.stderr)
        self.assertIn("configuration is valid", r.stderr)
        self.assertNotIn("not checked", r.stderr)
        return dump

    def test_packaged_agent_ini_alone_gives_the_built_in_defaults(self):
        dump = self.assert_ok(None)
        want = config_def_keys()
        for sec, key, default in want:
            name = "%s.%s" % (sec, key)
            if name == "imds.endpoint" or default is None or "{" in (default or ""):
                continue  # env override; placeholders are expanded in the dump
            if name == "tls.keystore_password":
                default = "***"  # a secret: masked
            if name == "agent.state_dir":
                default = self.state_dir  # the tests' --state-dir is the effective folder
            with self.subTest(key=name):
                got = dump.get(name, [""])
                self.assertEqual(got[0] if got else "", default)

    def test_custom_ami_overlay(self):
        ud = read(CUSTOM_AMI, "rb")
        self.assertTrue(ud.startswith(b"#wcs-agent\n"))
        dump = self.assert_ok(ud, tags={"Name": "wcs-edge", "wcs-origin": "10.0.1.10"})
        self.assertEqual(dump["cdn.role"], ["edge"])
        self.assertEqual(dump["cdn.point_of_entry"], ["10.0.1.10"])
        self.assertEqual(dump["signal.lifecycle_hook"], ["wcs-launch"])
        self.assertEqual(dump["licence.key"], ["ssm:/wcs/licence"])
        self.assertEqual(len(dump["register.target_group"]), 1)

    def test_custom_ami_overlay_needs_the_origin_tag(self):
        r, _ = self.check(read(CUSTOM_AMI, "rb"), tags={"Name": "wcs-edge"})
        self.assertEqual(r.rc, 78, r.stderr)
        self.assertIn("wcs-origin", r.stderr)

    def test_marketplace_mime_overlay_part(self):
        dump = self.assert_ok(read(MARKET_MIME, "rb"))
        self.assertEqual(dump["update.enabled"], ["true"])
        self.assertEqual(dump["cdn.role"], ["edge"])
        self.assertEqual(dump["cdn.point_of_entry"], ["10.0.1.10"])
        self.assertEqual(dump["signal.lifecycle_hook"], ["wcs-launch"])
        r = self.run_agent("metadata", "--json")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["user_data"], "multipart-overlay")

    def test_marketplace_script_alone_is_not_an_overlay(self):
        dump = self.assert_ok(read(MARKET_SH, "rb"))
        self.assertEqual(dump["update.enabled"], ["false"])

    def test_cloudformation_user_data(self):
        doc = load_cfn(CFN_TEMPLATE)
        base = {"CdnOrigin": "10.0.1.10", "LicenceParameter": "/wcs/licence",
                "TlsSecretId": "wcs/tls", "AgentPackageUrl": "s3://b/wcs-agent/p.deb",
                "AgentPackageSha256": "0" * 64}
        for flavour, kind in (("custom", "overlay"), ("marketplace", "multipart-overlay")):
            with self.subTest(flavour=flavour):
                ud = render_user_data(doc, dict(base, AmiFlavour=flavour))
                dump = self.assert_ok(ud.encode())
                self.assertEqual(dump["signal.cfn_stack"], ["wcs-test"])
                self.assertEqual(dump["signal.cfn_resource"], ["WcsGroup"])
                self.assertEqual(dump["signal.asg"], ["wcs-test-wcs"])
                self.assertEqual(dump["signal.lifecycle_hook"], ["wcs-launch"])
                self.assertEqual(dump["signal.terminate_hook"], ["wcs-terminate"])
                self.assertEqual(dump["drain.timeout"], ["900"])
                self.assertEqual(dump["register.target_group"], [TG_ARN])
                self.assertEqual(dump["licence.key"], ["ssm:/wcs/licence"])
                self.assertEqual(dump["tls.private_key"], ["secretsmanager:wcs/tls#private_key"])
                self.assertEqual(dump["update.enabled"], ["true" if flavour == "marketplace"
                                                          else "false"])
                r = self.run_agent("metadata", "--json")
                self.assertEqual(json.loads(r.stdout)["user_data"], kind)
        # Without licence and TLS the keys are left unset, not empty references.
        ud = render_user_data(doc, {"CdnRole": "origin"})
        dump = self.assert_ok(ud.encode())
        self.assertEqual(dump["cdn.role"], ["origin"])
        self.assertEqual(dump["licence.key"], [""])
        self.assertEqual(dump["cdn.point_of_entry"], [""])


STUB_AWS = r"""#!/bin/sh
printf 'aws %s\n' "$*" >> "$STUB_LOG"
if [ "$1" = s3 ] && [ "$2" = cp ]; then
    for a; do last=$a; done
    cp "$STUB_PACKAGE" "$last"
fi
exit 0
"""
STUB_LOGGER = r"""#!/bin/sh
printf '%s %s\n' "$(basename "$0")" "$*" >> "$STUB_LOG"
exit 0
"""
# "wcs-agent run" becomes the real agent's check-config over the conf.d the script wrote.
STUB_AGENT = r"""#!/bin/sh
printf 'wcs-agent %s\n' "$*" >> "$STUB_LOG"
exec "$REAL_AGENT" -c "$AGENT_CONF" --state-dir "$STATE_DIR" check-config > "$CHECK_OUT" 2>&1
"""


class MarketplaceScriptRunTest(TwinTestCase):
    """marketplace-edge.sh run by bash with stub aws, apt-get, systemctl and
    wcs-agent (curl is real, against the IMDS twin)."""

    twin_scope = "class"
    need_agent = True

    def setUp(self):
        super().setUp()
        need_tool("bash")
        need_tool("curl")
        self.imds.set_metadata(tags={"Name": "wcs-edge",
                                     "aws:autoscaling:groupName": "wcs-test-wcs"})
        self.stubs = os.path.join(self.tmp, "stubs")
        os.mkdir(self.stubs)
        for name, text in (("aws", STUB_AWS), ("apt-get", STUB_LOGGER), ("dnf", STUB_LOGGER),
                           ("yum", STUB_LOGGER), ("systemctl", STUB_LOGGER),
                           ("wcs-agent", STUB_AGENT)):
            path = os.path.join(self.stubs, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)
        self.etc = os.path.join(self.tmp, "etc")
        os.mkdir(self.etc, 0o755)
        self.conf = self.write_config(read(AGENT_INI), os.path.join(self.etc, "agent.ini"))
        self.package = os.path.join(self.tmp, "wcs-agent.deb")
        with open(self.package, "wb") as f:
            f.write(b"not really a package\n")
        self.log = os.path.join(self.tmp, "stub.log")
        self.check_out = os.path.join(self.tmp, "check.out")

    def run_script(self, sha):
        text = read(MARKET_SH)
        text, n = re.subn(r'(?m)^AGENT_PACKAGE_SHA256="[^"]*"$',
                          'AGENT_PACKAGE_SHA256="%s"' % sha, text)
        self.assertEqual(n, 1)
        text = re.sub(r'(?m)^CFN_STACK=""', 'CFN_STACK="wcs-test"', text)
        text = re.sub(r'(?m)^CFN_RESOURCE=""', 'CFN_RESOURCE="WcsGroup"', text)
        script = os.path.join(self.tmp, "user-data.sh")
        with open(script, "w") as f:
            f.write(text)
        env = {
            "PATH": self.stubs + ":/usr/bin:/bin",
            "HOME": self.home,
            "LANG": "C",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.imds.url,
            "AWS_ENDPOINT_URL": twin_testlib.CLOSED_ENDPOINT,
            "WCS_AGENT_CONF_D": os.path.join(self.etc, "conf.d"),
            "STUB_LOG": self.log,
            "STUB_PACKAGE": self.package,
            "REAL_AGENT": twin_testlib.agent_bin(),
            "AGENT_CONF": self.conf,
            "STATE_DIR": self.state_dir,
            "CHECK_OUT": self.check_out,
        }
        for k in twin_testlib.PASS_THROUGH_ENV:
            if k in os.environ:
                env[k] = os.environ[k]
        r = run(["bash", script], env=env, timeout=120)
        log = read(self.log).splitlines() if os.path.exists(self.log) else []
        return r, log

    def test_installs_writes_the_overlay_and_runs_the_agent(self):
        sha = hashlib.sha256(read(self.package, "rb")).hexdigest()
        r, log = self.run_script(sha)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(log[0], r"^aws s3 cp .*s3://\S+ /\S+/wcs-agent\.deb$")
        self.assertTrue(any(re.match(r"apt-get -y -q install /\S+/wcs-agent\.deb$", l)
                            for l in log), log)
        self.assertIn("systemctl enable wcs-agent.service wcs-agent-watch.service", log)
        # The run, then watch takes over.
        self.assertEqual(log[-2:], ["wcs-agent run", "systemctl start --no-block wcs-agent-watch.service"])
        overlay = os.path.join(self.etc, "conf.d", "50-marketplace-edge.ini")
        self.assertEqual(stat.S_IMODE(os.stat(overlay).st_mode), 0o600)
        out = read(self.check_out)
        self.assertIn("configuration is valid", out)
        dump = parse_dump("\n".join(l for l in out.splitlines()
                                    if not l.startswith("wcs-agent:")))
        self.assertEqual(dump["update.enabled"], ["true"])
        self.assertEqual(dump["cdn.role"], ["edge"])
        self.assertEqual(dump["signal.cfn_stack"], ["wcs-test"])
        self.assertFalse(any("ABANDON" in l or "FAILURE" in l for l in log), log)

    def test_checksum_mismatch_installs_nothing_and_signals_failure(self):
        r, log = self.run_script("f" * 64)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("SHA-256 mismatch", r.stderr)
        self.assertFalse(any(l.startswith(("apt-get", "wcs-agent", "systemctl")) for l in log),
                         log)
        self.assertIn("aws --region eu-west-1 autoscaling complete-lifecycle-action "
                      "--lifecycle-hook-name wcs-launch --auto-scaling-group-name wcs-test-wcs "
                      "--instance-id %s --lifecycle-action-result ABANDON" % INSTANCE_ID, log)
        self.assertIn("aws --region eu-west-1 cloudformation signal-resource --stack-name "
                      "wcs-test --logical-resource-id WcsGroup --unique-id %s --status FAILURE"
                      % INSTANCE_ID, log)
        self.assertFalse(os.path.exists(os.path.join(self.etc, "conf.d")))


def ensure_rpmbuild():
    """rpmbuild's path, installing the rpm package as root when missing;
    None (with the reason) when it cannot be had."""
    path = shutil.which("rpmbuild")
    if path is not None:
        return path, None
    if os.geteuid() != 0:
        return None, "rpmbuild is not installed and this is not root (apt-get install rpm)"
    if os.environ.get("WCS_AGENT_TEST_NO_APT") or shutil.which("apt-get") is None:
        return None, "rpmbuild is not installed (apt-get install rpm)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = run(["apt-get", "install", "-y", "-qq", "rpm"], env=env)
    if r.returncode != 0:
        run(["apt-get", "update", "-qq"], env=env)
        r = run(["apt-get", "install", "-y", "-qq", "rpm"], env=env)
    path = shutil.which("rpmbuild")
    if path is None:
        return None, "rpmbuild could not be installed: %s" % r.stderr.strip()[-300:]
    return path, None


def deb_listing(deb):
    """{path: (mode string, owner)} from dpkg-deb -c."""
    r = run(["dpkg-deb", "-c", deb])
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    out = {}
    for line in r.stdout.splitlines():
        f = line.split(None, 5)
        path = f[5].split(" -> ")[0]
        out["/" + path.lstrip("./").rstrip("/") if path != "./" else "/"] = (f[0], f[1])
    return out


EXPECTED_FILES = {
    "/usr/bin/wcs-agent": "-rwxr-xr-x",
    "/etc/wcs-agent": "drwxr-xr-x",
    "/etc/wcs-agent/agent.ini": "-rw-r-----",
    "/etc/wcs-agent/conf.d": "drwxr-x---",
    "/var/lib/wcs-agent": "drwx------",
    "/usr/lib/systemd/system/wcs-agent.service": "-rw-r--r--",
    "/usr/lib/systemd/system/wcs-agent-watch.service": "-rw-r--r--",
    "/usr/share/man/man8/wcs-agent.8.gz": "-rw-r--r--",
    "/usr/share/man/man5/wcs-agent.ini.5.gz": "-rw-r--r--",
    "/usr/share/doc/wcs-agent/copyright": "-rw-r--r--",
    "/usr/share/doc/wcs-agent/index.md": "-rw-r--r--",
    "/usr/share/doc/wcs-agent/configuration.md": "-rw-r--r--",
    "/usr/share/doc/wcs-agent/state-and-exit-codes.md": "-rw-r--r--",
    "/usr/share/doc/wcs-agent/operations.md": "-rw-r--r--",
    "/usr/share/doc/wcs-agent/code-layout.md": "-rw-r--r--",
    "/usr/share/doc/wcs-agent/examples/user-data/custom-ami.ini": "-rw-r--r--",
    "/usr/share/doc/wcs-agent/examples/user-data/marketplace-edge.sh": "-rw-r--r--",
    "/usr/share/doc/wcs-agent/examples/user-data/marketplace-edge.mime": "-rw-r--r--",
    "/usr/share/doc/wcs-agent/examples/iam/wcs-agent-policy.json": "-rw-r--r--",
    "/usr/share/doc/wcs-agent/examples/cloudformation/wcs-autoscaling.yaml": "-rw-r--r--",
}


class PackageBuildTest(unittest.TestCase):
    """`cmake --build B --target package` in a temp build folder, then the
    .deb (and the .rpm when rpmbuild is there) inspected."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for tool in ("cmake", "cpack", "dpkg-deb"):
            need_tool(tool)
        cls.rpm_skip = None
        rpmbuild, cls.rpm_skip = ensure_rpmbuild()
        cls.tmpdir = tempfile.TemporaryDirectory(prefix="wcs-agent-pkg-")
        cls.build = os.path.join(cls.tmpdir.name, "build")
        try:
            cls._build()
        except BaseException:
            cls.tmpdir.cleanup()
            raise
        cls.root = os.path.join(cls.tmpdir.name, "root")
        r = run(["dpkg-deb", "-x", cls.deb, cls.root])
        if r.returncode != 0:
            raise AssertionError("dpkg-deb -x: %s" % r.stderr)

    @classmethod
    def _build(cls):
        env = dict(os.environ)
        for k in ("CFLAGS", "LDFLAGS", "ASAN_OPTIONS"):
            env.pop(k, None)
        steps = [
            ["cmake", "-S", SRC, "-B", cls.build, "-DCMAKE_BUILD_TYPE=Release",
             "-DAGENT_TESTS=OFF"],
            ["cmake", "--build", cls.build, "-j", str(min(8, os.cpu_count() or 2))],
            ["cmake", "--build", cls.build, "--target", "package"],
        ]
        for argv in steps:
            r = run(argv, env=env, timeout=900)
            if r.returncode != 0:
                raise AssertionError("%s failed:\n%s\n%s" % (" ".join(argv), r.stdout[-3000:],
                                                             r.stderr[-3000:]))
        debs = glob.glob(os.path.join(cls.build, "wcs-agent_*.deb"))
        rpms = glob.glob(os.path.join(cls.build, "wcs-agent-*.rpm"))
        if len(debs) != 1:
            raise AssertionError("expected one .deb, got %r" % debs)
        cls.deb = debs[0]
        cls.rpm = rpms[0] if len(rpms) == 1 else None
        if cls.rpm is None and cls.rpm_skip is None:
            raise AssertionError("rpmbuild is there but no .rpm was built: %r" % rpms)

    @classmethod
    def tearDownClass(cls):
        cls.tmpdir.cleanup()
        super().tearDownClass()

    def test_deb_paths_modes_and_owners(self):
        listing = deb_listing(self.deb)
        for path, mode in EXPECTED_FILES.items():
            with self.subTest(path=path):
                self.assertIn(path, listing)
                self.assertEqual(listing[path][0], mode)
        for path, (mode, owner) in listing.items():
            self.assertEqual(owner, "root/root", path)
            self.assertFalse(mode[5] == "w" or mode[8] == "w", "%s is writable by others" % path)

    def test_deb_conffile_depends_and_scripts(self):
        r = run(["dpkg-deb", "-I", self.deb])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\bconffiles\b")
        r = run(["dpkg-deb", "-I", self.deb, "conffiles"])
        self.assertEqual(r.stdout.split(), ["/etc/wcs-agent/agent.ini"])
        r = run(["dpkg-deb", "-f", self.deb, "Depends"])
        names = {re.match(r"\s*([\w.+-]+)", d).group(1) for d in r.stdout.split(",")}
        self.assertTrue({"libcurl4", "libssl3", "libinih1", "libcjson1", "libexpat1",
                         "zlib1g"} <= names, names)
        r = run(["dpkg-deb", "-f", self.deb, "Package", "Description"])
        self.assertIn("Package: wcs-agent", r.stdout)
        self.assertIn("IMDSv2", r.stdout)
        r = run(["dpkg-deb", "-I", self.deb, "postinst"])
        self.assertEqual(r.stdout, read(POSTINST))
        for name, path in (("prerm", PRERM), ("postrm", POSTRM)):
            r = run(["dpkg-deb", "-I", self.deb, name])
            self.assertEqual(r.stdout, read(path), name)

    def test_lintian_finds_no_error(self):
        need_tool("lintian")
        r = run(["lintian", "--no-tag-display-limit", self.deb], timeout=600)
        errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
        self.assertEqual(errors, [], r.stdout)
        for tag in ("bogus-mail-host", "no-changelog", "root-in-contact"):
            self.assertNotIn(tag, r.stdout)
        r = run(["dpkg-deb", "-f", self.deb, "Maintainer"])
        self.assertNotRegex(r.stdout, r"<root@|@localhost")

    def test_deb_payload_is_the_source_files(self):
        def payload(p):
            return read(os.path.join(self.root, p.lstrip("/")), "rb")

        self.assertEqual(payload("/etc/wcs-agent/agent.ini"), read(AGENT_INI, "rb"))
        self.assertEqual(payload("/usr/lib/systemd/system/wcs-agent.service"), read(UNIT, "rb"))
        self.assertEqual(gzip.decompress(payload("/usr/share/man/man8/wcs-agent.8.gz")),
                         read(MAN_PAGE, "rb"))
        self.assertEqual(gzip.decompress(payload("/usr/share/man/man5/wcs-agent.ini.5.gz")),
                         read(MAN_PAGE_INI, "rb"))
        for name in DOC_PAGES:
            self.assertEqual(payload("/usr/share/doc/wcs-agent/" + name),
                             read(os.path.join(PACKAGING, "doc", name), "rb"))
        self.assertEqual(payload("/usr/share/doc/wcs-agent/copyright"),
                         read(os.path.join(PACKAGING, "copyright"), "rb"))
        r = run([os.path.join(self.root, "usr/bin/wcs-agent"), "version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^wcs-agent \d+\.\d+\.\d+\n")

    def test_man_page_documents_every_command_and_option_of_help(self):
        r = run([os.path.join(self.root, "usr/bin/wcs-agent"), "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        section, cmds, opts = None, [], []
        for line in r.stdout.splitlines():
            if line.endswith(":") and not line.startswith(" "):
                section = line[:-1]
            elif section == "commands" and re.match(r"^  [a-z]", line):
                cmds.append(line.split()[0])
            elif section == "global options" and line.strip().startswith("-"):
                spec = re.split(r"\s{2,}", line.strip())[0]
                opts += re.findall(r"(?<![\w-])--?[a-z][a-z-]*", spec)
        self.assertGreaterEqual(len(cmds), 8, cmds)
        man = read(MAN_PAGE).replace("\\-", "-")
        for c in cmds:
            self.assertRegex(man, r"(?m)^\.B %s\b" % re.escape(c), "man page lacks %s" % c)
        for o in set(opts):
            self.assertIn(o, man, "man page lacks %s" % o)
        for code in ("0", "1", "3", "4", "64", "75", "78"):
            self.assertRegex(man, r"(?m)^\.B %s$" % code)

    def test_systemd_analyze_verify(self):
        exe = shutil.which("systemd-analyze")
        if exe is None:
            self.skipTest("systemd-analyze is not installed (apt-get install systemd)")
        unit_dir = os.path.join(self.tmpdir.name, "units")
        os.makedirs(unit_dir, exist_ok=True)
        # The packaged unit, with /usr/bin/wcs-agent pointing at the extracted binary.
        text = read(os.path.join(self.root, "usr/lib/systemd/system/wcs-agent.service"))
        text = text.replace("/usr/bin/wcs-agent", os.path.join(self.root, "usr/bin/wcs-agent"))
        unit = os.path.join(unit_dir, "wcs-agent.service")
        with open(unit, "w") as f:
            f.write(text)
        env = dict(os.environ, MANPATH=os.path.join(self.root, "usr/share/man"),
                   SYSTEMD_LOG_LEVEL="notice")
        r = run([exe, "verify", unit], env=env, timeout=120)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
        # The check can fail: a bad setting is reported.
        with open(unit, "w") as f:
            f.write(text.replace("Restart=on-failure", "Restart=always"))
        r = run([exe, "verify", unit], env=env, timeout=120)
        self.assertNotEqual(r.returncode, 0)

    def test_systemd_analyze_verify_watch_unit(self):
        exe = shutil.which("systemd-analyze")
        if exe is None:
            self.skipTest("systemd-analyze is not installed (apt-get install systemd)")
        unit_dir = os.path.join(self.tmpdir.name, "units-watch")
        os.makedirs(unit_dir, exist_ok=True)
        text = read(os.path.join(self.root, "usr/lib/systemd/system/wcs-agent-watch.service"))
        self.assertEqual(text, read(os.path.join(PACKAGING, "systemd", "wcs-agent-watch.service")))
        for want in ("Type=notify", "WatchdogSec=", "Restart=always", "After=wcs-agent.service",
                     "ProtectSystem=strict", "NoNewPrivileges=yes"):
            self.assertIn(want, text)
        # TimeoutStopSec stays above drain.stop_timeout's default (300 s).
        stop = re.search(r"(?m)^TimeoutStopSec=(\d+)min$", text)
        self.assertIsNotNone(stop)
        self.assertGreater(int(stop.group(1)) * 60, 300)
        text = text.replace("/usr/bin/wcs-agent", os.path.join(self.root, "usr/bin/wcs-agent"))
        unit = os.path.join(unit_dir, "wcs-agent-watch.service")
        with open(unit, "w") as f:
            f.write(text)
        env = dict(os.environ, MANPATH=os.path.join(self.root, "usr/share/man"),
                   SYSTEMD_LOG_LEVEL="notice")
        r = run([exe, "verify", unit], env=env, timeout=120)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
        with open(unit, "w") as f:
            f.write(text.replace("Type=notify", "Type=oneshot"))  # with Restart=always: refused
        r = run([exe, "verify", unit], env=env, timeout=120)
        # systemd 252 may only warn about a bad value and still exit 0: the check must see it.
        self.assertNotEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def rpm_or_skip(self):
        if self.rpm is None:
            self.skipTest("no .rpm: %s" % self.rpm_skip)
        need_tool("rpm")
        return self.rpm

    def test_rpm_paths_modes_config_and_requires(self):
        rpm = self.rpm_or_skip()
        r = run(["rpm", "-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} "
                 "%{FILEFLAGS:fflags} %{FILENAMES}\n]", rpm])
        self.assertEqual(r.returncode, 0, r.stderr)
        files = {}
        for line in r.stdout.splitlines():
            mode, user, group, flags, path = line.split(" ", 4)
            files[path] = (mode, flags)
            self.assertEqual((user, group), ("root", "root"), path)
        for path, mode in EXPECTED_FILES.items():
            with self.subTest(path=path):
                self.assertIn(path, files)
                self.assertEqual(files[path][0], mode)
        self.assertIn("c", files["/etc/wcs-agent/agent.ini"][1])
        self.assertIn("n", files["/etc/wcs-agent/agent.ini"][1], "%config(noreplace)")
        for shared in ("/var/lib", "/usr/lib/systemd/system", "/usr/share/man/man8",
                       "/usr/share/man/man5", "/etc"):
            self.assertNotIn(shared, files, "the package must not own %s" % shared)
        r = run(["rpm", "-qp", "--requires", rpm])
        names = {l.split()[0] for l in r.stdout.splitlines()}
        self.assertTrue({"libcurl", "openssl-libs", "inih", "cjson", "expat", "zlib"} <= names,
                        names)
        r = run(["rpm", "-qp", "--scripts", rpm])
        self.assertIn("systemctl daemon-reload", r.stdout)
        self.assertRegex(r.stdout, r"preuninstall scriptlet[^\n]*:\n#!/bin/sh\n# wcs-agent prerm")
        self.assertRegex(r.stdout, r"postuninstall scriptlet[^\n]*:\n#!/bin/sh\n# wcs-agent postrm")
        r = run(["rpm", "-qp", "--qf", "%{NAME}\n%{DESCRIPTION}", rpm])
        self.assertTrue(r.stdout.startswith("wcs-agent\n"), r.stdout)
        self.assertIn("IMDSv2", r.stdout)


if __name__ == "__main__":
    unittest.main()
