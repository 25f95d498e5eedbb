"""Authentication and authorisation: every route x {no token, ingest,
device, admin}, plus bad, revoked and device-scoped tokens."""
import re
import time

import pytest

from kwlib import REPO

DEV = "auth-dev"       # the device the device-scoped token may write
OTHER = "auth-other"   # a device it may not write

# ts offsets keep every principal's readings distinct (so each is "accepted")
PRINCIPAL_OFFSET = {"none": 0, "ingest": 1, "device": 2, "admin": 3}


def _measurements(p):
    t = 1736121600000 + PRINCIPAL_OFFSET[p] * 60000
    return dict(json=[{"timestamp": t, "device_id": DEV, "measurement_value": 1.5}])


def _meter(p):
    t = 1736121600000 + PRINCIPAL_OFFSET[p] * 60000 + 3600000
    return dict(json={"id": DEV, "timestamp": t, "reading_kWh": 0.5})


def _write(p):
    t = (1736121600 + PRINCIPAL_OFFSET[p] * 60 + 7200) * 10**9
    return dict(body=f"energy,device={DEV} kwh=2.5 {t}\n", content_type="text/plain")


def _device_body(p):
    return dict(json={"name": "new", "serial": f"new-{p}"})


def _patch_body(p):
    return dict(json={"description": f"patched by {p}"})


# method, route pattern as in src/http/router.c, access, concrete path,
# request builder, status for an allowed caller
ROUTES = [
    ("GET", "/healthz", "public", "/healthz", None, 200),
    ("GET", "/metrics", "admin", "/metrics", None, 200),
    ("POST", "/api/v1/measurements", "write", "/api/v1/measurements", _measurements, 200),
    ("POST", "/meter", "write", "/meter", _meter, 200),
    ("POST", "/write", "write", "/write?precision=ns", _write, 204),
    ("GET", "/api/v1/devices", "admin", "/api/v1/devices", None, 200),
    ("POST", "/api/v1/devices", "admin", "/api/v1/devices", _device_body, 201),
    ("GET", "/api/v1/devices/{id}", "admin", f"/api/v1/devices/{DEV}", None, 200),
    ("PATCH", "/api/v1/devices/{id}", "admin", f"/api/v1/devices/{DEV}", _patch_body, 200),
    ("DELETE", "/api/v1/devices/{id}", "admin", f"/api/v1/devices/{OTHER}", None, 204),
    ("GET", "/api/v1/devices/{id}/consumption", "admin",
     f"/api/v1/devices/{DEV}/consumption?from=2025-01-06&to=2025-01-06&step=hour", None, 200),
    ("GET", "/api/v1/devices/{id}/readings", "admin",
     f"/api/v1/devices/{DEV}/readings?from=2025-01-06&to=2025-01-07", None, 200),
    ("GET", "/api/v1/regions/consumption", "admin",
     "/api/v1/regions/consumption?from=2025-01-06&to=2025-01-06", None, 200),
]

ACCESS_OF = {"ACCESS_PUBLIC": "public", "ACCESS_ADMIN": "admin", "ACCESS_WRITE": "write"}


def test_matrix_covers_the_route_table():
    """The matrix below must list every route of src/http/router.c with its
    access rule, so a new route cannot escape the authorisation tests."""
    src = REPO / "src" / "http" / "router.c"
    if not src.exists():
        pytest.skip("source tree not available")
    rows = re.findall(r'\{\s*"([A-Z]+)",\s*"([^"]+)",\s*\w+,\s*(ACCESS_\w+)', src.read_text())
    assert rows, "no routes parsed from router.c"
    table = {(m, p, ACCESS_OF[a]) for m, p, a in rows}
    ours = {(m, p, a) for m, p, a, *_ in ROUTES}
    assert table == ours


def _expected(access, principal, ok_status):
    if access == "public":
        return ok_status
    if principal == "none":
        return 401
    if access == "admin":
        return ok_status if principal == "admin" else 403
    return ok_status  # write: admin, ingest and device (its own device) may


@pytest.fixture
def setup(kw):
    kw.create_device(serial=DEV, name="auth device")
    kw.create_device(serial=OTHER, name="other device")
    tokens = {"none": None, "admin": kw.admin, "ingest": kw.token("ingest"),
              "device": kw.token(f"device:{DEV}")}
    return kw, tokens


@pytest.mark.parametrize("principal", ["none", "ingest", "device", "admin"])
@pytest.mark.parametrize("method,pattern,access,path,build,ok",
                         ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_route_access(setup, method, pattern, access, path, build, ok, principal):
    kw, tokens = setup
    req = build(principal) if build else {}
    r = kw.request(method, path, token=tokens[principal], **req)
    want = _expected(access, principal, ok)
    assert r.status == want, r
    if want == 401:
        assert r.error()["code"] == "unauthorized"
    elif want == 403:
        assert r.error()["code"] == "forbidden"
    # nothing was done by a refused request
    if want in (401, 403):
        if method == "DELETE":
            assert kw.get(f"/api/v1/devices/{OTHER}").status == 200
        if method == "POST" and pattern == "/api/v1/devices":
            assert kw.get(f"/api/v1/devices/new-{principal}").status == 404
        if method == "PATCH":
            assert kw.get(f"/api/v1/devices/{DEV}").json()["description"] == ""
        if access == "write":
            assert kw.readings(DEV, "2025-01-01", "2025-02-01") == []
    elif access == "write":
        got = kw.readings(DEV, "2025-01-01", "2025-02-01")
        assert len(got) == 1, got
        if r.status == 200:
            assert r.json() == {"accepted": 1, "duplicates": 0, "conflicts": 0}
        else:
            assert r.body == b""


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


def _token_id(kw, name):
    out = kw.cli("token", "list", "--data", kw.data).stdout
    for line in out.splitlines()[1:]:
        cols = line.split()
        if cols[1] == name:
            return int(cols[0]), cols[-1]
    raise AssertionError(f"no token {name} in\n{out}")


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
