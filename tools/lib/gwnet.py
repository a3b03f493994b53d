"""A test network of real hosts on this machine: one Linux network namespace per controller.

Layout (prefix P, default "gwn"):
  P-hub      a namespace holding only the bridge br0; every host's cable (a veth pair) ends there
  P-c        the client host, 10.77.255.1/16 (benchmarks and tests talk to the controllers from here)
  P-sI       the I-th signal of the corridor (corridor order, I = 1...128), 10.77.0.I/16, eth0

Link conditions (latency, jitter, loss, reordering) per direction of each controller-to-controller link.
This machine's kernel has no `netem` qdisc, so the conditions are applied by a small user-space queue
daemon instead (`netemd` below): each host's iptables OUTPUT sends packets for the other controllers to
NFQUEUE 0 of its namespace, and the daemon holds each packet for its link's delay before accepting it, or
drops it. A link keeps its packets in order (a delayed packet never overtakes the one before it) unless
`reorder_percent` sends a share of them at once, as netem's reorder does. If the daemon dies, queued
traffic is dropped (no bypass): a dead emulator shows as a dead network, never as a perfect one.

Faults, by namespace: a host's cable down (its veth in the hub), a partition of a set of hosts from the
rest, an asymmetric partition (A's packets to B dropped at A), a flapping cable; `heal` undoes them all.
Fault rules live in chain GWFAULT of each host's iptables, ahead of the queue.

Everything this module creates carries the prefix; `cleanup(prefix)` kills every process inside those
namespaces (ip netns pids), stops the daemon, and deletes the namespaces, whatever state a crashed run
left. Only addresses inside these namespaces are ever used.
"""
import ctypes, heapq, json, os, random, re, select, shutil, signal, socket, struct, subprocess, sys, time

CLONE_NEWNET = 0x40000000
HOST_NET = "10.77.0"          # controllers: 10.77.0.1 ... 10.77.0.128
CLIENT_ADDR = "10.77.255.1"
PREFIX_LEN = 16
PEER_PORT, API_PORT = 7000, 8000
MAX_HOSTS = 128

PROFILES = {
    # one-way, per direction of each link
    "none": None,
    "lan": {"delay_ms": 0.25, "jitter_ms": 0.1, "loss_percent": 0.0, "reorder_percent": 0.0},
    "field": {"delay_ms": 20.0, "jitter_ms": 5.0, "loss_percent": 1.0, "reorder_percent": 0.0},
    "cellular": {"delay_ms": 60.0, "jitter_ms": 30.0, "loss_percent": 3.0, "reorder_percent": 0.0},
}


def iptables_binary():
    for b in ("iptables-legacy", "iptables"):
        if shutil.which(b):
            return b
    return None


def run(args, check=True, quiet=True):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def available():
    """None if namespaces, veth, the bridge and NFQUEUE work here; otherwise why not (printed by skipped tests)."""
    if os.geteuid() != 0:
        return "not root (ip netns needs CAP_SYS_ADMIN)"
    if not shutil.which("ip"):
        return "no `ip` (Debian package iproute2)"
    if not iptables_binary():
        return "no `iptables` (Debian package iptables)"
    probe = f"gwprobe{os.getpid() % 100000}"
    try:
        r = run(["ip", "netns", "add", probe], check=False)
        if r.returncode != 0:
            return f"`ip netns add` failed: {r.stderr.strip()}"
        r = run(["ip", "-n", probe, "link", "add", "pa", "type", "veth", "peer", "name", "pb"], check=False)
        if r.returncode != 0:
            return f"no veth pairs: {r.stderr.strip()}"
        r = run(["ip", "-n", probe, "link", "add", "br0", "type", "bridge"], check=False)
        if r.returncode != 0:
            return f"no bridges: {r.stderr.strip()}"
        r = run(["ip", "netns", "exec", probe, iptables_binary(), "-A", "OUTPUT", "-d", "10.0.0.1", "-j", "NFQUEUE",
                 "--queue-num", "0"], check=False)
        if r.returncode != 0:
            return f"no iptables NFQUEUE target: {r.stderr.strip()}"
        return None
    finally:
        run(["ip", "netns", "del", probe], check=False)


# MARK: namespaces and processes

def namespaces(prefix):
    r = run(["ip", "netns", "list"], check=False)
    names = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]
    return [n for n in names if n.startswith(prefix + "-")]


def cleanup(prefix, state_dir=None, quiet=False):
    """Removes everything a run with this prefix made: processes inside its namespaces, the queue daemon,
    the namespaces. Safe to call at any time, any number of times."""
    said = []
    dirs = [state_dir] if state_dir else []
    dirs.append(default_state_dir(prefix))
    for d in dirs:
        pidfile = os.path.join(d, "netemd.pid")
        if os.path.exists(pidfile):
            try:
                pid = int(open(pidfile).read().strip())
                if _is_netemd(pid):
                    os.kill(pid, signal.SIGKILL)
                    said.append(f"stopped netemd {pid}")
            except (ValueError, ProcessLookupError, PermissionError):
                pass
            os.unlink(pidfile)
    for ns in namespaces(prefix):
        pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
        for p in pids:
            if p == str(os.getpid()):
                continue      # this process, when it moved into the client namespace (enter_client)
            try:
                os.kill(int(p), signal.SIGKILL)
                said.append(f"killed {p} in {ns}")
            except (ValueError, ProcessLookupError):
                pass
    for ns in namespaces(prefix):
        run(["ip", "netns", "del", ns], check=False)
        said.append(f"deleted {ns}")
    if os.path.isdir("/etc/netns"):
        for d in os.listdir("/etc/netns"):
            if d.startswith(prefix + "-"):
                shutil.rmtree(os.path.join("/etc/netns", d), ignore_errors=True)
                said.append(f"removed /etc/netns/{d}")
    if not quiet:
        for s in said:
            print(f"netns cleanup: {s}", file=sys.stderr)
    return said


def _is_netemd(pid):
    try:
        return b"netemd" in open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return False


def default_state_dir(prefix):
    return os.path.join("/tmp", f"gwnet-{prefix}")


def host_name(prefix, i):
    return f"s{i}.{prefix}.corridor.test"


def rewrite_corridor(yaml, names_prefix=None):
    """The corridor file with every signal on its own host, all on the same ports (the field layout);
    with `names_prefix`, hosts are DNS names (s1.PREFIX.corridor.test, resolved through the namespaces'
    own /etc/hosts). Returns (yaml, [signal ids in corridor order])."""
    ids = []
    out = []
    for line in yaml.splitlines(keepends=True):
        m = re.match(r'(\s*- \{ id: (\d+),.*?)peer: "[^"]*", api: "[^"]*"(.*)', line)
        if m:
            ids.append(int(m.group(2)))
            i = len(ids)
            host = host_name(names_prefix, i) if names_prefix else f"{HOST_NET}.{i}"
            line = f'{m.group(1)}peer: "{host}:{PEER_PORT}", api: "{host}:{API_PORT}"{m.group(3)}\n'
        out.append(line)
    if not ids:
        raise RuntimeError("no signals of the form `- { id: N, ..., peer: \"..\", api: \"..\" }` in the corridor file")
    if len(ids) > MAX_HOSTS:
        raise RuntimeError(f"{len(ids)} signals: this network has room for {MAX_HOSTS}")
    return "".join(out), ids


class Network:
    """One test network. `Network.create(...)` builds it; `Network.load(state_dir)` finds a running one."""

    def __init__(self, state):
        self.state = state
        self.prefix = state["prefix"]
        self.dir = state["dir"]
        self.ipt = state["iptables"]
        self.hosts = {h["signal"]: h for h in state["hosts"]}   # signal id -> host
        self.procs = {}

    # --- construction

    @classmethod
    def create(cls, corridor_yaml, prefix="gwn", state_dir=None, profile="field", seed=1, names=False):
        reason = available()
        if reason:
            raise RuntimeError(f"cannot build the namespace network: {reason}")
        state_dir = state_dir or default_state_dir(prefix)
        if namespaces(prefix):
            raise RuntimeError(f"namespaces with prefix {prefix}- exist already (another run, or a crashed one: "
                               f"`tools/netns cleanup --prefix {prefix}`)")
        os.makedirs(state_dir, exist_ok=True)
        yaml, ids = rewrite_corridor(corridor_yaml, prefix if names else None)
        corridor = os.path.join(state_dir, "corridor.yaml")
        open(corridor, "w").write(yaml)
        hosts = [{"signal": s, "index": i + 1, "ns": f"{prefix}-s{i + 1}", "addr": f"{HOST_NET}.{i + 1}",
                  "veth": f"v{i + 1}"} for i, s in enumerate(ids)]
        state = {"prefix": prefix, "dir": state_dir, "corridor": corridor, "hosts": hosts,
                 "hub": f"{prefix}-hub", "client": f"{prefix}-c", "iptables": iptables_binary(), "seed": seed}
        net = cls(state)
        try:
            if names:
                # `ip netns exec NS` bind-mounts /etc/netns/NS/hosts over /etc/hosts: the names resolve in
                # these hosts only.
                lines = "".join(f"{h['addr']} {host_name(prefix, h['index'])}\n" for h in hosts)
                for ns in [state["client"]] + [h["ns"] for h in hosts]:
                    os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
                    open(f"/etc/netns/{ns}/hosts", "w").write("127.0.0.1 localhost\n" + lines)
            net._build()
            net.set_conditions(profile, seed=seed)
            net._start_netemd()
        except BaseException:
            cleanup(prefix, state_dir, quiet=True)
            raise
        json.dump(state, open(os.path.join(state_dir, "state.json"), "w"), indent=1)
        return net

    @classmethod
    def load(cls, state_dir):
        return cls(json.load(open(os.path.join(state_dir, "state.json"))))

    def _build(self):
        hub, client = self.state["hub"], self.state["client"]
        ends = [(client, "vc", CLIENT_ADDR)] + [(h["ns"], h["veth"], h["addr"]) for h in self.state["hosts"]]
        # `ip -batch` takes no -n per line: one batch in the root namespace, then one per namespace.
        root = [f"netns add {hub}"] + [f"netns add {ns}" for ns, _, _ in ends]
        root += [f"link add {veth} netns {hub} type veth peer name eth0 netns {ns}" for ns, veth, _ in ends]
        batches = [(None, root), (hub, ["link add br0 type bridge", "link set br0 up", "link set lo up"]
                                  + [c for _, veth, _ in ends for c in (f"link set {veth} master br0", f"link set {veth} up")])]
        batches += [(ns, ["link set lo up", f"addr add {addr}/{PREFIX_LEN} dev eth0", "link set eth0 up"]) for ns, _, addr in ends]
        for i, (ns, lines) in enumerate(batches):
            path = os.path.join(self.dir, f"build-{i}.batch")
            open(path, "w").write("\n".join(lines) + "\n")
            run(["ip"] + (["-n", ns] if ns else []) + ["-batch", path])
        for h in self.state["hosts"]:
            self._ipt(h, "-N", "GWFAULT")
            self._ipt(h, "-A", "INPUT", "-j", "GWFAULT")
            self._ipt(h, "-A", "OUTPUT", "-j", "GWFAULT")

    def _ipt(self, host, *args, check=True):
        return run(["ip", "netns", "exec", host["ns"], self.ipt] + list(args), check=check)

    # --- link conditions

    def set_conditions(self, profile, links=None, seed=None):
        """`profile`: a name of PROFILES or a dict; `links`: {(from_signal, to_signal): dict} overrides."""
        default = PROFILES[profile] if isinstance(profile, str) else profile
        conf = {"default": default, "seed": self.state["seed"] if seed is None else seed,
                "links": {f"{self.hosts[a]['addr']}>{self.hosts[b]['addr']}": c for (a, b), c in (links or {}).items()},
                "hosts": [h["ns"] for h in self.state["hosts"]]}
        tmp = os.path.join(self.dir, "conditions.json.tmp")
        json.dump(conf, open(tmp, "w"), indent=1)
        os.replace(tmp, os.path.join(self.dir, "conditions.json"))
        queued = default is not None or bool(links)
        for h in self.state["hosts"]:
            # Only controller-to-controller packets go through the queue; the client's links are clean.
            rule = ["OUTPUT", "-d", f"{HOST_NET}.0/24", "-j", "NFQUEUE", "--queue-num", "0"]
            present = self._ipt(h, "-C", *rule, check=False).returncode == 0
            if queued and not present:
                self._ipt(h, "-A", *rule)
            elif not queued and present:
                self._ipt(h, "-D", *rule)
        pid = self._netemd_pid()
        if pid:
            os.kill(pid, signal.SIGHUP)

    def _netemd_pid(self):
        try:
            pid = int(open(os.path.join(self.dir, "netemd.pid")).read())
            return pid if _is_netemd(pid) else None
        except (OSError, ValueError):
            return None

    def _start_netemd(self):
        log = open(os.path.join(self.dir, "netemd.log"), "a")
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "netemd", self.dir], stdout=log, stderr=log,
                             start_new_session=True)
        open(os.path.join(self.dir, "netemd.pid"), "w").write(str(p.pid))
        ready = os.path.join(self.dir, "netemd.ready")
        t0 = time.time()
        while not os.path.exists(ready):
            if p.poll() is not None:
                raise RuntimeError(f"netemd exited ({p.returncode}); see {self.dir}/netemd.log")
            if time.time() - t0 > 20:
                raise RuntimeError("netemd did not bind its queues within 20 s")
            time.sleep(0.05)

    # --- faults

    def link(self, signal_id, up):
        """A host's cable: down cuts it from every other host (and the client), both ways."""
        run(["ip", "-n", self.state["hub"], "link", "set", self.hosts[signal_id]["veth"], "up" if up else "down"])

    def partition(self, group):
        """Cuts the hosts in `group` (signal ids) off from every other controller, both ways."""
        group = set(group)
        for s in group:
            for o in self.hosts:
                if o not in group:
                    addr = self.hosts[o]["addr"]
                    self._ipt(self.hosts[s], "-A", "GWFAULT", "-s", addr, "-j", "DROP")
                    self._ipt(self.hosts[s], "-A", "GWFAULT", "-d", addr, "-j", "DROP")

    def drop_one_way(self, src, dst):
        """An asymmetric partition: packets from `src` to `dst` are dropped (at `src`); `dst` to `src` flows."""
        self._ipt(self.hosts[src], "-A", "GWFAULT", "-d", self.hosts[dst]["addr"], "-j", "DROP")

    def flap(self, signal_id, down_s, up_s, cycles):
        for _ in range(cycles):
            self.link(signal_id, False)
            time.sleep(down_s)
            self.link(signal_id, True)
            time.sleep(up_s)

    def heal(self):
        for s, h in self.hosts.items():
            self._ipt(h, "-F", "GWFAULT")
            self.link(s, True)

    # --- controllers

    def controller_args(self, signal_id, binary, data_root, extra):
        return ["ip", "netns", "exec", self.hosts[signal_id]["ns"], binary, "controller", "--corridor",
                self.state["corridor"], "--signal", str(signal_id), "--data",
                os.path.join(data_root, f"s{signal_id}"), "--read-access", "open"] + list(extra)

    def start(self, signal_id, binary, data_root, extra=()):
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        log = open(os.path.join(self.dir, "logs", f"s{signal_id}.log"), "a")
        p = subprocess.Popen(self.controller_args(signal_id, binary, data_root, extra), stdout=log, stderr=log,
                             start_new_session=True)
        self.procs[signal_id] = p
        open(os.path.join(self.dir, f"s{signal_id}.pid"), "w").write(str(p.pid))
        return p

    def pid(self, signal_id):
        p = self.procs.get(signal_id)
        if p is not None:
            return p.pid if p.poll() is None else None
        try:
            pid = int(open(os.path.join(self.dir, f"s{signal_id}.pid")).read())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def signal(self, signal_id, sig):
        """Sends `sig` to the controller of `signal_id` (`ip netns exec` execs it, so the pid is the controller's)."""
        pid = self.pid(signal_id)
        if pid:
            os.kill(pid, sig)
            if sig == signal.SIGKILL and signal_id in self.procs:
                self.procs[signal_id].wait()
        return pid

    def stop_all(self, timeout=10):
        for s in list(self.hosts):
            self.signal(s, signal.SIGTERM)
        t0 = time.time()
        for s, p in self.procs.items():
            try:
                p.wait(max(0.1, timeout - (time.time() - t0)))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def api(self, signal_id):
        return f"http://{self.hosts[signal_id]['addr']}:{API_PORT}"

    def enter_client(self):
        """Moves the calling thread (and the threads it starts later) into the client namespace, so that its
        sockets reach the controllers. Processes started afterwards are in it too."""
        enter_netns(self.state["client"])

    def destroy(self):
        self.stop_all(timeout=5)
        cleanup(self.prefix, self.dir, quiet=True)


_libc = None


def enter_netns(name_or_path):
    global _libc
    _libc = _libc or ctypes.CDLL(None, use_errno=True)
    path = name_or_path if name_or_path.startswith("/") else f"/run/netns/{name_or_path}"
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


# MARK: netemd, the user-space link emulator (NFQUEUE)

NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_PAYLOAD = 1, 2, 10
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_PACKET = 2
NF_DROP, NF_ACCEPT = 0, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2


def _attr(kind, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


def _msg(msg_type, family, queue, attrs, flags=NLM_F_REQUEST, seq=0):
    body = struct.pack("=BB", family, 0) + struct.pack("!H", queue) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0) + body


def _bind_queue(sock, queue=0, maxlen=16384):
    seq = 1
    for attrs in ([_attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET))],
                  [_attr(NFQA_CFG_PARAMS, struct.pack("!IB", 128, NFQNL_COPY_PACKET))],
                  [_attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", maxlen))]):
        sock.send(_msg(NFQNL_MSG_CONFIG, socket.AF_UNSPEC, queue, attrs, NLM_F_REQUEST | NLM_F_ACK, seq))
        data = sock.recv(65536)
        n, t = struct.unpack_from("=IH", data)
        if t == NLMSG_ERROR:
            err = struct.unpack_from("=i", data, 16)[0]
            if err != 0:
                raise OSError(-err, f"NFQUEUE config step {seq} refused")
        seq += 1


def _packets(data):
    """(packet id, payload) for every queued packet in one netlink read."""
    off = 0
    while off + 16 <= len(data):
        n, t = struct.unpack_from("=IH", data, off)
        if n < 16:
            break
        if t == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            pid, payload = None, b""
            a = off + 20
            while a + 4 <= off + n:
                alen, akind = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                kind = akind & 0x7FFF
                if kind == NFQA_PACKET_HDR:
                    pid = struct.unpack_from("!I", data, a + 4)[0]
                elif kind == NFQA_PAYLOAD:
                    payload = data[a + 4:a + alen]
                a += (alen + 3) & ~3
            if pid is not None:
                yield pid, payload
        off += (n + 3) & ~3


def netemd(state_dir):
    """Binds NFQUEUE 0 in every host namespace and applies conditions.json (re-read on SIGHUP)."""
    conf_path = os.path.join(state_dir, "conditions.json")
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    conf = json.load(open(conf_path))
    socks = {}
    for ns in conf["hosts"]:
        enter_netns(ns)
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((0, 0))
        _bind_queue(s)
        s.setblocking(False)
        socks[s.fileno()] = s
    global _libc
    _libc.setns(home, CLONE_NEWNET)
    reload = [True]
    signal.signal(signal.SIGHUP, lambda *_: reload.__setitem__(0, True))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    open(os.path.join(state_dir, "netemd.ready"), "w").write(str(os.getpid()))
    rng = random.Random()
    heap = []            # (release time, tiebreak, fd, packet id)
    last = {}            # link -> release time of its newest packet (in-order delivery)
    counter = 0
    stats = {"accepted": 0, "dropped": 0, "reordered": 0}
    poller = select.poll()
    for fd in socks:
        poller.register(fd, select.POLLIN)
    default, links = None, {}
    last_stats = time.monotonic()
    while True:
        if reload[0]:
            reload[0] = False
            conf = json.load(open(conf_path))
            default, links = conf["default"], conf["links"]
            rng.seed(conf["seed"])
        now = time.monotonic()
        timeout = max(0, (heap[0][0] - now) * 1000) if heap else 1000
        try:
            events = poller.poll(timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd, _ in events:
            s = socks[fd]
            while True:
                try:
                    data = s.recv(262144)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as e:      # ENOBUFS: the kernel dropped queued packets for us
                    stats["dropped"] += 1
                    break
                for pid, payload in _packets(data):
                    link = None
                    if len(payload) >= 20:
                        link = f"{socket.inet_ntoa(payload[12:16])}>{socket.inet_ntoa(payload[16:20])}"
                    c = links.get(link, default)
                    if c is None:
                        s.send(_msg(NFQNL_MSG_VERDICT, socket.AF_UNSPEC, 0, [_attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid))]))
                        stats["accepted"] += 1
                        continue
                    if rng.random() * 100 < c.get("loss_percent", 0):
                        s.send(_msg(NFQNL_MSG_VERDICT, socket.AF_UNSPEC, 0, [_attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_DROP, pid))]))
                        stats["dropped"] += 1
                        continue
                    if rng.random() * 100 < c.get("reorder_percent", 0):
                        at = now          # jumps the queue
                        stats["reordered"] += 1
                    else:
                        d = c.get("delay_ms", 0) + rng.uniform(-1, 1) * c.get("jitter_ms", 0)
                        at = max(now + max(0.0, d) / 1000, last.get(link, 0))
                        last[link] = at
                    counter += 1
                    heapq.heappush(heap, (at, counter, fd, pid))
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, fd, pid = heapq.heappop(heap)
            try:
                socks[fd].send(_msg(NFQNL_MSG_VERDICT, socket.AF_UNSPEC, 0, [_attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid))]))
                stats["accepted"] += 1
            except OSError:
                stats["dropped"] += 1
        if now - last_stats > 10:
            last_stats = now
            print(json.dumps(dict(stats, queued=len(heap), t=round(time.time(), 1))), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "netemd":
        netemd(sys.argv[2])
    else:
        sys.exit("usage: gwnet.py netemd STATE_DIR (started by tools/netns)")
