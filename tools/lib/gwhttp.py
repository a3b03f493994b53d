"""The one place the Python tools make HTTP requests to controllers: plain HTTP, or HTTPS trusting only the
corridor CA once `use_ca` names it (what `greenwave demo` serves, and any corridor with `security.api_tls`;
docs/security.md, "API TLS"). Never raises for a network failure: returns (None, None)."""
import http.client, json, ssl, threading, urllib.parse

_ca = None
# Kept-alive connections (`kept=True`), one per thread and address: a benchmark measures the controllers,
# not one TLS handshake per request.
_local = threading.local()


def use_ca(path):
    """From now on every request is HTTPS trusting the CA certificate at `path` alone (None: plain HTTP)."""
    global _ca
    if path is None:
        _ca = None
        return
    ctx = ssl.create_default_context(cafile=path)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _ca = ctx


_names = {}


def server_names(names):
    """{address: name}: connect to the address but check the certificate against the name (test hosts whose
    corridor file names them by DNS names this process cannot resolve, e.g. tools/netns --names)."""
    global _names
    _names = dict(names)


class _NamedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, server_name, **kw):
        super().__init__(host, port, **kw)
        self._server_name = server_name

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)


def scheme():
    return "https" if _ca is not None else "http"


def base(port, host="127.0.0.1"):
    """The API's root URL for a controller at host:port."""
    h = f"[{host}]" if ":" in host else host
    return f"{scheme()}://{h}:{port}"


def connection(port, host="127.0.0.1", timeout=15):
    if _ca is None:
        return http.client.HTTPConnection(host, port, timeout=timeout)
    if host in _names:
        return _NamedHTTPS(host, port, _names[host], timeout=timeout, context=_ca)
    return http.client.HTTPSConnection(host, port, timeout=timeout, context=_ca)


def _kept(host, port, timeout):
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    c = pool.get((host, port))
    if c is None:
        c = pool[(host, port)] = connection(port, host=host, timeout=timeout)
    c.timeout = timeout
    if c.sock is not None:
        c.sock.settimeout(timeout)
    return c


def _drop(host, port):
    c = getattr(_local, "pool", {}).pop((host, port), None)
    if c is not None:
        c.close()


def request(method, url, body=None, timeout=3, kept=False, text_fallback=False):
    """(status, decoded JSON body) for one request; (None, None) when nothing answered in time. `url` is
    http://HOST:PORT/PATH (made HTTPS when a CA is in use); `body` is a dict (sent as JSON) or bytes. A body
    that is not JSON comes back as {} (as text with `text_fallback`). `kept`: reuse this thread's connection
    to the address (a connection the server closed meanwhile is replaced once)."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    u = urllib.parse.urlsplit(url)
    host, port = u.hostname, u.port or (443 if u.scheme == "https" else 80)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    for attempt in (0, 1):
        c = _kept(host, port, timeout) if kept else connection(port, host=host, timeout=timeout)
        try:
            c.request(method, path, body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            if not kept or r.getheader("connection", "").lower() == "close":
                _drop(host, port) if kept else c.close()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, http.client.CannotSendRequest,
                http.client.ResponseNotReady):
            _drop(host, port) if kept else c.close()
            if kept and attempt == 0:
                continue
            return None, None
        except Exception:
            _drop(host, port) if kept else c.close()
            return None, None
        try:
            return r.status, json.loads(data or b"{}")
        except ValueError:
            return r.status, (data.decode(errors="replace") if text_fallback else {})
    return None, None


def request_port(port, method, path, body=None, timeout=15, text_fallback=False):
    """`request` on 127.0.0.1:port over a kept-alive connection (the benchmarks)."""
    return request(method, base(port) + path, body=body, timeout=timeout, kept=True, text_fallback=text_fallback)
