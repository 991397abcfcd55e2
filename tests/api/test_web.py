"""The web UI's files and the headers that keep the page safe."""

from __future__ import annotations

import re

import httpx

from tests.wire import assert_error


def test_the_page_is_served_with_a_strict_policy(client: httpx.Client) -> None:
    r = httpx.get(f"{client.base_url}/")  # no token: the page itself is public
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    # No inline script or style, no third-party origin: it works offline, under the policy.
    assert not re.search(r"<script(?![^>]*\bsrc=)", r.text)
    assert "style=" not in r.text and "http://" not in r.text and "https://" not in r.text
    for src in re.findall(r'(?:src|href)="(/ui/[^"]+)"', r.text):
        asset = httpx.get(f"{client.base_url}{src}")
        assert asset.status_code == 200, src
        again = httpx.get(
            f"{client.base_url}{src}", headers={"If-None-Match": asset.headers["etag"]}
        )
        assert again.status_code == 304


def test_unknown_ui_files_are_json_404s(client: httpx.Client) -> None:
    for path in ("/ui/nope.js", "/ui/..%2Fapp.py", "/ui/index.html"):
        assert_error(httpx.get(f"{client.base_url}{path}"), 404, "not_found")


def test_url_credential_routes_answer_cors(client: httpx.Client) -> None:
    """A page on another origin (or the UI reached by another host name) may PUT to a
    signed URL, as it could to an object store; API routes stay same-origin only."""
    pre = httpx.options(
        f"{client.base_url}/prod/v1/trainers/uploads/some-id",
        headers={"Origin": "http://elsewhere.test", "Access-Control-Request-Method": "PUT"},
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "*"
    assert "PUT" in pre.headers["access-control-allow-methods"]
    api = httpx.options(
        f"{client.base_url}/prod/v1/trainers/datasets",
        headers={"Origin": "http://elsewhere.test", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in api.headers
