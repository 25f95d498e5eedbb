"""`kilowatt simulate` (src/sim/, src/cli/cmd_simulate.c), black-box.

Over http:// against a real kilowatt: seed 000's counter CSV backfilled and
then sent live at high speed, its hourly totals against an independent
computation (kwlib's energy model); a profile's count, determinism and
idempotence; every way of being refused (exit status and message); the
progress line under a pseudo-terminal and silence without one; SIGINT.

Through real brokers, each checked by an independent consumer (paho,
pika): every message arrives with the exact seed-000 JSON, published with
QoS 1 / persistent under publisher confirms, and nothing is missing after
the broker is restarted in the middle of a stream.  One mosquitto
(kwmosquitto) and one rabbitmq-server (kwrabbit) serve the module.

Every wait is bounded.
"""
import json
import os
import pty
import select
import signal
import subprocess
import threading
import time

import pytest

import kwmosquitto
from kwlib import (DATA, KW_BIN, MIN, base_env, compare_recent, iso, load_sensor_csv, metric,
                   ms, now_ms, sanitizer_reports)
from kwrabbit import Rabbit, free_port

SENSOR = DATA / "sensor.csv"
CSV_T0 = ms("2025-03-05T00:00:00Z")
STEP = 10 * MIN
WAIT_S = 60
KEYS = {"timestamp", "device_id", "measurement_value"}


# --- helpers -------------------------------------------------------------------

def sim_argv(*args):
    return [KW_BIN, "simulate", *map(str, args)]


def sim_env(token=None):
    env = base_env()
    if token:
        env["KILOWATT_TOKEN"] = token
    return env


def simulate(*args, token=None, timeout=120):
    """Runs `kilowatt simulate ARGS` to completion (no terminal)."""
    p = subprocess.run(sim_argv(*args), env=sim_env(token), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    assert not sanitizer_reports(p.stderr), p.stderr
    return p


def start_simulate(*args, token=None):
    """`kilowatt simulate ARGS` in the background; finish() collects it."""
    return subprocess.Popen(sim_argv(*args), env=sim_env(token), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p, timeout=WAIT_S):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=30)
        raise AssertionError(f"kilowatt simulate did not finish in {timeout}s:\n{err}")
    assert not sanitizer_reports(err), err
    return p.returncode, out, err


def wait_for(what, fn, timeout=WAIT_S, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def floor_step(t):
    return t - t % STEP


def stdout_run(*args):
    """The same readings as a run to stdout (no waiting for the clock):
    [(ts, value)] in order."""
    p = simulate(*args, "--speed", "1e9", "--to", "-")
    assert p.returncode == 0, p.stderr
    return [(m["timestamp"], m["measurement_value"])
            for m in map(json.loads, p.stdout.splitlines())]


def check_message(body, device):
    """One message is exactly seed 000's JSON; returns (timestamp, value)."""
    doc = json.loads(body)
    assert set(doc) == KEYS, doc
    assert doc["device_id"] == device
    assert isinstance(doc["timestamp"], int)
    return doc["timestamp"], doc["measurement_value"]


def run_on_pty(argv, env, timeout=WAIT_S):
    """Runs argv with stderr on a pseudo-terminal; returns (rc, bytes written)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=slave)
    os.close(slave)
    out, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        else:
            p.kill()
            raise AssertionError(f"simulate on a pty did not end in {timeout}s: {out!r}")
        return p.wait(timeout=30), out
    finally:
        os.close(master)


# --- over http:// against kilowatt --------------------------------------------

def test_http_csv_counter_backfill_then_live(kw):
    """seed 000's cumulative counter: the first readings are history (sent
    as fast as kilowatt confirms, 1000 per request), the last 40 lie ahead
    of the clock and go live at --speed 20000; the hourly totals equal the
    model's."""
    kw.create_device(name="Sim counter", serial="sim-ctr", timezone="Europe/Brussels",
                     reading_type="counter")
    token = kw.token("ingest")
    values = load_sensor_csv()
    t0 = floor_step(now_ms()) - (len(values) - 40) * STEP
    readings = [(t0 + i * STEP, v) for i, v in enumerate(values)]
    p = simulate("--csv", SENSOR, "--device", "sim-ctr", "--to", f"http://127.0.0.1:{kw.port}",
                 "--start", iso(t0), "--speed", 20000, token=token)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "" and p.stdout == ""  # quiet off a terminal
    m = kw.metrics()
    assert metric(m, "kilowatt_readings_stored_total") == len(values)
    assert metric(m, "kilowatt_readings_conflict_total") == 0
    doc = compare_recent(kw, "sim-ctr", "Europe/Brussels", readings, True, t0,
                         readings[-1][0])
    assert doc["total_kwh"] == pytest.approx(values[-1] - values[0], rel=1e-9)


def test_http_kilowatt_restart_midstream(kw_factory):
    """kilowatt goes away in the middle of a stream and comes back on the same
    address: the simulator retries, sends the unconfirmed batch again, and
    the totals are still exact (a repeated reading is a duplicate)."""
    port = free_port()
    kw = kw_factory(env={"HTTP_LISTEN": f"127.0.0.1:{port}", "INGEST_MAX_FUTURE": "7d"},
                    listen_flag=False)  # the live part runs 83 h ahead of the clock
    kw.create_device(name="Sim restart", serial="sim-rst", timezone="UTC",
                     reading_type="counter")
    token = kw.token("ingest")
    values = load_sensor_csv()[:600]
    t0 = floor_step(now_ms()) - 100 * STEP
    readings = [(t0 + i * STEP, v) for i, v in enumerate(values)]
    p = start_simulate("--csv", SENSOR, "--count", len(values), "--device", "sim-rst",
                       "--to", f"http://127.0.0.1:{port}", "--start", iso(t0), "--speed",
                       60000, token=token)  # 100 at once, then one every 10 ms
    try:
        wait_for("150 readings", lambda: metric(kw.metrics(),
                                                "kilowatt_readings_stored_total") >= 150)
        kw.stop()
        time.sleep(0.3)
        kw.start()
    finally:
        rc, out, err = finish(p)
    assert rc == 0, err
    assert f"http://127.0.0.1:{port}" in err and "reconnecting" in err, err
    assert f"reconnected to http://127.0.0.1:{port}" in err
    compare_recent(kw, "sim-rst", "UTC", readings, True, t0, readings[-1][0])
    assert metric(kw.metrics(), "kilowatt_readings_conflict_total") == 0


@pytest.mark.kw_env(INGEST_AUTO_CREATE_DEVICES="true")
def test_http_profile_count_deterministic_idempotent(kw):
    token = kw.token("ingest")
    url = f"http://127.0.0.1:{kw.port}"
    start = floor_step(now_ms()) - 2 * 24 * 60 * MIN
    until = start + 24 * 60 * MIN
    args = ("--profile", "household", "--device", "sim-house", "--seed", 42, "--tz",
            "Europe/Brussels", "--start", iso(start), "--until", iso(until))
    p = simulate(*args, "--to", url, token=token)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    stored = kw.readings("sim-house", iso(start), iso(until + 1))
    want = stdout_run(*args)
    assert len(want) == 145  # midnight to midnight, both ends
    assert [r["timestamp_ms"] for r in stored] == [start + k * STEP for k in range(145)]
    assert [(r["timestamp_ms"], r["value"]) for r in stored] == want
    assert all(v >= 0 for _, v in want) and len({v for _, v in want}) > 20

    # the same seed again: the same values, so only duplicates
    before = kw.metrics()
    assert simulate(*args, "--to", url, token=token).returncode == 0
    after = kw.metrics()
    assert metric(after, "kilowatt_readings_duplicate_total") - \
        metric(before, "kilowatt_readings_duplicate_total") == 145
    assert metric(after, "kilowatt_readings_conflict_total") == 0
    assert metric(after, "kilowatt_readings_stored_total") == 145

    # --count without --start: live from now, 7 readings at --speed 600000
    p = simulate("--profile", "office", "--device", "sim-office", "--count", 7, "--speed",
                 600000, "--to", url, token=token, timeout=WAIT_S)
    assert p.returncode == 0, p.stderr
    got = kw.readings("sim-office", iso(now_ms() - 60 * MIN), iso(now_ms() + 120 * MIN))
    ts = [r["timestamp_ms"] for r in got]
    assert len(ts) == 7 and all(b - a == STEP for a, b in zip(ts, ts[1:]))


def test_http_refusals_exit_with_clear_messages(kw, tmp_path):
    kw.create_device(name="Sim meter", serial="sim-m")
    kw.create_device(name="Other", serial="other")
    token = kw.token("ingest")
    other = kw.token("device:other")
    url = f"http://127.0.0.1:{kw.port}"
    base = ("--profile", "pv", "--device", "sim-m", "--count", 3, "--start", "-1h")

    def refused(rc, text, *args, token=token):
        t = time.monotonic()
        p = simulate(*args, token=token)
        assert p.returncode == rc, (args, p.returncode, p.stderr)
        assert text in p.stderr, (text, p.stderr)
        assert p.stdout == ""
        assert time.monotonic() - t < 20
        return p

    refused(5, f"{url} refused the token (401)", *base, "--to", url, token="kw_" + "A" * 43)
    refused(5, "give one with --token or KILOWATT_TOKEN", *base, "--to", url, token=None)
    refused(5, "refused the token (403): this token may not write device 'sim-m'", *base,
            "--to", url, token=other)
    port = free_port()
    refused(4, f"cannot connect to http://127.0.0.1:{port}", *base, "--to",
            f"http://127.0.0.1:{port}", "--connect-wait", "1s")
    refused(4, f"no kilowatt ingest API at {url}/nope (HTTP 404)", *base, "--to", url + "/nope")
    refused(1, "unknown device 'no-such'", "--profile", "pv", "--device", "no-such",
            "--count", 1, "--to", url)
    bad = tmp_path / "bad.csv"
    bad.write_text("value\n1\n2\n\nx1\n")
    refused(3, f"{bad}:5: value 'x1' is not a number", "--csv", bad, "--device", "sim-m",
            "--to", url)
    refused(2, "unsupported scheme 'ftp'", *base, "--to", "ftp://127.0.0.1")
    refused(2, "--device ID is required", "--profile", "pv", "--to", url)
    m = kw.metrics()
    assert metric(m, "kilowatt_readings_stored_total") == 0  # nothing got through


def test_progress_line_on_a_terminal_only(kw):
    kw.create_device(name="Sim tty", serial="sim-tty")
    token = kw.token("ingest")
    args = ("--profile", "household", "--device", "sim-tty", "--seed", 1, "--count", 20,
            "--speed", 12000, "--to", f"http://127.0.0.1:{kw.port}")
    began = time.monotonic()
    rc, out = run_on_pty(sim_argv(*args), sim_env(token))
    took = time.monotonic() - began
    assert rc == 0, out
    assert not sanitizer_reports(out.decode(errors="replace"))
    assert b"\r[" in out and b"\x1b[K" in out      # redrawn in place
    assert b"/20 " in out and b"ETA " in out and b"/s" in out
    assert b"20/20  100%" in out
    assert b"sent 20 of 20 readings" in out        # the summary
    draws = out.count(b"\r[")
    assert 2 <= draws <= 10 * took + 3             # at most 10 a second
    p = simulate(*args, "--start", "-1d", token=token)  # no terminal: silent
    assert p.returncode == 0 and p.stderr == "" and p.stdout == ""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_after_confirmations(kw, sig):
    kw.create_device(name="Sim live", serial="sim-live")
    token = kw.token("ingest")
    p = start_simulate("--profile", "office", "--device", "sim-live", "--to",
                       f"http://127.0.0.1:{kw.port}", token=token)  # live: 1 per 10 min
    wait_for("the first reading", lambda: metric(kw.metrics(),
                                                  "kilowatt_readings_stored_total") == 1)
    p.send_signal(sig)
    rc, out, err = finish(p, timeout=20)
    assert rc == 128 + sig, err
    name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
    assert f"stopped by {name}: sent 1 reading to http://127.0.0.1:{kw.port}" in err
    assert "not confirmed" not in err


# --- through MQTT (mosquitto) ---------------------------------------------------

@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = kwmosquitto.Mosquitto(tmp_path_factory.mktemp("sim-mosquitto"), verbose=False).start()
    yield b
    b.close()


class Collector:
    """An independent MQTT consumer (paho): a persistent session (fixed id,
    clean session off), so what the broker confirmed to the simulator
    reaches it even across a broker restart.  It reconnects by itself."""

    def __init__(self, broker, topic, client_id):
        import paho.mqtt.client as mqtt
        self.msgs, self.lock = [], threading.Lock()
        self.subscribed = threading.Event()
        self.c = mqtt.Client(client_id=client_id, clean_session=False,
                             protocol=mqtt.MQTTv311)
        self.c.reconnect_delay_set(0.05, 0.5)
        self.c.on_connect = lambda c, u, f, rc: c.subscribe(topic, qos=1)
        self.c.on_subscribe = lambda c, u, mid, q: self.subscribed.set()
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", broker.port, keepalive=30)
        self.c.loop_start()
        assert self.subscribed.wait(WAIT_S), "the consumer could not subscribe"

    def _on_message(self, c, u, m):
        with self.lock:
            self.msgs.append((m.topic, m.qos, m.payload))

    def distinct(self):
        with self.lock:
            return len({json.loads(p)["timestamp"] for _, _, p in self.msgs})

    def wait(self, n):
        wait_for(f"{n} distinct messages (have {self.distinct()})",
                 lambda: self.distinct() >= n)
        time.sleep(0.2)  # and no more than that
        with self.lock:
            return list(self.msgs)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def test_mqtt_every_message_arrives(broker):
    col = Collector(broker, "kilowatt/+/measurements", "sim-col-1")
    try:
        p = simulate("--csv", SENSOR, "--device", "sim-mq1", "--to", broker.url, "--start",
                     iso(CSV_T0))
        assert p.returncode == 0 and p.stderr == "", p.stderr
        msgs = col.wait(3998)
    finally:
        col.close()
    want = {(CSV_T0 + i * STEP, v) for i, v in enumerate(load_sensor_csv())}
    got = {check_message(body, "sim-mq1") for _, _, body in msgs}
    assert got == want
    assert {t for t, _, _ in msgs} == {"kilowatt/sim-mq1/measurements"}  # the default topic
    assert {q for _, q, _ in msgs} == {1}  # published with QoS 1


def test_mqtt_broker_restart_midstream(broker):
    """The broker is restarted while readings are being sent: the simulator
    reconnects, sends what was not acknowledged again, and the consumer
    ends up with every reading."""
    col = Collector(broker, "sim/restart", "sim-col-2")
    t0 = floor_step(now_ms()) - 50 * STEP
    args = ("--profile", "household", "--seed", 5, "--device", "sim-mq2", "--start", iso(t0),
            "--count", 400)
    try:
        p = start_simulate(*args, "--speed", 60000, "--to", broker.url + "/sim/restart")
        wait_for("100 messages before the restart", lambda: col.distinct() >= 100)
        broker.restart()
        rc, out, err = finish(p)
        assert rc == 0, err
        assert "lost the connection to mqtt://127.0.0.1" in err and "reconnecting" in err
        assert "reconnected to mqtt://127.0.0.1" in err
        msgs = col.wait(400)
    finally:
        col.close()
    got = {check_message(body, "sim-mq2") for _, _, body in msgs}
    assert got == set(stdout_run(*args))  # nothing missing, nothing else


def test_mqtt_refusals(tmp_path):
    locked = kwmosquitto.Mosquitto(tmp_path / "locked", users={"meter": "right"},
                                   verbose=False).start()
    try:
        base = ("--profile", "pv", "--device", "sim-mq3", "--count", 1)
        p = simulate(*base, "--to", locked.url_with("meter", "wrong"))
        assert p.returncode == 5, p.stderr
        assert f"mqtt://meter:***@127.0.0.1:{locked.port} refused the connection" in p.stderr
        assert "wrong" not in p.stderr  # the password is never shown
        p = simulate(*base, "--to", locked.url_with("meter", "right"))
        assert p.returncode == 0, p.stderr
    finally:
        locked.close()
    port = free_port()
    p = simulate("--profile", "pv", "--device", "x", "--count", 1, "--connect-wait", "1s",
                 "--to", f"mqtt://127.0.0.1:{port}")
    assert p.returncode == 4 and f"cannot connect to mqtt://127.0.0.1:{port}" in p.stderr


# --- through AMQP (RabbitMQ) ----------------------------------------------------

@pytest.fixture(scope="module")
def rabbit():
    r = Rabbit()
    r.start()
    try:
        yield r
    finally:
        r.close()


def bind_queue(rabbit, exchange, queue, key="#"):
    conn = rabbit.connection()
    try:
        ch = conn.channel()
        ch.exchange_declare(exchange, "topic", durable=True)
        ch.queue_declare(queue, durable=True)
        ch.queue_bind(queue, exchange, key)
    finally:
        conn.close()


def queue_depth(rabbit, queue):
    conn = rabbit.connection()
    try:
        return conn.channel().queue_declare(queue, durable=True, passive=True) \
            .method.message_count
    finally:
        conn.close()


def drain_queue(rabbit, queue):
    """Every message in the queue: [(routing_key, properties, body)]."""
    out = []
    conn = rabbit.connection()
    try:
        ch = conn.channel()
        for _ in range(100000):
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            out.append((method.routing_key, props, body))
    finally:
        conn.close()
    raise AssertionError("the queue did not run dry")


def test_amqp_every_message_confirmed(rabbit):
    bind_queue(rabbit, "sim.x1", "sim.q1")
    p = simulate("--csv", SENSOR, "--device", "sim-am1", "--to",
                 rabbit.url + "?exchange=sim.x1", "--start", iso(CSV_T0))
    assert p.returncode == 0 and p.stderr == "", p.stderr
    msgs = drain_queue(rabbit, "sim.q1")
    assert len(msgs) == 3998  # nothing twice without a failure
    want = {(CSV_T0 + i * STEP, v) for i, v in enumerate(load_sensor_csv())}
    assert {check_message(body, "sim-am1") for _, _, body in msgs} == want
    assert {rk for rk, _, _ in msgs} == {"sim-am1"}  # routing key: the device
    assert {(pr.delivery_mode, pr.content_type) for _, pr, _ in msgs} == \
        {(2, "application/json")}


def test_amqp_broker_restart_midstream(rabbit):
    bind_queue(rabbit, "sim.x2", "sim.q2")
    t0 = floor_step(now_ms()) - 50 * STEP
    args = ("--profile", "pv", "--lat", "-33.9", "--lon", "18.4", "--seed", 9, "--device",
            "sim-am2", "--start", iso(t0), "--count", 400)
    p = start_simulate(*args, "--speed", 30000, "--to",
                       rabbit.url + "?exchange=sim.x2&routing_key=meters.{device}")
    try:
        wait_for("100 messages before the restart", lambda: queue_depth(rabbit, "sim.q2") >= 100)
        rabbit.restart()
    finally:
        rc, out, err = finish(p, timeout=120)
    assert rc == 0, err
    assert "amqp://guest:***@127.0.0.1" in err and "reconnecting" in err, err
    assert "reconnected to amqp://guest:***@127.0.0.1" in err
    msgs = drain_queue(rabbit, "sim.q2")
    assert {rk for rk, _, _ in msgs} == {"meters.sim-am2"}
    got = {check_message(body, "sim-am2") for _, _, body in msgs}
    assert got == set(stdout_run(*args))  # nothing missing, nothing else


def test_amqp_refusals(rabbit):
    base = ("--profile", "pv", "--device", "sim-am3", "--count", 1)
    p = simulate(*base, "--to", rabbit.url.replace("guest:guest", "guest:wrong"))
    assert p.returncode == 5 and "ACCESS_REFUSED" in p.stderr, p.stderr
    assert "wrong" not in p.stderr
    p = simulate(*base, "--to", rabbit.url.replace("%2f", "no-such-vhost"))
    assert p.returncode == 4 and "NOT_ALLOWED" in p.stderr, p.stderr
    # an exchange no queue is bound to: the reading would be lost, so it is refused
    p = simulate(*base, "--to", rabbit.url + "?exchange=sim.nobody")
    assert p.returncode == 1, p.stderr
    assert "could not route it to any queue (312 NO_ROUTE)" in p.stderr
    port = free_port()
    p = simulate(*base, "--connect-wait", "1s", "--to", f"amqp://127.0.0.1:{port}")
    assert p.returncode == 4, p.stderr
    assert f"cannot connect to amqp://127.0.0.1:{port}/%2f?exchange=kilowatt: " in p.stderr
