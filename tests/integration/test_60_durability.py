"""Durability: what was acknowledged survives a restart and a kill -9."""
import http.client
import json
import sqlite3
import threading
import time

import pytest

from kwlib import (H, MIN, approx_list, compare_recent, counter_model, hour_edges, iso, ms,
                   recent_series, run_cli)

T0 = ms("2025-01-06T00:00:00Z")


def test_restart_keeps_everything(kw):
    ing = kw.token("ingest", name="feeder")
    iv = kw.create_device(name="iv", serial="iv", region="west", timezone="Europe/Brussels")
    ct = kw.create_device(name="ct", serial="ct", reading_type="counter")
    kw.ingest([("iv", T0 + i * 900000, 0.25 * (i % 4 + 1)) for i in range(1, 97)])
    kw.ingest([("ct", T0 + i * 1800000, 10.0 + i) for i in range(0, 48)])
    r = kw.post("/write?precision=ms", body="".join(
        f"e,device=iv power_w={i * 10} {T0 + i * 900000}\n" for i in range(1, 9)),
        content_type="text/plain", token=ing)
    assert r.status == 204
    q = "from=2025-01-05&to=2025-01-07"

    def snapshot():
        return {
            "devices": kw.get("/api/v1/devices").json(),
            "iv": kw.readings("iv", "2025-01-05", "2025-01-08"),
            "ct": kw.readings("ct", "2025-01-05", "2025-01-08"),
            "iv_h": kw.consumption("iv", q + "&step=hour"),
            "ct_h": kw.consumption("ct", q + "&step=hour"),
            "ct_d": kw.consumption("ct", q + "&step=day&tz=Asia/Kolkata"),
            "reg": kw.get(f"/api/v1/regions/consumption?{q}").json(),
        }

    before = snapshot()
    kw.restart()
    after = snapshot()
    for k in before:
        assert after[k] == before[k], k
    assert len(after["iv"]) == 96 + 8
    # the ingest token survived, and the counter goes on from its last reading
    last = T0 + 47 * 1800000
    r = kw.post("/api/v1/measurements", token=ing, json={
        "timestamp": last + 1800000, "device_id": "ct", "measurement_value": 60.0})
    assert r.json() == {"accepted": 1, "duplicates": 0, "conflicts": 0}
    h = kw.consumption("ct", "from=2025-01-06T23:00:00Z&to=2025-01-07T01:00:00Z&step=hour")
    assert [b["kwh"] for b in h["buckets"]] == [4.0, None]   # 56 -> 57 -> 60 after restart
    # duplicates are still recognised after the restart
    r = kw.post("/api/v1/measurements", json={"timestamp": T0 + 900000, "device_id": "iv",
                                              "measurement_value": 0.5})
    assert r.json() == {"accepted": 0, "duplicates": 1, "conflicts": 0}
    assert kw.get(f"/api/v1/devices/{iv['id']}").json()["region"] == "west"
    assert kw.get(f"/api/v1/devices/{ct['id']}").json()["reading_type"] == "counter"


def test_retry_after_restart_is_a_duplicate(kw):
    """A client retrying an acknowledged batch after a restart: the first batch
    the new process commits holds only a duplicate."""
    kw.create_device(serial="rt")
    body = [{"timestamp": T0 + 60000, "device_id": "rt", "measurement_value": 1.0}]
    assert kw.post("/api/v1/measurements", json=body).json()["accepted"] == 1
    kw.restart()
    r = kw.post("/api/v1/measurements", json=body)
    assert (r.status, r.json()) == (200, {"accepted": 0, "duplicates": 1, "conflicts": 0})


THREADS = 4
BATCH = 5
MAX_REQUESTS = 300          # per thread: the loop is bounded whatever happens
KILL_AFTER_ACKS = 60        # acknowledged requests (all threads) before kill -9


def _feeder(port, token, k, acked, stop, errors):
    serial = f"dur-{k}"
    counter = k == THREADS - 1
    for n in range(MAX_REQUESTS):
        if stop.is_set():
            return
        rows = []
        for j in range(BATCH):
            i = n * BATCH + j
            value = 100.0 + i * 0.5 if counter else round(0.01 * (i % 17 + 1), 2)
            rows.append((T0 + i * 60000, value))
        body = json.dumps([{"timestamp": t, "device_id": serial, "measurement_value": v}
                           for t, v in rows]).encode()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("POST", "/api/v1/measurements", body=body,
                      headers={"Authorization": "Bearer " + token,
                               "Content-Type": "application/json"})
            resp = c.getresponse()
            data = resp.read()
            c.close()
        except (OSError, http.client.HTTPException):
            return      # the daemon is gone
        if resp.status == 200:
            if json.loads(data) != {"accepted": BATCH, "duplicates": 0, "conflicts": 0}:
                errors.append((serial, n, data))
            acked[k].extend(rows)
        else:
            errors.append((serial, n, resp.status, data))


def test_kill9_during_ingest_loses_nothing_acknowledged(kw_factory):
    kw = kw_factory()
    for k in range(THREADS):
        kw.create_device(serial=f"dur-{k}",
                         reading_type="counter" if k == THREADS - 1 else "interval")
    tok = kw.token("ingest")
    acked = [[] for _ in range(THREADS)]
    errors = []
    stop = threading.Event()
    threads = [threading.Thread(target=_feeder, args=(kw.port, tok, k, acked, stop, errors),
                                daemon=True) for k in range(THREADS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(t.is_alive() for t in threads):
        if sum(len(a) for a in acked) >= KILL_AFTER_ACKS * BATCH:
            break
        time.sleep(0.01)
    kw.kill9()                       # mid-stream: requests are in flight
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    n_acked = sum(len(a) for a in acked)
    assert n_acked >= KILL_AFTER_ACKS * BATCH or all(
        len(a) == MAX_REQUESTS * BATCH for a in acked)

    kw.start()                       # same data directory
    span_to = "2025-01-08"           # 300 x 5 minutes < 2 days
    for k in range(THREADS):
        serial = f"dur-{k}"
        stored = {x["timestamp_ms"]: x["value"]
                  for x in kw.readings(serial, "2025-01-06", span_to)}
        missing = [(t, v) for t, v in acked[k] if stored.get(t) != v]
        assert missing == [], f"{serial}: {len(missing)} acknowledged readings lost"
        # whatever else survived is whole batches of correct values
        assert len(stored) % BATCH == 0
        # the totals were committed with the readings: they agree after the crash
        rs = sorted(stored.items())
        edges = hour_edges("UTC", ms("2025-01-05T00:00:00Z"), ms("2025-01-09T00:00:00Z"))
        doc = kw.consumption(serial, f"from=2025-01-05&to={span_to}&step=day")
        if k == THREADS - 1:
            model, _ = counter_model(edges, rs)
            assert doc["total_kwh"] == pytest.approx(rs[-1][1] - rs[0][1])
            hours = kw.consumption(serial, f"from=2025-01-06&to={span_to}&step=hour")
            got = [b["kwh"] for b in hours["buckets"]]
            assert not approx_list(got, model.values()[24:]), serial
        else:
            assert doc["total_kwh"] == pytest.approx(sum(stored.values()))
    # the counter goes on from the newest stored reading after the crash
    last_t, last_v = max(stored.items())
    r = kw.post("/api/v1/measurements", json={"timestamp": last_t + 60000,
                                              "device_id": f"dur-{THREADS - 1}",
                                              "measurement_value": last_v + 2.0})
    assert r.json()["accepted"] == 1
    doc = kw.consumption(f"dur-{THREADS - 1}", f"from=2025-01-05&to={span_to}&step=day")
    assert doc["total_kwh"] == pytest.approx(last_v + 2.0 - 100.0)


def test_migrate_command(tmp_path):
    data = tmp_path / "fresh"
    p = run_cli("migrate", "--data", data)
    assert p.returncode == 0, p.stderr
    assert "database schema is up to date" in p.stderr
    assert (data / "kilowatt.db").exists()
    p = run_cli("migrate", "--data", data)           # idempotent
    assert p.returncode == 0, p.stderr
    assert "migrated" not in p.stderr


def test_serve_refuses_a_newer_schema(kw_factory, tmp_path):
    kw = kw_factory()
    kw.create_device(serial="x")
    kw.stop()
    db = sqlite3.connect(kw.data / "kilowatt.db")
    db.execute("PRAGMA user_version = 999")
    db.commit()
    db.close()
    kw.start(wait=False)
    rc = kw.wait_exit()
    assert rc == 1
    assert "newer than this kilowatt knows" in kw.log_text()
    kw.check_sanitizers()
    p = run_cli("migrate", "--data", kw.data)
    assert p.returncode == 1
    assert "refusing to run an older binary" in p.stderr


def test_open_hours_are_rebuilt_after_kill9(kw):
    """Totals of hours still open live in memory until the hour closes; after a
    crash they are rebuilt from the raw readings (rollup_recover)."""
    iv, ctr = recent_series("crash", step=7 * MIN, hours=4)
    kw.create_device(serial="iv", timezone="Asia/Kolkata", region="x")
    kw.create_device(serial="ctr", reading_type="counter", region="x")
    for i in range(0, len(iv), 10):
        kw.ingest([("iv", t, v) for t, v in iv[i:i + 10]] +
                  [("ctr", t, v) for t, v in ctr[i:i + 10]])
    frm, to = iv[0][0] - 2 * H, iv[-1][0] + 2 * H
    q = "from=" + iso(frm).replace("+", "%2B") + "&to=" + iso(to).replace("+", "%2B")
    before = {s: kw.consumption(s, q + "&step=hour")["buckets"] for s in ("iv", "ctr")}
    days_q = f"from={iso(frm)[:10]}&to={iso(to)[:10]}"
    regions = kw.get(f"/api/v1/regions/consumption?{days_q}").json()
    kw.kill9()
    kw.start()
    for s in ("iv", "ctr"):
        after = kw.consumption(s, q + "&step=hour")["buckets"]
        assert [b["start"] for b in after] == [b["start"] for b in before[s]]
        assert not approx_list([b["kwh"] for b in after], [b["kwh"] for b in before[s]]), s
    compare_recent(kw, "iv", "Asia/Kolkata", iv, False, frm, to)
    compare_recent(kw, "ctr", "UTC", ctr, True, frm, to)
    again = kw.get(f"/api/v1/regions/consumption?{days_q}").json()
    assert again["regions"][0]["total_kwh"] == pytest.approx(
        regions["regions"][0]["total_kwh"], rel=1e-9)
    # the counter goes on from its last reading after the crash
    t, v = ctr[-1]
    assert kw.ingest([("ctr", t + 30000, v + 1.0)])["accepted"] == 1
    compare_recent(kw, "ctr", "UTC", ctr + [(t + 30000, v + 1.0)], True, frm, to)
