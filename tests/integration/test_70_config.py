"""Settings: `kilowatt config check|dump`, layering defaults < file < env <
flags, and errors that name the file, line and key.  Also the command line."""
import configparser
import re

import pytest

import kwlib
from kwlib import base_env, run_cli


DEFAULTS = {
    ("http", "listen"): "127.0.0.1:8080",
    ("http", "max_header_bytes"): "16384",
    ("http", "max_body_bytes"): "33554432",
    ("http", "max_connections"): "1024",
    ("http", "per_ip_connections"): "64",
    ("http", "idle_timeout"): "60s",
    ("http", "request_timeout"): "30s",
    ("http", "secure_cookies"): "false",
    ("http", "public_origin"): "",
    ("http", "web_root"): "",
    ("auth", "session_idle"): "43200s",
    ("auth", "session_max"): "604800s",
    ("auth", "allow_signup"): "false",
    ("auth", "login_max_failures_email"): "5",
    ("auth", "login_max_failures_address"): "20",
    ("auth", "login_window"): "900s",
    ("storage", "data_dir"): "./var",
    ("storage", "cache_mib"): "64",
    ("storage", "queue_max_rows"): "2000000",
    ("storage", "open_readings_max"): "2000000",
    ("storage", "readers"): "2",
    ("ingest", "auto_create_devices"): "false",
    ("ingest", "max_future"): "86400s",
    ("devices", "default_timezone"): "UTC",
    ("mqtt", "url"): "",
    ("mqtt", "topics"): "kilowatt/+/measurements",
    ("mqtt", "client_id"): "kilowatt",
    ("mqtt", "qos"): "1",
    ("amqp", "url"): "",
    ("amqp", "exchange"): "kilowatt",
    ("amqp", "queue"): "kilowatt.measurements",
    ("amqp", "binding_key"): "#",
    ("amqp", "prefetch"): "2000",
    ("amqp", "dead_letter_exchange"): "kilowatt.dead",
    ("smtp", "url"): "",
    ("smtp", "from"): "kilowatt@localhost",
    ("smtp", "username"): "",
    ("smtp", "password"): "",
    ("log", "level"): "info",
}


def dump(config=None, env=None):
    args = ["config", "dump"] + (["--config", config] if config else [])
    p = run_cli(*args, env=base_env(env))
    assert p.returncode == 0, p.stderr
    cp = configparser.ConfigParser(interpolation=None)
    cp.read_string(p.stdout)
    return p.stdout, {(s, k): cp[s][k] for s in cp.sections() for k in cp[s]}


def check(path):
    return run_cli("config", "check", path, env=base_env())


def test_dump_defaults():
    text, values = dump()
    assert values == DEFAULTS
    assert "# default: info (reloaded on SIGHUP)" in text
    assert "# default: 32M" in text


def test_dump_is_a_valid_file(tmp_path):
    text, values = dump(env={"HTTP_MAX_BODY_BYTES": "4k", "LOG_LEVEL": "warn"})
    f = tmp_path / "dumped.ini"
    f.write_text(text)
    p = check(f)
    assert (p.returncode, p.stdout) == (0, f"{f}: ok\n"), p.stderr
    assert dump(config=f)[1] == values


def test_layers_default_file_env(tmp_path):
    f = tmp_path / "k.ini"
    f.write_text("; comment\n[http]\nmax_body_bytes = 4k\nidle_timeout = 5m\n\n"
                 "[ingest]\nauto_create_devices = yes\nmax_future = 2h\n"
                 "[log]\nlevel = debug\n")
    assert check(f).returncode == 0
    _, v = dump(config=f)
    assert v == {**DEFAULTS, ("http", "max_body_bytes"): "4096",
                 ("http", "idle_timeout"): "300s", ("ingest", "auto_create_devices"): "true",
                 ("ingest", "max_future"): "7200s", ("log", "level"): "debug"}
    _, v = dump(config=f, env={"HTTP_MAX_BODY_BYTES": "8k", "INGEST_AUTO_CREATE_DEVICES": "off",
                               "STORAGE_READERS": "3"})
    assert v[("http", "max_body_bytes")] == "8192"             # env beats file
    assert v[("ingest", "auto_create_devices")] == "false"
    assert v[("storage", "readers")] == "3"                    # env beats default
    assert v[("http", "idle_timeout")] == "300s"               # file beats default
    assert v[("log", "level")] == "debug"


@pytest.mark.parametrize("size,bytes_", [("1024", "1024"), ("2k", "2048"), ("2K", "2048"),
                                          ("3M", "3145728"), ("1G", "1073741824")])
def test_size_units(size, bytes_):
    assert dump(env={"HTTP_MAX_BODY_BYTES": size})[1][("http", "max_body_bytes")] == bytes_


@pytest.mark.parametrize("body,line,message", [
    ("[http]\nlisten = 127.0.0.1:9\nlisen = 1.2.3.4:5\n", 3, "unknown key 'lisen' in [http]"),
    ("[log]\nlevel = info\n[nosuch]\nkey = 1\n", 4, "unknown key 'key' in [nosuch]"),
    ("[http]\nmax_body_bytes = 12q\n", 2,
     "bad value '12q' for http.max_body_bytes: expected a size such as 512k or 16M"),
    ("[http]\nmax_body_bytes = 512\n", 2,
     "bad value '512' for http.max_body_bytes: must be between 1024 and 1073741824"),
    ("[http]\nmax_body_bytes = 2G\n", 2, "bad value '2G' for http.max_body_bytes"),
    ("[http]\nmax_connections = ten\n", 2,
     "bad value 'ten' for http.max_connections: expected a whole number"),
    ("[http]\nidle_timeout = 5 minutes\n", 2,
     "bad value '5 minutes' for http.idle_timeout: expected a duration such as 30s, 5m"),
    ("[http]\nlisten = localhost\n", 2, "bad value 'localhost' for http.listen: expected HOST:PORT"),
    ("[http]\nlisten = 127.0.0.1:http\n", 2, "port must be a number"),
    ("[http]\nlisten = 127.0.0.1:70000\n", 2,
     "bad value '127.0.0.1:70000' for http.listen: port must be a number from 0 to 65535"),
    ("[ingest]\nauto_create_devices = maybe\n", 2,
     "bad value 'maybe' for ingest.auto_create_devices: expected true or false"),
    ("[devices]\ndefault_timezone = Mars/Base\n", 2,
     "bad value 'Mars/Base' for devices.default_timezone: unknown IANA time zone"),
    ("[log]\nlevel = loud\n", 2,
     "bad value 'loud' for log.level: expected debug, info, warn or error"),
    ("\n\n[storage]\nreaders = 0\n", 4, "bad value '0' for storage.readers: must be between 1"),
])
def test_check_names_file_line_and_key(tmp_path, body, line, message):
    f = tmp_path / "bad.ini"
    f.write_text(body)
    p = check(f)
    assert p.returncode == 1
    assert p.stdout == ""
    first = p.stderr.splitlines()[0]
    assert first.startswith(f"kilowatt: {f}:{line}: "), first
    assert message in first, first


def test_check_stops_at_the_first_error(tmp_path):
    f = tmp_path / "two.ini"
    f.write_text("[http]\nfirst_bad = 1\nsecond_bad = 2\n")
    p = check(f)
    assert p.returncode == 1
    assert "unknown key 'first_bad'" in p.stderr and "second_bad" not in p.stderr


def test_check_syntax_error_and_missing_file(tmp_path):
    f = tmp_path / "syntax.ini"
    f.write_text("[http]\nlisten = 127.0.0.1:9\nthis line has no equals sign\n")
    p = check(f)
    assert p.returncode == 1
    assert f"{f}:3: syntax error" in p.stderr
    p = check(tmp_path / "nope.ini")
    assert p.returncode == 1
    assert "cannot open config" in p.stderr and "nope.ini" in p.stderr


def test_check_ok(tmp_path):
    f = tmp_path / "good.ini"
    f.write_text("[http]\nlisten = 127.0.0.1:8081\n[storage]\ndata_dir = /tmp/x\n")
    p = check(f)
    assert (p.returncode, p.stdout, p.stderr) == (0, f"{f}: ok\n", "")


def _listening(kw):
    m = re.search(r'msg="listening" addr=(\S+):(\d+) data="([^"]*)"', kw.log_text())
    return m.group(1), int(m.group(2)), m.group(3)


def test_serve_flags_beat_env_beat_file(kw_factory, tmp_path):
    a, b = tmp_path / "from-file", tmp_path / "from-env"
    f = tmp_path / "k.ini"
    f.write_text(f"[http]\nlisten = 127.0.0.1:1\n[storage]\ndata_dir = {a}\n")
    # flags win over env and file
    kw = kw_factory(config=f, env={"STORAGE_DATA_DIR": b, "HTTP_LISTEN": "127.0.0.1:2"})
    host, port, data = _listening(kw)
    assert (host, data) == ("127.0.0.1", str(kw.data))
    assert port not in (1, 2) and port == kw.port
    assert (kw.data / "kilowatt.db").exists()
    assert not a.exists() and not b.exists()
    kw.stop()
    # env wins over the file
    kw = kw_factory(config=f, env={"STORAGE_DATA_DIR": b, "HTTP_LISTEN": "127.0.0.1:0"},
                    listen_flag=False, data_flag=False)
    host, port, data = _listening(kw)
    assert data == str(b) and port not in (1, 2)
    assert (b / "kilowatt.db").exists() and not a.exists()
    assert kw.get("/healthz", token=None).status == 200
    kw.stop()
    # the file wins over the defaults
    f.write_text(f"[http]\nlisten = 127.0.0.1:0\n[storage]\ndata_dir = {a}\n")
    kw = kw_factory(config=f, listen_flag=False, data_flag=False)
    assert _listening(kw)[2] == str(a)
    assert (a / "kilowatt.db").exists()


def test_serve_applies_the_layers(kw_factory, tmp_path):
    """The layered values are the ones in force, not just the ones shown."""
    f = tmp_path / "k.ini"
    f.write_text("[http]\nmax_body_bytes = 1k\n[ingest]\nauto_create_devices = true\n")
    kw = kw_factory(config=f, env={"HTTP_MAX_BODY_BYTES": "4k",
                                   "INGEST_AUTO_CREATE_DEVICES": "false"})
    body = [{"timestamp": 1736121600000 + i, "device_id": "ghost", "measurement_value": 1}
            for i in range(30)]
    r = kw.post("/api/v1/measurements", json=body)    # ~2.5 KB: under 4k, over 1k
    assert r.status == 400 and r.error()["code"] == "unknown_device", r
    kw.stop()
    kw = kw_factory(config=f)
    r = kw.post("/api/v1/measurements", json=body[:5])
    assert r.status == 200 and r.json()["accepted"] == 5, r     # auto-create from the file
    assert kw.post("/api/v1/measurements", json=body).status == 413


def test_serve_refuses_a_bad_file(tmp_path):
    f = tmp_path / "bad.ini"
    f.write_text("[http]\nlisten = 127.0.0.1:0\nlisen = oops\n")
    p = run_cli("serve", "--config", f, "--data", tmp_path / "d", check_sanitizers=False)
    assert f"kilowatt: {f}:3: unknown key 'lisen' in [http]" in p.stderr
    assert not (tmp_path / "d").exists()
    assert "Sanitizer" not in p.stderr, p.stderr
    assert p.returncode == 1


def test_serve_refuses_a_bad_environment_value(tmp_path):
    p = run_cli("serve", "--listen", "127.0.0.1:0", "--data", tmp_path / "d",
                env=base_env({"HTTP_MAX_BODY_BYTES": "12q"}), check_sanitizers=False)
    assert ("kilowatt: KILOWATT_HTTP_MAX_BODY_BYTES: bad value '12q' for "
            "http.max_body_bytes") in p.stderr
    assert "Sanitizer" not in p.stderr, p.stderr
    assert p.returncode == 1


def test_dump_refuses_a_bad_file(tmp_path):
    f = tmp_path / "bad.ini"
    f.write_text("[log]\nlevel = loud\n")
    p = run_cli("config", "dump", "--config", f, check_sanitizers=False)
    assert p.stdout == ""
    assert f"{f}:2: bad value 'loud' for log.level" in p.stderr
    assert "Sanitizer" not in p.stderr, p.stderr
    assert p.returncode == 1


def test_serve_bad_flags(tmp_path, kw):
    p = run_cli("serve", "--listen", "127.0.0.1", "--data", tmp_path / "d")
    assert p.returncode == 1
    assert "bad value '127.0.0.1' for http.listen: expected HOST:PORT" in p.stderr
    assert "--listen" in p.stderr
    p = run_cli("serve", "--listen", "127.0.0.1:0", "--data", tmp_path / "d", "extra")
    assert p.returncode == 2
    assert "unexpected argument 'extra'" in p.stderr


def test_serve_exits_when_the_port_is_taken(kw, tmp_path):
    """Regression: serve once logged "cannot listen" and then waited for signals
    forever (and a SIGTERM met a NULL server)."""
    import subprocess
    log = tmp_path / "second.log"
    with open(log, "wb") as out:
        p = subprocess.Popen([kwlib.KW_BIN, "serve", "--listen", f"127.0.0.1:{kw.port}",
                              "--data", str(tmp_path / "d2")], env=base_env(),
                             stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        try:
            rc = p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    text = log.read_text()
    assert "cannot listen on '127.0.0.1:%d'" % kw.port in text
    assert rc == 1, text
    assert kw.get("/healthz", token=None).status == 200   # the first one is unharmed


def test_command_line():
    p = run_cli()
    assert p.returncode == 2 and "usage: kilowatt <command>" in p.stderr
    for c in ("serve", "token", "migrate", "config", "version"):
        assert c in p.stderr
    p = run_cli("frobnicate")
    assert p.returncode == 2 and "unknown command 'frobnicate'" in p.stderr
    for args in (["--version"], ["version"]):
        p = run_cli(*args)
        assert p.returncode == 0 and re.fullmatch(r"kilowatt \d+\.\d+\.\d+\n", p.stdout), p.stdout
    for c in ("serve", "token", "migrate", "config"):
        p = run_cli(c, "--help")
        assert p.returncode == 0, (c, p.stderr)
        assert p.stdout.startswith(f"usage: kilowatt {c}"), (c, p.stdout)
    p = run_cli("--help")
    assert p.returncode == 0 and p.stdout.startswith("usage: kilowatt <command>")
    p = run_cli("config", "frob")
    assert p.returncode == 2
