"""HTTP limits and hygiene: body and header sizes, content types, unknown
routes and methods, connection limits and timeouts, security headers."""
import http.client
import json
import socket
import time

import pytest

T = 1736121600000
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


def _body_of_size(n, device="L1"):
    """A valid measurements body of exactly n bytes (padded with spaces)."""
    doc = json.dumps([{"timestamp": T + 60000, "device_id": device, "measurement_value": 1.0}])
    assert len(doc) <= n
    return doc + " " * (n - len(doc))


@pytest.fixture
def small(kw_factory):
    kw = kw_factory(env={"HTTP_MAX_BODY_BYTES": "2k"})
    kw.create_device(serial="L1")
    return kw


def _nothing_stored(kw):
    assert kw.readings("L1", "2025-01-01", "2025-02-01") == []


def test_body_at_the_limit_is_accepted(small):
    r = small.post("/api/v1/measurements", body=_body_of_size(2048),
                   content_type="application/json")
    assert r.status == 200 and r.json()["accepted"] == 1, r


def test_content_length_over_the_limit_is_413(small):
    for token in (small.admin, None):     # the declared size is checked before the token
        r = small.post("/api/v1/measurements", body=_body_of_size(2049),
                       content_type="application/json", token=token)
        assert r.status == 413, r
        err = r.error()
        assert err["code"] == "too_large"
        assert "2048" in err["message"]
    _nothing_stored(small)
    # the same for the other ingest endpoints and device creation
    r = small.post("/write", body="e,device=L1 kwh=1 1736121660000\n" * 100,
                   content_type="text/plain")
    assert (r.status, r.error()["code"]) == (413, "too_large")
    r = small.post("/api/v1/devices", json={"name": "x" * 3000})
    assert (r.status, r.error()["code"]) == (413, "too_large")
    _nothing_stored(small)
    assert small.get("/healthz").status == 200


def _chunked(kw, body, size=512):
    data = body.encode()
    head = ("POST /api/v1/measurements HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {kw.admin}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    chunks = [b"%x\r\n" % len(data[i:i + size]) + data[i:i + size] + b"\r\n"
              for i in range(0, len(data), size)] + [b"0\r\n\r\n"]
    return kw.raw(head, chunks=chunks)


def test_chunked_body_over_the_limit_is_413(small):
    r = _chunked(small, _body_of_size(5000))
    assert r is not None and r.status == 413, r
    assert r.error()["code"] == "too_large"
    _nothing_stored(small)
    # under the limit, chunked works
    r = _chunked(small, _body_of_size(1500))
    assert r.status == 200 and r.json()["accepted"] == 1, r


@pytest.mark.parametrize("method,path", [("GET", "/api/v1/devices"), ("GET", "/healthz"),
                                         ("DELETE", "/api/v1/devices/L1"),
                                         ("GET", "/metrics")])
def test_endpoints_without_body_refuse_one(small, method, path):
    r = small.request(method, path, body="{}", content_type="application/json")
    assert r.status == 413, r
    assert r.error()["code"] == "too_large"
    assert small.get("/api/v1/devices/L1").status == 200


@pytest.mark.parametrize("path,ctype", [("/api/v1/measurements", "text/plain"),
                                        ("/api/v1/measurements", None),
                                        ("/meter", "text/csv"), ("/meter", None),
                                        ("/write", "application/json")])
def test_wrong_content_type_is_415(small, path, ctype):
    r = small.post(path, body="[]", content_type=ctype)
    assert r.status == 415, r
    err = r.error()
    assert (err["code"], err["field"]) == ("unsupported_media_type", "Content-Type")


@pytest.mark.parametrize("path", ["/api", "/api/v1", "/api/v1/devices/", "/api/v1//devices",
                                  "/api/v1/devices/L1/nothing", "/api/v2/devices", "/HEALTHZ",
                                  "/metrics/", "/write/x"])
def test_unknown_routes_are_404(small, path):
    for token in (small.admin, None):
        r = small.get(path, token=token)
        assert r.status == 404, (path, r)
        assert r.error()["code"] == "not_found"


@pytest.mark.parametrize("method,path", [("DELETE", "/healthz"), ("POST", "/healthz"),
                                         ("PUT", "/api/v1/devices"),
                                         ("DELETE", "/api/v1/devices"),
                                         ("POST", "/metrics"), ("GET", "/meter"),
                                         ("GET", "/write"), ("PUT", "/api/v1/devices/L1"),
                                         ("POST", "/api/v1/devices/L1/consumption"),
                                         ("OPTIONS", "/api/v1/measurements")])
def test_wrong_method_is_405(small, method, path):
    for token in (small.admin, None):
        r = small.request(method, path, token=token)
        assert r.status == 405, (method, path, r)
        assert r.error()["code"] == "method_not_allowed"
    assert small.get("/api/v1/devices/L1").status == 200


def test_oversized_headers_are_refused(kw_factory):
    kw = kw_factory(env={"HTTP_MAX_HEADER_BYTES": "4k"})
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 60000 + b"\r\n\r\n"
    r = kw.raw(big)
    assert r is not None and r.status == 431, r
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(600)) + b"\r\n"
    r = kw.raw(many)
    assert r is not None and r.status == 431, r
    # a normal request still works, and so does one with modest headers
    assert kw.get("/healthz", headers={"X-Fine": "b" * 2000}).status == 200


def _assert_security_headers(r):
    for k, v in SECURITY_HEADERS.items():
        assert r.header(k) == v, (k, r.status, r.headers)


def test_security_headers_on_every_kind_of_answer(small):
    kw = small
    ing = kw.token("ingest")
    answers = [
        kw.get("/healthz", token=None),                                        # 200
        kw.get("/metrics"),                                                    # 200 text
        kw.post("/api/v1/devices", json={"name": "n", "serial": "S2"}),        # 201
        kw.delete("/api/v1/devices/S2"),                                       # 204
        kw.post("/write?precision=ms", body=f"e,device=L1 kwh=1 {T + 60000}",
                content_type=None, token=ing),                                 # 204
        kw.post("/api/v1/measurements", json={"nope": 1}),                     # 400
        kw.get("/api/v1/devices", token=None),                                 # 401
        kw.get("/api/v1/devices", token=ing),                                  # 403
        kw.get("/api/v1/devices/none"),                                        # 404
        kw.get("/nowhere", token=None),                                        # 404
        kw.request("DELETE", "/healthz"),                                      # 405
        kw.post("/api/v1/devices", json={"name": "a", "serial": "L1"}),        # 409
        kw.post("/api/v1/measurements", body=_body_of_size(4000),
                content_type="application/json"),                              # 413
        kw.post("/api/v1/measurements", body="[]", content_type="text/plain"),  # 415
    ]
    statuses = [r.status for r in answers]
    assert statuses == [200, 200, 201, 204, 204, 400, 401, 403, 404, 404, 405, 409, 413, 415]
    for r in answers:
        _assert_security_headers(r)
        if r.status not in (204,) and r.body:
            ctype = r.header("Content-Type")
            assert ctype in ("application/json", "text/plain; version=0.0.4"), ctype
            if ctype == "application/json":
                json.loads(r.body)


def test_keep_alive_connection_serves_several_requests(small):
    c = http.client.HTTPConnection("127.0.0.1", small.port, timeout=30)
    try:
        h = {"Authorization": "Bearer " + small.admin}
        for i in range(5):
            body = json.dumps({"timestamp": T + (i + 1) * 60000, "device_id": "L1",
                               "measurement_value": 1.0})
            c.request("POST", "/api/v1/measurements", body=body,
                      headers=dict(h, **{"Content-Type": "application/json"}))
            r = c.getresponse()
            assert (r.status, json.loads(r.read())["accepted"]) == (200, 1)
            c.request("GET", "/api/v1/devices/L1", headers=h)
            r = c.getresponse()
            assert r.status == 200 and json.loads(r.read())["serial"] == "L1"
    finally:
        c.close()
    assert len(small.readings("L1", "2025-01-01", "2025-02-01")) == 5


def _closed_by_server(s, timeout=20):
    """Bounded wait for the server to close the connection (no answer)."""
    s.settimeout(timeout)
    try:
        return s.recv(65536) == b""
    except ConnectionResetError:
        return True


def test_per_ip_connection_limit(kw_factory):
    kw = kw_factory(env={"HTTP_PER_IP_CONNECTIONS": "2"})
    held = [socket.create_connection(("127.0.0.1", kw.port), timeout=20) for _ in range(2)]
    try:
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")     # incomplete: stays open
        third = socket.create_connection(("127.0.0.1", kw.port), timeout=20)
        try:
            try:
                third.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert _closed_by_server(third)
        finally:
            third.close()
    finally:
        for s in held:
            s.close()
    # once they are gone, connections are served again (bounded retries: the
    # daemon notices the closed sockets on its next loop turn)
    status = None
    for _ in range(50):
        try:
            status = kw.get("/healthz", token=None).status
            break
        except (ConnectionError, http.client.HTTPException):
            time.sleep(0.1)
    assert status == 200


def test_idle_connection_is_closed(kw_factory):
    kw = kw_factory(env={"HTTP_IDLE_TIMEOUT": "1s"})
    s = socket.create_connection(("127.0.0.1", kw.port), timeout=20)
    try:
        assert _closed_by_server(s)
    finally:
        s.close()
    assert kw.get("/healthz").status == 200


def test_slow_body_is_cut_off_and_stores_nothing(kw_factory):
    kw = kw_factory(env={"HTTP_REQUEST_TIMEOUT": "1s"})
    kw.create_device(serial="L1")
    body = _body_of_size(400).encode()
    s = socket.create_connection(("127.0.0.1", kw.port), timeout=20)
    try:
        s.sendall(b"POST /api/v1/measurements HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + kw.admin.encode() + b"\r\nContent-Type: application/json\r\n"
                  + b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])
        closed = False
        for i in range(100, 300):          # a byte every 100 ms, never finishing in time
            try:
                s.sendall(body[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)
        assert closed or _closed_by_server(s)
    finally:
        s.close()
    _nothing_stored(kw)
    assert kw.get("/healthz").status == 200
