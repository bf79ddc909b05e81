"""The topology of `make cluster-test`, on one machine and loopback only:

  - a GlusterFS volume of one brick (glusterd on 127.0.0.10), mounted
    three times through FUSE: mount a for host A, mount b for host B,
    mount m for the MDA and the other programs that write to the store;
  - imapd host A on 127.0.0.2 and host B on 127.0.0.3, each with its
    Maildir root on its own mount, serving the same user;
  - imapd-router asking both, and nginx's mail proxy in front, which
    clients reach from 127.0.0.5.

The volume and its mounts last the whole run; the hosts, the router
and nginx are new for each test.  Root only: glusterd and FUSE mounts
need it."""

import os
import shutil

import pytest

import glusterfs
import imapdtest
import mailactors as ma
import nginxmail
from imaprouter import Router

HOSTS = ("127.0.0.2", "127.0.0.3")
# GlusterFS's FUSE client keeps file data and attributes in the kernel's
# caches and in caches of its own (quick-read serves a small file's
# content from an earlier open, io-cache and md-cache likewise), which
# neither taking a lock nor opening the file revalidates, unlike an NFS
# client (close-to-open consistency; a lock revalidates).  With them a
# host reads the other's UID cache journal as it was before the other
# host's last commit, and the UID contract breaks.  So the mounts bypass
# the kernel's caches and the volume's own caches are off: the volume
# then behaves as the NFS the hosts are meant for.
# IMAPD_CLUSTER_MOUNT_OPTIONS and IMAPD_CLUSTER_CACHES=on put them back.
MOUNT_OPTIONS = os.environ.get(
    "IMAPD_CLUSTER_MOUNT_OPTIONS", "attribute-timeout=0,entry-timeout=0,"
    "negative-timeout=0,direct-io-mode=enable")
CACHES = {k: "off" for k in (
    "performance.quick-read", "performance.io-cache",
    "performance.read-ahead", "performance.stat-prefetch",
    "performance.open-behind", "performance.write-behind",
    "performance.readdir-ahead")}
VOLUME_OPTIONS = {} if os.environ.get("IMAPD_CLUSTER_CACHES") == "on" \
    else CACHES
CLIENT = "127.0.0.5"
MOUNTS = ("a", "b", "m")

TEMPLATE = 2000             # messages in the torture test's INBOX
FIGURE_USERS = 20
# imapd.conf keys of the store on a shared file system that a host of
# the topology sets when its imapd knows them (see supported()); hostname
# and store_marker are set per host
STORE_KEYS = {"hostname": "hostx", "idle_poll": "1s", "lock_timeout": "3s",
              "store_marker": "/nonexistent/.imapd-store"}
MARKER = ".imapd-store"


class UserOn:
    """The mail user with its Maildir seen through one mount."""

    def __init__(self, user, maildir):
        self._user = user
        self._maildir = maildir

    def __getattr__(self, name):
        return getattr(self._user, name)

    def maildir(self):
        return self._maildir


def supported(build, workdir, key, value):
    """Whether this imapd takes key = value (imapd -t names an unknown
    key; the other problems -t finds here do not matter)."""
    conf = workdir / f"probe-{key}.conf"
    conf.write_text(f"{key} = {value}\n")
    p = imapdtest.run([build.imapd, "-t", "-c", conf], check=False,
                      env=build.env())
    return f"{conf}:1: {key}:" not in p.stderr.decode(errors="replace")


@pytest.fixture(scope="session")
def volume(workdir):
    if os.geteuid() != 0:
        pytest.fail("the cluster tests need root (glusterd, FUSE mounts)")
    if not (nginxmail.NGINX.exists() and nginxmail.MAIL_MODULE.exists()):
        pytest.fail("nginx's mail proxy is missing: install nginx-light "
                    "and libnginx-mod-mail (tools/install-deps.sh)")
    glusterfs.ensure_installed()
    v = glusterfs.Volume(workdir / "gluster", options=VOLUME_OPTIONS)
    try:
        v.start()
        for n in MOUNTS:
            v.mount(workdir / "mnt" / n, MOUNT_OPTIONS)
        (v.mounts[0] / MARKER).touch()
    except BaseException:
        v.stop()
        raise
    yield v
    v.stop()


@pytest.fixture(scope="session")
def store_keys(build, workdir):
    """The store settings this imapd knows, with the values the hosts
    use; hostname is set per host."""
    return {k: v for k, v in STORE_KEYS.items()
            if supported(build, workdir, k, v)}


@pytest.fixture(scope="session")
def gluster_template(volume, mailuser):
    """The torture test's messages, on the volume (a link into a Maildir
    cannot cross file systems), seen through the MDA's mount."""
    view_m = UserOn(mailuser, volume.mounts[2] / "home" / "Maildir")
    return ma.Template(volume.mounts[2], view_m, TEMPLATE, tag="cluster",
                       new=100)


@pytest.fixture(scope="session")
def many_users(workdir, mailuser):
    """A userdb of FIGURE_USERS virtual users with one password, all the
    mail user's uid and home (the hosts' mail_location puts them in one
    Maildir), so that the router spreads their logins over the hosts;
    (its path, [(name, password)])."""
    d = workdir / "many-users"
    d.mkdir()
    password = "fig-pw-" + mailuser.password[-8:]
    tool = imapdtest.ROOT / "tools" / "imapd-userdb"
    h = imapdtest.run([tool, "-p", "-m", "sha512"],
                      input=(password + "\n").encode()).stdout.decode()
    names = [f"fig{i}" for i in range(FIGURE_USERS)]
    (d / "userdb").write_text("".join(
        f"{n}:{h.strip()}:{mailuser.uid}:{mailuser.gid}:{mailuser.home}\n"
        for n in names))
    imapdtest.run([tool, "-o", d / "userdb.cdb", d / "userdb"])
    return d / "userdb.cdb", [(n, password) for n in names]


class Cluster:
    def __init__(self, volume, mailuser, views):
        self.volume = volume
        self.mailuser = mailuser
        self.views = views          # mount name -> UserOn
        self.client = CLIENT        # where proxied sessions come from
        self.hosts = []
        self.router = None
        self.nginx = None

    def other(self, host):
        return next(h for h in self.hosts if h is not host)

    def logins(self, host):
        """How many logins from the client through the proxy host's log
        shows."""
        return host.log().count(
            f"user={self.mailuser.name} rip={CLIENT}: logged in")

    def session(self, port=None, host=None, login=None, select=True):
        """A logged-in raw session through nginx (or straight to host)
        with INBOX selected unless select is false; (the Raw client,
        its SELECT lines).  login: (name, password), the mail user's by
        default."""
        if host is None:
            c = imapdtest.Raw(port or self.nginx.port, source=CLIENT,
                              timeout=30)
        else:
            c = host.raw()
        greet = c.line()
        assert greet.startswith("* OK"), greet
        name, password = login or (self.mailuser.name,
                                    self.mailuser.password)
        r = c.cmd("a", f"LOGIN {name} {password}")
        assert r[-1].startswith("a OK"), r
        if not select:
            return c, r
        r = c.cmd("b", "SELECT INBOX")
        assert r[-1].startswith("b OK"), r
        return c, r


@pytest.fixture
def cluster_factory(volume, server_factory, build, mailuser, store_keys,
                    tmp_path):
    """make(proxy=True): an empty Maildir on the volume and both hosts
    started on it; with proxy, the hosts expect nginx's PROXY header and
    the router and nginx run in front of them."""
    made = []

    def make(proxy=True, **overrides):
        views = {n: UserOn(mailuser, volume.mounts[i] / "home" / "Maildir")
                 for i, n in enumerate(MOUNTS)}
        home = views["m"].maildir().parent
        if home.exists():
            shutil.rmtree(home)
        home.mkdir(mode=0o700)
        ma.chown(mailuser, home)
        ma.make_folder(views["m"], "INBOX")
        c = Cluster(volume, mailuser, views)
        made.append(c)
        for addr, n in zip(HOSTS, ("a", "b")):
            keys = dict(mail_location=str(views[n].maildir()), mmap="no",
                        allow_plaintext_auth="yes", max_sessions="1000",
                        max_user_sessions="0",
                        max_user_sessions_per_address="0",
                        max_prelogin_per_address="0")
            keys.update(store_keys)
            if "hostname" in keys:
                keys["hostname"] = "host" + n
            if "store_marker" in keys:
                keys["store_marker"] = str(views[n].maildir().parents[1] /
                                           MARKER)
            if proxy:
                keys.update(proxy_protocol="yes",
                            trusted_proxies="127.0.0.1")
            keys.update(overrides)
            c.hosts.append(server_factory(host=addr, **keys))
        if proxy:
            c.router = Router(build, tmp_path / "router", c.hosts,
                              pin="1h", check_proxy="yes",
                              check_interval="1s", check_timeout="1s")
            c.router.start()
            for h in c.hosts:
                c.router.wait_up(h)
            c.nginx = nginxmail.Nginx(tmp_path / "nginx", c.router.port,
                                      connections=2048)
        return c

    yield make
    for c in made:
        if c.nginx:
            c.nginx.stop()
        if c.router:
            c.router.stop()
            print(f"--- router log ---\n{c.router.log()}")


FIGURES = []


@pytest.fixture(scope="session")
def figures():
    """Lines a test adds here are printed at the end of the run."""
    return FIGURES


def pytest_terminal_summary(terminalreporter):
    """The figures the tests measured (never asserted)."""
    if FIGURES:
        terminalreporter.section("cluster figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
