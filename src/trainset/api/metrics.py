"""Prometheus metrics (`GET /metrics`, text exposition format 0.0.4), kept per process.

Request counts and latency histograms by method, route and status are recorded by the
request middleware; gauges that describe the whole instance (check jobs, datasets by
status) are read from the database at scrape time. No client library: the format is
a few lines of text.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/prod/v1/trainers/datasets/?$"), "datasets"),
    (re.compile(r"^/prod/v1/trainers/datasets/[^/]+/status$"), "status"),
    (re.compile(r"^/prod/v1/trainers/datasets/[^/]+/upload$"), "upload"),
    (re.compile(r"^/prod/v1/trainers/datasets/[^/]+/get-upload-endpoint$"), "upload_urls"),
    (re.compile(r"^/prod/v1/trainers/datasets/[^/]+/manifest$"), "manifest"),
    (re.compile(r"^/prod/v1/trainers/datasets/[^/]+/files/.+$"), "file"),
    (re.compile(r"^/prod/v1/trainers/datasets/[^/]+$"), "dataset"),
    (re.compile(r"^/prod/v1/trainers/uploads/[^/]+$"), "signed_put"),
    (re.compile(r"^/prod/v1/trainers/blobs/[^/]+$"), "signed_get"),
    (re.compile(r"^/(healthz|readyz|metrics)$"), "health"),
]


def route_of(path: str) -> str:
    """A bounded label for a path (ids and file names never become label values)."""
    for pattern, name in _ROUTES:
        if pattern.match(path):
            return name
    return "other"


# A gauge: its help text and its series (label pairs -> value).
Gauge = tuple[str, dict[tuple[tuple[str, str], ...], float]]


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str], list[int]] = {}
        self._sum: dict[tuple[str, str], float] = defaultdict(float)
        self._count: dict[tuple[str, str], int] = defaultdict(int)
        self.uploads = 0  # streaming uploads in progress (kept by the middleware)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, status)] += 1
        key = (method, route)
        counts = self._buckets.setdefault(key, [0] * len(BUCKETS))
        i = bisect.bisect_left(BUCKETS, seconds)
        if i < len(BUCKETS):
            counts[i] += 1  # cumulated at render time
        self._sum[key] += seconds
        self._count[key] += 1

    def render(
        self, gauges: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]]
    ) -> str:
        out = [
            "# HELP trainset_http_requests_total HTTP requests answered, by method, route "
            "and status.",
            "# TYPE trainset_http_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            out.append(
                f'trainset_http_requests_total{{method="{method}",route="{route}",'
                f'status="{status}"}} {n}'
            )
        out += [
            "# HELP trainset_http_request_duration_seconds Time to answer, by method and route.",
            "# TYPE trainset_http_request_duration_seconds histogram",
        ]
        for (method, route), counts in sorted(self._buckets.items()):
            labels = f'method="{method}",route="{route}"'
            running = 0
            for bound, n in zip(BUCKETS, counts, strict=True):
                running += n
                out.append(
                    f'trainset_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} '
                    f"{running}"
                )
            total = self._count[(method, route)]
            out.append(
                f'trainset_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}'
            )
            out.append(
                f"trainset_http_request_duration_seconds_sum{{{labels}}} "
                f"{self._sum[(method, route)]:.6f}"
            )
            out.append(f"trainset_http_request_duration_seconds_count{{{labels}}} {total}")
        gauges = {
            "trainset_uploads_in_progress": (
                "Uploads streaming through this process now.",
                {(): float(self.uploads)},
            ),
            **gauges,
        }
        for name, (help_text, series) in gauges.items():
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            for pairs, value in sorted(series.items()):
                text = ",".join(f'{k}="{_esc(v)}"' for k, v in pairs)
                out.append(f"{name}{{{text}}} {value:g}" if text else f"{name} {value:g}")
        return "\n".join(out) + "\n"
