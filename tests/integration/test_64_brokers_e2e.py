"""End to end through the real brokers (issue 5, "Tests with the real brokers").

The whole chain, black box: `kilowatt simulate` reads a CSV made here and
publishes it, one seed-000 message per reading, to a real Mosquitto
(kwmosquitto) or RabbitMQ (kwrabbit); kilowatt's MQTT input (src/ingest/mqtt.c)
or AMQP input (src/ingest/amqp.c) commits it; and what comes out of the HTTP
API is compared with an independent computation in Python from the same CSV
(kwlib's energy model: counter_model, interval_model, hour_edges):

  - a cumulative counter (one value per line, seed 000's sensor.csv shape)
    backfilled with --start, its last readings sent live at --speed 20000,
    for a counter device in a half-hour zone (Asia/Kolkata);
  - timestamp,value rows (RFC 3339 with offsets and epoch ms, irregular
    spacing, some exactly on the hour) for an interval device;
  - an over-limit hour (max_hourly_kwh): exactly one alert, pushed over /ws
    to the owner and an admin within 1 s of the simulator starting to send
    the reading that crossed the limit (so within 1 s of its commit, which
    comes later), listed once by GET /api/v1/notifications; more readings
    into that hour through the broker raise no second one.

Every test runs once per broker (the `route` fixture).  One broker of each
kind serves the module; each test has its own daemon (conftest's `fresh`:
account-aware, teardown checks exit 0 and no sanitizer report), its own
MQTT client id and topic prefix, or AMQP exchange, queue and dead-letter
exchange.  Ordering: kilowatt's subscription (MQTT: the broker's SUBACK) or
queue binding (AMQP: its "consuming queue" line) exists before the
simulator publishes, or the broker would drop (MQTT) or refuse (AMQP,
simulator exit 1) the first messages.  Every wait is bounded.
"""
import asyncio
import json
import random
import re
import subprocess
import time
from datetime import datetime, timezone

import pytest
import websockets

import kwmosquitto
from kwaccounts import COOKIE, unique
from kwlib import (H, KW_BIN, MIN, base_env, compare_recent, iso, metric, ms, now_ms,
                   sanitizer_reports)
from kwrabbit import Rabbit

STEP = 10 * MIN
WAIT_S = 30        # bound for anything the brokers and kilowatt should do soon
DELIVERY = 1.0     # an alert must be on the sockets within this of the commit
QUIET = 1.5        # seconds we listen to be sure no (second) alert comes


# --- the brokers, one of each per module ----------------------------------------------

@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory):
    # verbose: the broker's log shows when kilowatt's subscription is in place
    b = kwmosquitto.Mosquitto(tmp_path_factory.mktemp("e2e-mosquitto"), verbose=True).start()
    yield b
    b.close()


@pytest.fixture(scope="module")
def rabbit():
    r = Rabbit()
    r.start()
    try:
        yield r
    finally:
        r.close()


def wait_for(what, fn, timeout=WAIT_S, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class MqttRoute:
    """simulate -> mosquitto -> kilowatt's MQTT input, on a topic prefix of
    the test's own."""
    kind = "mqtt"

    def __init__(self, broker):
        self.broker = broker
        self.tag = unique("e2e")
        self.client_id = "kw-" + self.tag

    def env(self):
        return {"MQTT_URL": self.broker.url, "MQTT_CLIENT_ID": self.client_id,
                "MQTT_TOPICS": f"{self.tag}/+/measurements"}

    def ready(self, kw):
        """kilowatt's persistent session holds its subscription: from now on
        the broker keeps every matching QoS 1 message for it."""
        kw.wait_log(r'msg="connected to mqtt://\S+ as ' + re.escape(f"'{self.client_id}'"),
                    timeout=WAIT_S)
        rx = re.compile(rf"Sending SUBACK to {re.escape(self.client_id)}\b")
        wait_for(f"the broker's SUBACK to {self.client_id}",
                 lambda: rx.search(self.broker.log_text()))

    def url(self):
        return f"{self.broker.url}/{self.tag}/{{device}}/measurements"

    def committed(self, kw):
        return metric(kw.metrics(), "kilowatt_mqtt_readings_committed_total")

    def check_clean(self, kw):
        m = kw.metrics()
        rejected = sum(v for k, v in m.items()
                       if isinstance(k, tuple) and k[0] == "kilowatt_mqtt_rejected_total")
        assert rejected == 0, kw.log_text()
        assert metric(m, "kilowatt_mqtt_commit_failures_total") == 0


class AmqpRoute:
    """simulate -> rabbitmq-server -> kilowatt's AMQP input, through an
    exchange, queue and dead-letter exchange of the test's own."""
    kind = "amqp"

    def __init__(self, rabbit):
        self.rabbit = rabbit
        self.tag = unique("e2e")
        self.exchange, self.queue = f"kw.{self.tag}", f"q.{self.tag}"

    def env(self):
        return {"AMQP_URL": self.rabbit.url, "AMQP_EXCHANGE": self.exchange,
                "AMQP_QUEUE": self.queue, "AMQP_DEAD_LETTER_EXCHANGE": f"dlx.{self.tag}"}

    def ready(self, kw):
        """The queue is declared and bound (else the simulator's messages
        would be unroutable, and it exits 1)."""
        kw.wait_log(r"consuming queue " + re.escape(f"'{self.queue}'"), timeout=WAIT_S)

    def url(self):
        return f"{self.rabbit.url}?exchange={self.exchange}"

    def committed(self, kw):
        return metric(kw.metrics(), "kilowatt_amqp_readings_committed_total")

    def depth(self, queue):
        with self.rabbit.connection() as c:
            return c.channel().queue_declare(queue, passive=True).method.message_count

    def check_clean(self, kw):
        m = kw.metrics()
        rejected = sum(v for k, v in m.items()
                       if isinstance(k, tuple) and k[0] == "kilowatt_amqp_rejected_total")
        assert rejected == 0, kw.log_text()
        assert metric(m, "kilowatt_amqp_commit_failures_total") == 0
        assert self.depth(self.queue) == 0             # everything acknowledged
        assert self.depth(self.queue + ".dead") == 0   # nothing dead-lettered


@pytest.fixture(params=["mqtt", "amqp"])
def route(request):
    if request.param == "mqtt":
        return MqttRoute(request.getfixturevalue("mosquitto"))
    return AmqpRoute(request.getfixturevalue("rabbit"))


def serve(fresh, route):
    """A daemon taking readings from the route's broker, ready for them."""
    kw = fresh(env=route.env())
    route.ready(kw)
    return kw


# --- the simulator ---------------------------------------------------------------------

def simulate(route, device, csv, *args, timeout=WAIT_S):
    """`kilowatt simulate --csv CSV --device DEVICE --to <the route> ARGS`
    to completion: every reading confirmed by the broker (exit 0), quiet
    off a terminal."""
    argv = [KW_BIN, "simulate", "--csv", str(csv), "--device", device, "--to", route.url(),
            *map(str, args)]
    p = subprocess.run(argv, env=base_env(), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    assert not sanitizer_reports(p.stderr), p.stderr
    assert p.returncode == 0, f"{argv} -> {p.returncode}\n{p.stderr}"
    assert p.stdout == "" and p.stderr == "", p.stderr
    return p


def wait_committed(route, kw, n):
    """Until kilowatt's input has committed n readings (and the store counted
    them), then checks it did not commit more."""
    wait_for(f"{n} readings committed through {route.kind} (log:\n{kw.log_text()[-2000:]})",
             lambda: route.committed(kw) >= n)
    assert route.committed(kw) == n


def timed_csv(path, rows):
    """timestamp,value rows: RFC 3339 in UTC, with a +05:30 offset, or epoch
    ms, in turn (the simulator takes all three)."""
    lines = ["timestamp,value"]
    for i, (t, v) in enumerate(rows):
        if i % 3 == 0:
            stamp = iso(t)
        elif i % 3 == 1:
            stamp = iso(t, "Asia/Kolkata")
        else:
            stamp = str(t)
        lines.append(f"{stamp},{v}")
    path.write_text("\n".join(lines) + "\n")
    return path


def read_timed_csv(path):
    """The rows of a timestamp,value CSV, parsed here (not by kilowatt)."""
    out = []
    for line in path.read_text().splitlines()[1:]:
        stamp, value = line.split(",")
        t = int(stamp) if stamp.isdigit() else ms(stamp)
        out.append((t, float(value)))
    return out


# --- hourly totals ------------------------------------------------------------------------

def test_counter_csv_backfill_then_live_hourly_totals(route, fresh, tmp_path):
    """A cumulative counter, one value per line: 270 readings of history sent
    as fast as the broker confirms, then 30 live at --speed 20000 (30 ms
    apart, timestamps up to 5 h ahead of the clock)."""
    kw = serve(fresh, route)
    tz = "Asia/Kolkata"   # local hours start at :30 UTC: spreads cross them
    kw.create_device(name="Sim counter", serial="e2e-ctr", timezone=tz, reading_type="counter")
    rnd = random.Random(64)
    acc, values = 18234.5, []
    for i in range(300):
        acc += 0.0 if i % 37 == 5 else rnd.uniform(0.0, 0.9)  # some idle intervals
        values.append(round(acc, 3))
    csv = tmp_path / "sensor.csv"
    csv.write_text("".join(f"{v}\n" for v in values))

    now = now_ms()
    t0 = now - now % STEP - 270 * STEP
    simulate(route, "e2e-ctr", csv, "--start", iso(t0), "--speed", 20000)
    wait_committed(route, kw, len(values))

    # independently: the file read back, stamped t0 + k * 10 min
    readings = [(t0 + k * STEP, float(x)) for k, x in enumerate(csv.read_text().split())]
    assert readings[-1][0] > now  # the live part ran ahead of the clock
    m = kw.metrics()
    assert metric(m, "kilowatt_readings_stored_total") == len(values)
    assert metric(m, "kilowatt_readings_conflict_total") == 0
    route.check_clean(kw)
    doc = compare_recent(kw, "e2e-ctr", tz, readings, True, t0, readings[-1][0])
    assert doc["total_kwh"] == pytest.approx(values[-1] - values[0], rel=1e-9)
    assert len(doc["buckets"]) >= 50


def test_timed_csv_interval_device_hourly_totals(route, fresh, tmp_path):
    """timestamp,value rows for an interval device named by its UUID: the
    simulator keeps their irregular timestamps; a reading exactly on the
    hour belongs to the hour it ends."""
    kw = serve(fresh, route)
    tz = "Europe/Brussels"
    dev = kw.create_device(name="Sim interval", serial="e2e-iv", timezone=tz)
    rnd = random.Random(65)
    now = now_ms()
    t = (now // H - 60) * H + 7 * MIN
    rows = []
    while t < now - 30 * MIN:
        rows.append((t, round(rnd.uniform(0.001, 0.8), 3)))
        # mostly 5 to 25 minutes apart, now and then onto the next full hour
        nxt = t + rnd.choice([5, 10, 10, 15, 25]) * MIN
        t = (t // H + 1) * H if rnd.random() < 0.15 and (t // H + 1) * H > t else nxt
    assert 150 <= len(rows) <= 500 and sum(1 for t, _ in rows if t % H == 0) >= 3
    csv = timed_csv(tmp_path / "interval.csv", rows)

    simulate(route, dev["id"], csv)   # all history: sent at once
    wait_committed(route, kw, len(rows))

    readings = read_timed_csv(csv)
    assert readings == rows           # the file says what we meant
    m = kw.metrics()
    assert metric(m, "kilowatt_readings_stored_total") == len(rows)
    assert metric(m, "kilowatt_readings_conflict_total") == 0
    route.check_clean(kw)
    frm, to = readings[0][0] - H, readings[-1][0] + H  # an empty hour at each end
    doc = compare_recent(kw, dev["id"], tz, readings, False, frm, to)
    assert doc["buckets"][0]["kwh"] is None and doc["buckets"][-1]["kwh"] is None
    assert doc["total_kwh"] == pytest.approx(sum(v for _, v in rows), rel=1e-9)


# --- the over-limit alert -------------------------------------------------------------------

def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ws_connect(kw, session):
    return websockets.connect(
        f"ws://127.0.0.1:{kw.port}/ws", origin=kw.origin,
        extra_headers={"Cookie": f"{COOKIE}={session.cookie}"}, open_timeout=WAIT_S,
        close_timeout=WAIT_S, ping_interval=None, compression=None)


async def recv_json(ws, timeout):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def wait_event(ws, pred, deadline):
    """The first event matching pred before the loop time deadline."""
    loop = asyncio.get_running_loop()
    seen = []
    while (left := deadline - loop.time()) > 0:
        try:
            ev = await recv_json(ws, left)
        except asyncio.TimeoutError:
            break
        if pred(ev):
            return ev, loop.time()
        seen.append(ev)
    raise AssertionError(f"no matching event in time; saw {[e.get('type') for e in seen]}")


async def events_during(ws, seconds):
    out, loop = [], asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            out.append(await recv_json(ws, left))
        except asyncio.TimeoutError:
            break
    return out


async def matching_during(socks, pred, seconds):
    """The events matching pred that arrive on any of socks in the next
    seconds (all listened to at once)."""
    got = await asyncio.gather(*(events_during(ws, seconds) for ws in socks))
    return [e for evs in got for e in evs if pred(e)]


def notes_of(session, dev):
    r = session.get("/api/v1/notifications?limit=200")
    assert r.status == 200, r
    return [n for n in r.json()["notifications"] if n["device_id"] == dev["id"]]


def test_over_limit_hour_alerts_once(route, fresh, tmp_path):
    """Three simulator runs into one hour of a 2.0 kWh device: 1.8 kWh (no
    alert), +0.9 (the alert, on the owner's and an admin's socket within 1 s
    of the run starting), then +2.5 more (nothing more)."""
    kw = serve(fresh, route)
    dev = kw.create_device(name=unique("Kitchen meter "), serial=unique("e2e-al-"),
                           timezone="UTC", max_hourly_kwh=2.0)
    owner, admin = kw.person(), kw.person(role="admin")
    kw.map(owner.id, dev["serial"])
    h = (now_ms() // H - 3) * H
    sn = dev["serial"]
    below = timed_csv(tmp_path / "below.csv", [(h + 10 * MIN, 1.0), (h + 20 * MIN, 0.8)])
    over = timed_csv(tmp_path / "over.csv", [(h + 30 * MIN, 0.9)])           # 2.7 > 2.0
    more = timed_csv(tmp_path / "more.csv", [(h + 40 * MIN, 1.0), (h + 50 * MIN, 1.0),
                                              (h + H, 0.5)])   # hh+1:00 ends hour h

    def alert(ev):
        return ev["type"] == "alert" and ev["device_id"] == dev["id"]

    async def body():
        loop = asyncio.get_running_loop()
        async with ws_connect(kw, owner) as o, ws_connect(kw, admin) as a:
            for ws in (o, a):
                assert (await recv_json(ws, WAIT_S))["type"] == "hello"
            # 1.8 kWh: under the limit, committed, and no alert follows
            await asyncio.to_thread(simulate, route, sn, below)
            await asyncio.to_thread(wait_committed, route, kw, 2)
            assert await matching_during((o, a), alert, DELIVERY) == []
            # the reading that crosses it: its commit comes after this instant
            t0 = loop.time()
            sent = asyncio.ensure_future(asyncio.to_thread(simulate, route, sn, over))
            (ev_o, at_o), (ev_a, at_a) = await asyncio.gather(
                wait_event(o, alert, t0 + DELIVERY), wait_event(a, alert, t0 + DELIVERY))
            await sent
            # more readings into the same hour, through the broker: no second alert
            await asyncio.to_thread(simulate, route, sn, more)
            await asyncio.to_thread(wait_committed, route, kw, 6)
            later = await matching_during((o, a), alert, QUIET)
            return ev_o, ev_a, max(at_o, at_a) - t0, later
    ev_o, ev_a, latency, later = run(body())
    assert later == []
    assert latency < DELIVERY

    for ev in (ev_o, ev_a):
        assert ms(ev["hour_start"]) == h and ms(ev["hour_end"]) == h + H
        assert ev["kwh"] == pytest.approx(2.7) and ev["limit_kwh"] == 2.0
        assert ev["device_name"] == dev["name"]
        assert ev["text"] == sentence(dev["name"], h, 2.7, 2.0, ms(ev["at"]))
    assert ev_o["id"] != ev_a["id"]    # one notification per person

    # stored and listed: exactly one each, the ones pushed
    for session, ev in ((owner, ev_o), (admin, ev_a)):
        listed = notes_of(session, dev)
        assert [n["id"] for n in listed] == [ev["id"]], listed
        assert listed[0]["kwh"] == pytest.approx(2.7) and listed[0]["read_at"] is None
    assert kw.db_rows("SELECT count(*) AS n FROM alert a JOIN device d ON d.id = a.device"
                      " WHERE d.uuid = ?", (dev["id"],))[0]["n"] == 1
    # the hour now holds everything sent to it
    doc = kw.consumption(dev["id"], f"from={iso(h)}&to={iso(h + H)}&step=hour")
    assert [b["kwh"] for b in doc["buckets"]] == [pytest.approx(5.2)]
    assert metric(kw.metrics(), "kilowatt_readings_stored_total") == 6
    route.check_clean(kw)


def sentence(name, hour, kwh, limit, at):
    """The notification text for a UTC device, computed here: the hour's
    date is said only when it is not the alert's date."""
    s, e, a = (datetime.fromtimestamp(x / 1000, timezone.utc) for x in (hour, hour + H, at))
    date = "" if s.date() == a.date() else f" on {s.date().isoformat()}"
    return (f"{name} used {kwh:.1f} kWh between {s:%H:%M} and {e:%H:%M}{date}, "
            f"above its {limit:.1f} kWh limit")
