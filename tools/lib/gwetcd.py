"""etcd beside Greenwave in the same run (issue 19, item 5): a 3-member etcd cluster on loopback, measured with
the same Python HTTP/JSON client the Greenwave benchmark uses (etcd through its /v3 JSON gateway), and the
machine's own limits (append + fdatasync, loopback TCP round trip) measured in the same run.

`find_etcd()` looks for the etcd binary and, when it is missing and this runs as root, installs Debian's
`etcd-server` (apt-get); it returns (path, None) or (None, why not)."""
import base64, concurrent.futures, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

import gwhttp


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def find_etcd():
    path = shutil.which("etcd")
    if path:
        return path, None
    if os.geteuid() != 0:
        return None, "etcd is not installed and this is not root (apt-get install etcd-server)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "etcd-server"]
    r = subprocess.run(install, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        # A fresh machine has no package lists yet ("Unable to locate package"): fetch them, then try again.
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, env=env)
        r = subprocess.run(install, capture_output=True, text=True, env=env)
    path = shutil.which("etcd")
    if path:
        return path, None
    return None, "apt-get install etcd-server failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s); ports.append(s.getsockname()[1])
    for s in socks: s.close()
    return ports


def b64(s):
    return base64.b64encode(s.encode()).decode()


class EtcdCluster:
    """Three members, election timeout 300 ms and heartbeat 50 ms (Greenwave's loopback timing), fsync on
    (etcd always syncs its WAL), data in `work`."""

    def __init__(self, binary, work, election_ms=300, heartbeat_ms=50):
        self.binary, self.work = binary, work
        ports = free_ports(6)
        self.client = {i: ports[2 * i] for i in range(3)}
        self.peer = {i: ports[2 * i + 1] for i in range(3)}
        self.timing = (election_ms, heartbeat_ms)
        self.procs = {}
        self.initial = ",".join(f"m{i}=http://127.0.0.1:{self.peer[i]}" for i in range(3))

    def start(self, i, state="new"):
        e, h = self.timing
        log = open(os.path.join(self.work, f"etcd-m{i}.log"), "a")
        self.procs[i] = subprocess.Popen([
            self.binary, "--name", f"m{i}", "--data-dir", os.path.join(self.work, f"etcd-m{i}"),
            "--listen-client-urls", f"http://127.0.0.1:{self.client[i]}",
            "--advertise-client-urls", f"http://127.0.0.1:{self.client[i]}",
            "--listen-peer-urls", f"http://127.0.0.1:{self.peer[i]}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer[i]}",
            "--initial-cluster", self.initial, "--initial-cluster-state", state, "--initial-cluster-token", "gw-bench",
            "--election-timeout", str(e), "--heartbeat-interval", str(h), "--log-level", "warn"],
            stdout=log, stderr=log)

    def url(self, i, path):
        return f"http://127.0.0.1:{self.client[i]}{path}"

    def leader(self):
        for i in self.procs:
            if self.procs[i].poll() is not None: continue
            code, st = gwhttp.request("POST", self.url(i, "/v3/maintenance/status"), {}, timeout=1, kept=True)
            if code == 200 and st.get("leader") and st.get("leader") == st.get("header", {}).get("member_id"):
                return i
        return None

    def put(self, i, key, value, timeout=8):
        code, r = gwhttp.request("POST", self.url(i, "/v3/kv/put"), {"key": b64(key), "value": b64(value)}, timeout=timeout, kept=True)
        if code != 200 or "header" not in r:
            return None
        return int(r["header"]["revision"])

    def revision(self, i):
        code, r = gwhttp.request("POST", self.url(i, "/v3/kv/range"), {"key": b64("probe"), "serializable": True}, timeout=2, kept=True)
        return int(r["header"]["revision"]) if code == 200 and "header" in r else None

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None: p.kill()
        for p in self.procs.values(): p.wait()


def measure_etcd(binary, commands, clients, per_client, kills):
    """The same measures as the Greenwave benchmark: sequential write latency, visible on every member,
    throughput and latency with `clients` concurrent clients, failover after kill -9 of the leader."""
    work = tempfile.mkdtemp(prefix="gw-etcd-")
    c = EtcdCluster(binary, work)
    out = {}
    try:
        for i in range(3): c.start(i)
        t0 = time.time()
        while c.leader() is None:
            if time.time() - t0 > 30: raise RuntimeError("etcd: no leader within 30 s (see " + work + ")")
            time.sleep(0.05)
        time.sleep(1)
        L = c.leader()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=3)
        lat, visible = [], []
        for n in range(commands):
            t = time.perf_counter()
            rev = c.put(L, "k", str(n))
            if rev is None: raise RuntimeError("etcd: a put failed")
            lat.append((time.perf_counter() - t) * 1000)
            if n % 4 == 0:
                # Visible on every member: each is asked (serializable, its own state) until it has the revision.
                def wait(i):
                    while True:
                        r = c.revision(i)
                        if r is not None and r >= rev: return True
                        if time.perf_counter() - t > 5: return False
                if not all(pool.map(wait, range(3))): raise RuntimeError("etcd: a put not visible on every member within 5 s")
                visible.append((time.perf_counter() - t) * 1000)
        out["seq"] = (statistics.median(lat), pct(lat, 99), 1000 / statistics.mean(lat))
        out["visible"] = (statistics.median(visible), pct(visible, 99))
        if clients > 1:
            L = c.leader()
            lat_c = [[] for _ in range(clients)]
            errors = []
            gate = threading.Barrier(clients + 1)
            def run(k):
                c.revision(L)  # opens this thread's connection
                gate.wait()
                for n in range(per_client):
                    t = time.perf_counter()
                    if c.put(L, f"c{k}", str(n)) is None:
                        errors.append(k); return
                    lat_c[k].append((time.perf_counter() - t) * 1000)
            threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
            for th in threads: th.start()
            gate.wait()
            t0 = time.perf_counter()
            for th in threads: th.join()
            elapsed = time.perf_counter() - t0
            if errors: raise RuntimeError("etcd: a concurrent put failed")
            allc = [x for l in lat_c for x in l]
            out["tput"] = (len(allc) / elapsed, statistics.median(allc), pct(allc, 99))
        rss = []
        for p in c.procs.values():
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"): rss.append(int(line.split()[1]) / 1024)
        out["rss"] = (min(rss), max(rss))
        fail = []
        for _ in range(kills):
            L = c.leader()
            while L is None:
                time.sleep(0.05); L = c.leader()
            time.sleep(0.5)
            c.procs[L].send_signal(signal.SIGKILL); c.procs[L].wait()
            t = time.perf_counter()
            ok = False
            while time.perf_counter() - t < 15 and not ok:
                for i in c.procs:
                    if i != L and c.put(i, "k", "after-kill", timeout=0.3) is not None:
                        ok = True; break
            if not ok: raise RuntimeError("etcd: no write within 15 s after killing the leader")
            fail.append((time.perf_counter() - t) * 1000)
            c.start(L, state="existing")
            time.sleep(1.0)
        if fail: out["fail"] = (statistics.median(fail), max(fail), len(fail))
        return out
    finally:
        c.stop()
        shutil.rmtree(work, ignore_errors=True)


ECHO = """
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    b = c.recv(64)
    if not b: break
    c.sendall(b)
"""


def machine_limits(directory, n=500):
    """This machine's floor for a commit, measured now: appending 64 bytes to a file and fdatasync (the
    least a durable write costs), and a loopback TCP round trip (the least a message and its answer cost)."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sync = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, b"x" * 64)
            os.fdatasync(fd)
            sync.append((time.perf_counter() - t) * 1e6)
    finally:
        os.close(fd)
        os.unlink(path)
    # The echo runs in a process of its own, so that the round trip is the kernel's, not the interpreter's.
    echo = subprocess.Popen([sys.executable, "-c", ECHO], stdout=subprocess.PIPE, text=True)
    cli = socket.create_connection(("127.0.0.1", int(echo.stdout.readline())))
    cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rtt = []
    for _ in range(n * 4):
        t = time.perf_counter()
        cli.sendall(b"12345678")
        got = 0
        while got < 8: got += len(cli.recv(64))
        rtt.append((time.perf_counter() - t) * 1e6)
    cli.close(); echo.wait(5)
    return {"fsync": (statistics.median(sync), pct(sync, 99)), "rtt": (statistics.median(rtt), pct(rtt, 99))}
