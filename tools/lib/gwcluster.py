"""Talking to a running corridor from the Python tools: status, the leader, signed commands with one client
id, waiting until something is applied everywhere. HTTP goes through gwhttp.request only."""
import json, os, subprocess, threading, time

import gwhttp, gwsign


def prepare(binary, corridor, work, tls=True):
    """Gives `corridor` (a file in `work`) a first engineer and, with `tls`, a PKI for the peers and the API
    (every later gwhttp request is HTTPS trusting its CA). Returns (signer, extra controller args)."""
    if not tls:
        import re
        hosts = set(re.findall(r'api:\s*"?\[?([^\]":\s]+)', open(corridor).read()))
        field = sorted(h for h in hosts if not (h.startswith("127.") or h in ("localhost", "::1")))
        if field:
            raise SystemExit(f"without TLS the controllers' API is plain HTTP, which a controller serves on loopback only; "
                             f"{corridor} puts APIs on {', '.join(field[:3])}: drop --no-tls (docs/security.md, \"API TLS\")")
    key = gwsign.make_engineer(binary, work, corridor)
    extra = []
    if tls:
        pki = os.path.join(work, "pki")
        subprocess.run([binary, "pki", "init", "--dir", pki, "--corridor", corridor], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([binary, "pki", "issue", "--dir", pki, "--corridor", corridor, "--all"], check=True,
                       stdout=subprocess.DEVNULL)
        extra = ["--peer-tls-dir", pki]
        # The API over HTTPS with the same certificates (docs/security.md, "API TLS"): a controller serves
        # plain HTTP on loopback only. The security block make_engineer appended is the file's last mapping.
        with open(corridor, "a") as f:
            f.write("  api_tls:\n    ca: pki/ca.pem\n")
        gwhttp.use_ca(os.path.join(pki, "ca.pem"))
    return LockedSigner(gwsign.Signer(binary, corridor, key)), extra


class LockedSigner:
    """gwsign.Signer for several threads: one request line and its answer at a time (without the lock two
    threads can each read the other's signed body)."""

    def __init__(self, signer):
        self.signer, self.lock, self.name = signer, threading.Lock(), signer.name

    def sign(self, body):
        with self.lock:
            return self.signer.sign(body)

    def close(self):
        self.signer.close()


class Cluster:
    def __init__(self, apis, signer, voters):
        self.apis = apis              # signal id -> "http://host:port"
        self.signer = signer
        self.voters = list(voters)
        self.client = gwsign.client_id()
        self.seq = 0

    def status(self, s, timeout=1.0):
        code, body = gwhttp.request("GET", self.apis[s] + "/v1/status", timeout=timeout)
        return body if code == 200 else None

    def statuses(self, signals=None, timeout=1.0):
        return {s: self.status(s, timeout) for s in (signals or self.apis)}

    def leader(self, among=None):
        """The signal that says it leads and whose term no other answering voter has passed, or None."""
        sts = {s: st for s, st in self.statuses(among or self.voters).items() if st}
        leaders = [s for s, st in sts.items() if st.get("role") == "leader"]
        if not leaders:
            return None
        top = max(st["term"] for st in sts.values())
        best = [s for s in leaders if sts[s]["term"] == top]
        return best[0] if best else None

    def wait_leader(self, timeout, among=None, not_in=()):
        t0 = time.time()
        while time.time() - t0 < timeout:
            s = self.leader(among)
            if s is not None and s not in not_in:
                return s
            time.sleep(0.05)
        return None

    def next_body(self, kind=None):
        self.seq += 1
        kind = kind or ("flash" if self.seq % 2 else "unflash")
        return self.signer.sign({"client_id": self.client, "sequence": self.seq, "type": kind,
                                 "signal": sorted(self.apis)[-1]})

    def post(self, s, body, timeout=8):
        return gwhttp.request("POST", self.apis[s] + "/v1/commands", body, timeout=timeout)

    def commit(self, body, targets, deadline_s):
        """Sends `body` (retrying the same client id and sequence) to `targets` in turn until one answers
        200 or 422 (committed: applied or refused by the state machine). Returns (index, answer, ms) or None."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < deadline_s:
            for s in targets:
                code, r = self.post(s, body, timeout=max(0.5, min(8, deadline_s - (time.perf_counter() - t0))))
                if code in (200, 422) and r and "index" in r:
                    return r["index"], r, (time.perf_counter() - t0) * 1000
                if time.perf_counter() - t0 >= deadline_s:
                    break
            time.sleep(0.05)
        return None

    def wait_applied(self, index, signals, timeout):
        """ms until every signal in `signals` reports applied_index >= index, or None."""
        t0 = time.perf_counter()
        pending = set(signals)
        while pending and time.perf_counter() - t0 < timeout:
            for s in list(pending):
                st = self.status(s, timeout=0.5)
                if st and st.get("applied_index", 0) >= index:
                    pending.discard(s)
            if pending:
                time.sleep(0.02)
        return None if pending else (time.perf_counter() - t0) * 1000


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")
