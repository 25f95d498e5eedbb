"""The MQTT input (src/ingest/mqtt.c, docs/MQTT.md) against a real Mosquitto.

One broker serves the module (kwmosquitto.Mosquitto, verbose log on); each
test gives its daemon its own client id and topic prefix, so sessions and
messages never cross between tests.  Publishing is paho at QoS 1
(kwmosquitto.Publisher); the store is checked through the HTTP API.

The broker's log records every PUBLISH it sends and every PUBACK it gets, in
order, which is how the tests see exactly when kilowatt acknowledged.
"""
import json
import os
import signal
import sqlite3
import threading
import time

import pytest

import kwlib
import kwmosquitto
from kwlib import H, MIN, metric

T0 = (kwlib.now_ms() // H - 30) * H   # 30 hours ago, on the hour: hours long closed


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = kwmosquitto.Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield b
    b.close()


@pytest.fixture
def publisher(broker, request):
    p = kwmosquitto.Publisher(broker, client_id="pub-" + request.node.name[:40])
    yield p
    p.close()


def mqtt_env(broker, name, topics=None, **extra):
    env = {"MQTT_URL": broker.url, "MQTT_CLIENT_ID": "kw-" + name,
           "MQTT_TOPICS": topics or f"{name}/+/measurements",
           "INGEST_AUTO_CREATE_DEVICES": "true"}
    env.update(extra)
    return env


def wait_for(cond, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def mq(kw, name, **labels):
    return metric(kw.metrics(), "kilowatt_mqtt_" + name, **labels)


def wait_connected(kw):
    wait_for(lambda: mq(kw, "connected") == 1, what="kilowatt_mqtt_connected 1")


def wait_received(kw, n, timeout=60):
    """Until n messages were received (counted before they are committed)."""
    wait_for(lambda: mq(kw, "messages_received_total") >= n, timeout,
             f"{n} MQTT messages received")
    wait_for(lambda: mq(kw, "messages_received_total") == n, timeout, f"exactly {n}")


def reading(dev, t, v):
    return {"timestamp": t, "device_id": dev, "measurement_value": v}


def hourly(kw, dev, frm, to):
    doc = kw.consumption(dev, f"from={kwlib.iso(frm)}&to={kwlib.iso(to)}&step=hour")
    return [b["kwh"] for b in doc["buckets"]]


def total(kw, dev, frm, to):
    return sum(k for k in hourly(kw, dev, frm, to) if k is not None)


def values(kw, dev, frm=T0 - 2 * H, to=T0 + 48 * H):
    r = kw.get(f"/api/v1/devices/{dev}/readings?from={kwlib.iso(frm)}&to={kwlib.iso(to)}"
               "&limit=10000")
    if r.status == 404:
        return {}
    assert r.status == 200, r
    return {x["timestamp_ms"]: x["value"] for x in r.json()["readings"]}


# --- payloads ----------------------------------------------------------------------

def test_payload_shapes_and_device_from_topic_or_payload(broker, publisher, kw_factory):
    kw = kw_factory(env=mqtt_env(broker, "shapes",
                                 topics="shapes/+/measurements, shapes/all, deep/+/+/data"))
    wait_connected(kw)
    dev = kw.create_device(name="Kitchen", serial="kitchen")
    t = T0
    publisher.publish_all([
        # device from the topic ('+' level), one object without device_id
        ("shapes/kitchen/measurements", json.dumps(
            {"timestamp": t + 10 * MIN, "measurement_value": 0.5})),
        # an array; device_id agrees with the topic (its UUID against the serial)
        ("shapes/kitchen/measurements", json.dumps([
            reading(dev["id"], t + 20 * MIN, 0.25), reading("kitchen", t + 30 * MIN, 0.25)])),
        # the topic has no '+': the device comes from the payload
        ("shapes/all", json.dumps(reading("hall", t + 10 * MIN, 1.5))),
        ("shapes/all", json.dumps([reading("hall", t + H + 10 * MIN, 2.0),
                                   reading("kitchen", t + H + 10 * MIN, 1.0)])),
        # two '+' levels: the last one names the device
        ("deep/site-9/garage/data", json.dumps({"timestamp": t + 5 * MIN,
                                                "measurement_value": 3.0})),
        # topic and payload disagree: the whole message is refused
        ("shapes/kitchen/measurements", json.dumps([
            reading("kitchen", t + 40 * MIN, 9.0), reading("hall", t + 40 * MIN, 9.0)])),
        # no device anywhere
        ("shapes/all", json.dumps({"timestamp": t + 50 * MIN, "measurement_value": 9.0})),
    ])
    wait_received(kw, 7)
    wait_for(lambda: mq(kw, "readings_committed_total") == 7, what="7 readings committed")
    assert values(kw, "kitchen") == {t + 10 * MIN: 0.5, t + 20 * MIN: 0.25, t + 30 * MIN: 0.25,
                                     t + H + 10 * MIN: 1.0}
    assert values(kw, "hall") == {t + 10 * MIN: 1.5, t + H + 10 * MIN: 2.0}
    assert values(kw, "garage") == {t + 5 * MIN: 3.0}
    assert values(kw, "site-9") == {}
    assert hourly(kw, "kitchen", t, t + 2 * H) == [1.0, 1.0]
    assert hourly(kw, "hall", t, t + 2 * H) == [1.5, 2.0]
    assert mq(kw, "rejected_total", reason="device_mismatch") == 1
    assert mq(kw, "rejected_total", reason="missing_field") == 1
    log = kw.log_text()
    assert "device_id 'hall' is not the topic's device 'kitchen'" in log
    assert "device_id is required" in log


def test_invalid_messages_are_counted_logged_once_and_the_stream_goes_on(
        broker, publisher, kw_factory):
    kw = kw_factory(env=mqtt_env(broker, "bad", INGEST_AUTO_CREATE_DEVICES="false",
                                 STORAGE_QUEUE_MAX_ROWS="1000"))
    wait_connected(kw)
    kw.create_device(name="m1", serial="m1")
    good = [(f"bad/m1/measurements", json.dumps({"timestamp": T0 + i * 10 * MIN,
                                                 "measurement_value": 0.1 * i}))
            for i in range(1, 7)]
    bad = {
        "parse_error": ["{not json", "", "[1, 2", "42"],
        "unknown_field": [json.dumps({"timestamp": T0, "measurment_value": 1})],
        "invalid_value": [json.dumps({"timestamp": T0 + MIN, "measurement_value": -1}),
                          json.dumps({"timestamp": T0 + MIN, "measurement_value": "1"})],
        "invalid_timestamp": [json.dumps({"timestamp": 5, "measurement_value": 1})],
        "invalid_body": ["[1]", "[2, {}]"],
        "payload_too_large": [json.dumps([{"timestamp": T0 + 2 * MIN,
                                           "measurement_value": 1}] * 40000)],
        # more readings than the write queue holds (storage.queue_max_rows): it could
        # never be committed, so it is refused rather than retried forever
        "too_many_readings": [json.dumps([{"timestamp": T0 + i * 1000, "measurement_value": 1}
                                          for i in range(1001)])],
    }
    assert len(bad["payload_too_large"][0]) > kwlib_max_payload()
    # a valid reading in the same message as an invalid one is not stored either
    bad["invalid_value"].append(json.dumps([{"timestamp": T0 + 3 * MIN, "measurement_value": 1},
                                            {"timestamp": T0 + 4 * MIN,
                                             "measurement_value": None}]))
    msgs = []
    for i, (reason, payloads) in enumerate(bad.items()):
        msgs.append(good[i % len(good)])
        msgs += [("bad/m1/measurements", p) for p in payloads]
    msgs.append(("bad/nobody/measurements", json.dumps({"timestamp": T0,
                                                        "measurement_value": 1})))
    bad["unknown_device"] = [msgs[-1][1]]
    msgs += good
    publisher.publish_all(msgs)
    n_bad = sum(len(p) for p in bad.values())
    wait_received(kw, len(msgs))
    wait_for(lambda: mq(kw, "readings_committed_total") == len(good), what="good readings")
    m = kw.metrics()
    for reason, payloads in bad.items():
        assert metric(m, "kilowatt_mqtt_rejected_total", reason=reason) == \
            len(payloads), reason
    assert sum(v for k, v in m.items() if k[0] == "kilowatt_mqtt_rejected_total") \
        == n_bad
    assert metric(m, "kilowatt_mqtt_messages_received_total") == len(msgs)
    assert metric(m, "kilowatt_mqtt_readings_duplicate_total") == len(msgs) - n_bad - len(good)
    assert values(kw, "m1") == {T0 + i * 10 * MIN: pytest.approx(0.1 * i) for i in range(1, 7)}
    # each reason is logged once, however many messages had it
    log = kw.log_text()
    for reason in bad:
        assert log.count(f": {reason}: ") == 1, (reason, log)
    assert "over the limit of 1048576" in log
    # every rejected message was acknowledged (else the broker would resend it forever)
    wait_for(lambda: [p[0] for p in broker.packets("kw-bad")].count("PUBACK") == len(msgs),
             what="a PUBACK for every message")
    assert [p[0] for p in broker.packets("kw-bad")].count("PUBLISH") == len(msgs)  # no resend


def kwlib_max_payload():
    return 1024 * 1024


def test_metrics_are_declared(broker, kw_factory):
    kw = kw_factory(env=mqtt_env(broker, "metrics"))
    wait_connected(kw)
    m = kw.metrics()
    for name, typ in [("connected", "gauge"), ("reconnects_total", "counter"),
                      ("connect_failures_total", "counter"),
                      ("messages_received_total", "counter"),
                      ("commits_total", "counter"),
                      ("readings_committed_total", "counter"),
                      ("readings_duplicate_total", "counter"),
                      ("readings_conflict_total", "counter"),
                      ("rejected_total", "counter"),
                      ("commit_failures_total", "counter"),
                      ("unacknowledged_total", "counter")]:
        assert m.get("#TYPE kilowatt_mqtt_" + name) == typ, name
    assert metric(m, "kilowatt_mqtt_connected") == 1
    assert metric(m, "kilowatt_mqtt_reconnects_total") == 0
    # without mqtt.url there is no MQTT input and no such metric
    plain = kw_factory()
    assert not [k for k in plain.metrics() if "mqtt" in str(k)]


# --- delivery guarantees -----------------------------------------------------------

def test_persistent_session_delivers_what_was_published_while_down(
        broker, publisher, kw_factory):
    kw = kw_factory(env=mqtt_env(broker, "offline"))
    wait_connected(kw)                       # the session and its subscription exist now
    kw.stop()
    msgs = [("offline/meter-a/measurements",
             json.dumps({"timestamp": T0 + i * 10 * MIN, "measurement_value": 0.01 * i}))
            for i in range(1, 61)]
    publisher.publish_all(msgs)               # kilowatt is down: the broker keeps them
    kw.start()
    wait_for(lambda: len(values(kw, "meter-a")) == 60, what="60 readings")
    assert total(kw, "meter-a", T0, T0 + 12 * H) == pytest.approx(0.01 * sum(range(1, 61)))
    assert "session resumed" in kw.log_text()
    assert mq(kw, "readings_duplicate_total") == 0


def test_messages_read_together_are_committed_together_within_the_queue_limit(
        broker, publisher, kw_factory):
    """A backlog arrives in one burst: its messages share commits, but a
    commit never holds more readings than storage.queue_max_rows (1000)."""
    kw = kw_factory(env=mqtt_env(broker, "group", STORAGE_QUEUE_MAX_ROWS="1000"))
    wait_connected(kw)
    kw.stop()
    msgs, want = [], {}
    for k in range(40):          # 40 messages of 300 readings: 12,000 readings
        dev = f"g{k % 4}"
        rs = [{"timestamp": T0 + (k // 4 * 300 + i) * MIN, "measurement_value": 0.001 * (i % 5)}
              for i in range(300)]
        msgs.append((f"group/{dev}/measurements", json.dumps(rs)))
        want[dev] = want.get(dev, 0) + sum(r["measurement_value"] for r in rs)
    msgs.append(("group/g0/measurements", json.dumps({"timestamp": T0, "measurement_value": -1})))
    publisher.publish_all(msgs)
    kw.start()
    wait_for(lambda: mq(kw, "readings_committed_total") == 12000, what="12,000 readings")
    m = kw.metrics()
    commits = metric(m, "kilowatt_mqtt_commits_total")
    assert 12 <= commits < 40, commits             # 3 messages (900 readings) a commit at most
    assert metric(m, "kilowatt_mqtt_commit_failures_total", reason="queue_full") == 0
    assert metric(m, "kilowatt_mqtt_rejected_total", reason="invalid_value") == 1
    for dev, kwh in want.items():
        assert total(kw, dev, T0 - H, T0 + 60 * H) == pytest.approx(kwh, abs=1e-6), dev


def stream(name, devices, per_device, step=10 * MIN, t0=T0):
    """Messages of one reading each, round-robin over devices; the value of
    reading k is (k % 7 + 1) / 100 kWh.  Returns (messages, {device: sum})."""
    msgs, sums = [], {}
    for k in range(devices * per_device):
        d, i = f"m{k % devices}", k // devices
        v = (k % 7 + 1) / 100
        msgs.append((f"{name}/{d}/measurements",
                     json.dumps({"timestamp": t0 + i * step, "measurement_value": v})))
        sums[d] = sums.get(d, 0) + v
    return msgs, sums


def check_totals(kw, sums, frm=T0 - H, to=T0 + 48 * H):
    for d, want in sums.items():
        assert total(kw, d, frm, to) == pytest.approx(want, abs=1e-9), d


def wait_totals(kw, name, sums, n_readings, timeout=120):
    wait_for(lambda: sum(len(values(kw, d)) for d in sums) == n_readings, timeout,
             f"{n_readings} readings stored")
    check_totals(kw, sums)


def publish_in_background(publisher, msgs, **kw):
    out = {}

    def run():
        try:
            publisher.publish_all(msgs, **kw)
        except BaseException as e:  # reported by the test
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_broker_restart_mid_stream_loses_nothing_and_counts_nothing_twice(
        broker, publisher, kw_factory):
    kw = kw_factory(env=mqtt_env(broker, "brestart"))
    wait_connected(kw)
    msgs, sums = stream("brestart", devices=10, per_device=120)
    th, out = publish_in_background(publisher, msgs, window=50, timeout=180)
    wait_for(lambda: mq(kw, "messages_received_total") >= 300, what="the stream to start")
    broker.restart()                          # SIGTERM: mosquitto saves the sessions
    th.join(timeout=200)
    assert not th.is_alive() and "error" not in out, out
    wait_totals(kw, "brestart", sums, len(msgs))
    m = kw.metrics()
    assert metric(m, "kilowatt_mqtt_reconnects_total") >= 1
    assert metric(m, "kilowatt_mqtt_connected") == 1
    assert metric(m, "kilowatt_mqtt_readings_committed_total") == len(msgs)
    assert "lost the connection to mqtt://127.0.0.1:" in kw.log_text()


def test_kill9_mid_stream_keeps_every_acknowledged_message_exactly_once(
        broker, publisher, kw_factory):
    """What kilowatt acknowledged before kill -9 is in the store even before
    the broker can deliver anything again; after the restart every message
    is stored exactly once."""
    env = mqtt_env(broker, "k9")
    kw = kw_factory(env=env)
    wait_connected(kw)
    since = broker.log_offset()
    msgs, sums = stream("k9", devices=400, per_device=3)   # one device per topic level
    th, out = publish_in_background(publisher, msgs, window=100, timeout=180)
    wait_for(lambda: mq(kw, "messages_received_total") >= 400, what="the stream to start")
    # Hold the commit in flight at the kill: its message has arrived but
    # cannot be on disk, so it must not have been acknowledged either.
    lock = hold_write_lock(kw.data / "kilowatt.db")
    try:
        time.sleep(0.3)
        n = mq(kw, "messages_received_total")
        time.sleep(0.3)
        assert mq(kw, "messages_received_total") == n, "the input is blocked in a commit"
        kw.kill9()
    finally:
        lock.close()
    th.join(timeout=200)
    assert not th.is_alive() and "error" not in out, out
    # the broker logs the PUBACKs it got before it sees the connection end
    wait_for(lambda: ("DISCONNECT", None, None) in broker.packets("kw-k9", since),
             what="the broker to notice the kill")
    acked = acked_topics(broker.packets("kw-k9", since))
    assert 300 <= sum(acked.values()) < len(msgs), "the kill came mid-stream"
    # start without the broker: only what is on disk counts
    kw.env_overrides["MQTT_URL"] = ""
    kw.start()
    by_topic = {}
    for topic, payload in msgs:
        by_topic.setdefault(topic, []).append(json.loads(payload))
    for topic, n in acked.items():
        dev = topic.split("/")[1]
        stored = values(kw, dev)
        # the n-th PUBACK on a topic covers the first n messages sent on it
        for r in by_topic[topic][:n]:
            assert stored.get(r["timestamp"]) == r["measurement_value"], (topic, r)
    kw.stop()
    kw.env_overrides["MQTT_URL"] = broker.url
    kw.start()
    wait_totals(kw, "k9", sums, len(msgs))


def acked_topics(packets):
    """{topic: number of PUBACKs} from a broker packet log: a PUBACK answers
    the latest PUBLISH with its message id."""
    last_topic, out = {}, {}
    for kind, mid, topic in packets:
        if kind == "PUBLISH":
            last_topic[mid] = topic
        elif kind == "PUBACK" and mid in last_topic:
            t = last_topic.pop(mid)
            out[t] = out.get(t, 0) + 1
    return out


def hold_write_lock(db_path):
    """Takes SQLite's write lock on kilowatt's database from outside: the
    daemon's writer then waits (busy_timeout) and its commits fail."""
    con = sqlite3.connect(db_path, timeout=10, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    return con


def test_puback_only_after_commit_and_never_for_a_failed_commit(
        broker, publisher, kw_factory):
    """The proof of docs/MQTT.md "When PUBACK is sent".  With the database
    write-locked from outside, kilowatt receives the message but cannot
    commit it: no PUBACK reaches the broker while the commit is blocked or
    failing (it is retried), and a stop in that state drops the connection
    instead of acknowledging.  The message comes again on the next start and
    is stored once."""
    kw = kw_factory(env=mqtt_env(broker, "ack"))
    wait_connected(kw)
    db = kw.data / "kilowatt.db"
    since = broker.log_offset()
    topic = "ack/meter/measurements"

    # 1. blocked, then failing and retried: no PUBACK until the commit succeeds.
    # "fresh" is auto-created by the commit that fails (and is rolled back),
    # so the retry must create it again.
    lock = hold_write_lock(db)
    try:
        publisher.publish_all([
            (topic, json.dumps({"timestamp": T0, "measurement_value": 1.25})),
            ("ack/fresh/measurements", json.dumps({"timestamp": T0, "measurement_value": 2})),
            (topic, json.dumps({"timestamp": T0 + 2 * MIN, "measurement_value": 0.75})),
        ])
        wait_for(lambda: any(p[0] == "PUBLISH" for p in broker.packets("kw-ack", since)),
                 what="the broker to deliver")
        wait_for(lambda: mq(kw, "commit_failures_total", reason="database") >= 1,
                 timeout=20, what="a failed commit (busy database)")
        time.sleep(0.5)
        assert not [p for p in broker.packets("kw-ack", since) if p[0] == "PUBACK"]
        assert values(kw, "meter") == {} and values(kw, "fresh") == {}
    finally:
        lock.close()
    wait_for(lambda: [p[0] for p in broker.packets("kw-ack", since)].count("PUBACK") == 3,
             what="the PUBACKs after the retried commit")
    assert values(kw, "meter") == {T0: 1.25, T0 + 2 * MIN: 0.75}
    assert values(kw, "fresh") == {T0: 2}
    assert mq(kw, "readings_committed_total") == 3

    # 2. a stop while the commit cannot succeed: the PUBACK never leaves
    since = broker.log_offset()
    lock = hold_write_lock(db)
    try:
        publisher.publish(topic, json.dumps({"timestamp": T0 + MIN, "measurement_value": 2.5}))
        wait_for(lambda: mq(kw, "messages_received_total") >= 4, what="the fourth message")
        kw.send_signal(signal.SIGTERM)
        rc = kw.wait_exit()
    finally:
        lock.close()
    kw.check_sanitizers()
    assert rc == 0, kw.log_text()
    assert "that are not committed are not acknowledged" in kw.log_text()
    pk = broker.packets("kw-ack", since)
    assert [p[0] for p in pk].count("PUBLISH") == 1 and "PUBACK" not in [p[0] for p in pk], pk
    # the broker kept it in the session: the next start stores it, once
    since = broker.log_offset()
    kw.start()
    wait_for(lambda: len(values(kw, "meter")) == 3, what="the redelivered message")
    assert values(kw, "meter") == {T0: 1.25, T0 + MIN: 2.5, T0 + 2 * MIN: 0.75}
    wait_for(lambda: [p for p in broker.packets("kw-ack", since) if p[0] == "PUBACK"],
             what="its PUBACK now")
    assert mq(kw, "readings_committed_total") == 1


def test_shutdown_acknowledges_what_it_committed(broker, publisher, kw_factory):
    """SIGTERM mid-stream: every message kilowatt took before stopping was
    committed and acknowledged (none comes again as a duplicate)."""
    kw = kw_factory(env=mqtt_env(broker, "stop"))
    wait_connected(kw)
    msgs, sums = stream("stop", devices=5, per_device=100)
    th, out = publish_in_background(publisher, msgs, window=50)
    wait_for(lambda: mq(kw, "messages_received_total") >= 100, what="the stream to start")
    kw.stop()
    th.join(timeout=120)
    assert "error" not in out, out
    kw.start()
    wait_totals(kw, "stop", sums, len(msgs))
    assert mq(kw, "readings_duplicate_total") == 0
    assert "disconnected from mqtt://" in kw.log_text(0)


# --- failures and settings ---------------------------------------------------------

def test_broker_away_is_logged_and_http_keeps_working(kw_factory):
    port = kwmosquitto.free_port()             # nobody listens there
    kw = kw_factory(env={"MQTT_URL": f"mqtt://127.0.0.1:{port}",
                         "MQTT_CLIENT_ID": "kw-away"})
    kw.wait_log(rf"cannot connect to the MQTT broker at mqtt://127\.0\.0\.1:{port}: "
                r"Connection refused; retrying")
    kw.create_device(name="m", serial="m")
    kw.ingest([("m", T0, 1.0)])
    assert values(kw, "m") == {T0: 1.0}
    wait_for(lambda: mq(kw, "connect_failures_total") >= 2, what="a retry")
    assert mq(kw, "connected") == 0
    assert kw.log_text().count("cannot connect to the MQTT broker") == 1   # not once per try


@pytest.mark.parametrize("setting, value, message", [
    ("MQTT_URL", "http://127.0.0.1:1883", "mqtt.url: the scheme must be mqtt://"),
    ("MQTT_URL", "mqtts://127.0.0.1:8883", "mqtt.url: TLS (mqtts://) is not supported"),
    ("MQTT_URL", "mqtt://127.0.0.1:0", "mqtt.url: the port must be a number from 1 to 65535"),
    ("MQTT_URL", "mqtt://127.0.0.1:99999", "mqtt.url: the port must be a number"),
    ("MQTT_URL", "mqtt://u:pw/zz@h", "mqtt.url: a path is not used"),
    ("MQTT_URL", "mqtt://:1883", "mqtt.url: the host is empty"),
    ("MQTT_URL", "mqtt://h:1883/kilowatt", "mqtt.url: a path is not used"),
    ("MQTT_URL", "mqtt://h:1883?x=1", "mqtt.url: a query, fragment or space is not allowed"),
    ("MQTT_URL", "mqtt://@h", "mqtt.url: the user name before '@' is empty"),
    ("MQTT_URL", "mqtt://[::1:1883", "mqtt.url: a '[' without its ']'"),
    ("MQTT_URL", "mqtt://u:p%zz@h", "mqtt.url: a bad %-escape"),
    ("MQTT_TOPICS", "a/#/b", "mqtt.topics: 'a/#/b' is not a valid topic filter"),
    ("MQTT_TOPICS", " , ", "mqtt.topics: no topic filter"),
    ("MQTT_TOPICS", "$share/g", "mqtt.topics: '$share/g' is not a valid topic filter"),
    ("MQTT_CLIENT_ID", "", "mqtt.client_id: empty"),
])
def test_bad_settings_stop_the_start_with_a_clear_message(kw_factory, setting, value, message):
    env = {"MQTT_URL": "mqtt://127.0.0.1:1883"}
    env[setting] = value
    kw = kw_factory(env=env, start=False)
    kw.start(wait=False)
    rc = kw.wait_exit(timeout=30)
    kw.check_sanitizers()
    assert rc == 1
    assert message in kw.log_text(), kw.log_text()
    assert "p%zz" not in kw.log_text() and "zz@" not in kw.log_text()  # no password echoed


def test_credentials(tmp_path, kw_factory):
    b = kwmosquitto.Mosquitto(tmp_path / "auth", users={"meter": "s3cret@x"}).start()
    try:
        bad = kw_factory(env={"MQTT_URL": b.url_with("meter", "wrong-pw"),
                              "MQTT_CLIENT_ID": "kw-auth-bad"})
        bad.wait_log(r"cannot connect to the MQTT broker at mqtt://meter:\*\*\*@127\.0\.0\.1:\d+: "
                     r"the broker refused the connection: not authorised \(check the user "
                     r"and password in mqtt\.url")
        assert bad.get("/api/v1/devices").status == 200
        assert "wrong-pw" not in bad.log_text()
        assert "mqtt://meter:***@127.0.0.1:" in bad.log_text()
        good = kw_factory(env={"MQTT_URL": b.url_with("meter", "s3cret%40x"),
                               "MQTT_CLIENT_ID": "kw-auth-good",
                               "INGEST_AUTO_CREATE_DEVICES": "true"})
        wait_connected(good)
        p = kwmosquitto.Publisher(b, username="meter", password="s3cret@x")
        p.publish("kilowatt/auth-m/measurements",
                  json.dumps({"timestamp": T0, "measurement_value": 0.5}))
        p.close()
        wait_for(lambda: values(good, "auth-m") == {T0: 0.5}, what="the reading")
        assert "s3cret" not in good.log_text()
    finally:
        b.close()


# --- throughput (not a test: KW_MQTT_BENCH=1 runs it) -------------------------------

@pytest.mark.skipif(not os.environ.get("KW_MQTT_BENCH"), reason="benchmark: KW_MQTT_BENCH=1")
@pytest.mark.parametrize("n_msgs, per_msg, backlog", [
    (50000, 1, False), (50000, 1, True), (5000, 100, False), (5000, 100, True)])
def test_bench_rate(tmp_path, kw_factory, n_msgs, per_msg, backlog):
    """Published to committed: paho at QoS 1 (two publishers), 1,000 devices
    named in the payload.  Live: timed from the first publish while
    kilowatt runs.  Backlog: published while kilowatt is stopped, timed from
    its start.  Prints messages/s and readings/s; use a Release build
    (KILOWATT_BIN=build-release/kilowatt).  docs/MQTT.md, "Throughput"."""
    b = kwmosquitto.Mosquitto(tmp_path / "bench", verbose=False).start()
    try:
        kw = kw_factory(env={"MQTT_URL": b.url, "MQTT_TOPICS": "bench/#",
                             "MQTT_CLIENT_ID": "kw-bench", "INGEST_AUTO_CREATE_DEVICES": "true"})
        wait_connected(kw)
        devices = 1000
        kw.ingest([(f"dev{i:04d}", T0 - H, 0.0) for i in range(devices)])  # creates them
        msgs, k = [], 0
        for _ in range(n_msgs):
            rs = []
            for _ in range(per_msg):
                rs.append({"timestamp": T0 + (k // devices) * 1000,
                           "device_id": f"dev{k % devices:04d}", "measurement_value": 0.001})
                k += 1
            msgs.append(("bench/x", json.dumps(rs[0] if per_msg == 1 else rs)))
        c0 = mq(kw, "readings_committed_total")
        if backlog:
            kw.stop()
            c0 = 0
        pubs = [kwmosquitto.Publisher(b, client_id=f"bench-{i}") for i in range(2)]
        ths = [threading.Thread(target=p.publish_all, args=(msgs[i::2],),
                                kwargs={"window": 500, "timeout": 600})
               for i, p in enumerate(pubs)]
        t0 = time.monotonic()
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        if backlog:
            t0 = time.monotonic()
            kw.start()
        wait_for(lambda: mq(kw, "readings_committed_total") - c0 >= k, 600, "all committed")
        dt = time.monotonic() - t0
        commits = mq(kw, "commits_total")
        for p in pubs:
            p.close()
        print(f"\nMQTT {'backlog' if backlog else 'live'}, {n_msgs} messages x {per_msg} "
              f"readings: {dt:.2f} s, {n_msgs / dt:,.0f} messages/s, {k / dt:,.0f} readings/s, "
              f"{commits:.0f} commits")
    finally:
        b.close()
