"""Signals: graceful SIGTERM/SIGINT with requests in flight, a second signal,
and SIGHUP reloading log.level."""
import json
import signal
import socket
import time

import pytest

from kwlib import metric, ms, read_response

T0 = ms("2025-01-06T00:00:00Z")
N_INFLIGHT = 4


def _open_partial(kw, k):
    """Sends a complete header and half of the body of an ingest request;
    returns (socket, rest of the body, readings)."""
    rows = [{"timestamp": T0 + (k * 10 + j + 1) * 60000, "device_id": "sd",
             "measurement_value": 0.5} for j in range(10)]
    body = json.dumps(rows).encode()
    head = (f"POST /api/v1/measurements HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {kw.admin}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    s = socket.create_connection(("127.0.0.1", kw.port), timeout=60)
    half = len(body) // 2
    s.sendall(head + body[:half])
    return s, body[half:], rows


def _wait_in_flight(kw, n):
    """Bounded polling until the daemon counts n requests in flight besides
    the /metrics request itself."""
    got = None
    for _ in range(200):
        got = metric(kw.metrics(), "kilowatt_http_requests_in_flight")
        if got == n + 1:
            return
        time.sleep(0.02)
    raise AssertionError(f"in flight: {got}, wanted {n + 1}")


def _connect_refused(port):
    """Bounded polling: the listening socket closes right after the
    "shutting down" line is logged."""
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.01)
    return False


def test_in_flight_gauge_counts_this_request(kw):
    assert metric(kw.metrics(), "kilowatt_http_requests_in_flight") == 1


@pytest.mark.parametrize("sig,name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")])
def test_graceful_stop_answers_requests_in_flight(kw, sig, name):
    kw.create_device(serial="sd")
    partial = [_open_partial(kw, k) for k in range(N_INFLIGHT)]
    try:
        _wait_in_flight(kw, N_INFLIGHT)
        kw.send_signal(sig)
        kw.wait_log(f"{name}: shutting down")
        # 1. no new connections
        assert _connect_refused(kw.port)
        assert kw.running
        # 2. the requests in flight are finished and answered
        answers = []
        for s, rest, _ in partial:
            s.sendall(rest)
            answers.append(read_response(s))
    finally:
        for s, _, _ in partial:
            s.close()
    for r in answers:
        assert r is not None and r.status == 200, r
        assert r.json() == {"accepted": 10, "duplicates": 0, "conflicts": 0}
        assert r.header("Connection") == "close"
    # 3.-5. everything committed, exit 0, no sanitizer report
    rc = kw.wait_exit()
    kw.check_sanitizers()
    assert rc == 0, kw.log_text()
    log = kw.log_text()
    assert log.index(f"{name}: shutting down") < log.index('msg="stopped"')
    kw.start()
    got = kw.readings("sd", "2025-01-06", "2025-01-06")
    assert sorted(x["timestamp_ms"] for x in got) == sorted(
        row["timestamp"] for _, _, rows in partial for row in rows)


def test_second_signal_exits_at_once_with_1(kw):
    kw.create_device(serial="sd")
    kw.ingest([("sd", T0 + 60000, 1.0)])
    s, _, _ = _open_partial(kw, 1)
    try:
        _wait_in_flight(kw, 1)
        kw.send_signal(signal.SIGTERM)
        kw.wait_log("SIGTERM: shutting down")
        assert kw.running     # waiting for the request in flight
        kw.send_signal(signal.SIGTERM)
        rc = kw.wait_exit()
    finally:
        s.close()
    assert rc == 1
    assert "second SIGTERM: exiting at once" in kw.log_text()
    kw.check_sanitizers()
    # what was acknowledged before is there
    kw.start()
    assert [x["value"] for x in kw.readings("sd", "2025-01-06", "2025-01-06")] == [1.0]


def test_a_stuck_request_does_not_block_shutdown_forever(kw):
    """A client that never finishes its body: the daemon drains for at most
    10 s, then closes it and still exits 0."""
    kw.create_device(serial="sd")
    s, _, _ = _open_partial(kw, 1)
    try:
        _wait_in_flight(kw, 1)
        kw.send_signal(signal.SIGTERM)
        rc = kw.wait_exit(timeout=60)
        s.settimeout(10)
        left = s.recv(65536)
    finally:
        s.close()
    assert rc == 0, kw.log_text()
    assert left == b""
    assert "closing with 1 requests still in flight" in kw.log_text()
    kw.check_sanitizers()


def test_sigterm_on_an_idle_daemon(kw):
    kw.send_signal(signal.SIGTERM)
    assert kw.wait_exit() == 0
    log = kw.log_text()
    for line in ("SIGTERM: shutting down", "connections closed", "database closed",
                 'msg="stopped"'):
        assert line in log, line
    kw.check_sanitizers()


def _config(path, level):
    path.write_text(f"[log]\nlevel = {level}\n")


def test_sighup_reloads_log_level(kw_factory, tmp_path):
    ini = tmp_path / "kilowatt.ini"
    _config(ini, "info")
    kw = kw_factory(config=ini)
    _config(ini, "debug")
    kw.send_signal(signal.SIGHUP)
    kw.wait_log(r"reloaded log\.level = debug")
    kw.wait_log("SIGHUP: configuration reloaded")
    assert kw.get("/healthz").status == 200
    # to warn: info lines stop, the reload's own and the shutdown's.  The
    # SIGTERM is sent once the SIGHUP has been taken, so the loop sees it first.
    _config(ini, "warn")
    mark = len(kw.log_text())
    kw.send_signal(signal.SIGHUP)
    kw.wait_signal_taken(signal.SIGHUP)
    time.sleep(0.2)    # settle: the handler's wake-up reaches the loop's pipe
    kw.stop()
    after = kw.log_text()[mark:]
    assert "level=info" not in after
    assert "stopped" not in after


def test_sighup_with_a_broken_file_keeps_running(kw_factory, tmp_path):
    ini = tmp_path / "kilowatt.ini"
    _config(ini, "info")
    kw = kw_factory(config=ini)
    kw.checks_in_test = True   # exit status and sanitizers are checked below
    ini.write_text("[log]\nlevel = loud\n")
    kw.send_signal(signal.SIGHUP)
    kw.wait_log("SIGHUP: configuration not reloaded")
    assert "bad value 'loud' for log.level" in kw.log_text()
    assert kw.get("/healthz").status == 200
    kw.stop()          # still at info: the shutdown is logged
    assert 'msg="stopped"' in kw.log_text()


def test_sighup_environment_still_wins(kw_factory, tmp_path):
    ini = tmp_path / "kilowatt.ini"
    _config(ini, "warn")
    kw = kw_factory(config=ini, env={"LOG_LEVEL": "info"})
    _config(ini, "debug")
    kw.send_signal(signal.SIGHUP)
    kw.wait_log("SIGHUP: configuration reloaded")
    assert "reloaded log.level" not in kw.log_text()
    assert "level=debug" not in kw.log_text()
