"""
kwrabbit - a real RabbitMQ broker for the integration tests.

    rabbit = Rabbit()          # a fresh directory under /tmp, or Rabbit(dir): one
                               #   that user rabbitmq can reach (not pytest's tmp_path)
    rabbit.start()             # bounded wait until it accepts AMQP logins
    rabbit.url                 # amqp://guest:guest@127.0.0.1:<port>/%2f
    rabbit.port                # its AMQP port on 127.0.0.1
    rabbit.connection()        # a pika.BlockingConnection to it
    rabbit.ctl("list_queues")  # rabbitmqctl against this node -> stdout
    rabbit.restart()           # stop + start on the same data (durable
                               #   queues and persistent messages survive)
    rabbit.stop()              # it stops; no beam or epmd process is left
    rabbit.close()             # stop() and remove the directory if we made it

or the context manager `with Rabbit() as rabbit: ...` (start, then close).

Design:
 - Debian's rabbitmq-server runs as the user `rabbitmq` (when the tests run
   as root we start it as that user, so its directory is owned by it; as
   another user it runs as that user).  Everything the node writes (Mnesia
   database, logs, Erlang cookie through HOME) lives in the directory, which
   must be reachable by that user: by default a fresh one under /tmp.
 - Every port is free and non-default: AMQP, Erlang distribution, and epmd.
   We run our own epmd in the foreground on its own port (ERL_EPMD_PORT),
   so the node never starts a daemonized one that would outlive the tests;
   stop() ends the node, then that epmd, then anything left in their
   process groups (bounded waits, SIGKILL as the last resort).
 - No plugins (the node starts in ~5 s), the disk-free alarm is set low
   enough for a busy test machine, and the node listens on 127.0.0.1 only.

Standard library plus python3-pika (for start()'s readiness check and
connection()).
"""
import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
EPMD = shutil.which("epmd") or "/usr/bin/epmd"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rabbit:
    def __init__(self, workdir=None, user="guest", password="guest"):
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="kwrabbit-"))
        self.user, self.password = user, password
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.nodename = f"kwtest{self.port}@localhost"
        self.proc = None
        self.epmd = None
        self.starts = 0
        self._runas = None
        if os.geteuid() == 0:
            try:
                self._runas = pwd.getpwnam("rabbitmq")
            except KeyError:
                pass
        self._prepare()

    # --- public ------------------------------------------------------------

    @property
    def url(self):
        return f"amqp://{self.user}:{self.password}@127.0.0.1:{self.port}/%2f"

    def start(self):
        """Starts the node (and its epmd); returns once it accepts logins."""
        assert not self.running, "already running"
        if self.starts == 0:
            atexit.register(self.stop)  # even if the caller forgets: no beam left behind
        self.starts += 1
        log = open(self.dir / f"server-{self.starts}.out", "wb")
        self.epmd = self._spawn([EPMD, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                                log)
        self.proc = self._spawn([str(RABBIT_BIN / "rabbitmq-server")], log)
        log.close()
        self._wait_ready()
        return self

    def stop(self):
        """Stops the node cleanly (SIGTERM; SIGKILL after a bounded wait),
        then its epmd; leaves no process behind."""
        for p in (self.proc, self.epmd):
            if p is not None:
                _end_group(p)
        self.proc = self.epmd = None

    def restart(self):
        self.stop()
        return self.start()

    def close(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def ctl(self, *args, timeout=60):
        """Runs rabbitmqctl against this node; returns its stdout (raises
        AssertionError on failure)."""
        p = subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", self.nodename, *args],
                           env=self._env(), cwd=self.dir, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL,
                           **self._user_kwargs())
        assert p.returncode == 0, f"rabbitmqctl {args} -> {p.returncode}\n{p.stdout}{p.stderr}"
        return p.stdout

    def connection(self, timeout=10):
        import pika
        params = pika.URLParameters(self.url)
        params.socket_timeout = timeout
        params.blocked_connection_timeout = timeout
        params.connection_attempts = 1
        return pika.BlockingConnection(params)

    def log_text(self):
        """Everything the node logged (its log files and console output)."""
        out = []
        for f in sorted(self.dir.glob("log/*.log")) + sorted(self.dir.glob("server-*.out")):
            try:
                out.append(f.read_text(errors="replace"))
            except OSError:
                pass
        return "".join(out)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # --- inside ------------------------------------------------------------

    def _prepare(self):
        if self._runas and not self._own_dir:
            for d in self.dir.resolve().parents:  # the node must reach its directory
                if d.exists() and not os.stat(d).st_mode & 0o001:
                    raise ValueError(f"Rabbit({self.dir}): user rabbitmq cannot enter {d}; "
                                     "use Rabbit() (a directory under /tmp) instead")
        (self.dir / "mnesia").mkdir(parents=True, exist_ok=True)
        (self.dir / "log").mkdir(exist_ok=True)
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            f"distribution.listener.interface = 127.0.0.1\n"
            "disk_free_limit.absolute = 50MB\n"
            "log.console = false\n"
            "log.file.level = info\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")
        if self._runas:
            os.chmod(self.dir, 0o755)
            for p in [self.dir, *self.dir.rglob("*")]:
                os.chown(p, self._runas.pw_uid, self._runas.pw_gid)

    def _env(self):
        d = self.dir
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": str(d),  # the Erlang cookie
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(d / "feature_flags"),
            "RABBITMQ_PID_FILE": str(d / "rabbit.pid"),
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "LC_ALL": "C.UTF-8",
        })
        return env

    def _user_kwargs(self):
        if not self._runas:
            return {}
        return {"user": self._runas.pw_uid, "group": self._runas.pw_gid, "extra_groups": []}

    def _spawn(self, argv, log):
        return subprocess.Popen(argv, env=self._env(), cwd=self.dir, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True,
                                **self._user_kwargs())

    def _wait_ready(self):
        import pika
        deadline = time.monotonic() + START_TIMEOUT_S
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = self.log_text()
                self.stop()
                raise AssertionError(f"rabbitmq-server exited before accepting logins:\n"
                                     f"{text[-4000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                self.connection(timeout=5).close()
                return
            except (OSError, pika.exceptions.AMQPError) as e:
                last = e
            time.sleep(0.2)
        text = self.log_text()
        self.stop()
        raise AssertionError(f"rabbitmq did not accept logins within {START_TIMEOUT_S}s "
                             f"({last!r}):\n{text[-4000:]}")


def _end_group(p):
    """SIGTERM to p's process group, bounded wait, then SIGKILL to what is
    left of the group (the Erlang VM's helpers: erl_child_setup,
    inet_gethost)."""
    try:
        pgid = os.getpgid(p.pid)
    except ProcessLookupError:
        pgid = p.pid
    _signal_group(pgid, signal.SIGTERM)
    try:
        p.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(pgid, signal.SIGKILL)
    try:
        p.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"process {p.pid} survived SIGKILL")
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False
