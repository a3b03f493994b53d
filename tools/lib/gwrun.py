"""A corridor's controllers as processes, for the benchmarks and the chaos harness: on loopback
(LoopbackRun: 127.0.0.1, free ports) or on namespaced hosts (NetnsRun: tools/lib/gwnet.py). Both give
`apis`, `signer`, start(s), kill(s), pause(s) / resume(s), running(s), stop()."""
import os, re, shutil, signal, socket, subprocess

import gwcluster, gwnet


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s); ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class LoopbackRun:
    """The corridor on 127.0.0.1, free ports, plain processes."""

    def __init__(self, yaml, binary, timing, work, extra=()):
        self.work, self.binary = work, binary
        ids = [int(m) for m in re.findall(r'- \{ id: (\d+),[^\n]*peer:', yaml)]
        ports = free_ports(2 * len(ids))
        out, i = [], 0
        for line in yaml.splitlines(keepends=True):
            m = re.match(r'(\s*- \{ id: (\d+),.*?)peer: "[^"]*", api: "[^"]*"(.*)', line)
            if m:
                line = f'{m.group(1)}peer: "127.0.0.1:{ports[2 * i]}", api: "127.0.0.1:{ports[2 * i + 1]}"{m.group(3)}\n'
                i += 1
            out.append(line)
        self.corridor = os.path.join(work, "corridor.yaml")
        open(self.corridor, "w").write("".join(out))
        self.apis = {s: f"http://127.0.0.1:{ports[2 * k + 1]}" for k, s in enumerate(ids)}
        self.signer, tls = gwcluster.prepare(binary, self.corridor, work, tls=True)
        self.args = tls + ["--timing", timing] + list(extra)
        self.procs = {}

    def start(self, s):
        log = open(os.path.join(self.work, f"s{s}.log"), "a")
        self.procs[s] = subprocess.Popen([self.binary, "controller", "--corridor", self.corridor, "--signal", str(s),
                                          "--data", os.path.join(self.work, f"s{s}")] + self.args, stdout=log, stderr=log)

    def kill(self, s):
        self.procs[s].send_signal(signal.SIGKILL)
        self.procs[s].wait()

    def pause(self, s, stop=True):
        self.procs[s].send_signal(signal.SIGSTOP if stop else signal.SIGCONT)

    def exit_status(self, s):
        """None while it runs, else its exit status."""
        return self.procs[s].poll()

    def data_dir(self, s):
        return os.path.join(self.work, f"s{s}")

    def log_path(self, s):
        return os.path.join(self.work, f"s{s}.log")

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


class NetnsRun:
    def __init__(self, yaml, binary, timing, profile, seed, prefix, extra=()):
        gwnet.cleanup(prefix, quiet=True)
        shutil.rmtree(gwnet.default_state_dir(prefix), ignore_errors=True)   # a fresh corridor each run
        self.net = gwnet.Network.create(yaml, prefix=prefix, profile=profile, seed=seed)
        self.binary = binary
        self.corridor = self.net.state["corridor"]
        self.signer, tls = gwcluster.prepare(binary, self.corridor, self.net.dir, tls=True)
        self.args = tls + ["--timing", timing] + list(extra)
        self.data = os.path.join(self.net.dir, "data")
        self.apis = {s: self.net.api(s) for s in self.net.hosts}
        self.net.enter_client()

    def start(self, s):
        self.net.start(s, self.binary, self.data, self.args)

    def kill(self, s):
        self.net.signal(s, signal.SIGKILL)

    def pause(self, s, stop=True):
        self.net.signal(s, signal.SIGSTOP if stop else signal.SIGCONT)

    def exit_status(self, s):
        return self.net.procs[s].poll()

    def data_dir(self, s):
        return os.path.join(self.data, f"s{s}")

    def log_path(self, s):
        return os.path.join(self.net.dir, "logs", f"s{s}.log")

    def stop(self):
        self.net.destroy()


