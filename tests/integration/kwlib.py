"""
kwlib - the black-box harness of kilowatt's integration tests.

Everything here talks to a real `kilowatt` binary: a Daemon runs
`kilowatt serve` on an ephemeral loopback port in its own temporary data
directory, and requests go over HTTP with the standard library only.

The second half is an energy model written independently of the daemon
(docs/ENERGY.md rules, computed with Python's zoneinfo), used to check the
daemon's hourly, daily and regional totals.

Standard library only: Debian's /usr/bin/python3 with python3-pytest.
"""
import http.client
import json as jsonlib
import os
import random
import re
import signal
import socket
import subprocess
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
REPO = HERE.parent.parent
KW_BIN = os.path.abspath(os.environ.get("KILOWATT_BIN") or str(REPO / "build" / "kilowatt"))

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "SUMMARY: UndefinedBehaviorSanitizer",
    "SUMMARY: AddressSanitizer",
)

START_TIMEOUT_S = 60   # bounded wait for the "listening" line
STOP_TIMEOUT_S = 60    # bounded wait for exit after a signal
REQUEST_TIMEOUT_S = 60
H = 3600 * 1000
MIN = 60 * 1000


def sanitizer_reports(text):
    """The lines of text that are sanitizer reports (empty list: none)."""
    return [line for line in text.splitlines()
            if any(m in line for m in SANITIZER_MARKERS)]


def base_env(overrides=None):
    """The daemon's environment: ours without any KILOWATT_* setting (so the
    developer's shell cannot change a test), with sanitizers set to fail
    loudly, plus overrides.  An override key without the KILOWATT_ prefix
    gets it ("INGEST_AUTO_CREATE_DEVICES" -> KILOWATT_INGEST_AUTO_CREATE_DEVICES)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KILOWATT_") or k == "KILOWATT_BIN"}
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=1"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    env["LC_ALL"] = "C"
    for k, v in (overrides or {}).items():
        name = k if k.startswith("KILOWATT_") or "_OPTIONS" in k else "KILOWATT_" + k
        env[name] = str(v)
    return env


def run_cli(*args, env=None, timeout=120, check_sanitizers=True):
    """Runs `kilowatt ARGS...` to completion; returns CompletedProcess (text)."""
    p = subprocess.run([KW_BIN, *map(str, args)], env=env or base_env(),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    if check_sanitizers:
        bad = sanitizer_reports(p.stderr)
        assert not bad, f"sanitizer report from kilowatt {args}:\n{p.stderr}"
    return p


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return jsonlib.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def error(self):
        """The {"error": {...}} object of an error answer."""
        doc = self.json()
        assert set(doc) == {"error"}, doc
        return doc["error"]

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


_MISSING = object()


class Daemon:
    """One `kilowatt serve` process and its data directory.

    start() may be called again after stop()/kill9() to restart on the
    same data directory (that is how durability is tested)."""

    def __init__(self, workdir, env=None, config=None, args=(), name="kw",
                 listen_flag=True, data_flag=True):
        self.workdir = Path(workdir)
        self.data = self.workdir / "data"
        self.env_overrides = dict(env or {})
        self.config = config          # path of an INI file, or None
        self.args = list(args)
        self.name = name
        self.listen_flag = listen_flag  # False: the listen address comes from env/file
        self.data_flag = data_flag      # False: the data dir comes from env/file
        self.proc = None
        self.port = None
        self.logs = []                # one stderr file per start
        self.admin = None
        self.starts = 0
        self.checks_in_test = False   # True: teardown only cleans up, asserts nothing
        self.data.mkdir(parents=True, exist_ok=True)

    # --- process ---------------------------------------------------------

    @property
    def env(self):
        return base_env(self.env_overrides)

    def cli(self, *args, check=True):
        p = run_cli(*args, env=self.env)
        if check:
            assert p.returncode == 0, f"kilowatt {args} -> {p.returncode}\n{p.stderr}"
        return p

    def token(self, scope, name=None):
        """Creates a token with `kilowatt token create` and returns it."""
        p = self.cli("token", "create", "--name", name or scope.replace(":", "-"),
                     "--scope", scope, "--data", self.data)
        tok = p.stdout.splitlines()[0].strip()
        assert tok.startswith("kw_") and len(tok) == 46, p.stdout
        return tok

    def start(self, wait=True):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if self.admin is None:
            self.admin = self.token("admin", "test-admin")
        self.starts += 1
        log = self.workdir / f"{self.name}-serve-{self.starts}.log"
        self.logs.append(log)
        cmd = [KW_BIN, "serve"]
        if self.listen_flag:
            cmd += ["--listen", "127.0.0.1:0"]
        if self.data_flag:
            cmd += ["--data", str(self.data)]
        if self.config:
            cmd += ["--config", str(self.config)]
        cmd += self.args
        self._logf = open(log, "wb")
        self.proc = subprocess.Popen(cmd, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self._logf, stderr=self._logf,
                                     start_new_session=True)
        if wait:
            self.port = self.wait_listening()
        return self

    def wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        pat = re.compile(r'msg="listening" addr=\S+:(\d+)')
        while time.monotonic() < deadline:
            m = pat.search(self.log_text())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"kilowatt serve exited with {self.proc.returncode} "
                                     f"before listening:\n{self.log_text()}")
            time.sleep(0.02)
        raise AssertionError(f"kilowatt serve did not listen within {START_TIMEOUT_S}s:\n"
                             f"{self.log_text()}")

    def log_text(self, which=-1):
        try:
            return self.logs[which].read_bytes().decode("utf-8", "replace")
        except (IndexError, FileNotFoundError):
            return ""

    def all_logs(self):
        return "".join(self.log_text(i) for i in range(len(self.logs)))

    def wait_log(self, pattern, timeout=30):
        """Waits (bounded) until the current log matches the regex; returns the match."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            m = rx.search(self.log_text())
            if m:
                return m
            time.sleep(0.05)
        raise AssertionError(f"log never matched {pattern!r}:\n{self.log_text()}")

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_signal_taken(self, sig, timeout=30):
        """Bounded wait until no thread of the daemon has sig pending any more
        (its handler has run), read from /proc."""
        bit = 1 << (int(sig) - 1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            masks = []
            for status in [Path(f"/proc/{self.proc.pid}/status"),
                           *Path(f"/proc/{self.proc.pid}/task").glob("*/status")]:
                try:
                    for line in status.read_text().splitlines():
                        if line.startswith(("SigPnd:", "ShdPnd:")):
                            masks.append(int(line.split()[1], 16))
                except (FileNotFoundError, ProcessLookupError):
                    pass
            if not any(m & bit for m in masks):
                return
            time.sleep(0.01)
        raise AssertionError(f"signal {sig} still pending after {timeout}s")

    def wait_exit(self, timeout=STOP_TIMEOUT_S):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            raise AssertionError(f"kilowatt did not exit within {timeout}s:\n"
                                 f"{self.log_text()}")
        finally:
            self._logf.close()

    def stop(self, sig=signal.SIGTERM, expect_rc=0):
        """Signals the daemon, waits for it, and checks its exit status and
        that no sanitizer reported anything (this makes every test a leak
        and undefined-behaviour check)."""
        self.proc.send_signal(sig)
        rc = self.wait_exit()
        self.check_sanitizers()
        if expect_rc is not None:
            assert rc == expect_rc, (f"kilowatt exited {rc} (wanted {expect_rc}) after "
                                     f"signal {sig}:\n{self.log_text()}")
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=STOP_TIMEOUT_S)
        self._logf.close()

    def restart(self):
        if self.running:
            self.stop()
        return self.start()

    def check_sanitizers(self):
        bad = sanitizer_reports(self.all_logs())
        assert not bad, "sanitizer report:\n" + self.all_logs()

    def teardown(self):
        if self.proc is None:
            return
        if self.checks_in_test:
            if self.running:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            self._logf.close()
            return
        if self.running:
            self.stop()
        else:
            if not self._logf.closed:
                self._logf.close()
            self.check_sanitizers()

    # --- HTTP ----------------------------------------------------------------

    def request(self, method, path, json=_MISSING, body=None, headers=None,
                token=_MISSING, content_type=_MISSING, timeout=REQUEST_TIMEOUT_S):
        """One request on a fresh connection.  json= sends a JSON document
        (Content-Type application/json unless content_type says otherwise);
        token= defaults to the admin token, None sends no Authorization."""
        h = {}
        if token is _MISSING:
            token = self.admin
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if json is not _MISSING:
            body = jsonlib.dumps(json).encode()
            if content_type is _MISSING:
                content_type = "application/json"
        if isinstance(body, str):
            body = body.encode()
        if content_type is not _MISSING and content_type is not None:
            h["Content-Type"] = content_type
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, r.reason, r.getheaders(), data)
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def raw(self, data, timeout=30, chunks=None):
        """Sends raw bytes (then optional further chunks; a send error after
        the server answered is ignored) and parses one HTTP response."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            try:
                s.sendall(data)
                for c in chunks or ():
                    s.sendall(c)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return read_response(s)
        finally:
            s.close()

    # --- API helpers ----------------------------------------------------------

    def create_device(self, **fields):
        fields.setdefault("name", fields.get("serial") or "device")
        r = self.post("/api/v1/devices", json=fields)
        assert r.status == 201, r
        return r.json()

    def ingest(self, readings, expect=200):
        """POST /api/v1/measurements; readings are (device, ts_ms, value)."""
        body = [{"timestamp": t, "device_id": d, "measurement_value": v}
                for d, t, v in readings]
        r = self.post("/api/v1/measurements", json=body)
        assert r.status == expect, r
        return r.json() if r.body else None

    def readings(self, device, frm, to, channel=None, limit=10000):
        """Every reading of the device in [frm, to), following next_cursor."""
        out, cursor = [], None
        for _ in range(10000):
            q = f"from={frm}&to={to}&limit={limit}"
            if channel:
                q += f"&channel={channel}"
            if cursor:
                q += f"&cursor={cursor}"
            r = self.get(f"/api/v1/devices/{device}/readings?{q}")
            assert r.status == 200, r
            doc = r.json()
            out += doc["readings"]
            cursor = doc["next_cursor"]
            if not cursor:
                return out
        raise AssertionError("readings paging did not end")

    def consumption(self, device, query):
        r = self.get(f"/api/v1/devices/{device}/consumption?{query}")
        assert r.status == 200, r
        return r.json()

    def metrics(self):
        r = self.get("/metrics")
        assert r.status == 200, r
        return parse_metrics(r.text)


def read_response(sock):
    """Reads one HTTP/1.1 response (Content-Length, chunked or until close)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            break
        buf += chunk
    if b"\r\n\r\n" not in buf:
        return None if not buf else Response(0, "incomplete", [], buf)
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if ":" in line]
    resp = Response(status, parts[2] if len(parts) > 2 else "", headers, b"")
    cl = resp.header("Content-Length")
    if cl is not None:
        n = int(cl)
        while len(rest) < n:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            rest += chunk
        resp.body = rest[:n]
    else:
        resp.body = rest
    return resp


def parse_metrics(text):
    """Prometheus text -> {(name, frozenset(labels.items())): value}, plus
    '#TYPE name' -> type."""
    out = {}
    lab = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            out["#TYPE " + name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)$',
                     line)
        assert m, f"bad metrics line {line!r}"
        labels = frozenset(lab.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(metrics, name, **labels):
    return metrics.get((name, frozenset(labels.items())), 0.0)


# --- time ----------------------------------------------------------------------

def ms(text):
    """RFC 3339 (or 'YYYY-MM-DDTHH:MM[:SS]' taken as UTC) -> epoch ms."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return round(dt.timestamp() * 1000)


def iso(ms_, tzname="UTC"):
    """Epoch ms -> RFC 3339 the way kilowatt writes it: local time with its
    offset, 'Z' for a zero offset, milliseconds only when not zero."""
    dt = datetime.fromtimestamp(ms_ / 1000, ZoneInfo(tzname))
    s = dt.isoformat(timespec="milliseconds" if ms_ % 1000 else "seconds")
    return s[:-6] + "Z" if s.endswith("+00:00") else s


def now_ms():
    return int(time.time() * 1000)


def local_midnight(tzname, d):
    """Epoch ms of the first instant of local date d (date or 'YYYY-MM-DD')."""
    if isinstance(d, str):
        d = date.fromisoformat(d)
    return round(datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tzname)).timestamp() * 1000)


def local_date(tzname, t):
    return datetime.fromtimestamp(t / 1000, ZoneInfo(tzname)).date()


def hour_edges(tzname, frm, to):
    """The starts of the local hours of tzname from the one holding frm up
    to the last one starting before to, plus the end of that last one.
    An hour starts where the local wall clock shows minute 0, second 0;
    found by walking UTC in 15-minute steps (offsets are multiples of 15)."""
    tz = ZoneInfo(tzname)
    q = 15 * 60 * 1000
    t = (frm // q) * q - 3 * 3600 * 1000
    edges = []
    while True:
        dt = datetime.fromtimestamp(t / 1000, tz)
        if dt.minute == 0 and dt.second == 0:
            if t <= frm:
                edges = [t]
            elif edges:
                edges.append(t)
                if t >= to:
                    return edges
        t += q


def day_edges(tzname, first, last):
    """Local midnights from date first to the day after date last (inclusive)."""
    first = date.fromisoformat(first) if isinstance(first, str) else first
    last = date.fromisoformat(last) if isinstance(last, str) else last
    out, d = [], first
    while d <= last + timedelta(days=1):
        out.append(local_midnight(tzname, d))
        d += timedelta(days=1)
    return out


# --- the energy model (docs/ENERGY.md), independent of the daemon -------------

class Buckets:
    """Energy per bucket for bucket edges e0 < e1 < ... (bucket i is
    [e_i, e_{i+1})), with a has-data flag per bucket."""

    def __init__(self, edges):
        self.edges = list(edges)
        self.kwh = [0.0] * (len(self.edges) - 1)
        self.has = [False] * (len(self.edges) - 1)

    def index(self, t):
        """The bucket holding instant t, or None."""
        lo, hi = 0, len(self.edges) - 1
        if t < self.edges[0] or t >= self.edges[-1]:
            return None
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.edges[mid] <= t:
                lo = mid
            else:
                hi = mid
        return lo

    def add_at(self, t, kwh, mark=True):
        i = self.index(t)
        if i is not None:
            self.kwh[i] += kwh
            self.has[i] = self.has[i] or mark

    def spread(self, t1, t2, kwh):
        """kwh spread over (t1, t2] in proportion to time."""
        span = t2 - t1
        i = self.index(t1)
        if i is None:
            i = 0 if t1 < self.edges[0] else len(self.kwh)
        for i in range(i, len(self.kwh)):
            if self.edges[i] >= t2:
                break
            lo, hi = max(t1, self.edges[i]), min(t2, self.edges[i + 1])
            if hi > lo:
                self.kwh[i] += kwh * (hi - lo) / span
                self.has[i] = True

    def values(self):
        return [k if h else None for k, h in zip(self.kwh, self.has)]


def interval_model(edges, readings):
    """Interval readings (t, v): v belongs to the bucket holding t - 1 ms."""
    b = Buckets(edges)
    for t, v in readings:
        b.add_at(t - 1, v)
    return b


def counter_model(edges, readings):
    """Counter readings (t, v), any order: sorted by time, each delta between
    consecutive readings (v2 - v1, or v2 after a decrease = reset) is spread
    over (t1, t2].  A bucket has data when energy was spread into it or a
    reading is counted in it (the bucket holding t - 1 ms).  Returns the
    Buckets and the set of timestamps flagged as resets."""
    b = Buckets(edges)
    rs = sorted(readings)
    resets = set()
    for t, _ in rs:
        b.add_at(t - 1, 0.0)
    for (t1, v1), (t2, v2) in zip(rs, rs[1:]):
        if v2 < v1:
            resets.add(t2)
            delta = v2
        else:
            delta = v2 - v1
        if delta != 0:
            b.spread(t1, t2, delta)
    return b, resets


def load_sensor_csv():
    """seed 000's counter: one cumulative kWh value per line, every 10 minutes."""
    return [float(x) for x in (DATA / "sensor.csv").read_text().split()]


def load_meter_files():
    """seed 002's packets shipped under data/meter/: {"readings": [...]} each."""
    return [(p.name, jsonlib.loads(p.read_text())) for p in sorted((DATA / "meter").glob("*.json"))]


def approx_list(got, want, rel=1e-9, abs_=1e-9):
    """Element-wise comparison of lists holding numbers or None; returns a
    list of mismatching (index, got, want)."""
    bad = []
    assert len(got) == len(want), (len(got), len(want))
    for i, (g, w) in enumerate(zip(got, want)):
        if g is None or w is None:
            if g is not w:
                bad.append((i, g, w))
        elif abs(g - w) > max(abs_, rel * abs(w)):
            bad.append((i, g, w))
    return bad


# --- comparing answers with the model ------------------------------------------

def assert_buckets(doc, tzname, edges, want):
    """The answer's buckets are exactly the local buckets with these edges
    (start strings in tzname) and the model's values."""
    got_starts = [b["start"] for b in doc["buckets"]]
    assert got_starts == [iso(e, tzname) for e in edges[:-1]]
    bad = approx_list([b["kwh"] for b in doc["buckets"]], want)
    assert not bad, f"{len(bad)} buckets differ (index, got, want): {bad[:10]}"
    assert doc["from"] == iso(edges[0], tzname)
    assert doc["to"] == iso(edges[-1], tzname)
    assert doc["tz"] == tzname
    assert doc["total_kwh"] == pytest.approx(sum(w for w in want if w is not None),
                                             rel=1e-9, abs=1e-9)


def recent_series(seed, step=10 * MIN, hours=5):
    """Readings every `step` over the last `hours` hours, ending a minute ago:
    the newest hours are still open in the daemon, the older ones closed."""
    now = now_ms()
    end = now - now % MIN - MIN
    ts = list(range(end - hours * H, end + 1, step))
    rnd = random.Random(seed)
    iv = [(t, round(rnd.uniform(0.01, 1.0), 3)) for t in ts]
    ctr, acc = [], 500.0
    for t in ts:
        acc += rnd.uniform(0.0, 2.0)
        ctr.append((t, round(acc, 4)))
    return iv, ctr


def compare_recent(kw, serial, tzname, readings, counter, frm, to, query_tz=None):
    q = f"from={iso(frm)}&to={iso(to)}&step=hour".replace("+", "%2B")
    if query_tz:
        q += f"&tz={query_tz}"
    tz = query_tz or tzname
    doc = kw.consumption(serial, q)
    edges = hour_edges(tz, frm, to)
    model = (counter_model(edges, readings)[0] if counter else
             interval_model(edges, readings))
    assert_buckets(doc, tz, edges, model.values())
    return doc
