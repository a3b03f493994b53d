"""One way for the Python tools to reach a controller's API: plain HTTP, or HTTPS trusting only the corridor
CA (what `greenwave demo` serves: its CA is DATA/pki/ca.pem; docs/security.md, "API TLS")."""
import http.client, json, ssl, threading

_ca = None
# Kept-alive connections, one per thread and address: a benchmark measures the controllers, not one TLS
# handshake per request.
_local = threading.local()


def use_ca(path):
    """From now on every connection is HTTPS trusting the CA certificate at `path` (None: plain HTTP)."""
    global _ca
    if path is None:
        _ca = None
        return
    ctx = ssl.create_default_context(cafile=path)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _ca = ctx


def connection(port, host="127.0.0.1", timeout=15):
    if _ca is None:
        return http.client.HTTPConnection(host, port, timeout=timeout)
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


def request(port, method, path, body=None, timeout=15, host="127.0.0.1", text_fallback=False):
    """(status, decoded JSON body) or (None, None) when there was no answer. Reuses this thread's connection
    to the address; a connection the server closed meanwhile is replaced once."""
    for attempt in (0, 1):
        c = _kept(host, port, timeout)
        try:
            c.request(method, path, body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            if r.getheader("connection", "").lower() == "close":
                _drop(host, port)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, http.client.CannotSendRequest,
                http.client.ResponseNotReady):
            _drop(host, port)
            if attempt == 0 and c.sock is None:
                continue
            return None, None
        except Exception:
            _drop(host, port)
            return None, None
        try:
            return r.status, json.loads(data or b"{}")
        except ValueError:
            if text_fallback:
                return r.status, data.decode(errors="replace")
            return None, None
    return None, None
