"""Authentication and authorisation.

The route walk: every route of src/http/router.c x every kind of caller
(anonymous, client A owning DEV, client B owning OTHER, an admin user, a
disabled user's old session, an expired session, the admin, ingest and
device:DEV tokens, and a revoked admin token), each pair asserting its exact
status and that a refused request changed nothing.  Plus bad, revoked and
device-scoped tokens and bad session cookies."""
import re
import time

import pytest

from kwaccounts import Daemons, login, sha256_forms, unique, parse_set_cookie, set_cookies
from kwlib import REPO, iso

DEV = "auth-dev"       # the device the device-scoped token may write; client A owns it
OTHER = "auth-other"   # a device it may not write; client B owns it

T0 = 1736121600000     # 2025-01-06T00:00:00Z: the walk's readings go in this day

PRINCIPALS = ["anonymous", "client_a", "client_b", "admin_user", "disabled_user",
              "expired_session", "admin_token", "ingest_token", "device_token",
              "revoked_token"]
SESSIONS = {"client_a", "client_b", "admin_user", "disabled_user", "expired_session"}
NOBODY = {"anonymous", "disabled_user", "expired_session", "revoked_token"}  # -> 401
ALLOWED = {
    "public": set(PRINCIPALS),
    "admin": {"admin_token", "admin_user"},
    "user": {"admin_token", "admin_user", "client_a", "client_b"},
    "self": {"admin_user", "client_a", "client_b"},
    "write": {"admin_token", "ingest_token", "device_token"},
}
ACCESS_OF = {"ACCESS_PUBLIC": "public", "ACCESS_ADMIN": "admin", "ACCESS_USER": "user",
             "ACCESS_SELF": "self", "ACCESS_WRITE": "write"}


def _token_id(kw, name):
    out = kw.cli("token", "list", "--data", kw.data).stdout
    for line in out.splitlines()[1:]:
        cols = line.split()
        if cols[1] == name:
            return int(cols[0]), cols[-1]
    raise AssertionError(f"no token {name} in\n{out}")


# --- the world the walk runs in (one daemon for the module) ---------------------------

class World:
    def __init__(self, kw):
        self.kw = kw
        self.slot = 0

    def as_(self, p, method, path, session=None, **req):
        """One request as principal p (a session principal may be given
        another session of the same person)."""
        if p in SESSIONS:
            return (session or self.sessions[p]).request(method, path, **req)
        return self.kw.request(method, path, token=self.tokens[p], **req)

    def ts(self):
        """A minute of 2025-01-06 no other request of the walk writes."""
        self.slot += 1
        return T0 + self.slot * 60000

    def readings_at(self, t):
        return self.kw.readings(DEV, iso(t), iso(t + 60000))

    def victim_user(self):
        user, pw = self.kw.create_user(password="victim-password-1")
        return user, pw

    def victim_device(self):
        return self.kw.create_device(serial=unique("victim-"), name="victim")

    def users(self):
        r = self.kw.get("/api/v1/users?limit=1000")
        assert r.status == 200, r
        return r.json()["users"]

    def mappings(self, **q):
        qs = "&".join(f"{k}={v}" for k, v in q.items())
        r = self.kw.get(f"/api/v1/mappings?{qs}")
        assert r.status == 200, r
        return r.json()["mappings"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    daemons = Daemons(tmp_path_factory.mktemp("walk"))
    try:
        kw = daemons()
        w = World(kw)
        w.dev = kw.create_device(serial=DEV, name="auth device")
        w.other = kw.create_device(serial=OTHER, name="other device")
        w.sessions = {
            "admin_user": kw.person(role="admin"),
            "client_a": kw.person(),
            "client_b": kw.person(),
            "disabled_user": kw.person(),
            "expired_session": kw.person(),
        }
        kw.map(w.sessions["client_a"].id, DEV)
        kw.map(w.sessions["client_b"].id, OTHER)
        kw.set_user(w.sessions["disabled_user"].id, disabled=True)
        w.walker, w.walker_pw = kw.create_user(name="walker")
        revoked = kw.token("admin", name="revoked-admin")
        kw.cli("token", "revoke", "--id", _token_id(kw, "revoked-admin")[0], "--data", kw.data)
        w.tokens = {"anonymous": None, "admin_token": kw.admin,
                    "ingest_token": kw.token("ingest"),
                    "device_token": kw.token(f"device:{DEV}"),
                    "revoked_token": revoked}
        # the expired session: its row's absolute expiry moved into the past
        # while the daemon is stopped (sessions survive the restart)
        kw.stop()
        exp = w.sessions["expired_session"]
        n = kw.db_write("UPDATE session SET expires_at = ? WHERE lower(hex(hash)) = ?",
                        (int(time.time() * 1000) - 1000,
                         [h for h in sha256_forms(exp.cookie) if re.fullmatch("[0-9a-f]{64}", h)][0]))
        assert n == 1, "the session row is not keyed by the SHA-256 of the cookie"
        kw.start()
        yield w
    finally:
        errors = daemons.teardown()
        if errors:
            pytest.fail("daemon teardown:\n" + "\n\n".join(errors), pytrace=False)


# --- one request per route, built so that an allowed caller succeeds -----------------

class Case:
    def __init__(self, path, ok=200, check=None, session=None, **req):
        self.path = path
        self.ok = ok            # status for an allowed caller: int or {principal: status}
        self.check = check      # check(response, allowed): what the request did or did not do
        self.session = session  # another session of the same person (logout)
        self.req = req

    def status_for(self, p):
        return self.ok.get(p, self.ok["*"]) if isinstance(self.ok, dict) else self.ok


def _not_found_like_missing(w, path):
    """Client B's 404 for DEV is the answer for a device that does not exist."""
    def check(r, allowed):
        if not allowed or r.status != 404:
            return
        missing = w.kw.get(path.replace(DEV, "no-such-meter"))
        assert missing.status == 404
        want = missing.error()
        want["message"] = want["message"].replace("no-such-meter", DEV)
        assert r.error() == want
    return check


def _wrote(w, t, ok_status):
    def check(r, allowed):
        got = w.readings_at(t)
        assert len(got) == (1 if allowed else 0), got
        if allowed and ok_status == 200:
            assert r.json() == {"accepted": 1, "duplicates": 0, "conflicts": 0}
        elif allowed:
            assert r.body == b""
    return check


def c_healthz(w, p):
    return Case("/healthz")


def c_metrics(w, p):
    return Case("/metrics")


def c_measurements(w, p):
    t = w.ts()
    return Case("/api/v1/measurements", check=_wrote(w, t, 200),
                json=[{"timestamp": t, "device_id": DEV, "measurement_value": 1.5}])


def c_meter(w, p):
    t = w.ts()
    return Case("/meter", check=_wrote(w, t, 200),
                json={"id": DEV, "timestamp": t, "reading_kWh": 0.5})


def c_write(w, p):
    t = w.ts()
    return Case("/write?precision=ns", ok=204, check=_wrote(w, t, 204),
                body=f"energy,device={DEV} kwh=2.5 {t * 10**6}\n", content_type="text/plain")


def c_login(w, p):
    def check(r, allowed):
        doc = r.json()
        assert doc["user"]["id"] == w.walker["id"] and doc["landing"] == "/app"
        cookie, _ = parse_set_cookie(set_cookies(r)[0])
        if p in SESSIONS:
            assert cookie != w.sessions[p].cookie
    return Case("/api/v1/login", check=check,
                json={"email": w.walker["email"], "password": w.walker_pw})


def c_logout(w, p):
    if p in ALLOWED["self"]:
        mine = w.sessions[p]
        fresh = login(w.kw, mine.user["email"], mine.password)

        def check(r, allowed):
            assert not fresh.alive()
            assert mine.alive()   # only that session ended
            _, attrs = parse_set_cookie(set_cookies(r)[0])
            assert attrs["max-age"] == "0"
        return Case("/api/v1/logout", ok=204, check=check, session=fresh)
    return Case("/api/v1/logout", ok=204)


def c_me(w, p):
    def check(r, allowed):
        if allowed:
            assert r.json()["user"]["id"] == w.sessions[p].id
            assert r.json()["csrf_token"] == w.sessions[p].csrf
    return Case("/api/v1/me", check=check)


def c_me_patch(w, p):
    name = unique("renamed-")

    def check(r, allowed):
        if allowed:
            assert r.json()["user"] == dict(w.sessions[p].user, name=name)
    return Case("/api/v1/me", check=check, json={"name": name})


def c_users_list(w, p):
    def check(r, allowed):
        if allowed:
            ids = {u["id"] for u in r.json()["users"]}
            assert {s.id for s in w.sessions.values()} <= ids
    return Case("/api/v1/users", check=check)


def c_users_create(w, p):
    email = f"{unique('new-')}@example.com"

    def check(r, allowed):
        assert (email in {u["email"] for u in w.users()}) == allowed
        if allowed:
            assert r.json()["user"]["email"] == email and r.json()["password"]
    return Case("/api/v1/users", ok=201, check=check, json={"name": "new", "email": email})


def c_users_get(w, p):
    a = w.sessions["client_a"]

    def check(r, allowed):
        if allowed:
            assert r.json()["user"]["email"] == a.user["email"]
            assert r.json()["devices"] == [w.dev["id"]]
    return Case(f"/api/v1/users/{a.id}", check=check)


def c_users_patch(w, p):
    victim, _ = w.victim_user()

    def check(r, allowed):
        got = w.kw.get(f"/api/v1/users/{victim['id']}").json()["user"]["name"]
        assert got == ("patched" if allowed else victim["name"])
    return Case(f"/api/v1/users/{victim['id']}", check=check, json={"name": "patched"})


def c_users_delete(w, p):
    victim, _ = w.victim_user()

    def check(r, allowed):
        assert w.kw.get(f"/api/v1/users/{victim['id']}").status == (404 if allowed else 200)
    return Case(f"/api/v1/users/{victim['id']}", ok=204, check=check)


def c_users_password(w, p):
    victim, old = w.victim_user()

    def check(r, allowed):
        if allowed:
            assert set(r.json()) == {"password"}
            login(w.kw, victim["email"], r.json()["password"])
        else:
            login(w.kw, victim["email"], old)
    return Case(f"/api/v1/users/{victim['id']}/password", check=check)


def c_mappings_list(w, p):
    def check(r, allowed):
        if allowed:
            pairs = {(m["user_id"], m["device_id"]) for m in r.json()["mappings"]}
            assert (w.sessions["client_a"].id, w.dev["id"]) in pairs
    return Case("/api/v1/mappings", check=check)


def c_mappings_create(w, p):
    victim, _ = w.victim_user()

    def check(r, allowed):
        assert len(w.mappings(user_id=victim["id"])) == (1 if allowed else 0)
    return Case("/api/v1/mappings", ok=201, check=check,
                json={"user_id": victim["id"], "device_id": DEV})


def c_mappings_delete(w, p):
    victim, _ = w.victim_user()
    m = w.kw.map(victim["id"], DEV)

    def check(r, allowed):
        assert len(w.mappings(user_id=victim["id"])) == (0 if allowed else 1)
    return Case(f"/api/v1/mappings/{m['id']}", ok=204, check=check)


def c_tokens_list(w, p):
    def check(r, allowed):
        if allowed:
            toks = r.json()["tokens"]
            assert toks and all(set(t) == {"id", "name", "scope", "created_at", "last_used_at",
                                           "revoked"} for t in toks)
    return Case("/api/v1/tokens", check=check)


def c_tokens_create(w, p):
    name = unique("tok-")

    def check(r, allowed):
        names = {t["name"] for t in w.kw.get("/api/v1/tokens").json()["tokens"]}
        assert (name in names) == allowed
        if allowed:
            assert r.json()["token"].startswith("kw_") and r.json()["scope"] == "ingest"
    return Case("/api/v1/tokens", ok=201, check=check, json={"name": name, "scope": "ingest"})


def c_tokens_revoke(w, p):
    made = w.kw.post("/api/v1/tokens", json={"name": unique("victim-tok-"), "scope": "ingest"})
    assert made.status == 201, made
    tid, secret = made.json()["id"], made.json()["token"]

    def check(r, allowed):
        # An ingest token may not read devices (403) until revoked, then 401 at once.
        assert w.kw.get("/api/v1/devices", token=secret).status == (401 if allowed else 403)
    return Case(f"/api/v1/tokens/{tid}", ok=204, check=check)


def c_audit(w, p):
    def check(r, allowed):
        if allowed:
            assert "entries" in r.json() and "$argon2" not in r.text
    return Case("/api/v1/audit?limit=5", check=check)


def c_register(w, p):
    # Self-registration is off by default: the route answers 404 to everyone.
    return Case("/api/v1/register", ok=404,
                json={"name": "x", "email": f"{unique('reg-')}@example.com",
                      "password": "long-enough-password", "serial": DEV, "claim_code": "nope"})


def c_devices_list(w, p):
    def check(r, allowed):
        if not allowed:
            return
        serials = {d["serial"] for d in r.json()["devices"]}
        if p == "client_a":
            assert serials == {DEV}
        elif p == "client_b":
            assert serials == {OTHER}
        else:
            assert {DEV, OTHER} <= serials
    return Case("/api/v1/devices", check=check)


def c_devices_create(w, p):
    serial = unique("new-")

    def check(r, allowed):
        assert w.kw.get(f"/api/v1/devices/{serial}").status == (200 if allowed else 404)
    return Case("/api/v1/devices", ok=201, check=check, json={"name": "new", "serial": serial})


def c_device_get(w, p):
    path = f"/api/v1/devices/{DEV}"
    return Case(path, ok={"*": 200, "client_b": 404}, check=_not_found_like_missing(w, path))


def c_device_patch(w, p):
    d = w.victim_device()

    def check(r, allowed):
        got = w.kw.get(f"/api/v1/devices/{d['id']}").json()["description"]
        assert got == (f"patched by {p}" if allowed else "")
    return Case(f"/api/v1/devices/{d['id']}", check=check,
                json={"description": f"patched by {p}"})


def c_device_delete(w, p):
    d = w.victim_device()

    def check(r, allowed):
        assert w.kw.get(f"/api/v1/devices/{d['id']}").status == (404 if allowed else 200)
    return Case(f"/api/v1/devices/{d['id']}", ok=204, check=check)


def c_consumption(w, p):
    path = f"/api/v1/devices/{DEV}/consumption?from=2025-01-06&to=2025-01-06&step=hour"
    return Case(path, ok={"*": 200, "client_b": 404}, check=_not_found_like_missing(w, path))


def c_readings(w, p):
    path = f"/api/v1/devices/{DEV}/readings?from=2025-01-06&to=2025-01-07"
    return Case(path, ok={"*": 200, "client_b": 404}, check=_not_found_like_missing(w, path))


def c_regions(w, p):
    return Case("/api/v1/regions/consumption?from=2025-01-06&to=2025-01-06")


def c_region_devices(w, p):
    return Case("/api/v1/regions/(none)/devices?from=2025-01-06&to=2025-01-06")


def c_notifications_list(w, p):
    def check(r, allowed):
        if allowed:
            doc = r.json()
            assert set(doc) == {"notifications", "unread", "next_cursor"}
            assert all(n["type"] == "alert" for n in doc["notifications"])
    return Case("/api/v1/notifications", check=check)


def c_notifications_read(w, p):
    def check(r, allowed):
        if allowed:
            assert w.as_(p, "GET", "/api/v1/notifications").json()["unread"] == 0
    return Case("/api/v1/notifications/read", ok=204, check=check, json={"all": True})


def _chat_a(w):
    """Client A's conversation (created on first use)."""
    return w.sessions["client_a"].get("/api/v1/chats").json()["chats"][0]


def _chat_404_like_missing(w, method, suffix, **req):
    """Client B's 404 for A's chat is the answer an admin gets for a chat
    that does not exist."""
    def check(r, allowed):
        if not allowed or r.status != 404:
            return
        missing = w.as_("admin_user", method, f"/api/v1/chats/999999999{suffix}", **req)
        assert missing.status == 404 and r.error() == missing.error()
    return check


def c_chats_list(w, p):
    def check(r, allowed):
        if allowed:
            chats = r.json()["chats"]
            if p != "admin_user":
                assert len(chats) == 1 and chats[0]["client"]["id"] == w.sessions[p].id
    return Case("/api/v1/chats", check=check)


def c_chat_messages(w, p):
    chat = _chat_a(w)
    return Case(f"/api/v1/chats/{chat['id']}/messages", ok={"*": 200, "client_b": 404},
                check=_chat_404_like_missing(w, "GET", "/messages"))


def c_chat_send(w, p):
    chat = _chat_a(w)
    path = f"/api/v1/chats/{chat['id']}/messages"
    body = {"body": f"from {p}", "client_msg_id": unique("m-")}
    inner = _chat_404_like_missing(w, "POST", "/messages", json=body)

    def check(r, allowed):
        inner(r, allowed)
        page = w.as_("admin_user", "GET", path + "?limit=200").json()["messages"]
        stored = [m for m in page if m["client_msg_id"] == body["client_msg_id"]]
        assert len(stored) == (1 if allowed and r.status == 201 else 0), stored
    return Case(path, ok={"*": 201, "client_b": 404}, check=check, json=body)


def c_chat_read(w, p):
    chat = _chat_a(w)
    return Case(f"/api/v1/chats/{chat['id']}/read", ok={"*": 200, "client_b": 404},
                check=_chat_404_like_missing(w, "POST", "/read", json={"up_to": 1}),
                json={"up_to": 1})


def c_ws(w, p):
    """Without the upgrade headers (but from this origin) a person gets 400
    naming Upgrade; test_40_ws.py covers the handshake itself."""
    def check(r, allowed):
        if allowed:
            assert (r.error()["code"], r.error()["field"]) == ("missing_field", "Upgrade")
    return Case("/ws", ok=400, check=check, headers={"Origin": w.kw.origin})


def _page(path):
    """The web app's pages answer index.html to anyone: the data behind them
    is what the API guards."""
    def build(w, p):
        def check(r, allowed):
            assert b'<script type="module"' in r.body
        return Case(path, check=check)
    return build


def c_asset(w, p):
    page = w.kw.get("/").body.decode()
    asset = re.search(r'src="(/assets/[^"]+)"', page).group(1)

    def check(r, allowed):
        assert r.status == 200 and len(r.body) > 0
    return Case(asset, check=check)


# method, route pattern exactly as in src/http/router.c, access, request builder
ROUTES = [
    ("GET", "/healthz", "public", c_healthz),
    ("GET", "/metrics", "admin", c_metrics),
    ("POST", "/api/v1/measurements", "write", c_measurements),
    ("POST", "/meter", "write", c_meter),
    ("POST", "/write", "write", c_write),
    ("POST", "/api/v1/login", "public", c_login),
    ("POST", "/api/v1/logout", "self", c_logout),
    ("GET", "/api/v1/me", "self", c_me),
    ("PATCH", "/api/v1/me", "self", c_me_patch),
    ("GET", "/api/v1/users", "admin", c_users_list),
    ("POST", "/api/v1/users", "admin", c_users_create),
    ("GET", "/api/v1/users/{id}", "admin", c_users_get),
    ("PATCH", "/api/v1/users/{id}", "admin", c_users_patch),
    ("DELETE", "/api/v1/users/{id}", "admin", c_users_delete),
    ("POST", "/api/v1/users/{id}/password", "admin", c_users_password),
    ("GET", "/api/v1/mappings", "admin", c_mappings_list),
    ("POST", "/api/v1/mappings", "admin", c_mappings_create),
    ("DELETE", "/api/v1/mappings/{id}", "admin", c_mappings_delete),
    ("GET", "/api/v1/tokens", "admin", c_tokens_list),
    ("POST", "/api/v1/tokens", "admin", c_tokens_create),
    ("DELETE", "/api/v1/tokens/{id}", "admin", c_tokens_revoke),
    ("GET", "/api/v1/audit", "admin", c_audit),
    ("POST", "/api/v1/register", "public", c_register),
    ("GET", "/api/v1/devices", "user", c_devices_list),
    ("POST", "/api/v1/devices", "admin", c_devices_create),
    ("GET", "/api/v1/devices/{id}", "user", c_device_get),
    ("PATCH", "/api/v1/devices/{id}", "admin", c_device_patch),
    ("DELETE", "/api/v1/devices/{id}", "admin", c_device_delete),
    ("GET", "/api/v1/devices/{id}/consumption", "user", c_consumption),
    ("GET", "/api/v1/devices/{id}/readings", "user", c_readings),
    ("GET", "/api/v1/regions/consumption", "admin", c_regions),
    ("GET", "/api/v1/regions/{region}/devices", "admin", c_region_devices),
    ("GET", "/api/v1/notifications", "self", c_notifications_list),
    ("POST", "/api/v1/notifications/read", "self", c_notifications_read),
    ("GET", "/api/v1/chats", "self", c_chats_list),
    ("GET", "/api/v1/chats/{id}/messages", "self", c_chat_messages),
    ("POST", "/api/v1/chats/{id}/messages", "self", c_chat_send),
    ("POST", "/api/v1/chats/{id}/read", "self", c_chat_read),
    ("GET", "/ws", "self", c_ws),
    ("GET", "/", "public", _page("/")),
    ("GET", "/login", "public", _page("/login")),
    ("GET", "/app", "public", _page("/app")),
    ("GET", "/app/*", "public", _page("/app/devices/x")),
    ("GET", "/admin", "public", _page("/admin")),
    ("GET", "/admin/*", "public", _page("/admin/users")),
    ("GET", "/assets/{file}", "public", c_asset),
]


def _route_rows():
    """(method, pattern, access constant) of every row of routes[] in router.c."""
    text = (REPO / "src" / "http" / "router.c").read_text()
    m = re.search(r"const\s+struct\s+route\s+routes\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
    assert m, "no routes[] table in router.c"
    body = re.sub(r"/\*.*?\*/|//[^\n]*", "", m.group(1), flags=re.S)
    rows, cur, depth, quoted = [], "", 0, False   # rows: the text of each { ... }
    for ch in body:
        if ch == '"':
            quoted = not quoted
        if not quoted and ch == "{":
            depth += 1
            assert depth == 1, "nested braces in a route row"
            cur = ""
            continue
        if not quoted and ch == "}":
            depth -= 1
            rows.append(cur)
            continue
        if depth:
            cur += ch
        else:
            assert ch in " \t\n,", f"text between route rows: {ch!r}"
    assert depth == 0 and not quoted
    out = []
    for row in rows:
        f = [x.strip() for x in row.split(",")]
        assert len(f) == 5 and f[0].startswith('"') and f[1].startswith('"'), row
        out.append((f[0].strip('"'), f[1].strip('"'), f[3]))
    return out


def test_matrix_covers_the_route_table():
    """The matrix above must list every route of src/http/router.c with its
    access rule, so a new route cannot escape the authorisation walk: a rule
    the matrix does not know, or a route without a row, fails here."""
    src = REPO / "src" / "http" / "router.c"
    if not src.exists():
        pytest.skip("source tree not available")
    rows = _route_rows()
    assert rows, "no routes parsed from router.c"
    unknown = {a for _, _, a in rows if a not in ACCESS_OF}
    assert not unknown, f"access rules the walk does not model: {unknown}"
    table = [(m, p, ACCESS_OF[a]) for m, p, a in rows]
    assert len(set(table)) == len(table), "a route listed twice in router.c"
    ours = [(m, p, a) for m, p, a, _ in ROUTES]
    assert set(table) == set(ours), (f"in router.c only: {set(table) - set(ours)}; "
                                     f"in the matrix only: {set(ours) - set(table)}")
    assert set(ALLOWED) == set(ACCESS_OF.values())


def _expected(access, principal, case):
    if principal in ALLOWED[access]:
        return case.status_for(principal)
    return 401 if principal in NOBODY else 403


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("method,pattern,access,build", ROUTES,
                         ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_route_access(world, method, pattern, access, build, principal):
    w = world
    case = build(w, principal)
    r = w.as_(principal, method, case.path, session=case.session, **case.req)
    want = _expected(access, principal, case)
    assert r.status == want, (method, case.path, principal, r)
    allowed = principal in ALLOWED[access]
    # security headers on every response, refusals included
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("Referrer-Policy") == "same-origin"
    csp = r.header("Content-Security-Policy") or ""
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
    if want == 401:
        assert r.error()["code"] == "unauthorized"
    elif want == 403:
        assert r.error()["code"] == "forbidden"
    if case.check:
        case.check(r, allowed)   # for a refused request: that nothing changed


def test_the_walk_left_the_callers_as_they_were(world):
    """After the walk (or alone): sessions of allowed people still work,
    the disabled, expired and revoked ones still do not."""
    w = world
    for p in ("admin_user", "client_a", "client_b"):
        assert w.sessions[p].alive(), p
    for p in ("disabled_user", "expired_session"):
        assert not w.sessions[p].alive(), p
    assert w.kw.get("/api/v1/devices", token=w.tokens["revoked_token"]).status == 401


@pytest.mark.parametrize("cookie", [
    "kw_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   # well-formed, unknown
    "kw_session=",
    "kw_session=short",
    "kw_session=" + "A" * 200,
    "other=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
])
def test_bad_session_cookies_are_401(world, cookie):
    w = world
    for method, path, req in (("GET", "/api/v1/me", {}), ("GET", "/api/v1/devices", {}),
                              ("PATCH", "/api/v1/me", {"json": {"name": "x"}})):
        r = w.kw.request(method, path, token=None, headers={
            "Cookie": cookie, "Origin": w.kw.origin, "X-CSRF-Token": "x"}, **req)
        assert r.status == 401, (cookie, r)
        assert r.error()["code"] == "unauthorized"


@pytest.mark.parametrize("header", [
    "Bearer kw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   # well-formed, unknown
    "Bearer ",
    "Bearer",
    "Basic dXNlcjpwYXNz",
    "kw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
])
def test_bad_credentials_are_401(kw, header):
    for method, path, req in (("GET", "/api/v1/devices", {}),
                              ("POST", "/api/v1/measurements", {"json": []})):
        r = kw.request(method, path, token=None, headers={"Authorization": header}, **req)
        assert r.status == 401, (header, r)
        assert r.error()["code"] == "unauthorized"


def test_admin_token_with_other_spellings(kw):
    # RFC 7235: the scheme is case-insensitive
    r = kw.get("/api/v1/devices", token=None, headers={"Authorization": "bearer " + kw.admin})
    assert r.status == 200, r
    # a token with one character changed is another token
    wrong = kw.admin[:-1] + ("A" if kw.admin[-1] != "A" else "B")
    assert kw.get("/api/v1/devices", token=wrong).status == 401


def test_auth_checked_before_the_handler(kw):
    # no token: 401 even for a device that does not exist or a bad query
    assert kw.get("/api/v1/devices/missing", token=None).status == 401
    assert kw.get("/api/v1/devices/missing/consumption?step=bad", token=None).status == 401
    ingest = kw.token("ingest")
    assert kw.get("/api/v1/devices/missing", token=ingest).status == 403
    # unknown routes are 404 whoever asks
    assert kw.get("/api/v2/nothing", token=None).status == 404


def test_device_token_cannot_write_another_device(kw):
    kw.create_device(serial=DEV)
    kw.create_device(serial=OTHER)
    tok = kw.token(f"device:{DEV}")
    own = {"timestamp": "2025-01-06T00:10:00Z", "device_id": DEV, "measurement_value": 1}
    other = {"timestamp": "2025-01-06T00:10:00Z", "device_id": OTHER, "measurement_value": 1}
    r = kw.post("/api/v1/measurements", json=[own, other], token=tok)
    assert r.status == 403, r
    err = r.error()
    assert err["code"] == "forbidden"
    assert err["field"] == "device_id"
    assert err["index"] == 1
    assert OTHER in err["message"]
    # all or nothing: not even the device's own reading was stored
    assert kw.readings(DEV, "2025-01-06", "2025-01-06") == []
    assert kw.readings(OTHER, "2025-01-06", "2025-01-06") == []
    # meter and line protocol refuse it too
    r = kw.post("/meter", json={"id": OTHER, "timestamp": "2025-01-06T00:31:00Z",
                                "reading_kWh": 1}, token=tok)
    assert (r.status, r.error()["code"], r.error()["field"]) == (403, "forbidden", "id")
    r = kw.post("/write?precision=s", body=f"e,device={OTHER} kwh=1 1736122260\n",
                content_type="text/plain", token=tok)
    assert (r.status, r.error()["code"]) == (403, "forbidden")
    assert kw.readings(OTHER, "2025-01-06", "2025-01-06") == []
    # the device's own writes work, by serial or by id
    dev_id = kw.get(f"/api/v1/devices/{DEV}").json()["id"]
    r = kw.post("/api/v1/measurements", json=[own, dict(own, device_id=dev_id,
                                                         timestamp="2025-01-06T00:20:00Z")],
                token=tok)
    assert r.status == 200 and r.json()["accepted"] == 2, r


def test_device_token_cannot_create_devices_by_auto_create(kw_factory):
    kw = kw_factory(env={"INGEST_AUTO_CREATE_DEVICES": "true"})
    kw.create_device(serial=DEV)
    tok = kw.token(f"device:{DEV}")
    r = kw.post("/api/v1/measurements", token=tok,
                json={"timestamp": "2025-01-06T00:10:00Z", "device_id": "brand-new",
                      "measurement_value": 1})
    assert (r.status, r.error()["code"]) == (403, "forbidden")
    assert kw.get("/api/v1/devices/brand-new").status == 404


def test_device_scope_by_id_and_unknown_device(kw):
    d = kw.create_device(serial="scoped")
    tok = kw.token(f"device:{d['id']}")
    r = kw.post("/meter", token=tok,
                json={"id": "scoped", "timestamp": "2025-01-06T00:31:00Z", "reading_kWh": 1})
    assert r.status == 200, r
    p = kw.cli("token", "create", "--name", "x", "--scope", "device:no-such-device",
               "--data", kw.data, check=False)
    assert p.returncode == 1
    assert "no device 'no-such-device'" in p.stderr
    assert p.stdout == ""
    p = kw.cli("token", "create", "--name", "x", "--scope", "root", "--data", kw.data,
               check=False)
    assert p.returncode == 2
    assert p.stdout == ""


def test_device_token_of_a_deleted_device_cannot_write_its_successor(kw):
    kw.create_device(serial="first")
    tok = kw.token("device:first")
    body = {"timestamp": "2025-01-06T00:10:00Z", "device_id": "first", "measurement_value": 1}
    assert kw.post("/api/v1/measurements", json=body, token=tok).status == 200
    assert kw.delete("/api/v1/devices/first").status == 204
    kw.create_device(serial="second")
    r = kw.post("/api/v1/measurements", token=tok, json=dict(body, device_id="second"))
    assert r.status == 403, r
    assert kw.readings("second", "2025-01-06", "2025-01-06") == []


def test_token_list_and_revoke(kw):
    kw.create_device(serial=DEV)
    tok = kw.token("ingest", name="feeder")
    body = {"timestamp": "2025-01-06T00:10:00Z", "device_id": DEV, "measurement_value": 1}
    assert kw.post("/api/v1/measurements", json=body, token=tok).status == 200
    tid, state = _token_id(kw, "feeder")
    assert state == "active"
    unused = kw.token("ingest", name="unused")
    assert unused
    out = kw.cli("token", "list", "--data", kw.data).stdout
    assert re.search(r"^\d+\s+unused\s+ingest\s+\S+\s+never\s+active$", out, re.M), out
    # the daemon records the feeder's use (asynchronously: bounded polling)
    for _ in range(100):
        out = kw.cli("token", "list", "--data", kw.data).stdout
        if re.search(r"^\d+\s+feeder\s+ingest\s+\S+\s+20\d\d-\S+\s+active$", out, re.M):
            break
        time.sleep(0.1)
    assert re.search(r"^\d+\s+feeder\s+ingest\s+\S+\s+20\d\d-\S+\s+active$", out, re.M), out
    out = kw.cli("token", "list", "--data", kw.data).stdout
    assert tok not in out  # only hashes are stored
    assert re.search(r"feeder\s+ingest\s", out)
    p = kw.cli("token", "revoke", "--id", tid, "--data", kw.data)
    assert f"revoked token {tid}" in p.stderr
    assert _token_id(kw, "feeder")[1] == "revoked"
    # revoking again is an error
    p = kw.cli("token", "revoke", "--id", tid, "--data", kw.data, check=False)
    assert p.returncode == 1
    # the daemon notices within its 5 s token cache time (bounded polling)
    status = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = kw.post("/api/v1/measurements", json=body, token=tok).status
        if status == 401:
            break
        time.sleep(0.25)
    assert status == 401
    # the admin token still works
    assert kw.get("/api/v1/devices").status == 200


def test_token_revoked_before_first_use_is_refused_at_once(kw):
    tok = kw.token("admin", name="short-lived")
    tid, _ = _token_id(kw, "short-lived")
    kw.cli("token", "revoke", "--id", tid, "--data", kw.data)
    assert kw.get("/api/v1/devices", token=tok).status == 401
