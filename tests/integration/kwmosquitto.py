"""
kwmosquitto - a real Mosquitto broker for black-box tests, and a QoS 1
publisher that survives broker restarts.

    broker = Mosquitto(tmp_dir).start()     # 127.0.0.1, an ephemeral port
    broker.url                              # "mqtt://127.0.0.1:PORT"
    broker.restart()                        # same port, same persistent state
    broker.stop()

The broker runs Debian's /usr/sbin/mosquitto (2.0) with its own config in
tmp_dir: one listener on 127.0.0.1, persistence on (so persistent sessions
and their queued QoS 1 messages survive a clean restart), anonymous access
unless users= gives a password file, and every packet logged (verbose=True,
the default) to tmp_dir/mosquitto.log with timestamps, which log_text() and
packets() read: tests use it to see exactly when a client acknowledged.

Publisher(broker) publishes at QoS 1 and returns only once the broker has
confirmed (PUBACK) every message; a message whose confirmation was lost to
a broker restart is published again (the same bytes: receivers must be
idempotent, as kilowatt is).

Every wait is bounded.  Standard library plus Debian's python3-paho-mqtt.
"""
import os
import pwd
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

MOSQUITTO_BIN = "/usr/sbin/mosquitto"
START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 20


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Mosquitto:
    """One mosquitto process and its directory.  start() may be called again
    after stop() (or use restart()): the port and the persistence file stay."""

    def __init__(self, tmp_dir, users=None, verbose=True, extra_config=""):
        self.dir = Path(tmp_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.users = dict(users or {})  # {name: password}: anonymous access off
        self.verbose = verbose
        self.extra_config = extra_config
        self.port = None
        self.proc = None
        self.starts = 0
        self.log_path = self.dir / "mosquitto.log"
        self.conf_path = self.dir / "mosquitto.conf"

    @property
    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"

    def url_with(self, user, password):
        return f"mqtt://{user}:{password}@127.0.0.1:{self.port}"

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _write_config(self):
        lines = [
            f"listener {self.port} 127.0.0.1",
            # As root mosquitto would switch to user "mosquitto", who cannot
            # write our temporary directory; as anyone else it keeps its user.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            "persistence true",
            f"persistence_location {self.dir}/",
            "persistence_file mosquitto.db",
            "autosave_interval 1",
            f"log_dest file {self.log_path}",
            "log_timestamp true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            "connection_messages true",
            "max_queued_messages 0",      # never drop what a persistent session holds
            "max_inflight_messages 20",
        ]
        lines += ["log_type all"] if self.verbose else ["log_type error", "log_type warning",
                                                        "log_type notice", "log_type information"]
        if self.users:
            pw = self.dir / "passwd"
            pw.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
            os.chmod(pw, 0o600)
            subprocess.run(["mosquitto_passwd", "-U", str(pw)], check=True, timeout=30,
                           capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines += ["allow_anonymous true"]
        if self.extra_config:
            lines.append(self.extra_config)
        self.conf_path.write_text("\n".join(lines) + "\n")

    def start(self):
        assert not self.running, "already running"
        first = self.port is None
        for _ in range(5):
            if self.port is None:
                self.port = free_port()
            self._write_config()
            self.starts += 1
            self._stderr = open(self.dir / f"mosquitto-stderr-{self.starts}.log", "wb")
            self.proc = subprocess.Popen([MOSQUITTO_BIN, "-c", str(self.conf_path)],
                                         stdin=subprocess.DEVNULL, stdout=self._stderr,
                                         stderr=self._stderr, start_new_session=True)
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline and self.proc.poll() is None:
                if port_open(self.port):
                    return self
                time.sleep(0.02)
            self._kill()
            if first:
                self.port = None  # someone took the port meanwhile: pick another
            else:
                time.sleep(0.2)   # a restart keeps its port (clients know it)
        raise AssertionError(f"mosquitto did not start on port {self.port}:\n"
                             f"{self.stderr_text()}\n{self.log_text()[-3000:]}")

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        if self.proc:
            self._stderr.close()

    def stop(self):
        """SIGTERM (mosquitto then saves its persistence file) and a bounded wait."""
        if not self.running:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)
            raise AssertionError("mosquitto ignored SIGTERM")
        finally:
            self._stderr.close()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self):
        self.stop()
        return self.start()

    def stderr_text(self):
        return "".join(p.read_text(errors="replace")
                       for p in sorted(self.dir.glob("mosquitto-stderr-*.log")))

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_offset(self):
        """The log's current size: pass it to packets(since=) to see only
        what happens from now on."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def packets(self, client_id, since=0):
        """What the (verbose) log says passed between the broker and client_id,
        in order: ("PUBLISH", mid, topic) sent to the client and ("PUBACK",
        mid, None) received from it, plus ("CONNECT"/"DISCONNECT", None, None)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                text = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        cid = re.escape(client_id)
        send = re.compile(rf"Sending PUBLISH to {cid} \(d\d, q\d, r\d, m(\d+), '([^']*)'")
        ack = re.compile(rf"Received PUBACK from {cid} \(Mid: (\d+)")
        conn = re.compile(rf"New client connected from \S+ as {cid} ")
        gone = re.compile(rf"Client {cid} (closed its connection|disconnected)")
        out = []
        for line in text.splitlines():
            if m := send.search(line):
                out.append(("PUBLISH", int(m.group(1)), m.group(2)))
            elif m := ack.search(line):
                out.append(("PUBACK", int(m.group(1)), None))
            elif conn.search(line):
                out.append(("CONNECT", None, None))
            elif gone.search(line):
                out.append(("DISCONNECT", None, None))
        return out

    def close(self):
        """Stops the broker whatever its state (fixture teardown)."""
        try:
            self.stop()
        finally:
            if self.running:
                self._kill()


def confirmed(info):
    """Whether paho's MQTTMessageInfo says the broker confirmed the message
    (paho raises instead of answering False when it was never sent)."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return False


class Publisher:
    """A QoS 1 publisher (paho) that confirms every message.

    publish_all(msgs) sends [(topic, payload), ...] keeping up to `window`
    messages in flight and returns once the broker has confirmed each one;
    when the broker goes away it reconnects and publishes the unconfirmed
    ones again.  Bounded by timeout seconds in all."""

    def __init__(self, broker, client_id="kw-test-publisher", username=None, password=None):
        import paho.mqtt.client as mqtt
        self.mqtt = mqtt
        self.broker = broker
        self.client = mqtt.Client(client_id=client_id, clean_session=True,
                                  protocol=mqtt.MQTTv311)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc: rc == 0 and self.connected.set()
        self.client.on_disconnect = lambda c, u, rc: self.connected.clear()
        self.client.reconnect_delay_set(0.05, 0.5)
        self.started = False

    def _ensure(self, deadline):
        if not self.started:
            while True:
                try:
                    self.client.connect("127.0.0.1", self.broker.port, keepalive=30)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            self.client.loop_start()
            self.started = True
        while not self.connected.wait(timeout=0.1):
            if time.monotonic() > deadline:
                raise AssertionError("publisher could not connect to the broker")

    def publish_all(self, msgs, window=200, timeout=120):
        deadline = time.monotonic() + timeout
        pending = list(msgs)
        while pending:
            self._ensure(deadline)
            failed = []
            inflight = []
            for topic, payload in pending:
                info = self.client.publish(topic, payload, qos=1)
                inflight.append(((topic, payload), info))
                if len(inflight) >= window:
                    failed += self._settle(inflight, deadline)
                    inflight = []
            failed += self._settle(inflight, deadline)
            pending = failed
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(pending)} messages not confirmed in {timeout}s")

    def _settle(self, inflight, deadline):
        """Waits (at most 10 s this round) for the confirmations; returns the
        messages to send again."""
        round_end = min(deadline, time.monotonic() + 10)
        failed = []
        for msg, info in inflight:
            while not confirmed(info) and time.monotonic() < round_end:
                try:
                    info.wait_for_publish(timeout=0.1)
                except (RuntimeError, ValueError):
                    break  # not sent (no connection): publish it again
            if not confirmed(info):
                failed.append(msg)
        return failed

    def publish(self, topic, payload, timeout=30):
        self.publish_all([(topic, payload)], timeout=timeout)

    def close(self):
        if self.started:
            self.client.disconnect()
            self.client.loop_stop()
            self.started = False
