"""Self-registration by meter claim, the tokens API and the audit API.

docs/API.md ("Sessions (people)", "Accounts": POST /api/v1/register, Tokens,
GET /api/v1/audit) and docs/SECURITY.md (Self-registration, Audit log, API
tokens).  Black box: everything goes through HTTP.  Daemons shared by a
module make their own users and devices; every response of every daemon is
checked for leaked secrets when its fixture ends (kwaccounts.leaks)."""
import hashlib
import re
import time
from datetime import datetime

import pytest

from kwaccounts import Daemons, Session, finish_daemons, login, parse_set_cookie, \
    post_public, set_cookies, try_login, unique

PASSWORD = "a-long-enough-password"
TOKEN_KEYS = {"id", "name", "scope", "created_at", "last_used_at", "revoked"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")




@pytest.fixture(scope="module")
def signup(tmp_path_factory):
    """A daemon with self-registration on, 3 failures per email."""
    daemons = Daemons(tmp_path_factory.mktemp("signup"))
    try:
        yield daemons(env={"AUTH_ALLOW_SIGNUP": "true",
                           "AUTH_LOGIN_MAX_FAILURES_EMAIL": "3"})
    finally:
        finish_daemons(daemons)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    daemons = Daemons(tmp_path_factory.mktemp("tokens"))
    try:
        yield daemons()
    finally:
        finish_daemons(daemons)


def _err(r, status, code, field=None):
    assert r.status == status, r
    e = r.error()
    if code is not None:
        assert e["code"] == code, r
    if field is not None:
        assert e.get("field") == field, r
    return e


def _no_cookie(r):
    assert set_cookies(r) == [], r.headers


def _claimable(kw, code=None):
    """A device with a serial and (unless code is False) a claim code."""
    serial = unique("meter-")
    d = kw.create_device(serial=serial)
    assert d["has_claim_code"] is False
    if code is False:
        return d, None
    code = code or unique("claim-secret-")
    r = kw.patch(f"/api/v1/devices/{d['id']}", json={"claim_code": code})
    assert r.status == 200, r
    assert r.json() == dict(d, has_claim_code=True)
    assert code not in r.text
    return r.json(), code


def _reg_body(serial, code, email=None, **over):
    body = {"name": unique("Signup "), "email": email or f"{unique('reg-')}@example.com",
            "password": PASSWORD, "serial": serial, "claim_code": code}
    body.update(over)
    return body


def _register(kw, body, origin=True, headers=None):
    return post_public(kw, "/api/v1/register", body, headers=headers, origin=origin)


def _registered(kw, r):
    """The Session a successful registration answered."""
    assert r.status == 201, r
    cookies = set_cookies(r)
    assert len(cookies) == 1, r.headers
    value, attrs = parse_set_cookie(cookies[0])
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", value), value
    assert attrs.get("path") == "/" and attrs.get("httponly") is True
    doc = r.json()
    return Session(kw, value, doc["csrf_token"], doc["user"], r)


def _recent():
    return int(time.time() * 1000) - 3600 * 1000


def _ingest(kw, token, serials, value=1.0):
    body = [{"timestamp": _recent() + i * 1000, "device_id": s, "measurement_value": value}
            for i, s in enumerate(serials)]
    return kw.post("/api/v1/measurements", json=body, token=token)


# --- 1. self-registration ---------------------------------------------------------------------

def test_register_is_404_when_signup_is_off(fresh):
    kw = fresh()
    d, code = _claimable(kw)
    r = _register(kw, _reg_body(d["serial"], code))
    _err(r, 404, "not_found")
    _no_cookie(r)
    r = kw.get("/api/v1/users")
    assert r.status == 200 and r.json()["users"] == [], r
    kw2 = fresh(env={"AUTH_ALLOW_SIGNUP": "false"})
    d, code = _claimable(kw2)
    _err(_register(kw2, _reg_body(d["serial"], code)), 404, "not_found")


def test_register_claims_the_meter(signup):
    kw = signup
    d, code = _claimable(kw)
    other, _ = _claimable(kw)
    email = f"{unique('New.Person-')}@Example.COM"
    body = _reg_body(d["serial"], code, email=email, name="Nadia New")
    r = _register(kw, body)
    s = _registered(kw, r)
    doc = r.json()
    assert set(doc) == {"user", "landing", "csrf_token"}
    assert doc["landing"] == "/app"
    assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", doc["csrf_token"])
    u = doc["user"]
    assert set(u) == {"id", "name", "email", "role", "customer_ref", "disabled", "created_at",
                      "email_alerts"}
    assert (u["name"], u["email"], u["role"], u["customer_ref"], u["disabled"]) == \
        ("Nadia New", email.lower(), "client", None, False)
    assert PASSWORD not in r.text and code not in r.text
    # the cookie works
    r = s.get("/api/v1/me")
    assert r.status == 200, r
    assert r.json() == {"user": u, "landing": "/app", "csrf_token": s.csrf}
    r = s.get("/api/v1/devices")
    assert r.status == 200, r
    assert r.json()["devices"] == [{k: v for k, v in d.items() if k != "owners"}]
    assert s.get(f"/api/v1/devices/{other['id']}").status == 404
    # a client account mapped to that meter
    r = kw.get(f"/api/v1/users/{u['id']}")
    assert r.status == 200 and r.json() == {"user": u, "devices": [d["id"]]}, r
    # the password works for login too
    assert login(kw, email, PASSWORD).id == u["id"]
    # audited as user.create by "signup"
    r = kw.get(f"/api/v1/audit?object_type=user&object_id={u['id']}")
    assert r.status == 200, r
    entries = r.json()["entries"]
    assert [e["action"] for e in entries] == ["user.create"], entries
    e = entries[0]
    assert e["actor"]["kind"] == "signup"
    assert e["actor"].get("id") == u["id"]
    assert e["object_type"] == "user" and e["object_id"] == str(u["id"])
    assert e["before"] is None and e["after"] == u
    assert PASSWORD not in r.text and code not in r.text and "$argon2" not in r.text


def test_every_failed_claim_gets_the_same_answer(signup):
    kw = signup
    a, code_a = _claimable(kw)
    no_code, _ = _claimable(kw, code=False)
    c, code_c = _claimable(kw)
    _registered(kw, _register(kw, _reg_body(c["serial"], code_c)))       # c is now claimed
    cases = {
        "wrong code": _reg_body(a["serial"], code_a + "x"),
        "code prefix": _reg_body(a["serial"], code_a[:-1]),
        "unknown serial": _reg_body(unique("no-such-meter-"), code_a),
        "no claim code": _reg_body(no_code["serial"], "anything-at-all"),
        "already claimed": _reg_body(c["serial"], code_c),
    }
    answers = {}
    for what, body in cases.items():
        r = _register(kw, body)
        _err(r, 400, "invalid_claim")
        _no_cookie(r)
        answers[what] = r
    bodies = {what: r.body for what, r in answers.items()}
    assert len(set(bodies.values())) == 1, bodies
    # nobody was created by a failed claim
    for body in cases.values():
        r = kw.get(f"/api/v1/users?q={body['email']}")
        assert r.status == 200 and r.json()["users"] == [], r
    # the meter with the right code is still claimable, by the right code only
    _registered(kw, _register(kw, _reg_body(a["serial"], code_a)))
    # ... and then claimed: a second person needs an admin
    r = _register(kw, _reg_body(a["serial"], code_a))
    _err(r, 400, "invalid_claim")
    assert r.body == bodies["wrong code"]


@pytest.mark.parametrize("field", ["name", "email", "password", "serial", "claim_code"])
def test_register_names_a_missing_field(signup, field):
    d, code = _claimable(signup)
    body = _reg_body(d["serial"], code)
    del body[field]
    _err(_register(signup, body), 400, None, field)
    body[field] = ""
    _err(_register(signup, body), 400, None, field)


def test_register_validation(signup):
    kw = signup
    d, code = _claimable(kw)
    # a short password (9 characters; the minimum is 10)
    r = _register(kw, _reg_body(d["serial"], code, password="short-pw9"))
    _err(r, 400, "invalid_value", "password")
    _no_cookie(r)
    # an email in use (in any case)
    taken, _ = kw.create_user()
    for email in (taken["email"], taken["email"].upper()):
        r = _register(kw, _reg_body(d["serial"], code, email=email))
        _err(r, 409, "conflict", "email")
        _no_cookie(r)
    # a cross-site Origin
    for origin in ("http://evil.example.com", "null"):
        r = _register(kw, _reg_body(d["serial"], code), origin=origin)
        _err(r, 403, "csrf")
        _no_cookie(r)
    # none of those claimed the meter
    r = kw.get(f"/api/v1/mappings?device_id={d['id']}")
    assert r.status == 200 and r.json()["mappings"] == [], r
    _registered(kw, _register(kw, _reg_body(d["serial"], code)))


def _throttled(r):
    _err(r, 429, "too_many_attempts")
    ra = r.header("Retry-After")
    assert ra is not None and re.fullmatch(r"\d+", ra), r.headers
    assert 0 < int(ra) <= 15 * 60
    _no_cookie(r)


def test_failed_claims_count_toward_throttling(signup):
    kw = signup
    d, code = _claimable(kw)
    email = f"{unique('greedy-')}@example.com"
    for i in range(3):                              # auth.login_max_failures_email = 3
        _err(_register(kw, _reg_body(d["serial"], f"guess-{i}", email=email)),
             400, "invalid_claim")
    _throttled(_register(kw, _reg_body(d["serial"], code, email=email)))   # even the right code
    _throttled(_register(kw, _reg_body(d["serial"], code, email=email.upper())))
    _throttled(try_login(kw, email, PASSWORD))
    # the meter was not claimed; another email still can
    _registered(kw, _register(kw, _reg_body(d["serial"], code)))

    # failed logins and failed claims add up for one email
    d2, code2 = _claimable(kw)
    email2 = f"{unique('mixed-')}@example.com"
    for i in range(2):
        assert try_login(kw, email2, f"wrong-password-{i}").status == 401
    _err(_register(kw, _reg_body(d2["serial"], "nope", email=email2)), 400, "invalid_claim")
    _throttled(_register(kw, _reg_body(d2["serial"], code2, email=email2)))


# --- 2. tokens ------------------------------------------------------------------------------

def _tokens(kw, **req):
    r = kw.get("/api/v1/tokens", **req)
    assert r.status == 200, r
    doc = r.json()
    assert set(doc) == {"tokens"}
    return doc["tokens"]


def _check_created(r, name, scope):
    assert r.status == 201, r
    doc = r.json()
    assert set(doc) == TOKEN_KEYS | {"token"}, doc
    assert re.fullmatch(r"kw_[A-Za-z0-9_-]{43}", doc["token"]), doc
    assert (doc["name"], doc["scope"], doc["revoked"], doc["last_used_at"]) == \
        (name, scope, False, None)
    assert isinstance(doc["id"], int) and doc["id"] > 0
    return doc


def _no_secret(text, secret):
    assert secret not in text
    h = hashlib.sha256(secret.encode()).digest()
    assert h.hex() not in text and h.hex().upper() not in text


def test_ingest_token_lifecycle(plain):
    kw = plain
    d = kw.create_device(serial=unique("tok-meter-"))
    name = unique("feeder-")
    made = _check_created(kw.post("/api/v1/tokens", json={"name": name, "scope": "ingest"}),
                          name, "ingest")
    tok = made["token"]
    # it writes readings, of any device
    r = _ingest(kw, tok, [d["serial"]])
    assert r.status == 200, r
    # ... but may not read
    _err(kw.get("/api/v1/devices", token=tok), 403, "forbidden")
    _err(kw.get("/api/v1/tokens", token=tok), 403, "forbidden")
    # listed without the secret or its hash
    r = kw.get("/api/v1/tokens")
    assert r.status == 200, r
    _no_secret(r.text, tok)
    listed = [t for t in r.json()["tokens"] if t["id"] == made["id"]]
    assert len(listed) == 1
    t = listed[0]
    assert set(t) == TOKEN_KEYS
    assert {k: t[k] for k in ("id", "name", "scope", "revoked")} == \
        {k: made[k] for k in ("id", "name", "scope", "revoked")}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", t["last_used_at"]), t
    # revoke: 204, refused on the very next request
    r = kw.delete(f"/api/v1/tokens/{made['id']}")
    assert (r.status, r.body) == (204, b""), r
    _err(_ingest(kw, tok, [d["serial"]]), 401, "unauthorized")
    _err(kw.get("/api/v1/devices", token=tok), 401, "unauthorized")
    _err(kw.delete(f"/api/v1/tokens/{made['id']}"), 404, "not_found")
    _err(kw.delete("/api/v1/tokens/999999"), 404, "not_found")
    t = [t for t in _tokens(kw) if t["id"] == made["id"]][0]
    assert t["revoked"] is True


def test_device_scoped_token(plain):
    kw = plain
    mine = kw.create_device(serial=unique("scoped-"))
    other = kw.create_device(serial=unique("other-"))
    for given in (mine["serial"], mine["id"]):
        name = unique("meter-token-")
        made = _check_created(kw.post("/api/v1/tokens",
                                      json={"name": name, "scope": f"device:{given}"}),
                              name, f"device:{mine['id']}")
        assert UUID.fullmatch(made["scope"][7:])
        listed = [t for t in _tokens(kw) if t["id"] == made["id"]][0]
        assert listed["scope"] == f"device:{mine['id']}"
        tok = made["token"]
        r = _ingest(kw, tok, [mine["serial"]])
        assert r.status == 200, r
        r = _ingest(kw, tok, [mine["id"]])
        assert r.status == 200, r
        _err(_ingest(kw, tok, [other["serial"]]), 403, "forbidden")
        _err(_ingest(kw, tok, [mine["serial"], other["serial"]]), 403, "forbidden")
        _err(kw.get(f"/api/v1/devices/{mine['id']}", token=tok), 403, "forbidden")


def test_token_created_at_is_the_same_in_the_answer_and_the_list(plain):
    """The 201 answer, the audit entry and GET /api/v1/tokens describe the
    same token: one created_at."""
    made = plain.post("/api/v1/tokens", json={"name": unique("when-"), "scope": "ingest"})
    made = _check_created(made, made.json()["name"], "ingest")
    listed = [t for t in _tokens(plain) if t["id"] == made["id"]][0]
    assert listed["created_at"] == made["created_at"], (made, listed)


def test_absent_fields_are_missing_field(signup):
    """docs/API.md Errors: 400 missing_field when a required field is absent
    (invalid_value is for a value of the wrong type or not allowed)."""
    d, code = _claimable(signup)
    for field in ("name", "email", "password", "serial", "claim_code"):
        body = _reg_body(d["serial"], code)
        del body[field]
        _err(_register(signup, body), 400, "missing_field", field)
    _err(signup.post("/api/v1/tokens", json={"scope": "ingest"}), 400, "missing_field", "name")
    _err(signup.post("/api/v1/tokens", json={"name": "t"}), 400, "missing_field", "scope")


@pytest.mark.parametrize("body,field", [
    ({"scope": "ingest"}, "name"),
    ({"name": "", "scope": "ingest"}, "name"),
    ({"name": 5, "scope": "ingest"}, "name"),
    ({"name": None, "scope": "ingest"}, "name"),
    ({"name": "x" * 128, "scope": "ingest"}, "name"),
    ({"name": "t"}, "scope"),
    ({"name": "t", "scope": ""}, "scope"),
    ({"name": "t", "scope": "root"}, "scope"),
    ({"name": "t", "scope": "Admin"}, "scope"),
    ({"name": "t", "scope": 1}, "scope"),
    ({"name": "t", "scope": "device:"}, "scope"),
    ({"name": "t", "scope": "device:no-such-meter"}, "scope"),
    ({"name": "t", "scope": "device:00000000-0000-4000-8000-000000000000"}, "scope"),
])
def test_token_create_validation_names_the_field(plain, body, field):
    before = _tokens(plain)
    _err(plain.post("/api/v1/tokens", json=body), 400, None, field)
    assert _tokens(plain) == before


def test_token_create_refuses_an_unknown_field(plain):
    """docs/API.md Conventions: an unknown key is refused (unknown_field),
    and the error's field names it."""
    before = _tokens(plain)
    r = plain.post("/api/v1/tokens", json={"name": "t", "scope": "ingest", "extra": 1})
    _err(r, 400, "unknown_field", "extra")
    assert _tokens(plain) == before


def test_tokens_with_an_admin_session_and_a_client_session(plain):
    kw = plain
    admin = kw.person(role="admin")
    name = unique("session-made-")
    # CSRF applies
    r = admin.post("/api/v1/tokens", json={"name": name, "scope": "ingest"}, csrf=False)
    _err(r, 403, "csrf")
    made = _check_created(admin.post("/api/v1/tokens", json={"name": name, "scope": "ingest"}),
                          name, "ingest")
    r = admin.get("/api/v1/tokens")
    assert r.status == 200 and made["id"] in [t["id"] for t in r.json()["tokens"]], r
    _no_secret(r.text, made["token"])
    _err(admin.delete(f"/api/v1/tokens/{made['id']}", csrf=False), 403, "csrf")
    r = admin.delete(f"/api/v1/tokens/{made['id']}")
    assert r.status == 204, r
    _err(kw.get("/api/v1/devices", token=made["token"]), 401, "unauthorized")

    client = kw.person()
    victim = _check_created(kw.post("/api/v1/tokens", json={"name": "victim", "scope": "ingest"}),
                            "victim", "ingest")
    before = _tokens(kw)
    _err(client.get("/api/v1/tokens"), 403, "forbidden")
    _err(client.post("/api/v1/tokens", json={"name": "mine", "scope": "admin"}), 403, "forbidden")
    _err(client.delete(f"/api/v1/tokens/{victim['id']}"), 403, "forbidden")
    assert _tokens(kw) == before
    d = kw.create_device(serial=unique("victim-meter-"))
    assert _ingest(kw, victim["token"], [d["serial"]]).status == 200


# --- 3. audit -------------------------------------------------------------------------------

class Trail:
    pass


@pytest.fixture(scope="module")
def trail(tmp_path_factory):
    """A fresh daemon and a known sequence of admin actions: by its admin
    token (token id 1, "test-admin") and by an admin user (user id 1)."""
    daemons = Daemons(tmp_path_factory.mktemp("audit"))
    try:
        kw = daemons()
        t = Trail()
        t.kw = kw
        t.secrets = [kw.admin]
        tok_actor = {"kind": "token", "id": 1, "name": "test-admin"}
        assert [x["id"] for x in _tokens(kw) if x["name"] == "test-admin"] == [1]
        exp = []        # (action, actor, object_type, object_id, before, after); oldest first

        admin = kw.person(role="admin", name="Ada Admin", password="ada-password-123")
        t.admin = admin
        t.secrets += ["ada-password-123", admin.cookie, admin.csrf]
        assert admin.id == 1      # same id as the admin token: the user_id filter must not mix
        exp.append(("user.create", tok_actor, "user", "1", None, admin.user))
        usr_actor = {"kind": "user", "id": 1, "name": "Ada Admin"}

        r = admin.post("/api/v1/users", json={"name": "Uma", "email": "uma@example.com",
                                              "password": "umas-password-1"})
        assert r.status == 201, r
        uma = r.json()["user"]
        t.uma = uma
        t.secrets.append("umas-password-1")
        exp.append(("user.create", usr_actor, "user", str(uma["id"]), None, uma))

        r = admin.patch(f"/api/v1/users/{uma['id']}", json={"name": "Uma B",
                                                            "customer_ref": "C-9"})
        assert r.status == 200, r
        uma2 = r.json()["user"]
        assert uma2 == dict(uma, name="Uma B", customer_ref="C-9")
        exp.append(("user.update", usr_actor, "user", str(uma["id"]), uma, uma2))

        r = admin.post(f"/api/v1/users/{uma['id']}/password")
        assert r.status == 200, r
        t.secrets.append(r.json()["password"])
        exp.append(("user.password_reset", usr_actor, "user", str(uma["id"]), ..., ...))

        d = kw.create_device(serial="audit-meter", name="Audit meter")     # by the token
        del d["owners"]  # the audit records the device; mappings have their own entries
        t.device = d
        exp.append(("device.create", tok_actor, "device", d["id"], None, d))
        claim = "claim-code-do-not-log-7731"
        t.secrets.append(claim)
        r = kw.patch(f"/api/v1/devices/{d['id']}", json={"name": "Audit meter 2",
                                                         "claim_code": claim})
        assert r.status == 200, r
        d2 = r.json()
        assert d2.pop("owners") == []
        assert d2 == dict(d, name="Audit meter 2", has_claim_code=True)
        exp.append(("device.update", tok_actor, "device", d["id"], d, d2))

        r = admin.post("/api/v1/mappings", json={"user_id": uma["id"], "device_id": d["serial"]})
        assert r.status == 201, r
        m = r.json()
        exp.append(("mapping.create", usr_actor, "mapping", str(m["id"]), None, m))
        assert admin.delete(f"/api/v1/mappings/{m['id']}").status == 204
        exp.append(("mapping.delete", usr_actor, "mapping", str(m["id"]), m, None))

        r = admin.post("/api/v1/tokens", json={"name": "audited-token", "scope": "ingest"})
        made = _check_created(r, "audited-token", "ingest")
        t.token = made
        t.secrets.append(made["token"])
        pub = {k: v for k, v in made.items() if k != "token"}
        exp.append(("token.create", usr_actor, "token", str(made["id"]), None, pub))
        assert admin.delete(f"/api/v1/tokens/{made['id']}").status == 204
        exp.append(("token.revoke", usr_actor, "token", str(made["id"]), ..., ...))

        assert admin.delete(f"/api/v1/devices/{d['id']}").status == 204
        exp.append(("device.delete", usr_actor, "device", d["id"], d2, None))
        assert admin.delete(f"/api/v1/users/{uma['id']}").status == 204
        exp.append(("user.delete", usr_actor, "user", str(uma["id"]), uma2, None))

        t.expected = exp[::-1]      # newest first
        r = kw.get("/api/v1/audit")
        assert r.status == 200, r
        t.response = r
        t.entries = r.json()["entries"]
        yield t
    finally:
        finish_daemons(daemons)


def _audit(kw, query=""):
    r = kw.get("/api/v1/audit" + (f"?{query}" if query else ""))
    assert r.status == 200, r
    doc = r.json()
    assert set(doc) == {"entries", "next_cursor"}
    return doc


def test_audit_lists_every_admin_action_newest_first(trail):
    doc = trail.response.json()
    assert doc["next_cursor"] is None
    entries = trail.entries
    assert [e["action"] for e in entries] == [x[0] for x in trail.expected]
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    ats = [e["at"] for e in entries]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", a) for a in ats), ats
    stamps = [datetime.fromisoformat(a.replace("Z", "+00:00")) for a in ats]
    assert stamps == sorted(stamps, reverse=True), ats
    for e, (action, actor, otype, oid, before, after) in zip(entries, trail.expected):
        assert set(e) == {"id", "at", "actor", "action", "object_type", "object_id",
                          "before", "after"}, e
        assert e["actor"] == actor, (action, e)
        assert (e["object_type"], e["object_id"]) == (otype, oid), e
        if before is not ...:
            assert e["before"] == before, (action, e)
        if after is not ...:
            assert e["after"] == after, (action, e)


def _walk(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield path + (k,), k, v
            yield from _walk(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, path + (i,))


def test_audit_holds_no_secret(trail):
    text = trail.response.text
    for s in trail.secrets:
        _no_secret(text, s)
    assert "$argon2" not in text
    for e in trail.entries:
        for side in ("before", "after"):
            for path, key, _ in _walk(e[side]):
                assert key not in ("password", "claim_code", "token", "hash", "secret",
                                   "password_hash", "csrf", "csrf_token"), (e, path)


def test_audit_token_revoke_records_the_token_before_and_after(trail):
    """docs/SECURITY.md: each admin action is written with 'the object
    before and after'; a revocation changes the token (revoked false -> true)."""
    e = [e for e in trail.entries if e["action"] == "token.revoke"][0]
    pub = {k: v for k, v in trail.token.items() if k != "token"}
    assert e["before"] is not None and e["after"] is not None, e
    assert {k: e["before"][k] for k in ("id", "name", "scope", "revoked")} == \
        {"id": pub["id"], "name": pub["name"], "scope": pub["scope"], "revoked": False}
    assert e["after"]["revoked"] is True and e["after"]["id"] == pub["id"]


def test_audit_paging_walks_every_entry_once(trail):
    kw = trail.kw
    got, cursor, pages = [], None, 0
    while True:
        q = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        doc = _audit(kw, q)
        pages += 1
        assert len(doc["entries"]) <= 3
        got += doc["entries"]
        cursor = doc["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and len(doc["entries"]) == 3
        assert pages < 50
    assert got == trail.entries
    assert pages == -(-len(trail.entries) // 3)
    # a page size of 1000 and of 1 are allowed
    assert _audit(kw, "limit=1000")["entries"] == trail.entries
    one = _audit(kw, "limit=1")
    assert one["entries"] == trail.entries[:1] and one["next_cursor"] is not None


def test_audit_object_filters(trail):
    kw, entries = trail.kw, trail.entries
    dev = [e for e in entries if e["object_type"] == "device"]
    assert [e["action"] for e in dev] == ["device.delete", "device.update", "device.create"]
    assert _audit(kw, "object_type=device")["entries"] == dev
    assert _audit(kw, f"object_id={trail.device['id']}")["entries"] == dev
    assert _audit(kw, f"object_type=device&object_id={trail.device['id']}")["entries"] == dev
    for otype in ("user", "mapping", "token"):
        want = [e for e in entries if e["object_type"] == otype]
        assert want
        assert _audit(kw, f"object_type={otype}")["entries"] == want, otype
    about_uma = [e for e in entries if e["object_type"] == "user"
                 and e["object_id"] == str(trail.uma["id"])]
    assert [e["action"] for e in about_uma] == ["user.delete", "user.password_reset",
                                                "user.update", "user.create"]
    assert _audit(kw, f"object_type=user&object_id={trail.uma['id']}")["entries"] == about_uma
    assert _audit(kw, "object_type=device&object_id=no-such-thing")["entries"] == []
    # a filter and paging together
    doc = _audit(kw, "object_type=device&limit=2")
    assert doc["entries"] == dev[:2] and doc["next_cursor"] is not None
    doc = _audit(kw, f"object_type=device&limit=2&cursor={doc['next_cursor']}")
    assert doc == {"entries": dev[2:], "next_cursor": None}


def test_audit_user_filter_about_a_user(trail):
    """Uma never acted: ?user_id= gives the entries about her."""
    kw, entries = trail.kw, trail.entries
    want = [e for e in entries if e["object_type"] == "user"
            and e["object_id"] == str(trail.uma["id"])]
    assert len(want) == 4
    assert _audit(kw, f"user_id={trail.uma['id']}")["entries"] == want


def test_audit_user_filter_by_and_about_a_user(trail):
    """?user_id=1: the entries by user 1 (as actor) and about user 1, and not
    those by token 1 (the admin token has the same numeric id)."""
    kw, entries = trail.kw, trail.entries
    want = [e for e in entries
            if (e["actor"]["kind"] == "user" and e["actor"].get("id") == 1)
            or (e["object_type"] == "user" and e["object_id"] == "1")]
    assert [e["action"] for e in want][-1] == "user.create"      # Ada's creation, by the token
    got = _audit(kw, "user_id=1")["entries"]
    assert [(e["action"], e["actor"]["kind"]) for e in got] == \
        [(e["action"], e["actor"]["kind"]) for e in want]
    assert got == want


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", ""])
def test_audit_limit_range(trail, limit):
    _err(trail.kw.get(f"/api/v1/audit?limit={limit}"), 400, "invalid_value", "limit")


def test_audit_is_for_admins(plain):
    kw = plain
    admin = kw.person(role="admin")
    client = kw.person()
    _err(client.get("/api/v1/audit"), 403, "forbidden")
    d = kw.create_device(serial=unique("aud-"))
    ingest = _check_created(kw.post("/api/v1/tokens", json={"name": "aud-ingest",
                                                            "scope": "ingest"}),
                            "aud-ingest", "ingest")
    _err(kw.get("/api/v1/audit", token=ingest["token"]), 403, "forbidden")
    _err(kw.get("/api/v1/audit", token=None), 401, "unauthorized")
    assert _ingest(kw, ingest["token"], [d["serial"]]).status == 200
    assert admin.get("/api/v1/audit?limit=1").status == 200
