"""The RabbitMQ input (src/ingest/amqp.c, docs/AMQP.md) against a real broker.

One rabbitmq-server (kwrabbit.Rabbit) serves the whole module; each test
uses its own exchange, queue and dead-letter exchange.  Messages are
published with python3-pika; what was stored is read back over kilowatt's
HTTP API and compared with what was sent (hourly totals computed here).

Covered: readings land with the right hourly totals; a burst is committed
in a few groups, repeats within a group counted once; poison messages go
to <queue>.dead, once each, and the stream goes on; a broker restart, a
SIGTERM and a kill -9 in mid-stream lose and double nothing; a failed
commit is nacked and retried, and never acknowledged (amqp.c invariants 1
and 3); two instances share one queue; a deleted queue is declared again;
bad credentials, addresses and settings are reported clearly.
"""
import json
import random
import re
import sqlite3
import threading
import time
from collections import defaultdict

import pika
import pytest

from kwlib import H, MIN, iso, metric, ms
from kwrabbit import Rabbit, free_port

T0 = ms("2025-01-06T00:00:00Z")
WAIT_S = 60  # every wait below is bounded by this


@pytest.fixture(scope="module")
def rabbit():
    r = Rabbit()
    r.start()
    try:
        yield r
    finally:
        r.close()


def topology(rabbit, tag, **extra):
    """Settings for one test's own exchange, queue and dead-letter exchange."""
    env = {"AMQP_URL": rabbit.url, "AMQP_EXCHANGE": f"kw.{tag}", "AMQP_QUEUE": f"q.{tag}",
           "AMQP_DEAD_LETTER_EXCHANGE": f"dlx.{tag}", "INGEST_AUTO_CREATE_DEVICES": "true"}
    env.update(extra)
    return env


def wait_for(what, fn, timeout=WAIT_S, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def amqp(kw, name, **labels):
    return metric(kw.metrics(), "kilowatt_amqp_" + name, **labels)


def start_consuming(kw_factory, env, name=None):
    kw = kw_factory(env=env, name=name)
    kw.wait_log(r"consuming queue")
    return kw


def reading(dev, ts, v):
    return {"timestamp": ts, "device_id": dev, "measurement_value": v}


def series(devices, hours, seed):
    """(device, ts, kWh) every 10 minutes at 5, 15, ... 55 past each hour,
    so that a reading's hour is the same whichever end of its interval counts."""
    rnd = random.Random(seed)
    return [(d, T0 + h * H + (5 + 10 * k) * MIN, round(rnd.uniform(0.001, 0.5), 3))
            for h in range(hours) for k in range(6) for d in devices]


def hourly(readings):
    out = defaultdict(float)
    for d, ts, v in {(d, ts): (d, ts, v) for d, ts, v in readings}.values():
        out[(d, ts - ts % H)] += v
    return out


def assert_totals(kws, readings, hours):
    """Hourly totals summed over the daemons kws equal those of readings
    (each (device, ts) counted once)."""
    want = hourly(readings)
    got = defaultdict(float)
    for kw in kws:
        for d in sorted({d for d, _, _ in readings}):
            r = kw.get(f"/api/v1/devices/{d}/consumption?from={iso(T0)}&to={iso(T0 + hours * H)}"
                       "&step=hour")
            if r.status == 404 and len(kws) > 1:
                continue  # this instance never saw the device
            assert r.status == 200, r
            for b in r.json()["buckets"]:
                if b["kwh"] is not None:
                    got[(d, ms(b["start"]))] += b["kwh"]
    assert set(got) == set(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], abs=1e-9), k


def stored_keys(kw, devices, hours):
    keys = []
    for d in devices:
        if kw.get(f"/api/v1/devices/{d}").status == 404:
            continue
        keys += [(d, r["timestamp_ms"]) for r in kw.readings(d, iso(T0), iso(T0 + hours * H))]
    return keys


class Publisher:
    """Publishes persistent messages with publisher confirms (a message
    counts as sent when the broker confirmed it), reconnecting and
    resending what was not confirmed when the broker goes away."""

    def __init__(self, rabbit, exchange, confirm=True):
        self.rabbit, self.exchange, self.confirm = rabbit, exchange, confirm
        self.conn = self.ch = None
        self.reconnects = 0

    def _open(self):
        self.conn = self.rabbit.connection()
        self.ch = self.conn.channel()
        if self.confirm:
            self.ch.confirm_delivery()

    def publish(self, body, key="meters.x.measurements", deadline_s=WAIT_S):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                if self.ch is None:
                    self._open()
                self.ch.basic_publish(self.exchange, key, body, mandatory=self.confirm,
                                      properties=pika.BasicProperties(delivery_mode=2))
                return
            except (pika.exceptions.AMQPError, OSError):
                if time.monotonic() > deadline:
                    raise
                self.close()
                self.reconnects += 1
                time.sleep(0.2)

    def close(self):
        try:
            if self.conn and self.conn.is_open:
                self.conn.close()
        except (pika.exceptions.AMQPError, OSError):
            pass
        self.conn = self.ch = None


def queue_depth(rabbit, queue):
    with rabbit.connection() as c:
        return c.channel().queue_declare(queue, passive=True).method.message_count


def prefill(rabbit, kw, env, readings):
    """Stops kw (it has declared the topology), queues one message per
    reading, and waits until the broker holds them all."""
    kw.stop()
    pub = Publisher(rabbit, env["AMQP_EXCHANGE"], confirm=False)
    for d, ts, v in readings:
        pub.publish(reading(d, ts, v))
    pub.close()
    wait_for("the queue to fill", lambda: queue_depth(rabbit, env["AMQP_QUEUE"]) == len(readings))


# --- the happy path ----------------------------------------------------------------


def test_messages_land_with_right_hourly_totals(rabbit, kw_factory):
    env = topology(rabbit, "land")
    kw = start_consuming(kw_factory, env)
    kw.create_device(serial="house-1", name="House 1")  # one known, two auto-created
    singles = series(["house-1", "house-2"], 6, seed=1)
    arrays = series(["flat-9"], 6, seed=2)
    pub = Publisher(rabbit, env["AMQP_EXCHANGE"])
    for d, ts, v in singles:
        pub.publish(reading(d, ts, v), key=f"meters.{d}.measurements")
    for i in range(0, len(arrays), 6):  # six readings per message
        pub.publish([reading(*x) for x in arrays[i:i + 6]])
    pub.close()
    sent = len(singles) + len(arrays) // 6
    wait_for("every message acknowledged", lambda: amqp(kw, "acked_total") == sent)
    assert_totals([kw], singles + arrays, 6)
    m = kw.metrics()
    assert metric(m, "kilowatt_amqp_deliveries_total") == sent
    assert metric(m, "kilowatt_amqp_readings_committed_total") == len(singles) + len(arrays)
    assert metric(m, "kilowatt_amqp_connected") == 1
    assert m["#TYPE kilowatt_amqp_connected"] == "gauge"
    assert m["#TYPE kilowatt_amqp_rejected_total"] == "counter"
    assert sum(v for k, v in m.items()
               if isinstance(k, tuple) and k[0] == "kilowatt_amqp_rejected_total") == 0
    assert queue_depth(rabbit, env["AMQP_QUEUE"]) == 0
    assert "x-dead-letter-exchange" in rabbit.ctl("list_queues", "name", "arguments")


def test_a_burst_is_committed_in_few_groups(rabbit, kw_factory):
    """3,000 queued messages: a handful of commits, not 3,000.  Messages of
    one group that repeat a reading (same device and timestamp) are all
    acknowledged; the repeat is a duplicate, or a conflict whose first value
    stays, and counts nothing twice."""
    env = topology(rabbit, "burst")
    kw = start_consuming(kw_factory, env)
    readings = series([f"b-{i}" for i in range(10)], 50, seed=3)[:3000]
    repeats = readings[:100] + [(d, ts, v + 1) for d, ts, v in readings[100:150]]
    prefill(rabbit, kw, env, readings + repeats)
    kw.start()
    wait_for("the burst acknowledged", lambda: amqp(kw, "acked_total") == 3150)
    m = kw.metrics()
    assert 1 <= metric(m, "kilowatt_amqp_commits_total") <= 30, m
    assert metric(m, "kilowatt_store_commits_total") <= 60  # + the daemon's own few
    assert metric(m, "kilowatt_amqp_readings_committed_total") == 3150
    assert metric(m, "kilowatt_readings_stored_total") == 3000
    assert metric(m, "kilowatt_readings_duplicate_total") == 100
    assert metric(m, "kilowatt_readings_conflict_total") == 50
    assert_totals([kw], readings, 50)


# --- bad messages ------------------------------------------------------------------


def test_poison_messages_go_to_the_dead_letter_queue(rabbit, kw_factory):
    env = topology(rabbit, "poison", INGEST_AUTO_CREATE_DEVICES="false")
    kw = start_consuming(kw_factory, env)
    kw.create_device(serial="p1")
    good = [reading("p1", T0 + 5 * MIN, 1.0), reading("p1", T0 + 15 * MIN, 2.0)]
    big = json.dumps(reading("p1", T0 + 25 * MIN, 3.0)) + " " * (1 << 20)
    poison = {
        b"not json": "parse_error",
        b"[{]": "parse_error",
        json.dumps({"timestamp": T0, "device_id": "p1"}).encode(): "missing_field",
        json.dumps(reading("ghost", T0, 1.0)).encode(): "unknown_device",
        json.dumps(reading("p1", T0 + 35 * MIN, -4.0)).encode(): "invalid_value",
        json.dumps([reading("p1", T0 + 45 * MIN, 1.0), 7]).encode(): "invalid_body",
        big.encode(): "too_large",
    }
    pub = Publisher(rabbit, env["AMQP_EXCHANGE"])
    pub.publish(good[0])
    for body in poison:
        pub.publish(body)
    pub.publish(good[1])  # the stream goes on after the poison
    pub.close()
    wait_for("the good ones acknowledged and the bad ones rejected",
             lambda: amqp(kw, "acked_total") == 2 and
             amqp(kw, "deliveries_total") == 2 + len(poison))
    # all of them in <queue>.dead, each once, nothing else
    dead = []
    with rabbit.connection() as c:
        ch = c.channel()
        for _ in range(100):
            method, props, body = ch.basic_get("q.poison.dead", auto_ack=True)
            if method is None:
                break
            assert props.headers["x-death"][0]["reason"] == "rejected"
            dead.append(body)
    assert sorted(dead) == sorted(poison)
    assert queue_depth(rabbit, "q.poison") == 0
    m = kw.metrics()
    want = defaultdict(int)
    for reason in poison.values():
        want[reason] += 1
    for reason, n in want.items():
        assert metric(m, "kilowatt_amqp_rejected_total", reason=reason) == n, reason
    # nothing of a rejected message was stored (the invalid_body one had a good first element)
    stored = kw.readings("p1", iso(T0), iso(T0 + H))
    assert [(r["timestamp_ms"], r["value"]) for r in stored] == [(T0 + 5 * MIN, 1.0),
                                                                  (T0 + 15 * MIN, 2.0)]
    # one log line per kind, not one per message
    log = kw.log_text()
    assert len(re.findall(r"reason=parse_error", log)) == 1, log
    assert re.search(r'rejected a message to dead-letter exchange \'dlx\.poison\': '
                     r'the message has \d+ bytes, more than the 1048576 allowed', log), log
    time.sleep(0.5)  # and nothing comes back (rejected, not requeued)
    assert amqp(kw, "deliveries_total") == 2 + len(poison)


# --- failures ----------------------------------------------------------------------


def test_broker_restart_mid_stream_loses_and_doubles_nothing(rabbit, kw_factory):
    env = topology(rabbit, "restart")
    kw = start_consuming(kw_factory, env)
    readings = series(["r-1", "r-2", "r-3"], 80, seed=4)[:1200]
    pub = Publisher(rabbit, env["AMQP_EXCHANGE"])
    done, errors = threading.Event(), []

    def feed():
        try:
            for d, ts, v in readings:
                pub.publish(reading(d, ts, v))
                time.sleep(0.002)  # a stream, still going when the broker restarts
        except Exception as e:  # reported by the test
            errors.append(e)
        finally:
            pub.close()
            done.set()

    t = threading.Thread(target=feed)
    t.start()
    wait_for("some messages consumed", lambda: amqp(kw, "acked_total") >= 100)
    assert not done.is_set()
    rabbit.restart()
    t.join(WAIT_S)
    assert done.is_set() and not errors, errors
    assert pub.reconnects >= 1  # the publisher really went through the restart
    wait_for("every reading stored",
             lambda: len(stored_keys(kw, ["r-1", "r-2", "r-3"], 80)) == len(readings),
             every=0.3)
    assert_totals([kw], readings, 80)
    m = kw.metrics()
    assert metric(m, "kilowatt_amqp_reconnects_total") >= 1
    assert metric(m, "kilowatt_amqp_connected") == 1
    assert "lost the connection to 127.0.0.1" in kw.log_text()


def test_stop_and_kill9_mid_stream_lose_and_double_nothing(rabbit, kw_factory):
    """SIGTERM in the middle of a stream (the group at hand is committed and
    acknowledged, the daemon exits 0), then kill -9 in the middle of it:
    after the restarts, the totals equal what was sent."""
    env = topology(rabbit, "kill")
    kw = start_consuming(kw_factory, env)
    devices = [f"k-{i}" for i in range(5)]
    readings = series(devices, 200, seed=5)[:6000]
    prefill(rabbit, kw, env, readings)
    kw.start()
    wait_for("a first part consumed", lambda: amqp(kw, "acked_total") >= 1000, every=0.01)
    kw.stop()  # asserts exit 0 and no sanitizer report
    first = re.search(r"committing and closing", kw.log_text())
    assert first, kw.log_text()
    kw.start()
    wait_for("a second part consumed", lambda: amqp(kw, "acked_total") >= 1000, every=0.01)
    kw.kill9()
    kw.start()
    wait_for("every reading stored",
             lambda: len(stored_keys(kw, devices, 200)) == len(readings), every=0.3)
    wait_for("the queue drained", lambda: queue_depth(rabbit, env["AMQP_QUEUE"]) == 0)
    assert_totals([kw], readings, 200)
    assert amqp(kw, "redelivered_total") >= 1  # the killed daemon's unacked window came back


def test_a_failed_commit_is_requeued_never_acknowledged(rabbit, kw_factory):
    """The test holds SQLite's write lock, so kilowatt's commits wait, then
    fail (the store's busy timeout is 5 s).  A failed group must be nacked
    and retried, and a daemon killed while its commit waits must have
    acknowledged nothing: the broker still holds every message."""
    env = topology(rabbit, "locked")
    kw = start_consuming(kw_factory, env)
    kw.create_device(serial="l1")
    readings = series(["l1"], 4, seed=7)  # 24
    pub = Publisher(rabbit, env["AMQP_EXCHANGE"])

    def locked():
        db = sqlite3.connect(kw.data / "kilowatt.db", isolation_level=None, timeout=30)
        db.execute("BEGIN IMMEDIATE")  # the write lock
        return db

    # 1. a failed commit is retried once the database is back
    db = locked()
    for d, ts, v in readings[:12]:
        pub.publish(reading(d, ts, v))
    kw.wait_log(r"cannot commit \d+ readings of \d+ messages: .*; they are requeued")
    assert amqp(kw, "acked_total") == 0
    db.rollback()
    db.close()
    wait_for("the retry committed", lambda: amqp(kw, "acked_total") == 12)
    assert amqp(kw, "commit_failures_total") >= 1
    assert amqp(kw, "redelivered_total") >= 1  # the failed group came back
    # 2. killed while its commit waits: nothing was acknowledged, nothing is lost
    db = locked()
    seen = amqp(kw, "deliveries_total")
    for d, ts, v in readings[12:]:
        pub.publish(reading(d, ts, v))
    pub.close()
    wait_for("a group taken", lambda: amqp(kw, "deliveries_total") > seen)
    time.sleep(0.2)  # its commit is under way, blocked by the lock
    kw.kill9()
    db.rollback()
    db.close()
    assert queue_depth(rabbit, env["AMQP_QUEUE"]) == 12  # all back in the queue
    kw.start()
    wait_for("every reading stored",
             lambda: len(stored_keys(kw, ["l1"], 4)) == len(readings), every=0.2)
    assert_totals([kw], readings, 4)


def test_two_instances_share_one_queue(rabbit, kw_factory):
    env = topology(rabbit, "shared", AMQP_PREFETCH="10")
    a = start_consuming(kw_factory, env, name="a")
    b = start_consuming(kw_factory, env, name="b")
    devices = ["s-1", "s-2"]
    readings = series(devices, 50, seed=6)[:600]
    pub = Publisher(rabbit, env["AMQP_EXCHANGE"])
    for d, ts, v in readings:
        pub.publish(reading(d, ts, v))
    pub.close()
    wait_for("every message acknowledged by one of them",
             lambda: amqp(a, "acked_total") + amqp(b, "acked_total") == len(readings))
    ka, kb = stored_keys(a, devices, 50), stored_keys(b, devices, 50)
    assert ka and kb, (len(ka), len(kb))  # both took a share
    assert not set(ka) & set(kb)  # each message stored by exactly one
    assert sorted(ka + kb) == sorted((d, ts) for d, ts, _ in readings)
    assert_totals([a, b], readings, 50)


def test_wrong_credentials_or_address_keep_the_daemon_up(rabbit, kw_factory):
    bad_pw = kw_factory(env=topology(rabbit, "creds",
                                     AMQP_URL=rabbit.url.replace(":guest@", ":N0tTheP4ss@")),
                        name="pw")
    no_broker = kw_factory(env=topology(rabbit, "addr",
                                        AMQP_URL=f"amqp://guest:guest@127.0.0.1:{free_port()}/"),
                           name="addr")
    bad_pw.wait_log(r"login as 'guest' to vhost '/' failed: .*403 ACCESS_REFUSED.*"
                    r"check the user and password in amqp.url")
    no_broker.wait_log(r"cannot consume from the broker at 127\.0\.0\.1:\d+ .*cannot connect")
    for kw in (bad_pw, no_broker):
        assert kw.get("/healthz").status == 200
        kw.create_device(serial="h1")
        kw.ingest([("h1", T0 + MIN, 1.0)])  # HTTP ingest still works
        wait_for("a few retries", lambda: amqp(kw, "connect_failures_total") >= 3)
        assert amqp(kw, "connected") == 0
        assert "N0tTheP4ss" not in kw.log_text()  # the password is never logged
        # the same failure is logged once, not once per attempt
        assert len(re.findall(r"level=error module=amqp", kw.log_text())) == 1, kw.log_text()


def test_queue_deleted_under_it_is_declared_again(rabbit, kw_factory):
    env = topology(rabbit, "gone")
    kw = start_consuming(kw_factory, env)
    with rabbit.connection() as c:
        c.channel().queue_delete("q.gone")
    kw.wait_log(r"lost the connection to .*cancelled our consumer \(was queue 'q.gone' deleted")
    wait_for("a new consumer", lambda: amqp(kw, "reconnects_total") == 1 and
             amqp(kw, "connected") == 1)
    pub = Publisher(rabbit, "kw.gone")
    pub.publish(reading("g1", T0 + 5 * MIN, 0.5))
    pub.close()
    wait_for("the message stored", lambda: amqp(kw, "acked_total") == 1)
    assert [r["value"] for r in kw.readings("g1", iso(T0), iso(T0 + H))] == [0.5]


def test_url_names_are_percent_decoded(rabbit, kw_factory):
    """A user, password and vhost with '@', ':', '/' and '%' in them."""
    rabbit.ctl("add_vhost", "kw/v")
    rabbit.ctl("add_user", "me@home", "p:ss/w@rd%")
    rabbit.ctl("set_permissions", "-p", "kw/v", "me@home", ".*", ".*", ".*")
    url = f"amqp://me%40home:p%3Ass%2Fw%40rd%25@127.0.0.1:{rabbit.port}/kw%2Fv"
    kw = start_consuming(kw_factory, topology(rabbit, "names", AMQP_URL=url))
    assert "(vhost 'kw/v', user 'me@home')" in kw.log_text()
    with pika.BlockingConnection(pika.URLParameters(url)) as c:
        ch = c.channel()
        ch.confirm_delivery()
        ch.basic_publish("kw.names", "k", json.dumps(reading("n1", T0 + MIN, 2.0)),
                         mandatory=True)
    wait_for("the message stored", lambda: amqp(kw, "acked_total") == 1)
    assert "p:ss/w@rd" not in kw.log_text()


@pytest.mark.parametrize("env, message", [
    ({"AMQP_URL": "amqp://user:s3cret@host:99999/"},
     "bad value 'amqp://user:***@host:99999/' for amqp.url: expected amqp://"),
    ({"AMQP_URL": "amqps://user:s3cret@host/"},
     "bad value 'amqps://user:***@host/' for amqp.url: amqps:// (TLS) is not supported"),
    ({"AMQP_URL": "amqp://user:s3cret@host/?heartbeat=5"},
     "for amqp.url: query parameters are not supported"),
    ({"AMQP_URL": "user:s3cret@host"}, "bad value 'user:***@host' for amqp.url"),
    ({"AMQP_URL": "amqp://h/", "AMQP_QUEUE": ""}, "amqp.queue must not be empty"),
    ({"AMQP_URL": "amqp://h/", "AMQP_QUEUE": "q" * 251}, "amqp.queue: at most 250 bytes"),
    ({"AMQP_URL": "amqp://h/", "AMQP_EXCHANGE": "x", "AMQP_DEAD_LETTER_EXCHANGE": "x"},
     "amqp.dead_letter_exchange must differ from amqp.exchange"),
])
def test_bad_settings_stop_the_start(kw_factory, env, message):
    kw = kw_factory(env=env, start=False)
    kw.start(wait=False)
    assert kw.wait_exit() == 1
    log = kw.log_text()
    assert message in log, log
    assert "s3cret" not in log
