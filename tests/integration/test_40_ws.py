"""The live channel: GET /ws (WebSocket hub, src/http/ws.c and api_ws.c).

The handshake's refusals are plain HTTP (kwlib); the sockets themselves are
driven with Debian's python3-websockets 10.4 (asyncio API) on loopback.
Every wait is bounded (asyncio.wait_for).  Most tests share one daemon
(`hub`) and make their own users and devices; admin sockets see every
device, so they filter events by device.  Tests that need settings, or that
stop the daemon, get their own from `fresh`."""
import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import time

import pytest
import websockets

from kwaccounts import COOKIE, Daemons, finish_daemons, login, unique
from kwlib import iso, metric, now_ms

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WAIT = 5.0        # seconds: upper bound for anything that should happen "now"
DELIVERY = 1.0    # a reading event must arrive within this of the POST's answer


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    daemons = Daemons(tmp_path_factory.mktemp("ws"))
    try:
        yield daemons(env={"INGEST_AUTO_CREATE_DEVICES": "true"})
    finally:
        finish_daemons(daemons)


def run(coro, timeout=120):
    """Runs one test's asyncio body, bounded."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


# --- the handshake over plain HTTP ------------------------------------------------------

def _key():
    return base64.b64encode(os.urandom(16)).decode()


def handshake(kw, session=None, origin=True, drop=(), **over):
    """GET /ws with a complete handshake (minus the headers in drop, plus
    the ones in over) as session (or no one)."""
    h = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
         "Sec-WebSocket-Key": _key()}
    if origin is True:
        h["Origin"] = kw.origin
    elif origin:
        h["Origin"] = origin
    if session:
        h["Cookie"] = f"{COOKIE}={session.cookie}"
    for k in drop:
        h.pop(k, None)
    h.update({k.replace("_", "-"): v for k, v in over.items()})
    return kw.request("GET", "/ws", token=None, headers=h)


def test_no_session_is_401(hub):
    r = handshake(hub)
    assert r.status == 401, r
    assert r.error()["code"] == "unauthorized"


def test_tokens_are_refused(hub):
    r = hub.request("GET", "/ws", headers={"Origin": hub.origin, "Upgrade": "websocket",
                                            "Connection": "Upgrade",
                                            "Sec-WebSocket-Version": "13",
                                            "Sec-WebSocket-Key": _key()})
    assert r.status == 403, r
    assert r.error()["code"] == "forbidden"


@pytest.mark.parametrize("origin", ["http://evil.example", "null", None])
def test_origin_must_be_this_server(hub, origin):
    s = hub.person()
    r = handshake(hub, s, origin=origin or False)
    assert r.status == 403, r
    err = r.error()
    assert (err["code"], err["field"]) == ("forbidden", "Origin")
    assert r.header("Upgrade") is None


@pytest.mark.parametrize("drop,over,field,code", [
    (("Upgrade",), {}, "Upgrade", "missing_field"),
    ((), {"Upgrade": "h2c"}, "Upgrade", "invalid_value"),
    (("Connection",), {}, "Connection", "missing_field"),
    ((), {"Connection": "keep-alive"}, "Connection", "invalid_value"),
    (("Sec-WebSocket-Version",), {}, "Sec-WebSocket-Version", "missing_field"),
    ((), {"Sec-WebSocket-Version": "8"}, "Sec-WebSocket-Version", "invalid_value"),
    (("Sec-WebSocket-Key",), {}, "Sec-WebSocket-Key", "missing_field"),
    ((), {"Sec-WebSocket-Key": "c2hvcnQ="}, "Sec-WebSocket-Key", "invalid_value"),
    ((), {"Sec-WebSocket-Key": "!" * 24}, "Sec-WebSocket-Key", "invalid_value"),
])
def test_bad_handshakes_are_400_naming_the_header(hub, drop, over, field, code):
    s = hub.person()
    r = handshake(hub, s, drop=drop, **over)
    assert r.status == 400, r
    err = r.error()
    assert (err["code"], err["field"]) == (code, field), err
    if field == "Sec-WebSocket-Version":
        assert r.header("Sec-WebSocket-Version") == "13"


def test_plain_get_is_400(hub):
    s = hub.person()
    r = s.get("/ws", headers={"Origin": hub.origin})
    assert r.status == 400, r
    assert r.error()["field"] == "Upgrade"


def test_handshake_answer_is_rfc6455(hub):
    s = hub.person()
    key = _key()
    req = (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\nUpgrade: websocket\r\n"
           f"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           f"Sec-WebSocket-Key: {key}\r\nOrigin: {hub.origin}\r\n"
           f"Cookie: {COOKIE}={s.cookie}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", hub.port), timeout=WAIT) as sock:
        sock.sendall(req)
        head, rest = _read_head(sock)
        lines = head.split("\r\n")
        assert lines[0] == "HTTP/1.1 101 Switching Protocols", head
        h = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        assert h["sec-websocket-accept"] == want
        assert h["upgrade"].lower() == "websocket"
        assert "upgrade" in h["connection"].lower()
        assert "sec-websocket-extensions" not in h and "sec-websocket-protocol" not in h


def _raw_handshake(kw, session, version="HTTP/1.1"):
    return (f"GET /ws {version}\r\nHost: 127.0.0.1:{kw.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {_key()}\r\nOrigin: {kw.origin}\r\n"
            f"Cookie: {COOKIE}={session.cookie}\r\n\r\n").encode()


def test_http_1_0_is_400(hub):
    s = hub.person()
    with socket.create_connection(("127.0.0.1", hub.port), timeout=WAIT) as sock:
        sock.sendall(_raw_handshake(hub, s, "HTTP/1.0"))
        head, _ = _read_head(sock)
        assert head.split("\r\n")[0].split(" ")[1] == "400", head


def test_peers_that_reset_during_or_after_the_handshake(hub):
    """Connections reset before, while and after the 101 leave nothing
    behind (the daemon's teardown checks for leaks)."""
    s = hub.person()
    for i in range(6):
        sock = socket.create_connection(("127.0.0.1", hub.port), timeout=WAIT)
        sock.sendall(_raw_handshake(hub, s))
        if i % 3 == 1:
            _read_head(sock)
        elif i % 3 == 2:
            head, rest = _read_head(sock)
            _server_frames(sock, rest, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    for _ in range(50):
        if metric(hub.metrics(), "kilowatt_ws_connections") == 0:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("reset sockets are still counted")


# --- raw frames (for the bytes-before-the-101 test) ---------------------------------------

def _read_head(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed during the handshake: {buf!r}"
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def _client_frame(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    else:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _server_frames(sock, buf, count):
    """Reads count unmasked server frames: [(opcode, payload)], rest."""
    out = []
    while len(out) < count:
        while True:
            if len(buf) >= 2:
                n = buf[1] & 0x7F
                off = 2
                if n == 126 and len(buf) >= 4:
                    n, off = struct.unpack("!H", buf[2:4])[0], 4
                if n != 126 and len(buf) >= off + n:
                    break
            chunk = sock.recv(65536)
            assert chunk, f"closed after {out}"
            buf += chunk
        out.append((buf[0] & 0x0F, buf[off:off + n]))
        buf = buf[off + n:]
    return out, buf


def test_frames_sent_before_the_101_are_read_after_hello(hub):
    """Bytes the HTTP server read past the request (extra_in) are the
    socket's first input, and hello still comes first."""
    s = hub.person()
    req = _raw_handshake(hub, s)
    with socket.create_connection(("127.0.0.1", hub.port), timeout=WAIT) as sock:
        sock.sendall(req + _client_frame(1, b'{"type":"ping"}'))
        head, rest = _read_head(sock)
        assert head.startswith("HTTP/1.1 101"), head
        frames, _ = _server_frames(sock, rest, 2)
        assert [op for op, _ in frames] == [1, 1]
        assert json.loads(frames[0][1])["type"] == "hello"
        assert json.loads(frames[1][1]) == {"type": "pong"}


# --- sockets -------------------------------------------------------------------------------

def connect(kw, session, **kw_args):
    """websockets.connect(...) as session: await it, or use it with async with."""
    return websockets.connect(
        f"ws://127.0.0.1:{kw.port}/ws", origin=kw.origin,
        extra_headers={"Cookie": f"{COOKIE}={session.cookie}"}, open_timeout=WAIT,
        close_timeout=WAIT, ping_interval=None, compression=None, **kw_args)


async def recv_json(ws, timeout=WAIT):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def hello(ws):
    ev = await recv_json(ws)
    assert ev["type"] == "hello", ev
    return ev


async def wait_event(ws, pred, timeout=WAIT, seen=None):
    """The first event matching pred within timeout (others go to seen)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"no matching event within {timeout}s; saw {seen}")
        try:
            ev = await recv_json(ws, left)
        except asyncio.TimeoutError:
            raise AssertionError(f"no matching event within {timeout}s; saw {seen}")
        if pred(ev):
            return ev
        if seen is not None:
            seen.append(ev)


async def events_during(ws, seconds):
    """Every event that arrives within seconds."""
    out = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            out.append(await recv_json(ws, left))
        except asyncio.TimeoutError:
            break
    return out


async def closed(ws, timeout=WAIT):
    """Waits for the socket to close; (code, reason) the server sent."""
    await asyncio.wait_for(ws.wait_closed(), timeout)
    return ws.close_code, ws.close_reason


async def post(kw, serial, ts=None, value=1.0):
    """POST /api/v1/measurements (admin token) in a thread; returns ts."""
    ts = ts or now_ms() - 60000
    await asyncio.to_thread(kw.ingest, [(serial, ts, value)])
    return ts


def reading_of(dev):
    return lambda ev: ev["type"] == "reading" and ev.get("device_id") == dev["id"]


def test_hello_of_a_client_and_of_an_admin(hub):
    client, admin = hub.person(), hub.person(role="admin")

    async def body():
        async with connect(hub, client) as ws:
            ev = await hello(ws)
            assert set(ev) == {"type", "user", "seq"}
            assert ev["user"] == {"id": client.id, "role": "client"}
            assert isinstance(ev["seq"], int) and ev["seq"] >= 0
        async with connect(hub, admin) as ws:
            ev = await hello(ws)
            assert ev["user"] == {"id": admin.id, "role": "admin"}
    run(body())


def test_client_gets_its_devices_readings_only(hub):
    mine = hub.create_device(serial=unique("mine-"))
    other = hub.create_device(serial=unique("other-"))
    s = hub.person()
    hub.map(s.id, mine["serial"])

    async def body():
        async with connect(hub, s) as ws:
            seq0 = (await hello(ws))["seq"]
            await post(hub, other["serial"])
            ts = await post(hub, mine["serial"])
            t0 = time.monotonic()
            seen = []
            ev = await wait_event(ws, reading_of(mine), DELIVERY, seen)
            assert time.monotonic() - t0 < DELIVERY
            assert ev == {"type": "reading", "seq": ev["seq"], "device_id": mine["id"],
                          "serial": mine["serial"], "last_ts": iso(ts)}
            assert ev["seq"] > seq0
            later = await events_during(ws, 0.6)
            assert not [e for e in seen + later if e.get("device_id") == other["id"]]
    run(body())


def test_two_tabs_of_a_user_both_get_it(hub):
    dev = hub.create_device(serial=unique("tabs-"))
    s = hub.person()
    hub.map(s.id, dev["serial"])
    s2 = login(hub, s.user["email"], s.password)   # another session, same person

    async def body():
        async with connect(hub, s) as a, connect(hub, s) as b, \
                connect(hub, s2) as c:
            for ws in (a, b, c):
                await hello(ws)
            await post(hub, dev["serial"])
            evs = [await wait_event(ws, reading_of(dev), DELIVERY) for ws in (a, b, c)]
            assert len({e["seq"] for e in evs}) == 1
    run(body())


def test_admin_gets_every_device(hub):
    d1 = hub.create_device(serial=unique("adm-"))
    d2 = hub.create_device(serial=unique("adm-"))
    admin = hub.person(role="admin")

    async def body():
        async with connect(hub, admin) as ws:
            await hello(ws)
            await asyncio.to_thread(hub.ingest, [(d1["serial"], now_ms() - 5000, 1),
                                                 (d2["serial"], now_ms() - 4000, 2)])
            got = set()
            while got != {d1["id"], d2["id"]}:
                ev = await wait_event(ws, lambda e: e.get("device_id") in (d1["id"], d2["id"]),
                                      DELIVERY)
                got.add(ev["device_id"])
    run(body())


def test_auto_created_devices_are_announced_with_their_ids(hub):
    admin = hub.person(role="admin")
    serials = [unique("auto-") for _ in range(3)]

    async def body():
        async with connect(hub, admin) as ws:
            await hello(ws)
            base = now_ms() - 600000
            await asyncio.to_thread(hub.ingest, [(sn, base + i * 1000, 1.0)
                                                 for i, sn in enumerate(serials)]
                                    + [(serials[0], base + 5000, 2.0)])
            want = {}
            for sn in serials:
                want[hub.get(f"/api/v1/devices/{sn}").json()["id"]] = sn
            got = {}
            while set(got) != set(want):
                ev = await wait_event(ws, lambda e: e.get("device_id") in want, DELIVERY)
                got[ev["device_id"]] = ev
            for dev_id, ev in got.items():
                assert ev["serial"] == want[dev_id]
            first = [e for e in got.values() if e["serial"] == serials[0]][0]
            assert first["last_ts"] == iso(base + 5000)   # the newest of that device
    run(body())


def test_many_devices_at_once_is_one_event(hub):
    admin = hub.person(role="admin")

    async def body():
        async with connect(hub, admin) as ws:
            await hello(ws)
            t = now_ms() - 120000
            await asyncio.to_thread(hub.ingest, [(unique("many-"), t, 1.0) for _ in range(201)])
            ev = await wait_event(ws, lambda e: e.get("many"), DELIVERY)
            assert ev == {"type": "reading", "seq": ev["seq"], "device_id": None, "many": True}
    run(body())


def test_mapping_changes_while_connected(hub):
    dev = hub.create_device(serial=unique("later-"))
    s = hub.person()

    async def body():
        async with connect(hub, s) as ws:
            await hello(ws)
            await post(hub, dev["serial"])
            assert not [e for e in await events_during(ws, 0.6) if e.get("device_id")]
            m = await asyncio.to_thread(hub.map, s.id, dev["serial"])
            await post(hub, dev["serial"])
            await wait_event(ws, reading_of(dev), DELIVERY)
            r = await asyncio.to_thread(hub.delete, f"/api/v1/mappings/{m['id']}")
            assert r.status == 204, r
            await post(hub, dev["serial"])
            assert not [e for e in await events_during(ws, 0.6) if e.get("device_id")]
    run(body())


def test_a_client_made_admin_sees_every_device_at_once(hub):
    dev = hub.create_device(serial=unique("promo-"))
    s = hub.person()

    async def body():
        async with connect(hub, s) as ws:
            await hello(ws)
            await asyncio.to_thread(hub.set_user, s.id, role="admin")
            await post(hub, dev["serial"])
            await wait_event(ws, reading_of(dev), DELIVERY)
    run(body())


def test_logout_closes_that_sessions_sockets_with_1008(hub):
    s = hub.person()
    s2 = login(hub, s.user["email"], s.password)

    async def body():
        async with connect(hub, s) as a, connect(hub, s2) as b:
            await hello(a)
            await hello(b)
            r = await asyncio.to_thread(s.post, "/api/v1/logout")
            assert r.status == 204, r
            code, _ = await closed(a)
            assert code == 1008
            await b.send(json.dumps({"type": "ping"}))       # the other session's lives on
            assert await recv_json(b) == {"type": "pong"}
    run(body())


def test_disabling_a_user_closes_its_sockets(hub):
    s = hub.person()

    async def body():
        async with connect(hub, s) as ws:
            await hello(ws)
            await asyncio.to_thread(hub.set_user, s.id, disabled=True)
            code, _ = await closed(ws)
            assert code == 1008
    run(body())


def test_a_password_change_closes_the_old_sessions_sockets(hub):
    s = hub.person()

    async def body():
        async with connect(hub, s) as ws:
            await hello(ws)
            r = await asyncio.to_thread(s.patch, "/api/v1/me", json={
                "password": "a-new-long-password", "current_password": s.password})
            assert r.status == 200, r
            code, _ = await closed(ws)
            assert code == 1008
    run(body())


def test_ping_pong_and_ignored_messages(hub):
    s = hub.person()

    async def body():
        async with connect(hub, s) as ws:
            await hello(ws)
            for junk in ("not json", "[1,2]", json.dumps({"type": "chat", "text": "hi"})):
                await ws.send(junk)
            await ws.send(json.dumps({"type": "ping"}))
            assert await recv_json(ws) == {"type": "pong"}
            pong = await ws.ping(b"x")          # a protocol ping is answered too
            await asyncio.wait_for(pong, WAIT)
    run(body())


def test_oversize_message_closes_1009(hub):
    s = hub.person()

    async def body():
        async with connect(hub, s) as ws:
            await hello(ws)
            try:
                await ws.send("x" * (64 * 1024 + 1))
            except websockets.ConnectionClosed:
                pass
            code, _ = await closed(ws)
            assert code == 1009
        async with connect(hub, s) as ws:    # 64 KiB exactly is fine
            await hello(ws)
            await ws.send(" " * (64 * 1024 - 15) + '{"type":"ping"}')
            assert await recv_json(ws) == {"type": "pong"}
    run(body())


def test_binary_frames_close_1003(hub):
    s = hub.person()

    async def body():
        async with connect(hub, s) as ws:
            await hello(ws)
            await ws.send(b"\x00\x01")
            code, _ = await closed(ws)
            assert code == 1003
    run(body())


def test_seventeenth_socket_of_a_user_closes_the_oldest(hub):
    s = hub.person()

    async def body():
        socks = []
        try:
            for _ in range(16):
                socks.append(await connect(hub, s))
                await hello(socks[-1])
            socks.append(await connect(hub, s))
            await hello(socks[-1])
            code, reason = await closed(socks[0])
            assert code == 1008 and "too many" in reason
            for ws in socks[1:]:
                assert ws.open
            await socks[-1].send(json.dumps({"type": "ping"}))
            assert await recv_json(socks[-1]) == {"type": "pong"}
        finally:
            for ws in socks:
                await ws.close()
    run(body())


# --- daemons of their own ---------------------------------------------------------------------

def test_sockets_outlive_the_http_idle_timeout_and_are_counted(fresh):
    kw = fresh(env={"HTTP_IDLE_TIMEOUT": "1s"})
    s = kw.person()

    async def body():
        async with connect(kw, s) as ws:
            await hello(ws)
            m = await asyncio.to_thread(kw.metrics)
            assert metric(m, "kilowatt_ws_connections") == 1
            await asyncio.sleep(2.5)
            await ws.send(json.dumps({"type": "ping"}))
            assert await recv_json(ws) == {"type": "pong"}
        for _ in range(50):
            if metric(await asyncio.to_thread(kw.metrics), "kilowatt_ws_connections") == 0:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the closed socket is still counted")
    run(body())


def test_sigterm_closes_sockets_with_1001_and_exits_0(fresh):
    kw = fresh()
    client, admin = kw.person(), kw.person(role="admin")
    kw.checks_in_test = True

    async def body():
        a = await connect(kw, client)
        b = await connect(kw, admin)
        await hello(a)
        await hello(b)
        stop = asyncio.create_task(asyncio.to_thread(kw.stop))
        codes = [await closed(ws, 15) for ws in (a, b)]
        rc = await asyncio.wait_for(stop, 60)
        assert rc == 0
        assert [c for c, _ in codes] == [1001, 1001]
    run(body())
    assert "event loop closed with handles still open" not in kw.log_text()


def test_sigterm_drops_a_peer_that_never_answers_the_close(fresh):
    """A peer that reads nothing and never answers close 1001 is dropped
    after the hub's close wait; the daemon still exits 0 well within its
    drain time."""
    kw = fresh(env={"LOG_LEVEL": "debug"})
    s = kw.person()
    req = _raw_handshake(kw, s)
    with socket.create_connection(("127.0.0.1", kw.port), timeout=WAIT) as sock:
        sock.sendall(req)
        head, rest = _read_head(sock)
        assert head.startswith("HTTP/1.1 101"), head
        frames, rest = _server_frames(sock, rest, 1)      # hello; then silence
        t0 = time.monotonic()
        assert kw.stop() == 0
        assert time.monotonic() - t0 < 9
        frames, _ = _server_frames(sock, rest, 1)
        assert frames[0][0] == 8 and struct.unpack("!H", frames[0][1][:2])[0] == 1001
    assert "not closed" not in kw.log_text()   # MHD: no upgraded connection left open
