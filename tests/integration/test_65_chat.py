"""Support chat (issue 6), black box: HTTP routes and the /ws chat events.

One daemon for the module; every test makes its own clients and admins
(the send limit is per user, and every admin socket hears every chat, so
tests look only at their own chat's events).  Every wait is bounded."""
import asyncio
import json
import time
import uuid

import pytest
import websockets

from kwaccounts import COOKIE, Daemons, finish_daemons, login

WAIT = 5.0    # seconds: bound for what should happen "now"
QUIET = 1.0   # seconds a test listens to make sure nothing comes


@pytest.fixture(scope="module")
def kw(tmp_path_factory):
    daemons = Daemons(tmp_path_factory.mktemp("chat"))
    try:
        yield daemons()
    finally:
        finish_daemons(daemons)


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def connect(kw, session):
    return websockets.connect(
        f"ws://127.0.0.1:{kw.port}/ws", origin=kw.origin,
        extra_headers={"Cookie": f"{COOKIE}={session.cookie}"}, open_timeout=WAIT,
        close_timeout=WAIT, ping_interval=None, compression=None)


async def recv_json(ws, timeout=WAIT):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def opened(kw, session):
    ws = await connect(kw, session)
    ev = await recv_json(ws)
    assert ev["type"] == "hello", ev
    return ws


async def wait_event(ws, pred, timeout=WAIT):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = []
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
        seen.append(ev)


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


def of(type_, chat_id):
    return lambda ev: ev["type"] == type_ and ev.get("chat_id") == chat_id


def cid():
    return str(uuid.uuid4())


def my_chat(s):
    r = s.get("/api/v1/chats")
    assert r.status == 200, r
    chats = r.json()["chats"]
    assert len(chats) == 1, chats
    return chats[0]


def send(s, chat_id, body, client_msg_id=None):
    return s.post(f"/api/v1/chats/{chat_id}/messages",
                  json={"body": body, "client_msg_id": client_msg_id or cid()})


def history(s, chat_id, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    r = s.get(f"/api/v1/chats/{chat_id}/messages" + (f"?{qs}" if qs else ""))
    assert r.status == 200, r
    return r.json()


# --- HTTP -------------------------------------------------------------------------------

def test_client_chat_is_created_on_first_use_and_listed_for_admins(kw):
    client, admin = kw.person(), kw.person(role="admin")
    chat = my_chat(client)
    assert chat["client"] == {"id": client.id, "name": client.user["name"],
                              "email": client.user["email"]}
    assert chat["unread"] == 0 and chat["last_message"] is None
    assert my_chat(client)["id"] == chat["id"]          # one per client
    r = send(client, chat["id"], "why was Tuesday so high?")
    assert r.status == 201, r
    m = r.json()
    assert m["from"] == "client" and m["sender"]["id"] == client.id
    assert m["body"] == "why was Tuesday so high?" and m["read_at"] is None
    chats = admin.get("/api/v1/chats").json()["chats"]
    mine = [c for c in chats if c["id"] == chat["id"]][0]
    assert chats[0]["id"] == chat["id"]                 # newest activity first
    assert mine["unread"] == 1 and mine["last_message"]["id"] == m["id"]
    assert mine["client"]["email"] == client.user["email"]


def test_admin_starts_a_conversation_from_a_clients_page(kw):
    client, admin = kw.person(), kw.person(role="admin")
    r = admin.get(f"/api/v1/chats?client_id={client.id}")
    assert r.status == 200, r
    (chat,) = r.json()["chats"]
    assert chat["client"]["id"] == client.id
    assert send(admin, chat["id"], "we noticed a spike").status == 201
    assert my_chat(client)["id"] == chat["id"] and my_chat(client)["unread"] == 1
    assert admin.get(f"/api/v1/chats?client_id={admin.id}").status == 404
    r = client.get(f"/api/v1/chats?client_id={client.id}")
    assert r.status == 400 and r.error()["field"] == "client_id"


def test_admin_reply_names_the_admin_and_read_marks_the_other_side(kw):
    client, admin = kw.person(), kw.person(role="admin")
    chat = my_chat(client)
    q = send(client, chat["id"], "hello?").json()
    a = send(admin, chat["id"], "hi, how can I help?").json()
    assert a["from"] == "admin" and a["sender"] == {"id": admin.id, "name": admin.user["name"]}
    r = admin.post(f"/api/v1/chats/{chat['id']}/read", json={"up_to": a["id"]})
    assert r.status == 200, r
    assert r.json()["message_ids"] == [q["id"]]         # only the client's message
    assert my_chat(client)["unread"] == 1
    r = client.post(f"/api/v1/chats/{chat['id']}/read", json={"up_to": a["id"]})
    assert r.json()["message_ids"] == [a["id"]] and r.json()["read_at"]
    msgs = history(client, chat["id"])["messages"]
    assert all(x["read_at"] for x in msgs)


def test_idempotent_client_msg_id(kw):
    client = kw.person()
    chat = my_chat(client)
    k = cid()
    r1 = send(client, chat["id"], "once", k)
    r2 = send(client, chat["id"], "once", k)
    assert (r1.status, r2.status) == (201, 200)
    assert r1.json() == r2.json()
    assert [m["client_msg_id"] for m in history(client, chat["id"])["messages"]] == [k]


def test_text_is_stored_and_returned_as_is(kw):
    client = kw.person()
    chat = my_chat(client)
    body = '<script>alert(1)</script> <img src=x onerror="alert(2)"> & "é" \u20ac'
    assert send(client, chat["id"], body).json()["body"] == body
    assert history(client, chat["id"])["messages"][0]["body"] == body


def test_paging_newest_first_without_gaps(kw):
    client = kw.person()
    chat = my_chat(client)
    ids = [send(client, chat["id"], f"m{i}").json()["id"] for i in range(7)]
    got, before = [], None
    while True:
        q = {"limit": 3} | ({"before": before} if before else {})
        page = history(client, chat["id"], **q)
        got += [m["id"] for m in page["messages"]]
        before = page["next_before"]
        if before is None:
            break
    assert got == ids[::-1]
    r = client.get(f"/api/v1/chats/{chat['id']}/messages?limit=0")
    assert r.status == 400 and r.error()["field"] == "limit"


def test_a_client_cannot_read_or_write_another_clients_chat(kw):
    a, b = kw.person(), kw.person()
    chat_a = my_chat(a)
    send(a, chat_a["id"], "private")
    missing = 10 ** 9
    for cid_ in (chat_a["id"], missing):
        r1 = b.get(f"/api/v1/chats/{cid_}/messages")
        r2 = send(b, cid_, "let me in")
        r3 = b.post(f"/api/v1/chats/{cid_}/read", json={"up_to": 1})
        for r in (r1, r2, r3):
            assert r.status == 404, r
            assert r.error()["code"] == "not_found"
    assert [m["body"] for m in history(a, chat_a["id"])["messages"]] == ["private"]
    assert kw.person(role="admin").get(f"/api/v1/chats/{missing}/messages").status == 404


def test_limits_size_and_fields(kw):
    client = kw.person()
    chat = my_chat(client)
    assert send(client, chat["id"], "é" * 4000).status == 201
    r = send(client, chat["id"], "x" * 4001)
    assert r.status == 400 and r.error()["field"] == "body"
    r = send(client, chat["id"], "")
    assert r.status == 400 and r.error()["field"] == "body"
    r = client.post(f"/api/v1/chats/{chat['id']}/messages", json={"body": "x"})
    assert r.status == 400 and r.error()["field"] == "client_msg_id"
    r = client.post(f"/api/v1/chats/{chat['id']}/messages",
                    json={"body": "x", "client_msg_id": cid(), "extra": 1})
    assert r.status == 400 and r.error()["field"] == "extra"
    r = client.post(f"/api/v1/chats/{chat['id']}/read", json={"up_to": "x"})
    assert r.status == 400 and r.error()["field"] == "up_to"


def test_rate_limit_is_429_with_retry_after(kw):
    client = kw.person()
    chat = my_chat(client)
    statuses = [send(client, chat["id"], f"n{i}").status for i in range(20)]
    assert statuses == [201] * 20
    r = send(client, chat["id"], "one too many")
    assert r.status == 429, r
    assert r.error()["code"] == "rate_limited"
    assert 1 <= int(r.header("Retry-After")) <= 10


# --- /ws --------------------------------------------------------------------------------

def test_delivery_to_every_tab_and_to_admins_with_the_clients_identity(kw):
    client, admin = kw.person(), kw.person(role="admin")
    tab2 = login(kw, client.user["email"], client.password)
    chat = my_chat(client)

    async def body():
        t1, t2, ad = [await opened(kw, s) for s in (client, tab2, admin)]
        try:
            k = cid()
            await t1.send(json.dumps({"type": "chat.send", "chat_id": chat["id"],
                                      "body": "from tab 1", "client_msg_id": k}))
            for ws in (t1, t2, ad):
                ev = await wait_event(ws, of("chat.message", chat["id"]))
                assert ev["message"]["client_msg_id"] == k
                assert ev["message"]["body"] == "from tab 1"
                assert ev["client"]["email"] == client.user["email"]
            d = await wait_event(t2, of("chat.delivered", chat["id"]))
            assert d["client_msg_id"] == k and d["delivered_at"]
            # an HTTP send is live too, and the admin's answer reaches both tabs
            r = send(admin, chat["id"], "answer")
            for ws in (t1, t2):
                ev = await wait_event(ws, of("chat.message", chat["id"]))
                assert ev["message"]["sender"] == {"id": admin.id, "name": admin.user["name"]}
            # the same client_msg_id again: the same message, to the asking socket only
            await t1.send(json.dumps({"type": "chat.send", "chat_id": chat["id"],
                                      "body": "from tab 1", "client_msg_id": k}))
            ev = await wait_event(t1, of("chat.message", chat["id"]))
            assert ev["message"]["client_msg_id"] == k
            assert not [e for e in await events_during(t2, QUIET)
                        if e["type"] == "chat.message"]
            assert len(history(client, chat["id"])["messages"]) == 2
            assert r.status == 201
        finally:
            for ws in (t1, t2, ad):
                await ws.close()
    run(body())


def test_ws_errors_name_the_field_and_other_chats_are_not_found(kw):
    a, b = kw.person(), kw.person()
    chat_a = my_chat(a)
    my_chat(b)

    async def body():
        ws = await opened(kw, b)
        try:
            await ws.send(json.dumps({"type": "chat.send", "chat_id": chat_a["id"],
                                      "body": "hi", "client_msg_id": cid()}))
            ev = await wait_event(ws, lambda e: e["type"] == "chat.error")
            assert (ev["code"], ev["field"], ev["request"]) == ("not_found", "chat_id",
                                                                "chat.send")
            await ws.send(json.dumps({"type": "chat.send", "chat_id": chat_a["id"],
                                      "body": "x" * 4001, "client_msg_id": cid()}))
            ev = await wait_event(ws, lambda e: e["type"] == "chat.error")
            assert (ev["code"], ev["field"]) == ("too_long", "body")
            await ws.send(json.dumps({"type": "chat.typing", "chat_id": chat_a["id"]}))
            ev = await wait_event(ws, lambda e: e["type"] == "chat.error")
            assert ev["code"] == "not_found"
            await ws.send(json.dumps({"type": "ping"}))
            assert (await wait_event(ws, lambda e: e["type"] == "pong"))["type"] == "pong"
        finally:
            await ws.close()
        assert history(a, chat_a["id"])["messages"] == []
    run(body())


def test_typing_is_forwarded_to_the_other_side_and_throttled(kw):
    client, admin = kw.person(), kw.person(role="admin")
    chat = my_chat(client)

    async def body():
        c, ad = await opened(kw, client), await opened(kw, admin)
        try:
            for _ in range(5):
                await c.send(json.dumps({"type": "chat.typing", "chat_id": chat["id"]}))
            ev = await wait_event(ad, of("chat.typing", chat["id"]))
            assert ev["from"] == "client" and ev["user"]["id"] == client.id
            later = [e for e in await events_during(ad, QUIET)
                     if of("chat.typing", chat["id"])(e)]
            assert later == []                          # at most one per 2 s
            await asyncio.sleep(1.2)
            await c.send(json.dumps({"type": "chat.typing", "chat_id": chat["id"]}))
            await wait_event(ad, of("chat.typing", chat["id"]))
            # the typer's own tab does not hear itself; the admin's typing reaches it
            assert not [e for e in await events_during(c, 0.3) if e["type"] == "chat.typing"]
            await ad.send(json.dumps({"type": "chat.typing", "chat_id": chat["id"]}))
            ev = await wait_event(c, of("chat.typing", chat["id"]))
            assert ev["from"] == "admin" and ev["user"] == {"id": admin.id,
                                                           "name": admin.user["name"]}
        finally:
            await c.close()
            await ad.close()
    run(body())


def test_read_receipts_reach_the_sender(kw):
    client, admin = kw.person(), kw.person(role="admin")
    chat = my_chat(client)

    async def body():
        c, ad = await opened(kw, client), await opened(kw, admin)
        try:
            m = send(client, chat["id"], "please read me").json()
            await wait_event(ad, of("chat.message", chat["id"]))
            await ad.send(json.dumps({"type": "chat.read", "chat_id": chat["id"],
                                      "up_to": m["id"]}))
            ev = await wait_event(c, of("chat.read", chat["id"]))
            assert ev["message_ids"] == [m["id"]] and ev["read_at"] and ev["by"] == "admin"
            got = history(client, chat["id"])["messages"][0]
            assert got["read_at"] == ev["read_at"]
            # reading again changes nothing and sends nothing
            await ad.send(json.dumps({"type": "chat.read", "chat_id": chat["id"],
                                      "up_to": m["id"]}))
            assert not [e for e in await events_during(c, QUIET) if e["type"] == "chat.read"]
        finally:
            await c.close()
            await ad.close()
    run(body())


def test_reconnect_catches_up_through_history_without_gaps_or_duplicates(kw):
    client, admin = kw.person(), kw.person(role="admin")
    chat = my_chat(client)

    async def body():
        seen = {}
        c = await opened(kw, client)
        send(admin, chat["id"], "first")
        ev = await wait_event(c, of("chat.message", chat["id"]))
        seen[ev["message"]["id"]] = ev["message"]
        await c.close()
        # while the client is away: admin answers, and the client retries a send
        for i in range(5):
            send(admin, chat["id"], f"away {i}")
        k = cid()
        assert send(client, chat["id"], "mine", k).status == 201
        assert send(client, chat["id"], "mine", k).status == 200
        c = await opened(kw, client)
        try:
            last = max(seen)
            before, fetched = None, []
            while True:
                q = {"limit": 2} | ({"before": before} if before else {})
                page = history(client, chat["id"], **q)
                new = [m for m in page["messages"] if m["id"] > last]
                fetched += new
                if len(new) < len(page["messages"]) or page["next_before"] is None:
                    break
                before = page["next_before"]
            for m in fetched:
                assert m["id"] not in seen
                seen[m["id"]] = m
            bodies = [seen[i]["body"] for i in sorted(seen)]
            assert bodies == ["first"] + [f"away {i}" for i in range(5)] + ["mine"]
            # live again after the reconnect
            send(admin, chat["id"], "welcome back")
            ev = await wait_event(c, of("chat.message", chat["id"]))
            assert ev["message"]["body"] == "welcome back"
        finally:
            await c.close()
    run(body())


def test_deleting_a_client_deletes_its_chat(kw):
    client, admin = kw.person(), kw.person(role="admin")
    chat = my_chat(client)
    send(client, chat["id"], "bye")
    assert kw.delete(f"/api/v1/users/{client.id}").status == 204
    assert admin.get(f"/api/v1/chats/{chat['id']}/messages").status == 404
    assert chat["id"] not in [c["id"] for c in admin.get("/api/v1/chats").json()["chats"]]
    assert kw.db_rows("SELECT count(*) AS n FROM chat_message WHERE chat_id = ?",
                      (chat["id"],))[0]["n"] == 0


# --- context: a device and a day ------------------------------------------------------

def new_device(kw, name):
    r = kw.post("/api/v1/devices", json={"name": name})
    assert r.status == 201, r
    return r.json()


def test_context_is_stored_and_returned_with_a_chart_link(kw):
    client, admin = kw.person(), kw.person(role="admin")
    dev = new_device(kw, "heat pump")
    kw.map(client.id, dev["id"])
    chat = my_chat(client)
    r = client.post(f"/api/v1/chats/{chat['id']}/messages",
                    json={"body": "why was Tuesday so high?", "client_msg_id": cid(),
                          "context": {"device_id": dev["id"], "date": "2026-11-17"}})
    assert r.status == 201, r
    want = {"device_id": dev["id"], "device_name": "heat pump", "date": "2026-11-17",
            "href": f"/app/devices/{dev['id']}?view=day&date=2026-11-17"}
    assert r.json()["context"] == want
    msgs = history(admin, chat["id"])["messages"]
    assert msgs[0]["context"] == want
    r = send(client, chat["id"], "and no context")
    assert r.status == 201 and r.json()["context"] is None, r
    chats = [c for c in admin.get("/api/v1/chats").json()["chats"] if c["id"] == chat["id"]]
    assert chats[0]["last_message"]["context"] is None
    rows = kw.db_rows("SELECT context_device, context_date FROM chat_message WHERE chat_id = ?"
                      " ORDER BY id", (chat["id"],))
    assert rows[0]["context_date"] == "2026-11-17" and rows[1]["context_device"] is None

    async def body():  # over /ws too; the admin hears the context
        ws_c, ws_a = await opened(kw, client), await opened(kw, admin)
        try:
            await ws_c.send(json.dumps({"type": "chat.send", "chat_id": chat["id"],
                                        "body": "this day", "client_msg_id": cid(),
                                        "context": {"device_id": dev["id"],
                                                    "date": "2024-02-29"}}))
            ev = await wait_event(ws_a, of("chat.message", chat["id"]))
            assert ev["message"]["context"]["date"] == "2024-02-29"
            assert ev["message"]["context"]["device_name"] == "heat pump"
        finally:
            await ws_c.close()
            await ws_a.close()
    run(body())


def test_context_validation_and_another_clients_device_refused(kw):
    client, other = kw.person(), kw.person()
    mine, theirs = new_device(kw, "mine"), new_device(kw, "theirs")
    kw.map(client.id, mine["id"])
    kw.map(other.id, theirs["id"])
    chat = my_chat(client)

    def post(ctx):
        return client.post(f"/api/v1/chats/{chat['id']}/messages",
                           json={"body": "x", "client_msg_id": cid(), "context": ctx})

    for ctx, code, field in [
            ({"device_id": theirs["id"], "date": "2026-11-17"}, "invalid_value",
             "context.device_id"),
            ({"device_id": str(uuid.uuid4()), "date": "2026-11-17"}, "invalid_value",
             "context.device_id"),
            ({"device_id": mine["id"], "date": "2026-02-30"}, "invalid_value", "context.date"),
            ({"device_id": mine["id"], "date": "2026-1-5"}, "invalid_value", "context.date"),
            ({"device_id": mine["id"], "date": "2026-11-17", "chart": 1}, "unknown_field",
             None),
            ("today", "invalid_value", "context")]:
        r = post(ctx)
        assert r.status == 400, (ctx, r)
        err = r.error()
        assert err["code"] == code, (ctx, err)
        if field:
            assert err["field"] == field, (ctx, err)
    # the two device refusals read the same: nothing tells whether it exists
    a = post({"device_id": theirs["id"], "date": "2026-11-17"}).error()
    b = post({"device_id": str(uuid.uuid4()), "date": "2026-11-17"}).error()
    assert {k: a.get(k) for k in ("code", "field", "message")} == \
        {k: b.get(k) for k in ("code", "field", "message")}
    assert post(None).status == 201
    assert history(client, chat["id"])["messages"][0]["context"] is None
