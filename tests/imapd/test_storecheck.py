"""imapd -H: the store check a router or a monitor runs.  It stats,
creates, writes, fsyncs and unlinks a file in store_check within
store_check_timeout, exits 0 when all of that worked and 1 otherwise
with the step and the reason, and a hung file system (simulated by a
shim whose calls never return) fails the check at the deadline instead
of hanging it."""

import subprocess

import imapdtest


def check(build, tmp_path, settings, env_extra=None):
    conf = tmp_path / "imapd.conf"
    conf.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
    env = build.env()
    env.update(env_extra or {})
    p = subprocess.run([str(build.imapd), "-H", "-c", str(conf)],
                       capture_output=True, timeout=120, env=env)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def shim(tmp_path):
    return imapdtest.build_fault_shim(tmp_path)


def test_store_check_passes(build, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    rc, out, err = check(build, tmp_path, {"store_check": store})
    assert rc == 0, err
    assert out.startswith(f"imapd: store check OK: {store} (")
    assert list(store.iterdir()) == []


def test_store_check_fails(build, tmp_path):
    rc, out, err = check(build, tmp_path,
                         {"store_check": tmp_path / "absent"})
    assert rc == 1 and out == ""
    assert err == (f"imapd: store check failed: {tmp_path / 'absent'}: "
                   "stat of the directory failed: No such file or "
                   "directory\n")
    rc, out, err = check(build, tmp_path, {})
    assert rc == 1
    assert "store_check is not set" in err


def test_store_check_needs_the_marker(build, tmp_path):
    """With store_marker set, a store whose marker is missing (not
    mounted: its empty mount point would pass the rest) fails."""
    store = tmp_path / "store"
    store.mkdir()
    marker = tmp_path / ".imapd-store"
    settings = {"store_check": store, "store_marker": marker}
    rc, out, err = check(build, tmp_path, settings)
    assert rc == 1 and out == ""
    assert err == (f"imapd: store check failed: {store}: stat of "
                   "store_marker failed: No such file or directory\n")
    marker.touch()
    rc, out, err = check(build, tmp_path, settings)
    assert rc == 0, err


def test_store_check_write_error(build, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    rc, _, err = check(build, tmp_path, {"store_check": store}, {
        "LD_PRELOAD": str(shim(tmp_path)), "FAULT_PATH": str(store),
        "FAULT_CALLS": "write", "FAULT_NTH": "1", "FAULT_ERRNO": "EIO"})
    assert rc == 1
    assert "writing the file failed: Input/output error" in err
    assert list(store.iterdir()) == []


def test_hung_store_fails_at_the_deadline(build, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    rc, out, err = check(build, tmp_path, {
        "store_check": store, "store_check_timeout": "1s"}, {
        "LD_PRELOAD": str(shim(tmp_path)), "FAULT_PATH": str(store),
        "FAULT_CALLS": "create", "FAULT_NTH": "1", "FAULT_HANG": "1"})
    assert rc == 1 and out == ""
    assert err == (f"imapd: store check failed: {store}: no answer within "
                   "store_check_timeout (1000 ms): the file system hangs "
                   "(a network mount whose server does not answer?)\n")
