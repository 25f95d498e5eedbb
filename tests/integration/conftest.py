"""
Fixtures of the black-box suite (harness in kwlib.py).

  kw           a running daemon in a fresh temporary data dir, with an admin
               token (kw.admin) that kw.request() sends by default.  Settings
               come from the marker  @pytest.mark.kw_env(INGEST_AUTO_CREATE_DEVICES="true")
               (keys without the KILOWATT_ prefix get it).
  kw_factory   kw_factory(env={...}, config=PATH, start=True, listen_flag=True,
               data_flag=True) -> another Daemon.

Teardown of every daemon: SIGTERM, then it must exit 0 and its stderr must
hold no AddressSanitizer/LeakSanitizer/UBSan report.  Tests that kill a
daemon themselves are still checked for sanitizer reports.

The binary is $KILOWATT_BIN (CTest sets it), else <repo>/build/kilowatt.
"""
import os

import pytest

import kwaccounts
import kwlib


def pytest_configure(config):
    config.addinivalue_line("markers", "kw_env(**settings): environment of the kw daemon")


@pytest.fixture(scope="session", autouse=True)
def _binary():
    if not os.access(kwlib.KW_BIN, os.X_OK):
        pytest.exit(f"kilowatt binary not found at {kwlib.KW_BIN}: build it "
                    "(cmake --build build) or set KILOWATT_BIN", returncode=4)
    return kwlib.KW_BIN


@pytest.fixture
def kw_factory(tmp_path):
    daemons = []

    def make(env=None, config=None, args=(), start=True, name=None, **options):
        d = kwlib.Daemon(tmp_path / (name or f"kw{len(daemons)}"), env=env, config=config,
                         args=args, **options)
        daemons.append(d)
        if start:
            d.start()
        return d

    yield make
    errors = []
    for d in daemons:
        try:
            d.teardown()
        except AssertionError as e:  # check them all, then report
            errors.append(str(e))
    if errors:
        pytest.fail("daemon teardown:\n" + "\n\n".join(errors), pytrace=False)


@pytest.fixture
def kw(request, kw_factory):
    env = {}
    for m in reversed(list(request.node.iter_markers("kw_env"))):
        env.update(m.kwargs)
    return kw_factory(env=env, name="kw")


@pytest.fixture
def fresh(tmp_path):
    """A test's own account-aware daemons (kwaccounts): fresh(env={...})
    starts one; all are stopped and checked for leaked secrets
    (kwaccounts.finish_daemons) when the test ends."""
    daemons = kwaccounts.Daemons(tmp_path)
    try:
        yield daemons
    finally:
        kwaccounts.finish_daemons(daemons)
