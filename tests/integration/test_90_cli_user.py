"""`kilowatt user add|list|passwd|disable|enable` (src/cli/cmd_user.c): the
real binary against a real database, while a daemon runs on it and without
one.

A password reaches the command only on standard input or is generated and
printed once; the checks here read the database with Python's sqlite3: the
stored password is an Argon2id string, no plaintext password is anywhere in
the database's files, and every change left one audit row by actor 'cli'.
"""
import json
import os
import pty
import re
import secrets
import sqlite3
import subprocess

from kwlib import KW_BIN, base_env, now_ms, sanitizer_reports

ALPHABET = set("abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789")  # password.c
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")


def user(data, *args, stdin=None, tty=False, data_flag=True):
    """Runs `kilowatt user ARGS... --data DATA`.  stdin: text piped in (None:
    /dev/null); tty: standard input is a terminal instead."""
    cmd = [KW_BIN, "user", *map(str, args)] + (["--data", str(data)] if data_flag else [])
    kw = dict(env=base_env(), capture_output=True, encoding="utf-8", timeout=120)
    if tty:
        master, slave = pty.openpty()
        try:
            p = subprocess.run(cmd, stdin=slave, **kw)
        finally:
            os.close(slave)
            os.close(master)
    elif stdin is None:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, **kw)
    else:
        p = subprocess.run(cmd, input=stdin, **kw)
    bad = sanitizer_reports(p.stderr)
    assert not bad, f"sanitizer report from kilowatt user {args}:\n{p.stderr}"
    return p


def ok(p):
    assert p.returncode == 0, f"{p.args} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def added_id(p):
    m = re.search(r"^id: (\d+)$", ok(p).stdout, re.M)
    assert m, p.stdout
    return int(m.group(1))


def generated(p):
    """The password a command generated: printed once on stdout."""
    found = re.findall(r"^password: (\S+)$", p.stdout, re.M)
    assert len(found) == 1, p.stdout
    pw = found[0]
    assert len(pw) == 20 and set(pw) <= ALPHABET, pw
    assert "shown only this once" in p.stderr, p.stderr
    return pw


def listed(data):
    """`user list` as dicts, cut at the header's column starts (names may
    hold spaces)."""
    out = ok(user(data, "list")).stdout
    lines = out.splitlines()
    header = lines[0]
    cols = ["ID", "EMAIL", "NAME", "ROLE", "DISABLED", "CREATED"]
    assert header.split() == cols, header
    starts = [re.search(rf"(^| ){c}( |$)", header).start(0) + (c != "ID") for c in cols]
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [len(line)])]
        rows.append(dict(zip(cols, cells)))
    return rows, out


def db(data):
    c = sqlite3.connect(f"file:{data / 'kilowatt.db'}?mode=ro", uri=True, timeout=30)
    c.row_factory = sqlite3.Row
    return c


def db_bytes(data):
    """Every byte of the database: main file, WAL and shared memory."""
    out = b""
    for name in ("kilowatt.db", "kilowatt.db-wal", "kilowatt.db-shm"):
        p = data / name
        if p.exists():
            out += p.read_bytes()
    return out


def stored_password(data, email):
    with db(data) as c:
        row = c.execute("SELECT password FROM user WHERE email = ?", (email,)).fetchone()
    assert row, email
    return row[0]


def audit(data):
    with db(data) as c:
        return [dict(r) for r in c.execute("SELECT * FROM audit ORDER BY id")]


def add_session(data, user_id):
    """A login session of the user, put in the database directly."""
    c = sqlite3.connect(data / "kilowatt.db", timeout=30)
    try:
        t = now_ms()
        c.execute("INSERT INTO session(hash, user_id, csrf, created_at, last_seen_at, expires_at)"
                  " VALUES(?, ?, 'csrf', ?, ?, ?)", (secrets.token_bytes(32), user_id, t, t,
                                                     t + 3600 * 1000))
        c.commit()
    finally:
        c.close()


def sessions(data, user_id):
    with db(data) as c:
        return c.execute("SELECT count(*) FROM session WHERE user_id = ?", (user_id,)).fetchone()[0]


# ------------------------------------------------------------------------------------------

def test_users_managed_while_the_daemon_runs(kw):
    data = kw.data
    typed = "correct horse battery staple"
    t0 = now_ms()

    # add: the password from standard input, one line; the id printed.
    p = user(data, "add", "--email", "Ann.Admin@Example.org", "--name", "Ann Admin",
             "--role", "admin", "--customer-ref", "HQ-1", stdin=typed + "\n")
    ann = added_id(p)
    assert "password:" not in p.stdout and typed not in p.stdout + p.stderr
    assert f"created user {ann} 'Ann.Admin@Example.org' with role admin" in p.stderr

    # add with --generate: printed once, here only.
    p = user(data, "add", "--email", "bob@example.org", "--name", "Bob Client", "--generate")
    bob = added_id(p)
    bob_pw = generated(p)
    assert bob != ann

    # The same email in another case: refused, nothing printed or stored.
    p = user(data, "add", "--email", "ann.admin@EXAMPLE.ORG", "--name", "Impostor",
             stdin="another long password\n")
    assert p.returncode == 1, p
    assert re.search(rf"cannot add user 'ann.admin@EXAMPLE.ORG': user {ann} has that email",
                     p.stderr), p.stderr
    assert p.stdout == ""

    # A password below the policy: refused naming the rule.
    p = user(data, "add", "--email", "carl@example.org", "--name", "Carl", stdin="short\n")
    assert p.returncode == 1
    assert "password must be at least 10 characters" in p.stderr, p.stderr

    # list: both users with their roles, no password or hash of any kind.
    rows, out = listed(data)
    assert [(int(r["ID"]), r["EMAIL"], r["NAME"], r["ROLE"], r["DISABLED"]) for r in rows] == [
        (ann, "Ann.Admin@Example.org", "Ann Admin", "admin", "no"),
        (bob, "bob@example.org", "Bob Client", "client", "no"),
    ]
    for r in rows:
        assert RFC3339_UTC.match(r["CREATED"]), r
    assert bob_pw not in out and typed not in out and "$argon2" not in out

    # passwd from standard input: a new hash, and the user's sessions end.
    before = stored_password(data, "bob@example.org")
    add_session(data, bob)
    add_session(data, ann)
    p = ok(user(data, "passwd", "--email", "BOB@example.org", stdin="a brand new secret\r\n"))
    assert "password:" not in p.stdout
    assert f"set the password of user {bob} 'bob@example.org'" in p.stderr
    after = stored_password(data, "bob@example.org")
    assert after != before and after.startswith("$argon2id$")
    assert sessions(data, bob) == 0 and sessions(data, ann) == 1

    # passwd --generate: printed once.
    p = ok(user(data, "passwd", "--email", "bob@example.org", "--generate"))
    bob_pw2 = generated(p)
    assert bob_pw2 != bob_pw

    # disable ends the sessions; enable; both idempotent.
    add_session(data, bob)
    p = ok(user(data, "disable", "--email", "bob@example.org"))
    assert f"disabled user {bob} 'bob@example.org'" in p.stderr
    assert sessions(data, bob) == 0
    rows, _ = listed(data)
    assert [r["DISABLED"] for r in rows] == ["no", "yes"]
    p = ok(user(data, "disable", "--email", "bob@example.org"))
    assert "disabled already" in p.stderr
    p = ok(user(data, "enable", "--email", "Bob@Example.org"))
    assert f"enabled user {bob}" in p.stderr
    rows, _ = listed(data)
    assert [r["DISABLED"] for r in rows] == ["no", "no"]
    ok(user(data, "enable", "--email", "bob@example.org"))

    # Unknown email: exit 1, named.
    for args, stdin in ((["passwd", "--email", "nobody@example.org"], "a long password\n"),
                        (["disable", "--email", "nobody@example.org"], None),
                        (["enable", "--email", "nobody@example.org"], None)):
        p = user(data, *args, stdin=stdin)
        assert p.returncode == 1, (args, p)
        assert "no user with email 'nobody@example.org'" in p.stderr, p.stderr

    # Stored: Argon2id strings only; no plaintext anywhere in the files.
    for email in ("Ann.Admin@Example.org", "bob@example.org"):
        assert stored_password(data, email).startswith("$argon2id$v=19$m=32768,t=3,p=1$")
    raw = db_bytes(data)
    for pw in (typed, bob_pw, bob_pw2, "a brand new secret", "another long password",
               "a long password"):
        assert pw.encode() not in raw, pw

    # One audit row per change, by the CLI; none for what failed.
    rows = audit(data)
    assert [(r["action"], r["object_type"], r["object_id"]) for r in rows] == [
        ("user.create", "user", str(ann)),
        ("user.create", "user", str(bob)),
        ("user.password_reset", "user", str(bob)),
        ("user.password_reset", "user", str(bob)),
        ("user.update", "user", str(bob)),
        ("user.update", "user", str(bob)),
    ]
    for r in rows:
        assert r["actor_kind"] == "cli" and r["actor_id"] is None and r["actor_name"], r
        assert t0 - 1000 <= r["at"] <= now_ms() + 1000, r
        for field in ("before", "after"):
            assert r[field] is None or "password" not in r[field] and "argon2" not in r[field]
    created = json.loads(rows[0]["after"])
    assert rows[0]["before"] is None
    assert created["id"] == ann and created["email"] == "Ann.Admin@Example.org"
    assert created["name"] == "Ann Admin" and created["role"] == "admin"
    assert created["customer_ref"] == "HQ-1" and created["disabled"] is False
    assert RFC3339_UTC.match(created["created_at"])
    assert json.loads(rows[1]["after"])["customer_ref"] is None
    assert rows[2]["before"] is None and rows[2]["after"] is None
    disable, enable = rows[4], rows[5]
    assert json.loads(disable["before"])["disabled"] is False
    assert json.loads(disable["after"])["disabled"] is True
    assert json.loads(enable["before"])["disabled"] is True
    assert json.loads(enable["after"])["disabled"] is False

    # The daemon never saw a password either.
    log = kw.log_text()
    for pw in (typed, bob_pw, bob_pw2, "a brand new secret"):
        assert pw not in log


def test_password_rules_on_standard_input(tmp_path):
    data = tmp_path / "data"

    def add(email, stdin):
        return user(data, "add", "--email", email, "--name", "N", stdin=stdin)

    # 9 characters fail, 10 pass; characters, not bytes, are counted.
    p = add("a@example.org", "123456789\n")
    assert p.returncode == 1 and "password must be at least 10 characters" in p.stderr
    assert p.stdout == ""
    p = add("a@example.org", "é" * 9 + "\n")
    assert p.returncode == 1 and "at least 10 characters" in p.stderr
    added_id(add("a@example.org", "é" * 10 + "\n"))
    added_id(add("b@example.org", "1234567890"))  # no newline at the end
    # Only the first line is the password.
    added_id(add("c@example.org", "first line ok\nsecond line\n"))
    # 1024 bytes pass, 1025 fail.
    added_id(add("d@example.org", "x" * 1024 + "\n"))
    p = add("e@example.org", "x" * 1025 + "\n")
    assert p.returncode == 1 and "password must be at most 1024 bytes" in p.stderr, p.stderr
    # Nothing on standard input.
    for stdin in (None, ""):
        p = add("f@example.org", stdin)
        assert p.returncode == 1 and "no password on standard input" in p.stderr, p.stderr
    # An empty first line is a password that is too short.
    p = add("f@example.org", "\nsomething long enough\n")
    assert p.returncode == 1 and "at least 10 characters" in p.stderr
    rows, _ = listed(data)
    assert [r["EMAIL"] for r in rows] == ["a@example.org", "b@example.org", "c@example.org",
                                          "d@example.org"]
    with db(data) as c:
        assert c.execute("SELECT count(*) FROM audit").fetchone()[0] == 4


def test_a_terminal_gets_a_generated_password(tmp_path):
    data = tmp_path / "data"
    p = user(data, "add", "--email", "t@example.org", "--name", "Tess", tty=True)
    uid = added_id(p)
    pw = generated(p)
    assert pw.encode() not in db_bytes(data)
    p = ok(user(data, "passwd", "--email", "t@example.org", tty=True))
    assert generated(p) != pw
    assert [r["action"] for r in audit(data)] == ["user.create", "user.password_reset"]
    assert {r["object_id"] for r in audit(data)} == {str(uid)}


def test_usage_errors_exit_2(tmp_path):
    data = tmp_path / "data"
    pw = "a fine long password\n"
    cases = [
        (["add", "--name", "N"], "--email is required"),
        (["add", "--email", "x@example.org"], "--name is required"),
        (["add", "--email", "x@example.org", "--name", "N", "--role", "root"],
         "--role must be admin or client"),
        (["add", "--email", "not-an-email", "--name", "N"], "is not an email address"),
        (["add", "--email", "x@example.org", "--name", ""], "--name '' is empty"),
        (["add", "--email", "x@example.org", "--name", "N", "--password", "secret12345"],
         "unknown option '--password'"),
        (["add", "--email", "x@example.org", "--name", "N", "extra"],
         "unexpected argument 'extra'"),
        (["list", "--email", "x@example.org"], "--email does not apply"),
        (["passwd"], "--email is required"),
        (["disable", "--generate", "--email", "x@example.org"], "--generate does not apply"),
        (["frobnicate"], "unknown subcommand 'frobnicate'"),
        ([], "usage: kilowatt user add"),
    ]
    for args, message in cases:
        p = user(data, *args, stdin=pw, data_flag=bool(args))
        assert p.returncode == 2, (args, p)
        assert message in p.stderr, (args, p.stderr)
        assert "usage:" in p.stderr, (args, p.stderr)
        assert p.stdout == "", (args, p.stdout)
    p = user(data, "add", "--email", stdin=pw, data_flag=False)
    assert p.returncode == 2 and "--email needs a value" in p.stderr, p.stderr
    # Nothing was created (the database may not even exist).
    assert not (data / "kilowatt.db").exists() or audit(data) == []
    for args in (["--help"], ["add", "--help"], ["list", "--help"]):
        p = user(data, *args, data_flag=False)
        assert p.returncode == 0 and p.stdout.startswith("usage: kilowatt user"), (args, p)
    assert "standard input" in user(data, "add", "--help", data_flag=False).stdout


def test_config_file_names_the_database(tmp_path):
    data = tmp_path / "elsewhere"
    ini = tmp_path / "kw.ini"
    ini.write_text(f"[storage]\ndata_dir = {data}\n")
    p = user(data, "add", "--email", "cfg@example.org", "--name", "Cfg", "--config", ini,
             "--generate", data_flag=False)
    uid = added_id(p)
    p = ok(user(data, "list", "--config", ini, data_flag=False))
    assert re.search(rf"^{uid}\s+cfg@example.org\s+Cfg\s+client\s+no\s+\S+Z$", p.stdout, re.M)
    # --data wins over the file.
    p = ok(user(tmp_path / "other", "list", "--config", ini))
    assert p.stdout.splitlines()[1:] == []
    p = user(data, "list", "--config", tmp_path / "missing.ini", data_flag=False)
    assert p.returncode == 1 and "missing.ini" in p.stderr
