"""Signed commands for the Python benchmarks: every command a controller applies must be signed by an
operator's Ed25519 key (docs/security.md). This keeps one `greenwave operator sign` process open and
passes request bodies through it, one JSON line each way."""
import json, os, random, subprocess, time


def client_id():
    """A client id as the console makes it: its creation time (ms) in the high 64 bits, 64 random bits."""
    return f"{int(time.time() * 1000):016x}{random.getrandbits(64):016x}"


def make_engineer(binary, work, corridor_path, name="bench"):
    """Creates a key for `name` in `work` and appends it to the corridor file as the first engineer.
    Returns the key file's path."""
    key = os.path.join(work, f"{name}.key")
    subprocess.run([binary, "operator", "keygen", "--name", name, "--out", key], check=True, stdout=subprocess.DEVNULL)
    public = json.load(open(key))["public_key"]
    with open(corridor_path, "a") as f:
        f.write(f"\nsecurity:\n  first_engineer:\n    name: {name}\n    public_key: {public}\n")
    return key


class Signer:
    def __init__(self, binary, corridor_path, key_path):
        self.proc = subprocess.Popen([binary, "operator", "sign", "--corridor", corridor_path, "--key", key_path],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.name = json.load(open(key_path))["name"]

    def sign(self, body):
        body = dict(body, operator=self.name)
        self.proc.stdin.write(json.dumps(body) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("greenwave operator sign stopped (see its standard error)")
        return json.loads(line)

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()
