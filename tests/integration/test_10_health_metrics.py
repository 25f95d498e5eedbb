"""GET /healthz and GET /metrics."""
from kwlib import metric, parse_metrics

T0 = "2025-01-06T00:00:00Z"


def test_healthz_is_public_and_ok(kw):
    for token in (None, "kw_not-a-real-token", kw.admin):
        r = kw.get("/healthz", token=token)
        assert r.status == 200, r
        assert r.header("Content-Type") == "application/json"
        assert r.json() == {"status": "ok"}


def test_healthz_ok_after_writes(kw):
    kw.create_device(serial="h1")
    kw.ingest([("h1", T0, 1.0)])
    r = kw.get("/healthz", token=None)
    assert (r.status, r.json()) == (200, {"status": "ok"})


def test_metrics_content_type_and_families(kw):
    r = kw.get("/metrics")
    assert r.status == 200
    assert r.header("Content-Type") == "text/plain; version=0.0.4"
    m = parse_metrics(r.text)
    types = {
        "kilowatt_http_requests_total": "counter",
        "kilowatt_readings_stored_total": "counter",
        "kilowatt_readings_duplicate_total": "counter",
        "kilowatt_readings_conflict_total": "counter",
        "kilowatt_ingest_rejected_total": "counter",
        "kilowatt_store_commit_rows": "histogram",
        "kilowatt_store_commit_seconds": "histogram",
        "kilowatt_store_queue_rows": "gauge",
        "kilowatt_store_database_bytes": "gauge",
    }
    for name, typ in types.items():
        assert m.get("#TYPE " + name) == typ, name
    # A fresh daemon has stored nothing.
    assert metric(m, "kilowatt_readings_stored_total") == 0
    assert metric(m, "kilowatt_readings_duplicate_total") == 0
    assert metric(m, "kilowatt_readings_conflict_total") == 0
    assert metric(m, "kilowatt_store_queue_rows") == 0
    assert metric(m, "kilowatt_store_database_bytes") > 0


def test_metrics_count_stored_duplicate_conflict(kw):
    kw.create_device(serial="m1")
    assert kw.ingest([("m1", T0, 1.0), ("m1", "2025-01-06T00:10:00Z", 2.0),
                      ("m1", "2025-01-06T00:20:00Z", 3.0)]) == \
        {"accepted": 3, "duplicates": 0, "conflicts": 0}
    assert kw.ingest([("m1", T0, 1.0)]) == {"accepted": 0, "duplicates": 1, "conflicts": 0}
    assert kw.ingest([("m1", T0, 9.0), ("m1", "2025-01-06T00:20:00Z", 3.5)]) == \
        {"accepted": 0, "duplicates": 0, "conflicts": 2}
    m = kw.metrics()
    assert metric(m, "kilowatt_readings_stored_total") == 3
    assert metric(m, "kilowatt_readings_duplicate_total") == 1
    assert metric(m, "kilowatt_readings_conflict_total") == 2


def test_metrics_rejected_by_reason(kw):
    kw.create_device(serial="m2")
    bad_value = [{"timestamp": T0, "device_id": "m2", "measurement_value": -1}]
    assert kw.post("/api/v1/measurements", json=bad_value).status == 400
    assert kw.post("/api/v1/measurements", json=bad_value).status == 400
    r = kw.post("/api/v1/measurements", body="{nope", content_type="application/json")
    assert r.status == 400
    r = kw.post("/api/v1/measurements", json=[{"timestamp": T0, "device_id": "ghost",
                                                "measurement_value": 1}])
    assert r.status == 400
    r = kw.post("/api/v1/measurements", json=[], content_type="text/plain")
    assert r.status == 415
    m = kw.metrics()
    assert metric(m, "kilowatt_ingest_rejected_total", reason="invalid_value") == 2
    assert metric(m, "kilowatt_ingest_rejected_total", reason="parse_error") == 1
    assert metric(m, "kilowatt_ingest_rejected_total", reason="unknown_device") == 1
    assert metric(m, "kilowatt_ingest_rejected_total", reason="unsupported_media_type") == 1
    assert metric(m, "kilowatt_readings_stored_total") == 0


def _wait_metric(kw, name, want, **labels):
    """Request counters are bumped when the answer has been sent; poll a
    bounded number of times for the value to settle."""
    got = None
    for _ in range(100):
        got = metric(kw.metrics(), name, **labels)
        if got == want:
            return
    assert got == want, (name, labels, got, want)


def test_metrics_http_requests_by_route_method_status(kw):
    kw.create_device(serial="m3")
    for _ in range(3):
        assert kw.get("/api/v1/devices/m3").status == 200
    assert kw.get("/api/v1/devices/nope").status == 404
    assert kw.get("/api/v1/devices", token=None).status == 401
    assert kw.get("/no/such/route").status == 404
    _wait_metric(kw, "kilowatt_http_requests_total", 3,
                 route="/api/v1/devices/{id}", method="GET", status="200")
    _wait_metric(kw, "kilowatt_http_requests_total", 1,
                 route="/api/v1/devices/{id}", method="GET", status="404")
    _wait_metric(kw, "kilowatt_http_requests_total", 1,
                 route="/api/v1/devices", method="GET", status="401")
    _wait_metric(kw, "kilowatt_http_requests_total", 1,
                 route="/api/v1/devices", method="POST", status="201")
    _wait_metric(kw, "kilowatt_http_requests_total", 1,
                 route="unmatched", method="", status="404")


def test_metrics_commit_histograms_are_consistent(kw):
    kw.create_device(serial="m4")
    for i in range(5):
        kw.ingest([("m4", 1736121600000 + i * 600000 + k, 0.5) for k in range(i + 1)])
    m = kw.metrics()
    for name in ("kilowatt_store_commit_rows", "kilowatt_store_commit_seconds"):
        buckets = sorted(((float(dict(k[1])["le"]) if dict(k[1])["le"] != "+Inf"
                           else float("inf")), v)
                         for k, v in m.items() if isinstance(k, tuple) and k[0] == name + "_bucket")
        assert len(buckets) >= 8, name
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), f"{name} buckets not cumulative: {buckets}"
        assert buckets[-1][0] == float("inf")
        assert buckets[-1][1] == metric(m, name + "_count")
        # device creation + 5 ingest requests each committed at least once
        assert metric(m, name + "_count") >= 2
    # 1+2+3+4+5 readings went through the writer, plus one device row job
    assert metric(m, "kilowatt_store_commit_rows_sum") >= 15
    assert metric(m, "kilowatt_readings_stored_total") == 15


def test_metrics_need_admin(kw):
    assert kw.get("/metrics", token=None).status == 401
    assert kw.get("/metrics", token=kw.token("ingest")).status == 403
