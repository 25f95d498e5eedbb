"""Over-limit alerts (issue 5, seed 000), black box.

When a device's consumption for one local hour goes over its
max_hourly_kwh, ONE alert is raised for that device-hour: a notification
for each owner and each admin, stored (GET /api/v1/notifications), pushed
over /ws within 1 s of the POST that committed it, and e-mailed to users
with email_alerts=true -- here to a real SMTP server on loopback
(Debian's python3-aiosmtpd, an ephemeral port).  The hour totals compared
are those GET /api/v1/devices/{id}/consumption answers: late data and a
counter's spread hours included.

Most tests share one daemon (`alerting`) and make their own users and
devices; every admin user of that daemon gets every alert, so tests look
for their own device's events.  Every wait is bounded."""
import asyncio
import email
import email.policy
import json
import socket
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import websockets
from aiosmtpd.controller import Controller

from kwaccounts import COOKIE, AccDaemon, Daemons, finish_daemons, login, unique
from kwlib import H, MIN, iso, ms, now_ms

WAIT = 5.0         # seconds: bound for what should happen "now"
DELIVERY = 1.0     # an alert event must arrive within this of the POST's answer
QUIET = 1.5        # seconds a test listens to make sure nothing comes
TZ = "Europe/Brussels"
KEYS = {"type", "id", "device_id", "device_name", "hour_start", "hour_end", "kwh",
        "limit_kwh", "title", "text", "href", "at", "read_at", "seq"}


# --- an SMTP sink on loopback -------------------------------------------------------------

class _Sink(Controller):
    """aiosmtpd's Controller on an ephemeral port (port=0): the real port
    is read from the bound socket before the readiness check connects."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Mailbox:
    def __init__(self):
        self.lock = threading.Lock()
        self.mails = []   # (mail_from, [rcpt], email.message.EmailMessage)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.mails.append((envelope.mail_from, list(envelope.rcpt_tos),
                               email.message_from_bytes(envelope.content,
                                                        policy=email.policy.default)))
        return "250 OK"

    def to(self, addr):
        with self.lock:
            return [m for m in self.mails if addr in m[1]]

    def wait_for(self, addr, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.to(addr)
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError(f"no e-mail to {addr} within {timeout}s; got {self.mails}")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mailbox():
    box = Mailbox()
    sink = _Sink(box, hostname="127.0.0.1", port=0)
    sink.start()
    box.port = sink.port
    try:
        yield box
    finally:
        sink.stop()


@pytest.fixture(scope="module")
def alerting(tmp_path_factory, mailbox):
    """A daemon with e-mail on and a public origin (for the link in mails):
    it listens on a port chosen first, so the origin can name it."""
    daemons = Daemons(tmp_path_factory.mktemp("alerts"))
    port = _free_port()
    kw = AccDaemon(daemons.tmp_dir / "kw", name="kw", listen_flag=False,
                   env={"HTTP_LISTEN": f"127.0.0.1:{port}",
                        "HTTP_PUBLIC_ORIGIN": f"http://127.0.0.1:{port}",
                        "SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}",
                        "SMTP_FROM": "alerts@kilowatt.test"})
    daemons.all.append(kw)
    try:
        kw.start()
        yield kw
    finally:
        finish_daemons(daemons)


@pytest.fixture
def fresh(tmp_path):
    daemons = Daemons(tmp_path)
    try:
        yield daemons
    finally:
        finish_daemons(daemons)


# --- WebSocket helpers (as in test_40_ws.py) ---------------------------------------------

def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def connect(kw, session):
    return websockets.connect(
        f"ws://127.0.0.1:{kw.port}/ws", origin=kw.origin,
        extra_headers={"Cookie": f"{COOKIE}={session.cookie}"}, open_timeout=WAIT,
        close_timeout=WAIT, ping_interval=None, compression=None)


async def recv_json(ws, timeout):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def hello(ws):
    ev = await recv_json(ws, WAIT)
    assert ev["type"] == "hello", ev
    return ev


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
            return ev
        seen.append(ev)
    raise AssertionError(f"no matching event in time; saw {seen}")


async def events_during(ws, seconds):
    out = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            out.append(await recv_json(ws, left))
        except asyncio.TimeoutError:
            break
    return out


def alert_of(dev):
    return lambda ev: ev["type"] == "alert" and ev["device_id"] == dev["id"]


async def post(kw, readings):
    """POST /api/v1/measurements (admin token) off the event loop; returns
    the loop time at which it was answered."""
    await asyncio.to_thread(kw.ingest, readings)
    return asyncio.get_running_loop().time()


async def alerts_within(socks, dev, t0, within=DELIVERY):
    """One alert event of dev on each socket, each before t0 + within."""
    return await asyncio.gather(*(wait_event(ws, alert_of(dev), t0 + within) for ws in socks))


# --- helpers --------------------------------------------------------------------------------

def hour_ago(n):
    """The first instant of the UTC hour n hours back (Europe/Brussels has
    whole-hour offsets: also a local hour there)."""
    return (now_ms() // H - n) * H


def sentence(name, hour, kwh, limit, at, tzname=TZ):
    """The notification text, computed independently: hours in the device's
    zone, the date only when the hour's date is not the alert's."""
    tz = ZoneInfo(tzname)
    s = datetime.fromtimestamp(hour / 1000, tz)
    e = datetime.fromtimestamp((hour + H) / 1000, tz)
    a = datetime.fromtimestamp(at / 1000, tz)
    date = "" if s.date() == a.date() else f" on {s.date().isoformat()}"
    return (f"{name} used {kwh:.1f} kWh between {s:%H:%M} and {e:%H:%M}{date}, "
            f"above its {limit:.1f} kWh limit")


def device(kw, limit, typ="interval", tz=TZ, name=None):
    name = name or unique("Meter ")
    return kw.create_device(serial=unique("al-"), name=name, timezone=tz, reading_type=typ,
                            max_hourly_kwh=limit)


def notes(s, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    r = s.get(f"/api/v1/notifications?{qs}")
    assert r.status == 200, r
    doc = r.json()
    assert set(doc) == {"notifications", "unread", "next_cursor"}, doc
    return doc


def notes_of(s, dev):
    return [n for n in notes(s, limit=200)["notifications"] if n["device_id"] == dev["id"]]


def admins_of(kw):
    """Every enabled admin user: each gets every alert."""
    r = kw.get("/api/v1/users?limit=1000")
    assert r.status == 200, r
    return [u for u in r.json()["users"] if u["role"] == "admin" and not u["disabled"]]


# --- the alert itself ------------------------------------------------------------------------

def test_over_limit_hour_notifies_owner_and_admins_once(alerting):
    kw = alerting
    dev = device(kw, 2.0)
    owner, admin, stranger = kw.person(), kw.person(role="admin"), kw.person()
    kw.map(owner.id, dev["serial"])
    h = hour_ago(3)
    sn = dev["serial"]

    async def body():
        async with connect(kw, owner) as o, connect(kw, admin) as a, \
                connect(kw, stranger) as x:
            for ws in (o, a, x):
                await hello(ws)
            # 1.0 + 0.8 = 1.8: not over.  Then 0.9: 2.7, over 2.0.
            await post(kw, [(sn, h + 10 * MIN, 1.0), (sn, h + 20 * MIN, 0.8)])
            assert not [e for e in await events_during(o, 0.5) if e["type"] == "alert"]
            t0 = await post(kw, [(sn, h + 30 * MIN, 0.9)])
            ev_o, ev_a = await alerts_within((o, a), dev, t0)
            # The same hour again, several readings and requests: nothing more.
            await post(kw, [(sn, h + 40 * MIN, 1.0), (sn, h + 50 * MIN, 1.0)])
            await post(kw, [(sn, h + H, 0.5)])          # hh+1:00 counts for this hour
            later = [e for ws in (o, a) for e in await events_during(ws, QUIET)
                     if e["type"] == "alert" and e["device_id"] == dev["id"]]
            assert later == []
            assert not [e for e in await events_during(x, 0.1) if e["type"] == "alert"]
            return ev_o, ev_a
    ev_o, ev_a = run(body())

    for ev, role in ((ev_o, "client"), (ev_a, "admin")):
        assert set(ev) == KEYS, ev
        assert ev["device_name"] == dev["name"]
        assert ev["hour_start"] == datetime.fromtimestamp(h / 1000, ZoneInfo(TZ)).isoformat()
        assert ms(ev["hour_end"]) == h + H
        assert ev["kwh"] == pytest.approx(2.7) and ev["limit_kwh"] == 2.0
        assert ev["text"] == sentence(dev["name"], h, 2.7, 2.0, ms(ev["at"]))
        assert ev["title"] == f"{dev['name']} is over its hourly limit"
        assert ev["href"] == (f"/app/devices/{dev['id']}" if role == "client"
                              else f"/admin/devices/{dev['id']}")
        assert ev["read_at"] is None
        assert abs(ms(ev["at"]) - now_ms()) < 60000
    assert ev_o["id"] != ev_a["id"]   # one notification per person

    # Stored: exactly one for the owner and one for each admin, none for others.
    mine = notes_of(owner, dev)
    assert len(mine) == 1 and mine[0]["id"] == ev_o["id"]
    assert {k: v for k, v in mine[0].items()} == {k: v for k, v in ev_o.items() if k != "seq"}
    assert len(notes_of(admin, dev)) == 1
    assert notes(stranger)["notifications"] == [] and notes(stranger)["unread"] == 0
    rows = kw.db_rows("SELECT user_id FROM notification n JOIN device d ON d.id = n.device"
                      " WHERE d.uuid = ?", (dev["id"],))
    assert sorted(r["user_id"] for r in rows) == sorted(
        [owner.id] + [u["id"] for u in admins_of(kw)])
    # The consumption API agrees with what the alert said at the time it rose.
    hours = kw.consumption(dev["id"], f"from={iso(h)}&to={iso(h + H)}&step=hour")
    assert hours["buckets"][0]["kwh"] == pytest.approx(2.7 + 2.5)


def test_late_data_pushing_a_past_hour_over_raises_its_alert(alerting):
    kw = alerting
    dev = device(kw, 1.0)
    owner = kw.person()
    kw.map(owner.id, dev["serial"])
    sn = dev["serial"]
    h = hour_ago(50)   # two days back: closed (on disk) once anything recent arrives
    kw.ingest([(sn, h + 10 * MIN, 0.6), (sn, now_ms() - 60000, 0.1)])

    async def body():
        async with connect(kw, owner) as o:
            await hello(ws := o)
            t0 = await post(kw, [(sn, h + 20 * MIN, 0.6)])      # 1.2 > 1.0
            return await wait_event(ws, alert_of(dev), t0 + DELIVERY)
    ev = run(body())
    assert ms(ev["hour_start"]) == h
    assert ev["kwh"] == pytest.approx(1.2)
    assert ev["text"] == sentence(dev["name"], h, 1.2, 1.0, ms(ev["at"]))
    assert " on " in ev["text"]   # not today's hour: its date is said
    assert len(notes_of(owner, dev)) == 1


def test_counter_alerts_follow_its_spread_hours(alerting):
    kw = alerting
    dev = device(kw, 2.0, typ="counter")
    owner = kw.person()
    kw.map(owner.id, dev["serial"])
    sn = dev["serial"]
    h = hour_ago(5)

    async def body():
        async with connect(kw, owner) as o:
            await hello(o)
            # h-10min = 100, h+70min = 104: 4 kWh over 80 minutes -> 0.5 in the
            # hour before, 3.0 in hour h, 0.5 in the hour after.
            await post(kw, [(sn, h - 10 * MIN, 100.0)])
            t0 = await post(kw, [(sn, h + 70 * MIN, 104.0)])
            ev = await wait_event(o, alert_of(dev), t0 + DELIVERY)
            more = [e for e in await events_during(o, QUIET) if alert_of(dev)(e)]
            return ev, more
    ev, more = run(body())
    assert more == []
    assert ms(ev["hour_start"]) == h and ev["kwh"] == pytest.approx(3.0)
    buckets = kw.consumption(dev["id"], f"from={iso(h - H)}&to={iso(h + 2 * H)}&step=hour")[
        "buckets"]
    assert [b["kwh"] for b in buckets] == pytest.approx([0.5, 3.0, 0.5])
    assert ev["kwh"] == pytest.approx(buckets[1]["kwh"])
    assert len(notes_of(owner, dev)) == 1


def test_a_device_without_a_limit_never_alerts(alerting):
    kw = alerting
    dev = kw.create_device(serial=unique("free-"), name="free")
    admin = kw.person(role="admin")
    h = hour_ago(2)

    async def body():
        async with connect(kw, admin) as a:
            await hello(a)
            await post(kw, [(dev["serial"], h + 10 * MIN, 1000.0)])
            return [e for e in await events_during(a, QUIET) if alert_of(dev)(e)]
    assert run(body()) == []
    assert notes_of(admin, dev) == []


def test_a_changed_limit_applies_to_later_data_only(alerting):
    kw = alerting
    dev = device(kw, 10.0)
    owner = kw.person()
    kw.map(owner.id, dev["serial"])
    sn = dev["serial"]
    h = hour_ago(4)
    kw.ingest([(sn, h + 10 * MIN, 3.0)])

    async def body():
        async with connect(kw, owner) as o:
            await hello(o)
            # Lowering the limit below the hour's 3.0 raises nothing by itself...
            r = await asyncio.to_thread(kw.patch, f"/api/v1/devices/{sn}",
                                        json={"max_hourly_kwh": 2.0})
            assert r.status == 200, r
            assert not [e for e in await events_during(o, QUIET) if alert_of(dev)(e)]
            # ...the next reading that changes the hour is checked against it.
            t0 = await post(kw, [(sn, h + 20 * MIN, 0.1)])
            ev = await wait_event(o, alert_of(dev), t0 + DELIVERY)
            # No limit any more: nothing, however much.
            r = await asyncio.to_thread(kw.patch, f"/api/v1/devices/{sn}",
                                        json={"max_hourly_kwh": None})
            assert r.status == 200, r
            await post(kw, [(sn, h + H + 10 * MIN, 99.0)])
            more = [e for e in await events_during(o, QUIET) if alert_of(dev)(e)]
            return ev, more
    ev, more = run(body())
    assert ev["kwh"] == pytest.approx(3.1) and ev["limit_kwh"] == 2.0
    assert more == []
    assert len(notes_of(owner, dev)) == 1


# --- the list and marking read ------------------------------------------------------------------

def _three_alerts(kw, owner):
    dev = device(kw, 0.5)
    kw.map(owner.id, dev["serial"])
    base = hour_ago(10)
    kw.ingest([(dev["serial"], base + i * H + 30 * MIN, 1.0) for i in range(3)])
    deadline = time.monotonic() + WAIT
    while len(notes_of(owner, dev)) < 3:
        assert time.monotonic() < deadline, notes(owner)
        time.sleep(0.05)
    return dev


def test_listing_pages_and_marking_read(alerting):
    kw = alerting
    owner, other = kw.person(), kw.person()
    _three_alerts(kw, owner)
    doc = notes(owner)
    assert doc["unread"] == 3 and len(doc["notifications"]) == 3
    ids = [n["id"] for n in doc["notifications"]]
    assert ids == sorted(ids, reverse=True)                      # newest first
    first = notes(owner, limit=2)
    assert [n["id"] for n in first["notifications"]] == ids[:2]
    assert first["next_cursor"] is not None
    second = notes(owner, limit=2, cursor=first["next_cursor"])
    assert [n["id"] for n in second["notifications"]] == ids[2:]
    assert second["next_cursor"] is None

    # Someone else's ids change nothing (and say nothing: 204 all the same).
    r = other.post("/api/v1/notifications/read", json={"ids": ids})
    assert r.status == 204, r
    assert notes(owner)["unread"] == 3

    tab2 = login(kw, owner.user["email"], owner.password)

    async def body():
        async with connect(kw, tab2) as ws:
            await hello(ws)
            r = await asyncio.to_thread(owner.post, "/api/v1/notifications/read",
                                        json={"ids": [ids[0]]})
            assert r.status == 204 and r.body == b"", r
            return await wait_event(ws, lambda e: e["type"] == "notifications_read",
                                    asyncio.get_running_loop().time() + DELIVERY)
    ev = run(body())
    assert ev["ids"] == [ids[0]] and ev["unread"] == 2
    doc = notes(owner)
    assert doc["unread"] == 2
    assert doc["notifications"][0]["read_at"] is not None
    assert [n["id"] for n in notes(owner, unread="true")["notifications"]] == ids[1:]
    r = owner.post("/api/v1/notifications/read", json={"all": True})
    assert r.status == 204, r
    assert notes(owner)["unread"] == 0
    assert notes(owner, unread="true")["notifications"] == []
    assert len(notes(owner, unread="false")["notifications"]) == 3
    assert notes(other)["notifications"] == []


@pytest.mark.parametrize("body,field,code", [
    ({}, None, "invalid_body"),
    ({"ids": [1], "all": True}, None, "invalid_body"),
    ({"ids": []}, "ids", "invalid_value"),
    ({"ids": [1, "2"]}, "ids", "invalid_value"),
    ({"ids": [0]}, "ids", "invalid_value"),
    ({"ids": "1"}, "ids", "invalid_value"),
    ({"ids": list(range(1, 1002))}, "ids", "invalid_value"),
    ({"all": False}, "all", "invalid_value"),
    ({"all": True, "also": 1}, "also", "unknown_field"),
])
def test_mark_read_rejects_bad_bodies(alerting, body, field, code):
    s = alerting.person()
    r = s.post("/api/v1/notifications/read", json=body)
    assert r.status == 400, r
    err = r.error()
    assert (err["code"], err.get("field")) == (code, field), err


@pytest.mark.parametrize("query,field", [
    ("unread=yes", "unread"), ("limit=0", "limit"), ("limit=201", "limit"),
    ("limit=x", "limit"), ("cursor=abc", "cursor"), ("cursor=-3", "cursor"),
])
def test_list_rejects_bad_queries(alerting, query, field):
    s = alerting.person()
    r = s.get(f"/api/v1/notifications?{query}")
    assert r.status == 400, r
    assert r.error()["field"] == field


def test_notifications_are_for_people_not_tokens(alerting):
    kw = alerting
    assert kw.get("/api/v1/notifications").status == 403
    assert kw.post("/api/v1/notifications/read", json={"all": True}).status == 403
    assert kw.get("/api/v1/notifications", token=None).status == 401
    s = kw.person()
    r = s.post("/api/v1/notifications/read", json={"all": True}, csrf=False)
    assert r.status == 403 and r.error()["code"] == "csrf", r


# --- e-mail ---------------------------------------------------------------------------------------

def test_email_alerts_reach_users_who_asked(alerting, mailbox):
    kw = alerting
    dev = device(kw, 1.0, name=unique("Compteur de Léa № "))   # not ASCII: RFC 2047 subject
    self_set = kw.person()                     # turns it on itself (PATCH /api/v1/me)
    admin_set = kw.person()                    # an admin turns it on for it
    silent = kw.person()                       # leaves it off (the default)
    for p in (self_set, admin_set, silent):
        kw.map(p.id, dev["serial"])
        assert p.user["email_alerts"] is False
    r = self_set.patch("/api/v1/me", json={"email_alerts": True})
    assert r.status == 200 and r.json()["user"]["email_alerts"] is True, r
    assert kw.set_user(admin_set.id, email_alerts=True)["email_alerts"] is True
    assert kw.get(f"/api/v1/users/{admin_set.id}").json()["user"]["email_alerts"] is True
    assert self_set.get("/api/v1/me").json()["user"]["email_alerts"] is True
    r = self_set.patch("/api/v1/me", json={"email_alerts": "yes"})
    assert r.status == 400 and r.error()["field"] == "email_alerts", r

    h = hour_ago(6)
    kw.ingest([(dev["serial"], h + 15 * MIN, 1.3)])
    for p in (self_set, admin_set):
        mails = mailbox.wait_for(p.user["email"])
        assert len(mails) == 1
        sender, rcpt, msg = mails[0]
        assert sender == "alerts@kilowatt.test" and rcpt == [p.user["email"]]
        note = notes_of(p, dev)[0]
        assert msg["Subject"] == f"{dev['name']} is over its hourly limit"
        assert msg["To"] == p.user["email"] and msg["From"] == "alerts@kilowatt.test"
        assert msg.get_content_type() == "text/plain"
        body = msg.get_content().replace("\r\n", "\n")
        assert body.startswith(note["text"] + ".\n")
        assert note["text"] == sentence(dev["name"], h, 1.3, 1.0, ms(note["at"]))
        assert f"{kw.origin}/app/devices/{dev['id']}" in body   # http.public_origin
    time.sleep(0.5)
    assert mailbox.to(silent.user["email"]) == []
    assert len(notes_of(silent, dev)) == 1     # it still has the notification


# --- restarts and failures -------------------------------------------------------------------------

def test_a_restart_raises_nothing_again_and_finishes_what_a_crash_left(fresh):
    kw = fresh()
    dev = device(kw, 1.0)
    owner = kw.person()
    kw.map(owner.id, dev["serial"])
    h = hour_ago(3)
    kw.ingest([(dev["serial"], h + 10 * MIN, 1.5)])
    deadline = time.monotonic() + WAIT
    while not notes_of(owner, dev):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    email_, pw = owner.user["email"], owner.password
    kw.restart()
    owner = login(kw, email_, pw)
    kw.ingest([(dev["serial"], h + 20 * MIN, 0.5)])   # same hour, after the restart
    time.sleep(QUIET)
    assert len(notes_of(owner, dev)) == 1

    # A crash between the alert's commit and its notifications' commit:
    # the alert is stored, unclaimed, with no notification yet.
    kw.stop()
    kw.db_write("UPDATE alert SET notified_at = NULL")
    kw.db_write("DELETE FROM notification")
    kw.start()
    owner = login(kw, email_, pw)
    deadline = time.monotonic() + WAIT
    while not notes_of(owner, dev):
        assert time.monotonic() < deadline, "the unclaimed alert was not notified at start"
        time.sleep(0.05)
    time.sleep(0.5)
    got = notes_of(owner, dev)
    assert len(got) == 1 and got[0]["kwh"] == pytest.approx(1.5)
    assert kw.db_rows("SELECT count(*) AS n FROM alert WHERE notified_at IS NULL")[0]["n"] == 0


def test_a_mail_server_that_is_down_delays_nothing(fresh):
    kw = fresh(env={"SMTP_URL": f"smtp://127.0.0.1:{_free_port()}"})
    dev = device(kw, 1.0)
    owner = kw.person()
    kw.map(owner.id, dev["serial"])
    kw.set_user(owner.id, email_alerts=True)
    h = hour_ago(2)

    async def body():
        async with connect(kw, owner) as o:
            await hello(o)
            t0 = await post(kw, [(dev["serial"], h + 10 * MIN, 2.0)])
            return await wait_event(o, alert_of(dev), t0 + DELIVERY)
    ev = run(body())
    assert ev["kwh"] == 2.0
    addr = owner.user["email"].replace(".", r"\.")
    kw.wait_log(r"cannot send alert e-mail to " + addr + r".*attempt 1 of 3", timeout=WAIT)
    # Retried a bounded number of times (after 2 s and 5 s), then dropped.
    kw.wait_log(r"attempt 3 of 3", timeout=15)
    kw.wait_log(r"alert e-mail to " + addr + " not sent", timeout=WAIT)
    assert len(notes_of(owner, dev)) == 1


def test_the_daemon_stops_while_a_mail_waits_to_be_retried(fresh):
    kw = fresh(env={"SMTP_URL": f"smtp://127.0.0.1:{_free_port()}"})
    dev = device(kw, 1.0)
    admin = kw.person(role="admin")
    kw.set_user(admin.id, email_alerts=True)
    kw.ingest([(dev["serial"], hour_ago(2) + 10 * MIN, 2.0)])
    kw.wait_log(r"attempt 1 of 3", timeout=WAIT)
    t0 = time.monotonic()
    kw.stop()           # exit 0, no sanitizer report (checked by stop())
    assert time.monotonic() - t0 < 5, "shutdown waited for the mail retry"


def test_an_unusable_smtp_url_stops_the_start(fresh):
    kw = fresh(start=False, env={"SMTP_URL": "ftp://127.0.0.1:25"})
    kw.checks_in_test = True
    kw.start(wait=False)
    assert kw.wait_exit() == 1
    kw.check_sanitizers()
    assert "smtp.url 'ftp://127.0.0.1:25' must start with smtp:// or smtps://" in kw.log_text()
