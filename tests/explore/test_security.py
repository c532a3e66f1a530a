"""The explorer's server refuses what does not come from its own page: foreign Host or Origin, a missing or wrong
token, other content types, oversized or hostile input; it binds 127.0.0.1 only and adds no CORS headers."""

import json
import re
import socket

import pytest
from starlette.testclient import TestClient

from jacx.explore._app import Session, create_app
from jacx.explore._compute import Runner
from jacx.explore._security import MAX_BODY, new_token

PORT = 48123  # the app is never bound in these tests: the port only names the allowed Host and Origin
TOKEN = new_token()
ORIGIN = f"http://127.0.0.1:{PORT}"


@pytest.fixture(scope="module")
def client():
    session = Session(token=TOKEN, port=PORT, runner=Runner(limit_s=20.0))
    with TestClient(create_app(session), base_url=f"http://127.0.0.1:{PORT}") as c:
        yield c


def api(client, what, body, *, token=TOKEN, origin=ORIGIN, content_type="application/json", **headers):
    hdrs = {"Content-Type": content_type, **headers}
    if token is not None:
        hdrs["X-Jacx-Token"] = token
    if origin is not None:
        hdrs["Origin"] = origin
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(f"/api/{what}", content=data, headers=hdrs)


POINT = {"map": {"expr": "x^2 + y, x*y"}, "a": [1.0, 2.0], "h": 0.1}


def assert_secure_headers(response):
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_page_needs_the_token(client):
    ok = client.get(f"/?token={TOKEN}")
    assert ok.status_code == 200 and "text/html" in ok.headers["content-type"]
    assert_secure_headers(ok)
    html = ok.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "no inline script"
    assert not re.search(r"\son\w+=", html) and "style=" not in html and "<style" not in html
    assert f"/static/explore.js?token={TOKEN}" in html
    for url in ("/", "/?token=", "/?token=" + "A" * 43, f"/?token={TOKEN}&token={TOKEN}"):
        refused = client.get(url)
        assert refused.status_code == 403 and "token" in refused.json()["error"]
        assert_secure_headers(refused)
    assert client.get("/", headers={"X-Jacx-Token": TOKEN}).status_code == 403  # the page wants it in the URL


def test_static_files_need_the_token_and_fit_the_budget(client):
    sizes = 0
    for name, kind in (("explore.js", "javascript"), ("explore.css", "css")):
        assert client.get(f"/static/{name}").status_code == 403
        ok = client.get(f"/static/{name}?token={TOKEN}")
        assert ok.status_code == 200 and kind in ok.headers["content-type"]
        sizes += len(ok.content)
    assert sizes <= 150_000
    assert client.get(f"/static/../_app.py?token={TOKEN}").status_code == 404
    assert client.get(f"/static/index.html?token={TOKEN}").status_code == 404


@pytest.mark.parametrize("host", ["evil.example", "evil.example:48123", "127.0.0.1", "localhost",
                                  "127.0.0.1:80", "0.0.0.0:48123", "[::1]:48123", "127.0.0.1:48123.evil.example"])
def test_foreign_host_is_refused(client, host):
    assert client.get(f"/?token={TOKEN}", headers={"Host": host}).status_code == 403
    refused = api(client, "point", POINT, Host=host)
    assert refused.status_code == 403 and "Host" in refused.json()["error"]


def test_localhost_name_is_allowed(client):
    assert client.get(f"/?token={TOKEN}", headers={"Host": f"localhost:{PORT}"}).status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", f"http://127.0.0.1:{PORT + 1}",
                                    f"https://127.0.0.1:{PORT}", f"http://localhost:{PORT}.evil.example"])
def test_foreign_origin_is_refused(client, origin):
    assert api(client, "point", POINT, origin=origin).status_code == 403
    assert client.get(f"/?token={TOKEN}", headers={"Origin": origin}).status_code == 403


def test_api_needs_origin_token_header_and_same_site(client):
    assert api(client, "point", POINT).status_code == 200
    assert api(client, "point", POINT, origin=None).status_code == 403
    assert api(client, "point", POINT, token=None).status_code == 403
    assert api(client, "point", POINT, token="x" * 43).status_code == 403
    no_header = client.post(f"/api/point?token={TOKEN}", content=json.dumps(POINT),
                            headers={"Content-Type": "application/json", "Origin": ORIGIN})
    assert no_header.status_code == 403  # a token in the URL is not enough for the API
    assert api(client, "point", POINT, **{"Sec-Fetch-Site": "cross-site"}).status_code == 403


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/json-patch+json", ""])
def test_json_only(client, content_type):
    assert api(client, "point", POINT, content_type=content_type).status_code == 415


def test_other_methods_and_cors_preflight(client):
    pre = client.options("/api/point", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 405
    assert_secure_headers(pre)
    for method in ("put", "delete", "patch"):
        assert getattr(client, method)(f"/api/point?token={TOKEN}").status_code in (403, 405)
    assert client.get(f"/api/point?token={TOKEN}").status_code == 404


def test_malformed_bodies(client):
    assert api(client, "point", "x" * (MAX_BODY + 1)).status_code == 413
    assert api(client, "point", '{"map": {"expr": "x, y"}, "a": [NaN, 1], "h": 0.1}').status_code == 400
    assert api(client, "point", "[" * 5000 + "]" * 5000).status_code == 400
    assert api(client, "point", "[1, 2]").status_code == 400
    assert api(client, "point", b"\xff\xfe").status_code == 400
    assert api(client, "point", {**POINT, "extra": 1}).status_code == 400
    assert api(client, "point", {"map": {"expr": "x, y"}, "a": [1e300, 0], "h": 0.1}).status_code == 422
    assert api(client, "point", {"map": {"python": True}, "a": [1, 0], "h": 0.1}).status_code == 422


HOSTILE = [
    "__import__('os').system('id')", "().__class__.__bases__", "eval('1')", "lambda: 0", "x; y", "open('f')",
    "x.real", "exec", "<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "x if y else 1", "[x for x in y]",
    "9^9^9^9", "10**10**10", "x^1000000", "(" * 200 + "x" + ")" * 200, "-" * 300 + "x", "sin(" * 80 + "x" + ")" * 80,
    "1" * 150, "x" * 401, "x, y, x", "x*z", "gamma(x)", "x[0]", "{x}", "x @ y", "x\\y", "x # comment",
    "9" * 120 + "^" + "9" * 100,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_expressions_are_refused_within_the_limit(client, text):
    for what, body in (("grid", {"map": {"expr": text}, "view": [-1, 1, -1, 1], "cells": 4}),
                       ("point", {"map": {"expr": text}, "a": [0.5, 0.5], "h": 0.1})):
        refused = api(client, what, body)
        # 422 (not 503): the refusal came within the runner's time limit, with a one-line reason
        assert refused.status_code == 422, refused.text
        message = refused.json()["error"]
        assert message and "\n" not in message and "Traceback" not in message


def test_huge_body_is_refused_before_parsing(client):
    assert api(client, "grid", {"map": {"expr": "x+" * 20000 + "x"}, "view": [-1, 1, -1, 1], "cells": 4}
               ).status_code == 413


def test_session_and_grid(client):
    s = api(client, "session", {}).json()
    assert s["initial"]["map"] == {"expr": "x^2 + y, x*y"} and len(s["presets"]) >= 8
    g = api(client, "grid", {"map": {"expr": "x^2 - y^2, 2*x*y"}, "view": [-1, 1, -1, 1], "cells": 6})
    assert g.status_code == 200 and g.json()["cells"] == 6
    assert api(client, "grid", {"map": {"expr": "x, y"}, "view": [-1, 1, -1, 1], "cells": 10**6}).status_code == 422


def _raw_get(port, host_header, path="/", address="127.0.0.1"):
    with socket.create_connection((address, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_real_server_binds_loopback_only(server):
    assert server.socket.getsockname()[0] == "127.0.0.1"
    token = server.session.token
    assert _raw_get(server.port, f"127.0.0.1:{server.port}", f"/?token={token}") == 200
    assert _raw_get(server.port, f"evil.example:{server.port}", f"/?token={token}") == 403
    assert _raw_get(server.port, f"127.0.0.1:{server.port}", "/") == 403
    with pytest.raises(OSError):  # another loopback address: nothing listens there
        socket.create_connection(("127.0.0.2", server.port), timeout=5).close()


def test_port_in_use_is_a_clear_error(server):
    from jacx import JacxUsageError
    from jacx.explore._server import bind

    with pytest.raises(JacxUsageError, match=f"port {server.port} is in use"):
        bind(server.port)
