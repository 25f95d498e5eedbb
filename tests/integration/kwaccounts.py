"""
kwaccounts - helpers for the account, session and access tests (issue 3).

Black box like kwlib: users are made through the HTTP API with the admin
token, people log in through POST /api/v1/login, and the database is read
(never written while the daemon runs) with Python's sqlite3 only where the
API offers no view (audit rows, session rows, password hashes).

  AccDaemon      a kwlib.Daemon that keeps every response it got, so a test
                 can check that none of them leaks a secret
  Session        a logged-in person: its cookie and CSRF token; its requests
                 send the cookie and, on POST/PATCH/PUT/DELETE, the CSRF
                 token and a same-origin Origin (unless told otherwise)
  daemon_scope   a pytest fixture body for a daemon shared by a module
"""
import base64
import hashlib
import itertools
import sqlite3

import kwlib

COOKIE = "kw_session"
UNSAFE = ("POST", "PATCH", "PUT", "DELETE")
USER_KEYS = {"id", "name", "email", "role", "customer_ref", "disabled", "created_at",
             "email_alerts"}
_seq = itertools.count(1)


def unique(prefix="u"):
    """A name no other call in this process returns."""
    return f"{prefix}{next(_seq)}"


class AccDaemon(kwlib.Daemon):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.responses = []

    def request(self, *a, **k):
        r = super().request(*a, **k)
        self.responses.append(r)
        return r

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self):
        return self.data / "kilowatt.db"

    def db_rows(self, sql, args=()):
        """Rows of a query on the daemon's database, read-only (also while it
        runs: SQLite's WAL lets a reader beside the writer)."""
        con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql, args)]
        finally:
            con.close()

    def db_write(self, sql, args=()):
        """Changes the database (only while the daemon is stopped); returns
        the number of rows changed."""
        assert not self.running, "the daemon must be stopped to edit its database"
        con = sqlite3.connect(str(self.db_path), timeout=30)
        try:
            with con:
                return con.execute(sql, args).rowcount
        finally:
            con.close()

    # --- accounts through the API (admin token) ---------------------------------

    def create_user(self, name=None, email=None, password=None, role="client", **fields):
        """POST /api/v1/users with the admin token; returns (user, password)."""
        slug = unique("user-")
        body = dict(name=name or slug, email=email or f"{slug}@example.com", role=role,
                    **fields)
        if password is not None:
            body["password"] = password
        r = self.post("/api/v1/users", json=body)
        assert r.status == 201, r
        doc = r.json()
        if password is None:
            password = doc["password"]
        else:
            assert "password" not in doc, doc
        return doc["user"], password

    def person(self, role="client", **fields):
        """A new user, logged in: a Session with .user and .password."""
        user, pw = self.create_user(role=role, **fields)
        s = login(self, user["email"], pw)
        s.password = pw
        return s

    def map(self, user_id, device):
        r = self.post("/api/v1/mappings", json={"user_id": user_id, "device_id": device})
        assert r.status == 201, r
        return r.json()

    def set_user(self, user_id, **fields):
        r = self.patch(f"/api/v1/users/{user_id}", json=fields)
        assert r.status == 200, r
        return r.json()["user"]


def parse_set_cookie(value):
    """'kw_session=V; Path=/; HttpOnly' -> ('V', {'path': '/', 'httponly': True})."""
    parts = [p.strip() for p in value.split(";")]
    name, _, val = parts[0].partition("=")
    assert name == COOKIE, value
    attrs = {}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip() if eq else True
    return val, attrs


def set_cookies(r):
    return [v for k, v in r.headers if k.lower() == "set-cookie"]


class Session:
    """A person logged in with the session cookie."""

    def __init__(self, kw, cookie, csrf, user, response):
        self.kw = kw
        self.cookie = cookie
        self.csrf = csrf
        self.user = user
        self.response = response
        self.password = None

    @property
    def id(self):
        return self.user["id"]

    def request(self, method, path, csrf=True, origin=True, headers=None, **kw):
        h = {"Cookie": f"{COOKIE}={self.cookie}"}
        if method in UNSAFE:
            if csrf is True:
                h["X-CSRF-Token"] = self.csrf
            elif csrf:
                h["X-CSRF-Token"] = csrf
            if origin is True:
                h["Origin"] = self.kw.origin
            elif origin:
                h["Origin"] = origin
        h.update(headers or {})
        kw.setdefault("token", None)
        return self.kw.request(method, path, headers=h, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def alive(self):
        """Whether the session still authenticates (GET /api/v1/me)."""
        r = self.get("/api/v1/me")
        assert r.status in (200, 401), r
        return r.status == 200


def post_public(kw, path, body, headers=None, origin=True):
    """POSTs JSON without credentials, with this server's Origin (True),
    another one (a string) or none (False/None)."""
    h = {}
    if origin is True:
        h["Origin"] = kw.origin
    elif origin:
        h["Origin"] = origin
    h.update(headers or {})
    return kw.post(path, json=body, token=None, headers=h)


def try_login(kw, email, password, headers=None, origin=True):
    return post_public(kw, "/api/v1/login", {"email": email, "password": password},
                       headers=headers, origin=origin)


def finish_daemons(daemons):
    """Stops a test's daemons; fails the test on a daemon error or on any
    secret seen in one of their responses."""
    import pytest
    errors = daemons.teardown()
    bad = []
    for d in daemons.all:
        bad += leaks(d.responses)
    if bad:
        errors.append("secrets in responses:\n" + "\n".join(f"{w}: {r!r}" for w, r in bad[:10]))
    if errors:
        pytest.fail("daemon teardown:\n" + "\n\n".join(errors), pytrace=False)


def login(kw, email, password, headers=None, origin=True):
    """Logs in; asserts success and returns the Session."""
    r = try_login(kw, email, password, headers=headers, origin=origin)
    assert r.status == 200, r
    cookies = set_cookies(r)
    assert len(cookies) == 1, r.headers
    value, _ = parse_set_cookie(cookies[0])
    doc = r.json()
    return Session(kw, value, doc["csrf_token"], doc["user"], r)


def sha256_forms(secret):
    """The spellings in which the hash of a session secret could leak."""
    h = hashlib.sha256(secret.encode()).digest()
    return {h.hex(), h.hex().upper(), base64.b64encode(h).decode().rstrip("="),
            base64.urlsafe_b64encode(h).decode().rstrip("=")}


def leaks(responses, extra_hashes=()):
    """Problems among responses: a password hash, a session secret outside
    its Set-Cookie header, or the hash of a session secret anywhere."""
    secrets = set()
    for r in responses:
        for c in set_cookies(r):
            v, _ = parse_set_cookie(c)
            if v:
                secrets.add(v)
    hashes = set(extra_hashes)
    for s in secrets:
        hashes |= sha256_forms(s)
    bad = []
    for r in responses:
        text = r.body.decode("latin-1")
        heads = [(k, v) for k, v in r.headers if k.lower() != "set-cookie"]
        everything = text + "\n" + "\n".join(f"{k}: {v}" for k, v in r.headers)
        if "$argon2" in everything:
            bad.append(("password hash", r))
        for s in secrets:
            if s in text or any(s in v for _, v in heads):
                bad.append(("session secret", r))
        for h in hashes:
            if h in everything:
                bad.append(("session hash", r))
    return bad


class Daemons:
    """Daemons a test (or module) starts; teardown() stops them all and
    reports any bad exit or sanitizer report."""

    def __init__(self, tmp_dir):
        self.tmp_dir = tmp_dir
        self.all = []

    def __call__(self, env=None, start=True):
        d = AccDaemon(self.tmp_dir / f"kw{len(self.all)}", env=env, name=f"kw{len(self.all)}")
        self.all.append(d)
        if start:
            d.start()
        return d

    def teardown(self):
        errors = []
        for d in self.all:
            try:
                d.teardown()
            except AssertionError as e:
                errors.append(str(e))
        return errors
