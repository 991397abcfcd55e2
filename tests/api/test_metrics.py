"""GET /metrics (SPEC section 6): Prometheus text format with this process's request
counts and latencies, and instance-wide gauges read from the database."""

from __future__ import annotations

import re

import httpx

from tests import media
from tests.wire import BASE, create, upload, wait_final

_SAMPLE = re.compile(r"^([a-z_]+)(?:\{([^}]*)\})? (\S+)$")


def samples(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        out[f"{m.group(1)}{{{m.group(2) or ''}}}"] = float(m.group(3))
    return out


def test_metrics(client: httpx.Client) -> None:
    ds = create(client)["id"]
    upload(client, ds, "a.jpg", media.jpeg(300, 300))
    upload(client, ds, "a.txt", media.caption())
    assert wait_final(client, ds)["status"] == "READY"
    r = httpx.get(str(client.base_url) + "/metrics")  # no token needed, like /healthz
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE trainset_http_requests_total counter" in r.text
    s = samples(r.text)
    assert s['trainset_http_requests_total{method="GET",route="status",status="200"}'] >= 1
    assert s['trainset_http_requests_total{method="POST",route="upload",status="200"}'] >= 2
    inf = s['trainset_http_request_duration_seconds_bucket{method="POST",route="upload",le="+Inf"}']
    assert inf == s['trainset_http_request_duration_seconds_count{method="POST",route="upload"}']
    assert s['trainset_datasets{status="READY"}'] >= 1
    assert "trainset_uploads_in_progress{}" in s
    assert ds not in r.text  # ids and file names never become label values
    before = s['trainset_http_requests_total{method="GET",route="status",status="200"}']
    client.get(f"{BASE}/{ds}/status")
    after = samples(httpx.get(str(client.base_url) + "/metrics").text)
    assert after['trainset_http_requests_total{method="GET",route="status",status="200"}'] == (
        before + 1
    )
