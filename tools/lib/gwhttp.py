"""The one place the Python tools make HTTP requests to controllers (so that TLS or credentials for the API
can be added here once). Never raises for a network failure: returns (None, None)."""
import json, urllib.error, urllib.request


def request(method, url, body=None, timeout=3):
    """(status, decoded JSON body) for one request; (None, None) when nothing answered in time.
    `body` is a dict (sent as JSON) or bytes."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except Exception:
            return e.code, {}
    except Exception:
        return None, None
