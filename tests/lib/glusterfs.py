"""GlusterFS on loopback, the shared store of `make cluster-test`: a
private glusterd (its own working directory, control socket and log,
listening on 127.0.0.10 only), one volume of one brick on a local
directory, and any number of FUSE mounts of it, each standing for one
host's NFS mount.  Debian's glusterfs-server and glusterfs-client,
installed on first use as root.  Everything it starts it stops again,
each step bounded in time."""

import os
import pathlib
import signal
import subprocess
import time

GLUSTERD = pathlib.Path("/usr/sbin/glusterd")
GLUSTER = pathlib.Path("/usr/sbin/gluster")
MOUNT_HELPER = pathlib.Path("/sbin/mount.glusterfs")
PACKAGES = ["glusterfs-server", "glusterfs-client"]
# the brick's address: glusterd refuses 127.0.0.1 and "localhost" for a
# brick, but takes any other loopback address as its own
ADDR = "127.0.0.10"
POLICY = pathlib.Path("/usr/sbin/policy-rc.d")


class GlusterError(Exception):
    pass


def installed():
    return GLUSTERD.exists() and GLUSTER.exists() and \
        (MOUNT_HELPER.exists() or pathlib.Path("/usr/sbin/mount.glusterfs")
         .exists())


def ensure_installed(log=print):
    """Install the packages with apt-get unless they are there (root
    only).  Debian would start its own glusterd on every address while
    installing: a policy-rc.d that refuses service starts stops that
    (one already there is left alone)."""
    if installed():
        return
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
    if os.geteuid() != 0:
        raise GlusterError("GlusterFS is not installed; as root run:\n  " +
                           " ".join(cmd))
    log("installing GlusterFS: " + " ".join(cmd))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    ours = not POLICY.exists()
    if ours:
        POLICY.write_text("#!/bin/sh\nexit 101\n")
        POLICY.chmod(0o755)
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, timeout=900)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update"], env=env,
                           capture_output=True, timeout=900, check=True)
            subprocess.run(cmd, env=env, capture_output=True, timeout=900,
                           check=True)
    finally:
        if ours:
            POLICY.unlink()
    if not installed():
        raise GlusterError("apt-get installed %s but %s is missing" %
                           (" ".join(PACKAGES), GLUSTERD))


def _run(cmd, timeout=120, check=True):
    r = subprocess.run([str(c) for c in cmd], capture_output=True,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise GlusterError("%s: exit %d: %s%s" % (
            " ".join(str(c) for c in cmd), r.returncode, r.stdout,
            r.stderr))
    return r


class Volume:
    """A volume `name` whose brick is d/brick, managed by a glusterd
    whose state lives under d.  start() brings it up, mount() adds a
    client, stop() undoes all of it and may be called at any point."""

    def __init__(self, d, name="imapdcluster", options=None):
        """options: volume options set before it starts ({key: value},
        as `gluster volume set` takes them)."""
        self.dir = pathlib.Path(d)
        self.name = name
        self.options = options or {}
        self.brick = self.dir / "brick"
        self.sock = self.dir / "glusterd.socket"
        self.pidfile = self.dir / "glusterd.pid"
        self.logdir = self.dir / "log"
        self.mounts = []
        self.created = False

    def cli(self, *args, timeout=120, check=True):
        return _run([GLUSTER, "--mode=script",
                     f"--glusterd-sock={self.sock}",
                     f"--log-file={self.logdir / 'cli.log'}", *args],
                    timeout=timeout, check=check)

    def start(self):
        for p in (self.dir, self.brick, self.dir / "state", self.logdir):
            p.mkdir(parents=True, exist_ok=True)
        vol = self.dir / "glusterd.vol"
        vol.write_text(f"""volume management
    type mgmt/glusterd
    option working-directory {self.dir / 'state'}
    option glusterd-sockfile {self.sock}
    option transport-type socket
    option transport.socket.bind-address {ADDR}
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
end-volume
""")
        # glusterd forks into the background once it is set up
        _run([GLUSTERD, "-f", vol, "-p", self.pidfile, "-l",
              self.logdir / "glusterd.log"], timeout=60)
        self._until(lambda: self.cli("volume", "list", timeout=30,
                                     check=False).returncode == 0,
                    60, "glusterd does not answer on " + str(self.sock))
        # force: a brick on the root file system is what a test has
        self.cli("volume", "create", self.name, "transport", "tcp",
                 f"{ADDR}:{self.brick}", "force")
        self.created = True
        for k, v in self.options.items():
            self.cli("volume", "set", self.name, k, v)
        self.cli("volume", "start", self.name)

    def mount(self, path, options=""):
        """A FUSE mount of the volume on path (created), with the
        mount.glusterfs options given (comma-separated); returns it."""
        path = pathlib.Path(path)
        path.mkdir(parents=True, exist_ok=True)
        log = self.logdir / ("mount-" + path.name + ".log")
        opts = f"log-file={log}" + ("," + options if options else "")
        _run(["mount", "-t", "glusterfs", "-o", opts,
              f"{ADDR}:/{self.name}", path], timeout=60)
        self.mounts.append(path)
        self._until(lambda: os.path.ismount(path), 30,
                    f"{path} is not mounted")
        return path

    def stop(self):
        """Unmount, stop and delete the volume, stop glusterd; every
        step runs even when one before it failed, and the first failure
        is raised at the end."""
        errors = []
        for m in reversed(self.mounts):
            r = _run(["umount", m], timeout=60, check=False)
            if r.returncode != 0 and os.path.ismount(m):
                # a process still in it: detach it now, it goes when
                # that process does
                r = _run(["umount", "-l", m], timeout=60, check=False)
                if r.returncode != 0:
                    errors.append(f"umount {m}: {r.stderr}")
        self.mounts = []
        if self.created:
            for args in (("volume", "stop", self.name, "force"),
                         ("volume", "delete", self.name)):
                try:
                    self.cli(*args)
                except (GlusterError, subprocess.TimeoutExpired) as e:
                    errors.append(str(e))
            self.created = False
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
                self._until(lambda: not _alive(pid), 30,
                            f"glusterd {pid} does not exit")
            except ProcessLookupError:
                pass
            except GlusterError as e:
                errors.append(str(e))
                os.kill(pid, signal.SIGKILL)
            self.pidfile.unlink(missing_ok=True)
        if errors:
            raise GlusterError("; ".join(errors))

    @staticmethod
    def _until(cond, seconds, what):
        deadline = time.monotonic() + seconds
        while not cond():
            if time.monotonic() > deadline:
                raise GlusterError(what)
            time.sleep(0.1)


def _alive(pid):
    """pid runs (and is not a zombie: glusterd forked away from us)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] not in ("Z", "X")
