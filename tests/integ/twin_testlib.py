"""Shared helpers for the integration tests (run with cwd tests/integ).

- agent_bin(): the binary from WCS_AGENT_BIN; raises unittest.SkipTest when
  the variable is unset (a module calls require_agent() at import, or a
  TwinTestCase sets need_agent = True, to skip everything).
- run_agent(): runs the binary with a clean environment pointed at a twin,
  returns AgentResult(rc, stdout, stderr).
- http_request(): a urllib call that never uses a proxy.
- TwinTestCase: starts and stops a twin per test (twin_scope = "test") or per
  class (twin_scope = "class"), with a temp config file and state dir; with
  use_aws = True the twin has the AWS side too (moto_server, the Auto
  Scaling / CloudFormation endpoint), and the agent gets its AWS_* variables;
  with fake_wcs = True each test gets a fake WCS (install tree, stats page,
  service commands) and the agent config starts with a section using it.
"""

import collections
import os
import signal
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_DIR = os.path.normpath(os.path.join(HERE, "..", "sim"))
if SIM_DIR not in sys.path:
    sys.path.insert(0, SIM_DIR)

import imds  # noqa: E402
import twin  # noqa: E402

# A closed loopback port: anything the test forgot to point at the twin fails fast.
CLOSED_ENDPOINT = "http://127.0.0.1:9"
DEFAULT_TIMEOUT_S = 60
# Passed through to the agent so sanitizer and coverage builds keep working.
PASS_THROUGH_ENV = (
    "ASAN_OPTIONS",
    "UBSAN_OPTIONS",
    "LSAN_OPTIONS",
    "MSAN_OPTIONS",
    "TSAN_OPTIONS",
    "LLVM_PROFILE_FILE",
)

AgentResult = collections.namedtuple("AgentResult", "rc stdout stderr")

_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_TLS_OPENER = None  # the same, trusting the twin's test CA (made on first use)


def agent_bin():
    """Path of the agent; SkipTest when WCS_AGENT_BIN is unset or empty."""
    path = os.environ.get("WCS_AGENT_BIN", "")
    if not path:
        raise unittest.SkipTest("WCS_AGENT_BIN is not set")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise AssertionError("WCS_AGENT_BIN=%s is not an executable file" % path)
    return path


def require_agent():
    """Call at module import to skip the whole module without an agent."""
    agent_bin()


def clean_env(imds_url=None, home=None, extra=None):
    """The agent's whole environment: nothing leaks in from the caller."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds_url or CLOSED_ENDPOINT,
        "AWS_ENDPOINT_URL": CLOSED_ENDPOINT,
    }
    if home is not None:
        env["HOME"] = home
    for k in PASS_THROUGH_ENV:
        if k in os.environ:
            env[k] = os.environ[k]
    env.update(extra or {})
    return env


def agent_command(
    args, *, config_path, state_dir, imds_url=None, env=None, global_args=(), home=None
):
    """(argv, environment) for `wcs-agent -c CONFIG [--state-dir DIR]
    [global_args] ARGS...`; state_dir None leaves --state-dir out, and env
    entries add to (or, with a value of None, remove from) the clean
    environment."""
    argv = [agent_bin(), "-c", config_path]
    if state_dir is not None:
        argv += ["--state-dir", state_dir]
    argv += list(global_args) + list(args)
    e = clean_env(imds_url, home=home)
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return argv, e


def start_agent(args, **kw):
    """Starts the agent in the background (same keywords as agent_command):
    a subprocess.Popen in its own session with text stdout/stderr pipes.
    The caller waits for it (communicate) or ends it by its PID."""
    argv, e = agent_command(args, **kw)
    return subprocess.Popen(
        argv,
        env=e,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def dir_snapshot(path):
    """None when path does not exist, else {relative name: (mode, mtime_ns,
    inode, bytes or None for a folder)} for path and everything under it, so
    that "nothing was changed" can be compared exactly."""
    if not os.path.lexists(path):
        return None
    out = {}
    for root, dirs, files in os.walk(path):
        for name in sorted(dirs) + sorted(files) + ["."]:
            full = os.path.normpath(os.path.join(root, name))
            st = os.lstat(full)
            data = None
            if not os.path.isdir(full) or os.path.islink(full):
                with open(full, "rb") as f:
                    data = f.read()
            out[os.path.relpath(full, path)] = (st.st_mode, st.st_mtime_ns, st.st_ino, data)
    return out


def run_agent(
    args,
    *,
    config_path,
    state_dir,
    imds_url=None,
    env=None,
    global_args=(),
    timeout=DEFAULT_TIMEOUT_S,
    input=None,
    home=None,
):
    """Run `wcs-agent -c CONFIG --state-dir DIR [global_args] ARGS...`.

    env adds to (or, with a value of None, removes from) the clean
    environment.  Returns AgentResult(rc, stdout, stderr) as text; raises
    AssertionError (with the output so far) when the timeout passes.
    """
    argv, e = agent_command(
        args,
        config_path=config_path,
        state_dir=state_dir,
        imds_url=imds_url,
        env=env,
        global_args=global_args,
        home=home,
    )
    # Its own process group, so a timeout also ends whatever it spawned.
    p = subprocess.Popen(
        argv,
        env=e,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = p.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        raise AssertionError(
            "agent timed out after %ss: %s\nstdout:\n%s\nstderr:\n%s"
            % (timeout, " ".join(argv), out, err)
        ) from None
    return AgentResult(p.returncode, out, err)


def http_request(method, url, headers=None, body=None, timeout=5.0):
    """(status, headers, body bytes); HTTP errors are returned, not raised.
    Network errors (refused, timeout) are raised."""
    global _TLS_OPENER
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = _NO_PROXY_OPENER
    if url.startswith("https:"):
        if _TLS_OPENER is None:
            import netutil

            _TLS_OPENER = urllib.request.build_opener(
                urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=netutil.client_context())
            )
        opener = _TLS_OPENER
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        try:
            data = e.read()
        finally:
            e.close()
        return e.code, e.headers, data


class TwinTestCase(unittest.TestCase):
    """A test case with a running twin (self.twin, self.imds) and temp files.

    Class attributes to override:
      twin_scope  "test" (a fresh twin per test) or "class" (one per class;
                  reset to its construction values before each test)
      imds_kwargs ImdsTwin keyword arguments, e.g. {"faults": {...}}
      use_aws     True: Twin(aws=...) (self.aws is the aws.AwsTwin); with
                  twin_scope "class" its endpoint is reset before each test
                  (moto's state is kept: moto starts once per class)
      aws_kwargs  aws.AwsTwin keyword arguments (with use_aws)
      agent_config text of the temp agent config (-c)
      fake_wcs    True: a fake WCS per test under the temp dir (self.wcs, a
                  wcs.WcsTree; self.wcs_service, its wcs_service.ServiceState;
                  self.stats, a wcs.StatsServer whose readiness clock restarts
                  with the fake service), and write_config() puts
                  self.fake_wcs_config ([wcs] home and commands, [ready] url,
                  interval_ms, timeout, a short [imds] timeout, [drain] rest_url) before the
                  text of the main config, so later keys override it
      stats_kwargs wcs.StatsServer keyword arguments (with fake_wcs)
      need_agent  True: skip the class when WCS_AGENT_BIN is unset
      agent_timeout seconds per agent run
    """

    twin_scope = "test"
    imds_kwargs = {}
    use_aws = False
    aws_kwargs = {}
    agent_config = ""
    fake_wcs = False
    stats_kwargs = {}
    need_agent = False
    agent_timeout = DEFAULT_TIMEOUT_S

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.class_twin = None
        if cls.need_agent:
            agent_bin()
        if cls.twin_scope == "class":
            cls.class_twin = cls._make_twin()
            cls.class_twin.start()

    @classmethod
    def tearDownClass(cls):
        if cls.class_twin is not None:
            cls.class_twin.stop()
            cls.class_twin = None
        super().tearDownClass()

    @classmethod
    def _make_twin(cls, kwargs=None):
        aws = (dict(cls.aws_kwargs) or True) if cls.use_aws else False
        return twin.Twin(imds=dict(cls.imds_kwargs if kwargs is None else kwargs), aws=aws)

    def setUp(self):
        super().setUp()
        if self.twin_scope == "class":
            self.twin = self.class_twin
            self.twin.imds.reset()
            if self.use_aws:
                self.twin.aws.reset()
        else:
            self.twin = self._make_twin(self.imds_kwargs)
            self.twin.start()
            self.addCleanup(self.twin.stop)
        self.imds = self.twin.imds
        self.aws = self.twin.aws if self.use_aws else None
        tmp = tempfile.TemporaryDirectory(prefix="wcs-agent-integ-")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.home = os.path.join(self.tmp, "home")
        self.state_dir = os.path.join(self.tmp, "state")
        self.config_path = os.path.join(self.tmp, "agent.ini")
        os.mkdir(self.home, 0o700)
        os.mkdir(self.state_dir, 0o700)
        self.wcs = self.wcs_service = self.stats = None
        self.fake_wcs_config = ""
        if self.fake_wcs:
            self.start_fake_wcs()
        self.write_config(self.agent_config)

    def start_fake_wcs(self, **stats_kwargs):
        """The fake WCS of fake_wcs = True (see the class doc): the install
        tree under <tmp>/wcs-root, the fake systemctl, the stats server
        (stats_kwargs over the class's) stopped at cleanup; sets
        self.fake_wcs_config and returns the tree."""
        import wcs
        import wcs_service

        self.wcs = wcs.make_install_tree(os.path.join(self.tmp, "wcs-root"))
        self.wcs_service = self.wcs.service()
        cmds = wcs_service.make_service_scripts(self.wcs.service_dir)
        kw = dict(self.stats_kwargs)
        kw.update(stats_kwargs)
        kw.setdefault("restart_file", self.wcs_service.restart_file)
        self.stats = wcs.StatsServer(**kw).start()
        self.addCleanup(self.stats.stop)
        self.fake_wcs_config = (
            "[wcs]\nhome = %s\nrestart_command = %s\nstatus_command = %s\nenable_command = %s\n"
            "[ready]\nurl = %s\ninterval_ms = 50\ntimeout = 20\n"
            "[imds]\ntimeout_ms = 500\nattempts = 2\n"
            "[drain]\nrest_url = http://127.0.0.1:%d/rest-api\n"
            % (
                self.wcs.home,
                cmds["restart_command"],
                cmds["status_command"],
                cmds["enable_command"],
                self.stats.url,
                self.stats.port,
            )
        )
        return self.wcs

    def write_config(self, text, path=None):
        """Write the agent config (mode 0600); returns its path.  The main
        config (path None) starts with self.fake_wcs_config (fake_wcs)."""
        if path is None:
            text = getattr(self, "fake_wcs_config", "") + text
        path = path or self.config_path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def twin_env(self, env=None):
        """The twin's AWS_* variables (IMDS, and with use_aws the endpoints
        and AWS_REGION) under env (whose None values remove a variable)."""
        out = {k: v for k, v in self.twin.env().items() if k.startswith("AWS_")}
        out.update(env or {})
        return out

    def no_tag_args(self, args, global_args):
        """Without use_aws the twin has no EC2, so the wcs-agent:result tag
        (design §8.6) of a run has nowhere to go: runs get
        --set signal.tag_instance=false (a test of the tag uses use_aws)."""
        if self.use_aws or not args or args[0] not in ("run", "plan"):
            return tuple(global_args)
        return ("--set", "signal.tag_instance=false") + tuple(global_args)

    def run_agent(self, *args, env=None, global_args=(), timeout=None, input=None):
        global_args = self.no_tag_args(args, global_args)
        return run_agent(
            args,
            config_path=self.config_path,
            state_dir=self.state_dir,
            imds_url=self.imds.url,
            env=self.twin_env(env),
            global_args=global_args,
            timeout=timeout or self.agent_timeout,
            input=input,
            home=self.home,
        )

    def start_agent(self, *args, env=None, global_args=()):
        """The agent in the background (see start_agent()); its PID is
        killed at cleanup if it is still running."""
        global_args = self.no_tag_args(args, global_args)
        p = start_agent(
            args,
            config_path=self.config_path,
            state_dir=self.state_dir,
            imds_url=self.imds.url,
            env=self.twin_env(env),
            global_args=global_args,
            home=self.home,
        )

        def reap():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.communicate()

        self.addCleanup(reap)
        return p

    def imds_request(self, method, path, headers=None, body=None, timeout=5.0):
        """A raw request to the twin's IMDS: (status, headers, body)."""
        return http_request(method, self.imds.url + path, headers, body, timeout)

    def imds_token(self, ttl=21600):
        status, hdrs, body = self.imds_request(
            "PUT", imds.TOKEN_PATH, {imds.TTL_HEADER: str(ttl)}
        )
        self.assertEqual(status, 200, body)
        return body.decode("ascii")

    def imds_get(self, path, token, **kw):
        headers = {} if token is None else {imds.TOKEN_HEADER: token}
        return self.imds_request("GET", path, headers, **kw)

    def assert_all_gets_had_valid_token(self):
        gets = self.imds.requests("GET")
        bad = [r for r in gets if not r["token_valid"]]
        self.assertFalse(bad, "GETs without a valid token: %r" % bad)
