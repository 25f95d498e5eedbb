"""Accounts, sessions, CSRF, throttling, mappings and audit (issue 3).

Most tests share one daemon (`acc`) and make their own users and devices,
so they do not interfere; a test that needs a daemon of its own (settings,
restarts, counting failed logins, the last admin, reading the database
after a stop) gets one from `fresh`.  Every response of every daemon here
is checked for leaked secrets when its fixture ends (kwaccounts.leaks)."""
import json
import re
import statistics
import time

import pytest

from kwaccounts import (COOKIE, USER_KEYS, Daemons, Session, finish_daemons, leaks, login,
                        parse_set_cookie, set_cookies, sha256_forms, try_login, unique)

WRONG = {"code": "invalid_credentials", "message": "wrong email or password"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}




@pytest.fixture(scope="module")
def acc(tmp_path_factory):
    daemons = Daemons(tmp_path_factory.mktemp("accounts"))
    try:
        yield daemons()
    finally:
        finish_daemons(daemons)


def _no_cookie(r):
    assert set_cookies(r) == [], r.headers


def _same_answer(r1, r2):
    """Status, body and headers equal (but Date)."""
    assert (r1.status, r1.body) == (r2.status, r2.body)
    h1 = sorted((k, v) for k, v in r1.headers if k.lower() != "date")
    h2 = sorted((k, v) for k, v in r2.headers if k.lower() != "date")
    assert h1 == h2


def _session_rows(kw, uid):
    return len(kw.db_rows("SELECT id FROM session WHERE user_id = ?", (uid,)))


def _user(kw, uid):
    r = kw.get(f"/api/v1/users/{uid}")
    assert r.status == 200, r
    return r.json()["user"]


# --- login, me, logout ------------------------------------------------------------------

def test_login_answer_and_cookie(acc):
    user, pw = acc.create_user(customer_ref="FIN-1")
    r = try_login(acc, user["email"], pw)
    assert r.status == 200, r
    doc = r.json()
    assert set(doc) == {"user", "landing", "csrf_token"}
    assert doc["user"] == user
    assert set(doc["user"]) == USER_KEYS
    assert doc["landing"] == "/app"
    assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", doc["csrf_token"])
    cookies = set_cookies(r)
    assert len(cookies) == 1
    value, attrs = parse_set_cookie(cookies[0])
    # 256 random bits, base64url: 43 characters
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", value), value
    assert attrs.get("path") == "/"
    assert attrs.get("httponly") is True
    assert str(attrs.get("samesite")).lower() == "lax"
    assert attrs.get("max-age") == str(7 * 86400)   # auth.session_max
    assert "secure" not in attrs
    assert "domain" not in attrs
    for k, v in SECURITY_HEADERS.items():
        assert r.header(k) == v
    csp = r.header("Content-Security-Policy")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert doc["csrf_token"] != value


def test_admin_lands_on_admin(acc):
    s = acc.person(role="admin")
    assert s.response.json()["landing"] == "/admin"
    assert s.user["role"] == "admin"


def test_login_email_is_case_insensitive(acc):
    user, pw = acc.create_user(email=f"{unique('Mixed')}@Example.COM")
    assert user["email"] == user["email"].lower()
    s = login(acc, user["email"].upper(), pw)
    assert s.user["id"] == user["id"]


def test_me(acc):
    s = acc.person(name=unique("me-"))
    r = s.get("/api/v1/me")
    assert r.status == 200, r
    assert r.json() == {"user": s.user, "csrf_token": s.csrf, "landing": "/app"}
    # GET needs neither CSRF header nor Origin
    r = acc.get("/api/v1/me", token=None, headers={"Cookie": f"{COOKIE}={s.cookie}"})
    assert r.status == 200, r


def test_me_patch_name(acc):
    s = acc.person()
    r = s.patch("/api/v1/me", json={"name": "New Name"})
    assert r.status == 200, r
    assert r.json()["user"] == dict(s.user, name="New Name")
    assert r.json()["csrf_token"] == s.csrf
    _no_cookie(r)                      # a name change keeps the session
    assert _user(acc, s.id)["name"] == "New Name"
    for bad in ("", 5, None, "x" * 201):
        r = s.patch("/api/v1/me", json={"name": bad})
        assert (r.status, r.error().get("field")) == (400, "name"), (bad, r)
    r = s.patch("/api/v1/me", json={})
    assert r.status == 400, r
    assert s.alive()


def test_cookie_settings(fresh):
    kw = fresh(env={"HTTP_SECURE_COOKIES": "true", "AUTH_SESSION_MAX": "2h"})
    s = kw.person()
    _, attrs = parse_set_cookie(set_cookies(s.response)[0])
    assert attrs.get("secure") is True
    assert attrs.get("max-age") == "7200"
    assert attrs.get("httponly") is True and str(attrs.get("samesite")).lower() == "lax"
    r = s.post("/api/v1/logout")
    assert r.status == 204, r
    value, attrs = parse_set_cookie(set_cookies(r)[0])
    assert value == "" and attrs.get("max-age") == "0" and attrs.get("secure") is True
    assert attrs.get("path") == "/"


def test_wrong_password_and_unknown_email_get_the_same_answer(acc):
    user, pw = acc.create_user()
    wrong = try_login(acc, user["email"], pw + "x")
    unknown = try_login(acc, f"{unique('nobody-')}@example.com", pw)
    assert wrong.status == 401, wrong
    assert wrong.error() == WRONG
    _same_answer(wrong, unknown)
    _no_cookie(wrong)


def test_disabled_user_cannot_log_in(acc):
    user, pw = acc.create_user()
    acc.set_user(user["id"], disabled=True)
    r = try_login(acc, user["email"], pw)
    unknown = try_login(acc, f"{unique('nobody-')}@example.com", pw)
    assert r.status == 401 and r.error() == WRONG, r
    _same_answer(r, unknown)
    _no_cookie(r)
    acc.set_user(user["id"], disabled=False)
    login(acc, user["email"], pw)


def test_login_request_validation(acc):
    for body, field in (({"password": "x" * 12}, "email"), ({"email": "a@b.c"}, "password"),
                        ({"email": 5, "password": "x" * 12}, "email"),
                        ({"email": "a@b.c", "password": ""}, "password")):
        r = acc.post("/api/v1/login", json=body, token=None)
        assert r.status == 400, (body, r)
        assert r.error()["field"] == field
    r = acc.post("/api/v1/login", body="{", content_type="application/json", token=None)
    assert r.status == 400, r


def test_every_login_gets_a_new_session(acc):
    user, pw = acc.create_user()
    s1 = login(acc, user["email"], pw)
    s2 = login(acc, user["email"], pw)
    assert s1.cookie != s2.cookie and s1.csrf != s2.csrf
    # a cookie sent to /login is ignored and never reused (no fixation)
    s3 = login(acc, user["email"], pw, headers={"Cookie": f"{COOKIE}={s1.cookie}"})
    assert s3.cookie not in (s1.cookie, s2.cookie) and s3.csrf not in (s1.csrf, s2.csrf)
    planted = "A" * 43
    s4 = login(acc, user["email"], pw, headers={"Cookie": f"{COOKIE}={planted}"})
    assert s4.cookie != planted
    assert not Session(acc, planted, "x", user, None).alive()
    for s in (s1, s2, s3, s4):
        assert s.alive()
    # another person logging in on a browser holding a session gets their own
    other, opw = acc.create_user()
    s5 = login(acc, other["email"], opw, headers={"Cookie": f"{COOKIE}={s1.cookie}"})
    assert s5.cookie != s1.cookie
    assert s5.get("/api/v1/me").json()["user"]["id"] == other["id"]
    assert s1.get("/api/v1/me").json()["user"]["id"] == user["id"]


def test_logout_ends_only_that_session(acc):
    user, pw = acc.create_user()
    s1 = login(acc, user["email"], pw)
    s2 = login(acc, user["email"], pw)
    r = s1.post("/api/v1/logout", csrf=False)
    assert (r.status, r.error()["code"]) == (403, "csrf")
    assert s1.alive()
    r = s1.post("/api/v1/logout")
    assert r.status == 204, r
    assert r.body == b""
    value, attrs = parse_set_cookie(set_cookies(r)[0])
    assert value == "" and attrs.get("max-age") == "0" and attrs.get("path") == "/"
    assert not s1.alive()
    assert s2.alive()
    assert s1.post("/api/v1/logout").status == 401


# --- expiry and restarts ------------------------------------------------------------------

def _hash_hex(s):
    return [h for h in sha256_forms(s.cookie) if re.fullmatch("[0-9a-f]{64}", h)][0]


def test_sessions_survive_a_restart(fresh):
    kw = fresh()
    s = kw.person()
    kw.restart()
    r = s.get("/api/v1/me")
    assert r.status == 200, r
    assert r.json()["csrf_token"] == s.csrf
    assert s.patch("/api/v1/me", json={"name": "after restart"}).status == 200


def test_session_idle_and_absolute_expiry(fresh):
    kw = fresh()
    idle_gone, idle_ok, expired, fine = (kw.person() for _ in range(4))
    kw.stop()
    now = int(time.time() * 1000)
    h = 3600 * 1000
    # auth.session_idle defaults to 12h, auth.session_max to 7d
    assert kw.db_write("UPDATE session SET last_seen_at = ? WHERE lower(hex(hash)) = ?",
                       (now - 12 * h - 60000, _hash_hex(idle_gone))) == 1
    assert kw.db_write("UPDATE session SET last_seen_at = ? WHERE lower(hex(hash)) = ?",
                       (now - 11 * h, _hash_hex(idle_ok))) == 1
    assert kw.db_write("UPDATE session SET expires_at = ? WHERE lower(hex(hash)) = ?",
                       (now - 1000, _hash_hex(expired))) == 1
    kw.start()
    assert not idle_gone.alive()
    assert idle_ok.alive()
    assert not expired.alive()
    assert fine.alive()
    # the use was recorded: idle_ok is no longer close to its idle end
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = kw.db_rows("SELECT last_seen_at FROM session WHERE lower(hex(hash)) = ?",
                         (_hash_hex(idle_ok),))
        if row and row[0]["last_seen_at"] > now - 60000:
            break
        time.sleep(0.1)
    assert row and row[0]["last_seen_at"] > now - 60000, row


def test_session_settings_have_a_minimum(fresh):
    for key in ("AUTH_SESSION_IDLE", "AUTH_SESSION_MAX"):
        kw = fresh(env={key: "59s"}, start=False)
        p = kw.cli("serve", "--listen", "127.0.0.1:0", "--data", kw.data, check=False)
        assert p.returncode == 1, p
        assert key.lower().replace("_", ".", 1) in p.stderr


# --- passwords -----------------------------------------------------------------------------

def test_password_change_needs_the_current_one_and_ends_other_sessions(acc):
    user, old = acc.create_user(password="old-password-1")
    s1 = login(acc, user["email"], old)
    s2 = login(acc, user["email"], old)
    new = "new-password-2"
    r = s1.patch("/api/v1/me", json={"password": new})
    assert (r.status, r.error()["field"]) == (400, "current_password"), r
    r = s1.patch("/api/v1/me", json={"password": new, "current_password": "not-it-at-all"})
    assert (r.status, r.error()["field"]) == (400, "current_password"), r
    r = s1.patch("/api/v1/me", json={"password": "short", "current_password": old})
    assert (r.status, r.error()["field"]) == (400, "password"), r
    assert s1.alive() and s2.alive()
    r = s1.patch("/api/v1/me", json={"password": new, "current_password": old})
    assert r.status == 200, r
    value, attrs = parse_set_cookie(set_cookies(r)[0])
    assert attrs.get("httponly") is True and attrs.get("max-age") == str(7 * 86400)
    assert value not in (s1.cookie, s2.cookie)
    doc = r.json()
    assert doc["user"]["id"] == user["id"]
    assert doc["csrf_token"] not in (s1.csrf, s2.csrf)
    assert _session_rows(acc, user["id"]) == 1   # only the new one
    assert not s1.alive()      # the session used ends too: it is replaced
    assert not s2.alive()
    s3 = Session(acc, value, doc["csrf_token"], user, r)
    assert s3.alive()
    assert s3.patch("/api/v1/me", json={"name": "still me"}).status == 200
    login(acc, user["email"], new)
    assert try_login(acc, user["email"], old).status == 401


def test_admin_password_reset(acc):
    user, old = acc.create_user(password="old-password-1")
    s = login(acc, user["email"], old)
    admin = acc.person(role="admin")
    r = admin.post(f"/api/v1/users/{user['id']}/password")
    assert r.status == 200, r
    assert set(r.json()) == {"password"}
    new = r.json()["password"]
    assert len(new) >= 10
    assert _session_rows(acc, user["id"]) == 0
    assert not s.alive()
    login(acc, user["email"], new)
    assert try_login(acc, user["email"], old).status == 401
    # shown once: nowhere else
    assert new not in acc.get(f"/api/v1/users/{user['id']}").text
    assert new not in acc.get("/api/v1/users?limit=1000").text
    # with the admin token as well; a new password each time
    r = acc.post(f"/api/v1/users/{user['id']}/password")
    assert r.status == 200 and r.json()["password"] != new
    assert acc.post("/api/v1/users/999999/password").status == 404


def test_users_created_with_or_without_a_password(acc):
    r = acc.post("/api/v1/users", json={"name": "Gen", "email": f"{unique('gen')}@example.com"})
    assert r.status == 201, r
    assert set(r.json()) == {"user", "password"}
    login(acc, r.json()["user"]["email"], r.json()["password"])
    r = acc.post("/api/v1/users", json={"name": "Own", "email": f"{unique('own')}@example.com",
                                        "password": "my-own-password"})
    assert r.status == 201, r
    assert set(r.json()) == {"user"}
    login(acc, r.json()["user"]["email"], "my-own-password")


@pytest.mark.parametrize("pw,ok", [
    ("a" * 9, False), ("a" * 10, True),
    ("\u00e4" * 9, False), ("\u00e4" * 10, True),       # characters, not bytes
    ("a" * 1024, True), ("a" * 1025, False),
    ("\u00e4" * 513, False),                             # 513 characters, 1026 bytes
])
def test_password_policy(acc, pw, ok):
    email = f"{unique('pw')}@example.com"
    r = acc.post("/api/v1/users", json={"name": "pw", "email": email, "password": pw})
    if ok:
        assert r.status == 201, r
        login(acc, email, pw)
    else:
        assert (r.status, r.error()["field"]) == (400, "password"), r


# --- disabling and deleting users -----------------------------------------------------------

def test_disabling_or_deleting_a_user_ends_its_sessions(acc):
    user, pw = acc.create_user()
    s = login(acc, user["email"], pw)
    assert s.alive()
    acc.set_user(user["id"], disabled=True)
    # ended, not merely refused while disabled: the rows are gone
    assert _session_rows(acc, user["id"]) == 0
    assert not s.alive()
    acc.set_user(user["id"], disabled=False)
    assert not s.alive()
    s2 = login(acc, user["email"], pw)
    assert s2.alive()
    r = acc.delete(f"/api/v1/users/{user['id']}")
    assert r.status == 204, r
    assert _session_rows(acc, user["id"]) == 0
    assert not s2.alive()
    assert acc.get(f"/api/v1/users/{user['id']}").status == 404
    assert acc.delete(f"/api/v1/users/{user['id']}").status == 404


def test_disabling_by_an_admin_user_ends_sessions_at_once(acc):
    admin = acc.person(role="admin")
    victim = acc.person()
    assert victim.alive()                # checked, so the daemon may cache it
    r = admin.patch(f"/api/v1/users/{victim.id}", json={"disabled": True})
    assert r.status == 200 and r.json()["user"]["disabled"] is True, r
    assert not victim.alive()
    assert _session_rows(acc, victim.id) == 0


def test_role_changes_take_effect_at_once(acc):
    acc.person(role="admin")            # another admin stays
    boss = acc.person(role="admin")
    client = acc.person()
    assert boss.get("/api/v1/users").status == 200
    assert client.get("/api/v1/users").status == 403
    acc.set_user(boss.id, role="client")
    assert boss.get("/api/v1/users").status == 403
    assert boss.get("/api/v1/me").json()["landing"] == "/app"
    acc.set_user(client.id, role="admin")
    assert client.get("/api/v1/users").status == 200


def _until(pred, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return pred()


def test_the_cli_ends_sessions_too(acc):
    """`kilowatt user disable|passwd` beside the running daemon: the daemon
    may trust a session it checked within the last 5 s, no longer."""
    s = acc.person()
    email = s.user["email"]
    assert s.alive()                                   # checked, so cached
    acc.cli("user", "disable", "--email", email, "--data", acc.data)
    assert _until(lambda: not s.alive())
    acc.cli("user", "enable", "--email", email, "--data", acc.data)
    assert not s.alive()
    s2 = login(acc, email, s.password)
    p = acc.cli("user", "passwd", "--email", email, "--generate", "--data", acc.data)
    new = [x.split(": ", 1)[1] for x in p.stdout.splitlines() if x.startswith("password: ")]
    assert len(new) == 1, p.stdout
    assert _until(lambda: not s2.alive())
    login(acc, email, new[0])


# --- what a person may change about themselves --------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("role", "admin"), ("email", "someone@example.com"), ("disabled", False),
    ("customer_ref", "X"), ("id", 1), ("created_at", "2020-01-01T00:00:00Z"),
    ("password_hash", "x")])
def test_me_refuses_other_fields(acc, field, value):
    s = acc.person()
    r = s.patch("/api/v1/me", json={"name": "changed", field: value})
    assert r.status == 400, r
    err = r.error()
    assert err["field"] == field
    assert err["code"] == "invalid_field"
    me = s.get("/api/v1/me").json()["user"]
    assert me == s.user            # nothing changed, not even the name


def test_me_with_another_users_id_in_the_body(acc):
    a, b = acc.person(), acc.person()
    r = a.patch("/api/v1/me", json={"id": b.id, "name": "hijacked"})
    assert (r.status, r.error()["field"]) == (400, "id"), r
    r = a.patch("/api/v1/me", json={"user_id": b.id, "name": "hijacked"})
    assert (r.status, r.error()["field"]) == (400, "user_id"), r
    assert _user(acc, b.id)["name"] == b.user["name"]
    assert _user(acc, a.id)["name"] == a.user["name"]


def test_clients_cannot_reach_admin_routes(acc):
    a, b = acc.person(), acc.person()
    for method, path, body in (
            ("PATCH", f"/api/v1/users/{a.id}", {"role": "admin"}),
            ("PATCH", f"/api/v1/users/{b.id}", {"name": "x"}),
            ("GET", f"/api/v1/users/{b.id}", None),
            ("GET", f"/api/v1/mappings?user_id={b.id}", None),
            ("POST", f"/api/v1/users/{b.id}/password", None),
            ("POST", "/api/v1/mappings", {"user_id": a.id, "device_id": "x"})):
        req = {"json": body} if body is not None else {}
        r = a.request(method, path, **req)
        assert (r.status, r.error()["code"]) == (403, "forbidden"), (method, path, r)
    assert _user(acc, a.id)["role"] == "client"


# --- users API ------------------------------------------------------------------------------

def test_user_api_shapes(acc):
    user, _ = acc.create_user(name="Shape", customer_ref="REF-7")
    assert set(user) == USER_KEYS
    assert user["role"] == "client" and user["disabled"] is False
    assert user["customer_ref"] == "REF-7"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", user["created_at"])
    r = acc.get(f"/api/v1/users/{user['id']}")
    assert r.json() == {"user": user, "devices": []}
    r = acc.patch(f"/api/v1/users/{user['id']}", json={"customer_ref": None, "name": "Shaped"})
    assert r.status == 200, r
    assert r.json() == {"user": dict(user, customer_ref=None, name="Shaped")}
    for uid in ("0", "-1", "abc", "999999"):
        assert acc.get(f"/api/v1/users/{uid}").status == 404
        assert acc.patch(f"/api/v1/users/{uid}", json={"name": "x"}).status == 404
        assert acc.delete(f"/api/v1/users/{uid}").status == 404


def test_user_list_paging_and_search(acc):
    tag = unique("page")
    made = [acc.create_user(name=f"{tag}-{i}", email=f"{tag}-{i}@example.com")[0]
            for i in range(5)]
    r = acc.get(f"/api/v1/users?q={tag}")
    assert r.status == 200, r
    assert [u["id"] for u in r.json()["users"]] == [u["id"] for u in made]
    seen, cursor = [], None
    for _ in range(100):
        r = acc.get("/api/v1/users?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status == 200, r
        assert len(r.json()["users"]) <= 2
        seen += r.json()["users"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    ids = [u["id"] for u in seen]
    assert ids == sorted(set(ids))
    assert {u["id"] for u in made} <= set(ids)
    for lim in ("0", "1001", "x"):
        r = acc.get(f"/api/v1/users?limit={lim}")
        assert (r.status, r.error()["field"]) == (400, "limit"), r


@pytest.mark.parametrize("body,field", [
    ({"email": "x@example.com"}, "name"),
    ({"name": "x"}, "email"),
    ({"name": "", "email": "x@example.com"}, "name"),
    ({"name": "x" * 201, "email": "x@example.com"}, "name"),
    ({"name": "x", "email": "not-an-address"}, "email"),
    ({"name": "x", "email": "a b@example.com"}, "email"),
    ({"name": "x", "email": "a@b@example.com"}, "email"),
    ({"name": "x", "email": 5}, "email"),
    ({"name": "x", "email": "x@example.com", "role": "root"}, "role"),
    ({"name": "x", "email": "x@example.com", "disabled": "yes"}, "disabled"),
    ({"name": "x", "email": "x@example.com", "customer_ref": 5}, "customer_ref"),
    ({"name": "x", "email": "x@example.com", "password": "short"}, "password"),
    ({"name": "x", "email": "x@example.com", "password": 12345678901}, "password"),
    ({"name": "x", "email": "x@example.com", "is_admin": True}, "is_admin"),
])
def test_user_create_validation_names_the_field(acc, body, field):
    r = acc.post("/api/v1/users", json=body)
    assert r.status == 400, r
    assert r.error()["field"] == field
    assert "x@example.com" not in {u["email"] for u in
                                   acc.get("/api/v1/users?limit=1000").json()["users"]}


@pytest.mark.parametrize("body,field", [
    ({"name": ""}, "name"), ({"email": "nope"}, "email"), ({"role": "superuser"}, "role"),
    ({"disabled": 1}, "disabled"), ({"customer_ref": ["x"]}, "customer_ref"),
    ({"password": "a-new-password"}, "password"), ({"id": 5}, "id")])
def test_user_update_validation_names_the_field(acc, body, field):
    user, _ = acc.create_user()
    r = acc.patch(f"/api/v1/users/{user['id']}", json=body)
    assert r.status == 400, r
    assert r.error()["field"] == field
    assert _user(acc, user["id"]) == user


def test_duplicate_email_is_409(acc):
    user, _ = acc.create_user(email=f"{unique('dup')}@example.com")
    r = acc.post("/api/v1/users", json={"name": "again", "email": user["email"].upper()})
    assert r.status == 409, r
    assert (r.error()["code"], r.error()["field"]) == ("conflict", "email")
    other, _ = acc.create_user()
    r = acc.patch(f"/api/v1/users/{other['id']}",
                  json={"email": user["email"].capitalize()})
    assert r.status == 409, r
    assert (r.error()["code"], r.error()["field"]) == ("conflict", "email")
    assert _user(acc, other["id"]) == other


def test_an_admin_cannot_disable_demote_or_delete_itself(acc):
    acc.person(role="admin")   # not the last admin: the rule is about oneself
    admin = acc.person(role="admin")
    for body in ({"disabled": True}, {"role": "client"}, {"role": "client", "disabled": True}):
        r = admin.patch(f"/api/v1/users/{admin.id}", json=body)
        assert r.status == 409, (body, r)
        assert r.error()["code"] == "conflict"
    r = admin.delete(f"/api/v1/users/{admin.id}")
    assert (r.status, r.error()["code"]) == (409, "conflict"), r
    assert admin.alive()
    assert _user(acc, admin.id) == admin.user
    # changing one's own name is fine
    r = admin.patch(f"/api/v1/users/{admin.id}", json={"name": "Still Admin"})
    assert r.status == 200, r


def test_the_last_enabled_admin_cannot_be_removed(fresh):
    kw = fresh()
    boss = kw.person(role="admin")
    for method, body in (("PATCH", {"disabled": True}), ("PATCH", {"role": "client"}),
                         ("DELETE", None)):
        req = {"json": body} if body else {}
        r = kw.request(method, f"/api/v1/users/{boss.id}", **req)   # admin token
        assert (r.status, r.error()["code"]) == (409, "conflict"), (method, body, r)
    assert _user(kw, boss.id) == boss.user
    assert boss.alive()    # the refused disable did not end its sessions
    # a disabled second admin does not count
    spare, _ = kw.create_user(role="admin", disabled=True)
    assert kw.delete(f"/api/v1/users/{boss.id}").status == 409
    # an enabled second admin does
    kw.set_user(spare["id"], disabled=False)
    r = kw.patch(f"/api/v1/users/{boss.id}", json={"role": "client"})
    assert r.status == 200, r
    r = kw.delete(f"/api/v1/users/{spare['id']}")
    assert (r.status, r.error()["code"]) == (409, "conflict"), r


def test_a_disabled_admin_can_be_removed_when_no_admin_is_enabled(fresh):
    """The rule protects the last *enabled* admin: deleting or renaming an
    admin that is already disabled removes no enabled admin (here there is
    none; the admin token runs the daemon)."""
    kw = fresh()
    ghost, _ = kw.create_user(role="admin", disabled=True)
    r = kw.patch(f"/api/v1/users/{ghost['id']}", json={"name": "renamed"})
    assert r.status == 200, r
    r = kw.delete(f"/api/v1/users/{ghost['id']}")
    assert r.status == 204, r


# --- mappings --------------------------------------------------------------------------------

def test_mappings(acc):
    a, b = acc.person(), acc.person()
    d1 = acc.create_device(serial=unique("map-"))
    d2 = acc.create_device(serial=unique("map-"))
    r = acc.post("/api/v1/mappings", json={"user_id": a.id, "device_id": d1["id"]})  # UUID
    assert r.status == 201, r
    m1 = r.json()
    assert set(m1) == {"id", "user_id", "device_id", "created_at"}
    assert (m1["user_id"], m1["device_id"]) == (a.id, d1["id"])
    r = acc.post("/api/v1/mappings", json={"user_id": a.id, "device_id": d2["serial"]})  # serial
    assert r.status == 201 and r.json()["device_id"] == d2["id"], r
    m2 = r.json()
    m3 = acc.map(b.id, d2["id"])
    # duplicates, in either spelling of the device
    for dev in (d1["id"], d1["serial"]):
        r = acc.post("/api/v1/mappings", json={"user_id": a.id, "device_id": dev})
        assert (r.status, r.error()["code"]) == (409, "conflict"), r
    # unknown user or device: 400 naming the field
    r = acc.post("/api/v1/mappings", json={"user_id": 999999, "device_id": d1["id"]})
    assert (r.status, r.error()["field"]) == (400, "user_id"), r
    r = acc.post("/api/v1/mappings", json={"user_id": a.id, "device_id": "no-such-meter"})
    assert (r.status, r.error()["field"]) == (400, "device_id"), r
    for body in ({"user_id": "1", "device_id": d1["id"]}, {"user_id": a.id},
                 {"user_id": a.id, "device_id": 5}, {"user_id": a.id, "device_id": d1["id"], "x": 1}):
        assert acc.post("/api/v1/mappings", json=body).status == 400, body
    # filters
    ids = lambda q: sorted(m["id"] for m in acc.get(f"/api/v1/mappings?{q}").json()["mappings"])
    assert ids(f"user_id={a.id}") == sorted([m1["id"], m2["id"]])
    assert ids(f"device_id={d2['id']}") == sorted([m2["id"], m3["id"]])
    assert ids(f"device_id={d2['serial']}") == sorted([m2["id"], m3["id"]])
    assert ids(f"user_id={b.id}&device_id={d2['serial']}") == [m3["id"]]
    assert acc.get("/api/v1/mappings?device_id=no-such-meter").status == 400
    assert acc.get("/api/v1/mappings?user_id=abc").status == 400
    everything = acc.get("/api/v1/mappings").json()["mappings"]
    assert {m1["id"], m2["id"], m3["id"]} <= {m["id"] for m in everything}
    assert m1 in everything
    assert acc.get(f"/api/v1/users/{a.id}").json()["devices"] == [d1["id"], d2["id"]]
    # delete
    assert acc.delete(f"/api/v1/mappings/{m1['id']}").status == 204
    assert acc.delete(f"/api/v1/mappings/{m1['id']}").status == 404
    assert acc.delete("/api/v1/mappings/abc").status == 404
    assert ids(f"user_id={a.id}") == [m2["id"]]
    assert a.get(f"/api/v1/devices/{d1['id']}").status == 404
    assert a.get(f"/api/v1/devices/{d2['id']}").status == 200


def test_a_device_may_have_two_owners(acc):
    a, b, c = acc.person(), acc.person(), acc.person()
    home = acc.create_device(serial=unique("home-"))
    acc.map(a.id, home["serial"])
    acc.map(b.id, home["id"])
    for s in (a, b):
        r = s.get("/api/v1/devices")
        assert [d["id"] for d in r.json()["devices"]] == [home["id"]], r
        assert s.get(f"/api/v1/devices/{home['serial']}").status == 200
        assert s.get(f"/api/v1/devices/{home['id']}/consumption"
                     "?from=2025-01-06&to=2025-01-06&step=hour").status == 200
        assert s.get(f"/api/v1/devices/{home['id']}/readings"
                     "?from=2025-01-06&to=2025-01-07").status == 200
    assert c.get("/api/v1/devices").json()["devices"] == []
    assert c.get(f"/api/v1/devices/{home['id']}").status == 404


def test_a_client_sees_its_devices_and_their_data(acc):
    a = acc.person()
    mine = [acc.create_device(serial=unique("own-")) for _ in range(3)]
    acc.create_device(serial=unique("notmine-"))
    for d in mine:
        acc.map(a.id, d["id"])
    acc.ingest([(mine[0]["serial"], 1736121600000 + 600000, 1.25)])
    r = a.get("/api/v1/devices?limit=2")
    assert r.status == 200 and len(r.json()["devices"]) == 2, r
    r2 = a.get(f"/api/v1/devices?limit=2&cursor={r.json()['next_cursor']}")
    got = [d["id"] for d in r.json()["devices"] + r2.json()["devices"]]
    assert got == [d["id"] for d in mine]
    assert r2.json()["next_cursor"] is None
    r = a.get(f"/api/v1/devices/{mine[0]['serial']}/readings?from=2025-01-06&to=2025-01-07")
    assert r.status == 200 and [x["value"] for x in r.json()["readings"]] == [1.25], r
    r = a.get(f"/api/v1/devices/{mine[0]['serial']}/consumption"
              "?from=2025-01-06&to=2025-01-06&step=day")
    assert r.status == 200 and r.json()["total_kwh"] == pytest.approx(1.25), r
    # a bad query on a visible device is the usual 400 (the 404s below are not that)
    r = a.get(f"/api/v1/devices/{mine[0]['serial']}/consumption?step=fortnight")
    assert r.status == 400, r


def test_deleting_a_device_removes_its_mappings(acc):
    a, b = acc.person(), acc.person()
    d = acc.create_device(serial=unique("gone-"))
    acc.map(a.id, d["id"])
    acc.map(b.id, d["serial"])
    assert acc.delete(f"/api/v1/devices/{d['id']}").status == 204
    for s in (a, b):
        assert acc.get(f"/api/v1/mappings?user_id={s.id}").json()["mappings"] == []
        assert s.get("/api/v1/devices").json()["devices"] == []
        assert acc.get(f"/api/v1/users/{s.id}").json()["devices"] == []
    # a new device with the same serial is not theirs
    acc.create_device(serial=d["serial"])
    assert a.get(f"/api/v1/devices/{d['serial']}").status == 404


def test_deleting_a_user_removes_its_mappings(acc):
    a = acc.person()
    d = acc.create_device(serial=unique("orphan-"))
    acc.map(a.id, d["id"])
    assert acc.delete(f"/api/v1/users/{a.id}").status == 204
    assert acc.get(f"/api/v1/mappings?device_id={d['id']}").json()["mappings"] == []


# --- IDOR -------------------------------------------------------------------------------------

def test_a_client_asking_for_anothers_device_gets_the_404_of_a_missing_one(acc):
    a, b = acc.person(), acc.person()
    da = acc.create_device(serial=unique("a-"))
    db = acc.create_device(serial=unique("b-"))
    acc.map(a.id, da["id"])
    acc.map(b.id, db["id"])
    acc.ingest([(db["serial"], 1736121600000 + 600000, 2.0)])
    paths = []
    for ident in (db["id"], db["serial"]):
        paths += [f"/api/v1/devices/{ident}",
                  f"/api/v1/devices/{ident}/consumption?from=2025-01-06&to=2025-01-06&step=hour",
                  f"/api/v1/devices/{ident}/readings?from=2025-01-06&to=2025-01-07"]
    hidden = [a.get(p) for p in paths]
    for p, r in zip(paths, hidden):
        assert r.status == 404, (p, r)
        assert r.error()["code"] == "not_found"
    # b's device deleted: the very same requests now ask for a missing device
    assert acc.delete(f"/api/v1/devices/{db['id']}").status == 204
    for p, r in zip(paths, hidden):
        _same_answer(r, a.get(p))
    # the query cannot widen the view either
    r = a.get(f"/api/v1/devices?q={da['serial'][:2]}")
    assert [d["id"] for d in r.json()["devices"]] == [da["id"]]
    r = a.get(f"/api/v1/devices?user_id={b.id}")
    assert [d["id"] for d in r.json()["devices"]] == [da["id"]]


# --- CSRF ---------------------------------------------------------------------------------------

def test_csrf_on_cookie_authenticated_changes(acc):
    s = acc.person()
    other = acc.person()
    body = {"name": "csrf victim"}
    cases = [
        dict(csrf=False),                               # no header
        dict(csrf="wrong-token"),
        dict(csrf=other.csrf),                          # another session's token
        dict(csrf=s.csrf[:-1]),
        dict(origin="http://evil.example.com"),
        dict(origin=f"http://127.0.0.1:{acc.port}.evil.example.com"),
        dict(origin="null"),
        dict(origin=False),                             # no Origin
    ]
    for c in cases:
        r = s.patch("/api/v1/me", json=body, **c)
        assert r.status == 403, (c, r)
        assert r.error()["code"] == "csrf", (c, r)
    assert s.get("/api/v1/me").json()["user"]["name"] == s.user["name"]
    # logout and admin actions are protected the same way
    admin = acc.person(role="admin")
    victim, _ = acc.create_user()
    r = admin.delete(f"/api/v1/users/{victim['id']}", csrf=False)
    assert (r.status, r.error()["code"]) == (403, "csrf")
    r = admin.post("/api/v1/users", json={"name": "x", "email": f"{unique('c')}@example.com"},
                   origin="https://evil.example.com")
    assert (r.status, r.error()["code"]) == (403, "csrf")
    assert acc.get(f"/api/v1/users/{victim['id']}").status == 200
    # with both: fine
    r = s.patch("/api/v1/me", json=body)
    assert r.status == 200, r


def test_bearer_requests_need_no_csrf(acc):
    d = acc.create_device(serial=unique("bearer-"))
    r = acc.patch(f"/api/v1/devices/{d['id']}", json={"description": "by token"})
    assert r.status == 200, r
    r = acc.patch(f"/api/v1/devices/{d['id']}", json={"description": "by token 2"},
                  headers={"Origin": "https://evil.example.com"})
    assert r.status == 200, r


def test_bearer_wins_over_the_cookie(acc):
    client = acc.person()
    admin = acc.person(role="admin")
    # admin token + client cookie: the token decides, and needs no CSRF
    r = acc.get("/api/v1/users", headers={"Cookie": f"{COOKIE}={client.cookie}"})
    assert r.status == 200, r
    d = acc.create_device(serial=unique("both-"))
    r = acc.patch(f"/api/v1/devices/{d['id']}", json={"description": "x"},
                  headers={"Cookie": f"{COOKIE}={client.cookie}"})
    assert r.status == 200, r
    # a bad token does not fall back to a good cookie
    r = admin.get("/api/v1/users", headers={"Authorization": "Bearer kw_" + "A" * 43})
    assert r.status == 401, r
    # an ingest token with an admin cookie is an ingest token
    ingest = acc.token("ingest", name=unique("ingest-"))
    r = admin.get("/api/v1/users", headers={"Authorization": f"Bearer {ingest}"})
    assert r.status == 403, r


def test_login_refuses_a_cross_site_origin(acc):
    user, pw = acc.create_user()
    for origin in ("http://evil.example.com", "null", f"https://127.0.0.1:{acc.port}x"):
        r = try_login(acc, user["email"], pw, origin=origin)
        assert (r.status, r.error()["code"]) == (403, "csrf"), (origin, r)
        _no_cookie(r)
    login(acc, user["email"], pw, origin=False)   # no Origin: not a browser's cross-site post
    login(acc, user["email"], pw)                 # same origin


def test_public_origin_setting(fresh):
    kw = fresh(env={"HTTP_PUBLIC_ORIGIN": "https://energy.example.com"})
    user, pw = kw.create_user()
    assert try_login(kw, user["email"], pw).status == 403      # Origin: http://127.0.0.1:port
    s = login(kw, user["email"], pw, origin="https://energy.example.com")
    r = s.patch("/api/v1/me", json={"name": "x"})
    assert (r.status, r.error()["code"]) == (403, "csrf"), r
    r = s.patch("/api/v1/me", json={"name": "x"}, origin="https://energy.example.com")
    assert r.status == 200, r


# --- throttling ---------------------------------------------------------------------------------

def _throttled(r):
    assert r.status == 429, r
    assert r.error()["code"] == "too_many_attempts"
    ra = r.header("Retry-After")
    assert ra is not None and re.fullmatch(r"\d+", ra), r.headers
    _no_cookie(r)
    return int(ra)


def test_login_throttling(fresh):
    kw = fresh()
    (x, xpw), (y, ypw), (z, zpw), (v, vpw) = (kw.create_user() for _ in range(4))
    for i in range(5):
        assert try_login(kw, x["email"], f"wrong-password-{i}").status == 401
    ra = _throttled(try_login(kw, x["email"], xpw))     # even the right password
    assert 0 < ra <= 15 * 60
    _throttled(try_login(kw, x["email"].upper(), xpw))  # the email, in any case
    _throttled(try_login(kw, x["email"], "wrong-again"))
    # another email from the same address still works ...
    login(kw, y["email"], ypw)
    # ... until 20 failures from the address (5 so far)
    for i in range(14):
        assert try_login(kw, f"nobody-{i}@example.com", "whatever-password").status == 401
    login(kw, z["email"], zpw)                          # 19 failures: still fine
    assert try_login(kw, "nobody-last@example.com", "whatever-password").status == 401
    ra = _throttled(try_login(kw, v["email"], vpw))
    assert 0 < ra <= 15 * 60
    # tokens are not affected
    assert kw.get("/api/v1/users").status == 200


def test_throttle_settings_and_the_end_of_the_window(fresh):
    kw = fresh(env={"AUTH_LOGIN_MAX_FAILURES_EMAIL": "2", "AUTH_LOGIN_WINDOW": "3s"})
    user, pw = kw.create_user()
    for _ in range(2):
        assert try_login(kw, user["email"], "wrong-password").status == 401
    ra = _throttled(try_login(kw, user["email"], pw))
    assert 1 <= ra <= 3
    time.sleep(ra + 0.3)
    login(kw, user["email"], pw)   # after Retry-After it works


def test_the_throttling_window_slides(fresh):
    """Design: failures count 'in a sliding window'.  Failures just before a
    window boundary must still count just after it."""
    kw = fresh(env={"AUTH_LOGIN_WINDOW": "4s"})
    user, pw = kw.create_user()
    t0 = time.monotonic()
    assert try_login(kw, user["email"], "wrong-password").status == 401        # 1, at t0
    t1 = time.monotonic()                                    # the daemon counted it by now
    time.sleep(max(0, t0 + 2.5 - time.monotonic()))
    for _ in range(4):
        assert try_login(kw, user["email"], "wrong-password").status == 401    # 2..5, ~t0+2.5
    assert time.monotonic() < t0 + 3.8, "too slow to test the window"
    _throttled(try_login(kw, user["email"], pw))
    time.sleep(max(0, t1 + 4.2 - time.monotonic()))
    # the first failure left the window; four are still in it
    assert try_login(kw, user["email"], "wrong-password").status == 401        # 5 in window
    assert time.monotonic() < t0 + 6.3, "too slow to test the window"
    _throttled(try_login(kw, user["email"], pw))


def test_a_wrong_email_costs_as_much_as_a_wrong_password(fresh):
    kw = fresh()
    user, pw = kw.create_user()

    def timed(email):
        t = time.monotonic()
        r = try_login(kw, email, "wrong-password")
        assert r.status == 401
        return time.monotonic() - t

    wrong = statistics.median(timed(user["email"]) for _ in range(3))
    unknown = statistics.median(timed(f"{unique('ghost')}@example.com") for _ in range(3))
    assert unknown > 0.5 * wrong, (unknown, wrong)


# --- storage of secrets ---------------------------------------------------------------------------

def test_the_store_keeps_only_hashes(fresh):
    kw = fresh()
    user, pw = kw.create_user(password="plain-text-password-1")
    s = login(kw, user["email"], pw)
    kw.stop()
    rows = kw.db_rows("SELECT hash, csrf, user_id FROM session")
    assert [(bytes(r["hash"]).hex(), r["user_id"]) for r in rows] == [(_hash_hex(s), user["id"])]
    stored = kw.db_rows("SELECT password FROM user WHERE id = ?", (user["id"],))[0]["password"]
    assert stored.startswith("$argon2id$")
    blob = b"".join(p.read_bytes() for p in kw.data.iterdir() if p.is_file())
    assert s.cookie.encode() not in blob
    assert pw.encode() not in blob


def _argon2_params(kw, uid):
    stored = kw.db_rows("SELECT password FROM user WHERE id = ?", (uid,))[0]["password"]
    m = re.match(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", stored)
    assert m, stored
    return tuple(int(x) for x in m.groups())


def test_argon2id_parameters_are_above_owasp_minimums(acc):
    user, _ = acc.create_user()
    m, t, p = _argon2_params(acc, user["id"])
    # OWASP: m=19 MiB, t=2, p=1 (or stronger trade-offs)
    assert m >= 19 * 1024 and t >= 2 and p >= 1


def test_argon2id_parameters_are_the_documented_ones(acc):
    """docs/SECURITY.md: Argon2id, t = 3, m = 32 MiB, p = 1."""
    user, _ = acc.create_user()
    assert _argon2_params(acc, user["id"]) == (32 * 1024, 3, 1)


# --- audit ------------------------------------------------------------------------------------------

def _token_id(kw, name):
    out = kw.cli("token", "list", "--data", kw.data).stdout
    for line in out.splitlines()[1:]:
        cols = line.split()
        if cols[1] == name:
            return int(cols[0])
    raise AssertionError(f"no token {name} in\n{out}")


def test_audit_rows_for_user_and_mapping_actions(fresh):
    kw = fresh()
    t_start = int(time.time() * 1000) - 1000
    admin = kw.person(role="admin", name="Audit Admin")       # created by the admin token
    d = kw.create_device(serial="audited")
    # by the admin user (session)
    r = admin.post("/api/v1/users", json={"name": "Carol", "email": "carol@example.com",
                                          "password": "carols-password-1",
                                          "customer_ref": "C-1"})
    assert r.status == 201, r
    carol = r.json()["user"]
    assert admin.patch(f"/api/v1/users/{carol['id']}", json={"name": "Carol B",
                                                             "disabled": True}).status == 200
    r = admin.post(f"/api/v1/users/{carol['id']}/password")
    assert r.status == 200
    reset_pw = r.json()["password"]
    r = admin.post("/api/v1/mappings", json={"user_id": carol["id"], "device_id": "audited"})
    assert r.status == 201, r
    mapping = r.json()
    assert admin.delete(f"/api/v1/mappings/{mapping['id']}").status == 204
    assert admin.delete(f"/api/v1/users/{carol['id']}").status == 204
    # by the admin token
    dave, dave_pw = kw.create_user(name="Dave")
    m2 = kw.map(dave["id"], d["id"])
    t_end = int(time.time() * 1000) + 1000
    token_id = _token_id(kw, "test-admin")
    kw.stop()
    rows = kw.db_rows("SELECT * FROM audit ORDER BY id")

    def one(action, object_id):
        got = [r for r in rows if r["action"] == action and r["object_id"] == str(object_id)]
        assert len(got) == 1, (action, object_id, rows)
        r = got[0]
        assert t_start <= r["at"] <= t_end, r
        return r

    as_user = {"actor_kind": "user", "actor_id": admin.id, "actor_name": "Audit Admin"}
    as_token = {"actor_kind": "token", "actor_id": token_id, "actor_name": "test-admin"}

    def actor(r):
        return {k: r[k] for k in ("actor_kind", "actor_id", "actor_name")}

    def doc(text):
        return None if text is None else json.loads(text)

    r = one("user.create", admin.id)
    assert actor(r) == as_token and r["object_type"] == "user"
    assert doc(r["before"]) is None and doc(r["after"]) == admin.user

    r = one("user.create", carol["id"])
    assert actor(r) == as_user
    assert doc(r["before"]) is None and doc(r["after"]) == carol

    r = one("user.update", carol["id"])
    assert actor(r) == as_user
    assert doc(r["before"]) == carol
    assert doc(r["after"]) == dict(carol, name="Carol B", disabled=True)

    r = one("user.password_reset", carol["id"])
    assert actor(r) == as_user and r["object_type"] == "user"

    r = one("mapping.create", mapping["id"])
    assert actor(r) == as_user and r["object_type"] == "mapping"
    assert doc(r["before"]) is None and doc(r["after"]) == mapping

    r = one("mapping.delete", mapping["id"])
    assert actor(r) == as_user
    assert doc(r["before"]) == mapping and doc(r["after"]) is None

    r = one("user.delete", carol["id"])
    assert actor(r) == as_user
    assert doc(r["before"]) == dict(carol, name="Carol B", disabled=True)
    assert doc(r["after"]) is None

    r = one("user.create", dave["id"])
    assert actor(r) == as_token
    r = one("mapping.create", m2["id"])
    assert actor(r) == as_token and doc(r["after"]) == m2

    assert rows
    for r in rows:
        text = " ".join(str(v) for v in r.values())
        for secret in ("$argon2", "carols-password-1", reset_pw, dave_pw, admin.password,
                       admin.cookie, admin.csrf):
            assert secret not in text, (secret, r)
        for col in ("before", "after"):
            assert r[col] is None or isinstance(doc(r[col]), dict), r
            assert "password" not in (doc(r[col]) or {}), r


# --- no secret in any answer --------------------------------------------------------------------

def test_no_response_contains_a_password_hash_or_session_secret(acc):
    """Reads everything a person can read, then checks every response this
    module's shared daemon gave so far (run last in the module)."""
    admin = acc.person(role="admin")
    client = acc.person()
    d = acc.create_device(serial=unique("leak-"))
    acc.map(client.id, d["id"])
    for who in (admin, client):
        for path in ("/api/v1/me", "/api/v1/devices", f"/api/v1/devices/{d['id']}"):
            who.get(path)
    for path in ("/api/v1/users?limit=1000", f"/api/v1/users/{client.id}", "/api/v1/mappings",
                 "/metrics"):
        assert acc.get(path).status == 200
        assert admin.get(path).status == 200
    session_hashes = {bytes(r["hash"]).hex() for r in acc.db_rows("SELECT hash FROM session")}
    session_hashes |= {h.upper() for h in session_hashes}
    csrf = {r["csrf"] for r in acc.db_rows("SELECT csrf FROM session")}
    assert session_hashes
    bad = leaks(acc.responses, extra_hashes=session_hashes)
    assert not bad, bad[:5]
    # the CSRF token is not the cookie, and the cookie is only in Set-Cookie
    assert not (csrf & {parse_set_cookie(c)[0] for r in acc.responses for c in set_cookies(r)})


def test_guessing_the_current_password_is_throttled_like_a_login(fresh):
    """A stolen session must not become a password oracle: wrong
    current_password answers count as failed logins for that email."""
    kw = fresh(env={"AUTH_LOGIN_MAX_FAILURES_EMAIL": "3"})
    user, pw = kw.create_user()
    s = login(kw, user["email"], pw)
    for _ in range(3):
        r = s.patch("/api/v1/me", json={"password": "a-brand-new-password",
                                         "current_password": "not-the-password"})
        assert r.status == 400 and r.error()["field"] == "current_password", r
    _throttled(s.patch("/api/v1/me", json={"password": "a-brand-new-password",
                                           "current_password": pw}))
    _throttled(try_login(kw, user["email"], pw))
