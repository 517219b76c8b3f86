"""The state directory when kidguard starts as root with [server] user (issue 15, finding 7).

Root opens the LMDB store and then hands the state directory's files to the service user.
Whatever that user (or anyone) could have left in the directory must not make root open or
chown a file elsewhere: a symlink data.mdb -> a root file must leave that file root's and
untouched, and a directory others can write is refused with a message naming it.
These tests need root (they run as root in the project's test container); as anyone else they
are skipped with a loud message.
Run alone: /usr/bin/python3 tests/integration/test_statedir.py --build-dir build
"""

import os
import pwd
import signal
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402

SERVICE_USER = "nobody"


def _why_skip():
    if os.geteuid() != 0:
        return "not root: starting kidguard as root with [server] user cannot be tested"
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return "no user %r on this machine" % SERVICE_USER
    return None


SKIP = _why_skip()
if SKIP:
    sys.stderr.write("\n" + "!" * 72 + "\nSKIPPED test_statedir: %s\n" % SKIP + "!" * 72 + "\n")


@unittest.skipIf(SKIP, SKIP or "")
class StateDirTest(kgtest.KGTestCase):
    def setUp(self):
        # the service user must be able to reach the state directory once root is gone
        os.chmod(self.tmp, 0o755)
        self.up = self.start_upstream()

    def daemon(self, **server):
        d = self.start_daemon("127.0.0.1:%d" % self.up.port,
                              {"server": dict({"user": SERVICE_USER}, **server)}, start=False)
        return d

    def exits_refusing(self, d, expect):
        d.start(wait=False)
        self.assertTrue(kgtest.wait_until(lambda: not d.alive(), 10),
                        "kidguard kept running: " + d.log_text())
        self.assertNotEqual(d.proc.returncode, 0)
        self.assertIn(expect, d.log_text())
        self.exited(d)

    @staticmethod
    def exited(d):
        """kidguard exited as it should: nothing for the cleanup's stop() to check."""
        d.proc.wait()
        d._err.close()
        d.proc = None

    def symlink_is_not_followed(self, name):
        """NAME -> a root file: the file stays root's and unchanged, and kidguard refuses."""
        victim = os.path.join(self.tmp, "victim-" + name)
        with open(victim, "w") as f:
            f.write("root's secret\n")
        os.chmod(victim, 0o600)
        d = self.daemon()
        os.chmod(d.state, 0o750)
        os.symlink(victim, os.path.join(d.state, name))
        d.start(wait=False)
        kgtest.wait_until(lambda: not d.alive() or "dropped privileges" in d.log_text(), 10)
        st = os.stat(victim)
        self.assertEqual(st.st_uid, 0, "the symlink's target was given away: " + d.log_text())
        with open(victim) as f:
            self.assertEqual(f.read(), "root's secret\n")
        self.assertTrue(kgtest.wait_until(lambda: not d.alive(), 10),
                        "kidguard started on a symlinked state file: " + d.log_text())
        self.assertIn("state directory %s: %s is a symlink" % (d.state, name), d.log_text())
        self.exited(d)

    def test_symlinked_pid_file_is_not_chowned(self):
        """sync.pid: main chowned the symlink's target (chown follows links)."""
        self.symlink_is_not_followed("sync.pid")

    def test_symlinked_store_is_not_opened(self):
        self.symlink_is_not_followed("data.mdb")

    def test_symlinked_lock_file_is_not_opened(self):
        self.symlink_is_not_followed("lock.mdb")

    def test_hard_linked_pid_file_is_not_chowned(self):
        """A hard link to a root file (where fs.protected_hardlinks is off, the service user
        can make one) is refused too."""
        victim = os.path.join(self.tmp, "victim-hardlink")
        with open(victim, "w") as f:
            f.write("root's secret\n")
        d = self.daemon()
        os.chmod(d.state, 0o750)
        os.link(victim, os.path.join(d.state, "sync.pid"))
        self.exits_refusing(d, "state directory %s: sync.pid is a hard link" % d.state)
        self.assertEqual(os.stat(victim).st_uid, 0)

    def test_world_writable_state_dir_is_refused(self):
        d = self.daemon()
        os.chmod(d.state, 0o777)
        self.exits_refusing(d, "state directory %s is owned by uid 0 with mode 0777" % d.state)

    def test_state_dir_of_another_user_is_refused(self):
        d = self.daemon()
        os.chmod(d.state, 0o755)
        os.chown(d.state, 12345, 12345)
        self.exits_refusing(d, "state directory %s is owned by uid 12345" % d.state)

    def test_good_state_dir_is_given_to_the_service_user(self):
        """The ordinary case still works, and again on the next start (now nobody's dir)."""
        uid = pwd.getpwnam(SERVICE_USER).pw_uid
        d = self.daemon()
        os.chmod(d.state, 0o750)
        for _ in range(2):
            d.start()
            self.assertAliveAndAnswering(d)
            for name in ("", "data.mdb", "lock.mdb"):
                st = os.lstat(os.path.join(d.state, name))
                self.assertEqual(st.st_uid, uid, name)
                self.assertFalse(stat.S_ISLNK(st.st_mode))
            d.stop()


SYNC_USER = "daemon"  # an account Debian always has, other than SERVICE_USER


UNIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packaging",
                    "kidguard.service")


def unit_setting(key):
    """The (last) value of `key` in the shipped systemd unit."""
    value = None
    with open(UNIT) as f:
        for line in f:
            if line.startswith(key + "="):
                value = line.split("=", 1)[1].strip()
    return value


def proc_status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1:]
    return None


def proc_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


@unittest.skipIf(SKIP, SKIP or "")
class SyncUserTest(kgtest.KGTestCase):
    """Issue 19: started as root, the sync process runs as [sync] user (with the store's
    group), not as the daemon's user, writes the store, and is restarted as that user on
    SIGHUP."""

    def test_sync_process_runs_as_its_own_user(self):
        import kgfeed
        os.chmod(self.tmp, 0o755)
        pki = kgfeed.Pki(self.tmp)
        pub = kgfeed.Publisher(self.tmp)
        names = kgfeed.write_list(os.path.join(self.tmp, "list.txt"), ["own.kg-syncuser.test"])
        pub.publish([("gambling", names, "domains")])
        srv = kgfeed.FeedServer(self.tmp, pub.dir, pki).start()
        self.addCleanup(srv.stop)
        up = self.start_upstream()
        d = self.start_daemon("127.0.0.1:%d" % up.port, {
            "server": {"user": SERVICE_USER},
            "sync": {"url": srv.url(), "public_keys": pub.pub, "ca_file": pki.ca,
                     "interval": 3600, "user": SYNC_USER}}, start=False)
        os.chmod(d.state, 0o750)
        d.start()

        def blocked():
            r = kgtest.query(d.port, "own.kg-syncuser.test.", "A", timeout=2)
            return kgtest.answer_rdata(r, "A") == {"0.0.0.0"}
        self.assertTrue(kgtest.wait_until(blocked, 20), d.log_text()[-3000:])
        pidfile = os.path.join(d.state, "sync.pid")
        pid = int(open(pidfile).read())
        self.assertEqual(proc_uid(pid), pwd.getpwnam(SYNC_USER).pw_uid)
        self.assertEqual(proc_uid(d.proc.pid), pwd.getpwnam(SERVICE_USER).pw_uid)
        gid = pwd.getpwnam(SERVICE_USER).pw_gid
        for name in ("data.mdb", "lock.mdb"):
            st = os.lstat(os.path.join(d.state, name))
            self.assertEqual((st.st_gid, stat.S_IMODE(st.st_mode)), (gid, 0o660), name)
        # SIGHUP with a new [sync]: restarted through the launcher, as the same user.
        d.sections["sync"]["interval"] = "1800"
        d.write_config()
        d.send_signal(signal.SIGHUP)

        def new_pid():
            try:
                p = int(open(pidfile).read())
            except (OSError, ValueError):
                return None
            return p if p != pid else None
        self.assertTrue(kgtest.wait_until(lambda: new_pid() is not None, 15),
                        d.log_text()[-3000:])
        self.assertEqual(proc_uid(new_pid()), pwd.getpwnam(SYNC_USER).pw_uid)
        self.assertAliveAndAnswering(d)


    def test_under_the_units_privileges(self):
        """The shipped unit starts kidguard as root with `-u kidguard` and a bounding set:
        with exactly that set (setpriv, as systemd would; NoNewPrivileges too) and no
        [server] user in the config, it binds port 53, the resolver ends as the -u user with
        no capability left, the sync process as [sync] user with none, and only the sync
        launcher keeps the bounding set."""
        import kgfeed
        import shutil
        setpriv = shutil.which("setpriv")
        if not setpriv:
            self.skipTest("setpriv (util-linux) missing")
        self.assertIsNone(unit_setting("User"), "the unit starts as root")
        execstart = unit_setting("ExecStart").split()
        self.assertEqual(execstart[1:3], ["-u", "kidguard"], execstart)
        caps = unit_setting("CapabilityBoundingSet").split()
        bset = "-all," + ",".join("+" + c[len("CAP_"):].lower() for c in caps)
        os.chmod(self.tmp, 0o755)
        pki = kgfeed.Pki(self.tmp)
        pub = kgfeed.Publisher(self.tmp)
        names = kgfeed.write_list(os.path.join(self.tmp, "list.txt"), ["unit.kg-syncuser.test"])
        pub.publish([("gambling", names, "domains")])
        srv = kgfeed.FeedServer(self.tmp, pub.dir, pki).start()
        self.addCleanup(srv.stop)
        up = self.start_upstream()
        low = "127.0.0.77"  # port 53 there: CAP_NET_BIND_SERVICE must be in the set
        d = self.start_daemon("127.0.0.1:%d" % up.port, {
            "server": {"listen": "127.0.0.1:%d, %s:53" % (kgtest.free_port(v6=False), low)},
            "sync": {"url": srv.url(), "public_keys": pub.pub, "ca_file": pki.ca,
                     "interval": 3600, "user": SYNC_USER}}, start=False, v6=False)
        d.port = int(d.sections["server"]["listen"].split(",")[0].rsplit(":", 1)[1])
        d.write_config()
        d.prefix = [setpriv, "--bounding-set=" + bset, "--inh-caps=-all", "--no-new-privs"]
        d.args = ["-u", SERVICE_USER]  # the unit's -u kidguard, with a user this machine has
        os.chmod(d.state, 0o750)
        d.start()

        def blocked():
            r = kgtest.query(53, "unit.kg-syncuser.test.", "A", addr=low, timeout=2)
            return kgtest.answer_rdata(r, "A") == {"0.0.0.0"}
        self.assertTrue(kgtest.wait_until(blocked, 20), d.log_text()[-3000:])
        with open(os.path.join(d.state, "sync.pid")) as f:
            sync_pid = int(f.read())
        self.assertEqual(proc_uid(d.proc.pid), pwd.getpwnam(SERVICE_USER).pw_uid)
        self.assertEqual(proc_uid(sync_pid), pwd.getpwnam(SYNC_USER).pw_uid)
        for pid in (d.proc.pid, sync_pid):
            for field in ("CapPrm", "CapEff", "CapAmb"):
                self.assertEqual(int(proc_status(pid, field)[0], 16), 0, (pid, field))
        # the launcher: the daemon's other child, root with the bounding set
        with open("/proc/%d/task/%d/children" % (d.proc.pid, d.proc.pid)) as f:
            kids = [int(p) for p in f.read().split()]
        launcher = [p for p in kids if p != sync_pid and proc_uid(p) == 0]
        self.assertEqual(len(launcher), 1, kids)
        self.assertEqual(proc_status(launcher[0], "CapBnd"), proc_status(d.proc.pid, "CapBnd"))
        self.assertEqual(proc_status(d.proc.pid, "NoNewPrivs"), ["1"])
        self.assertAliveAndAnswering(d)


if __name__ == "__main__":
    kgtest.main()
