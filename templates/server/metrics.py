"""Latency and outcome recording with flat memory, the Python twin of
main/metrics/latency-recorder.ts: lifetime totals plus a sliding window kept as a ring of
per-slot histograms (default 60 s in 12 slots). Histograms are log-bucketed (≈0.1 % relative
resolution, like HdrHistogram's 3 significant digits), sparse and bounded by the bucket count,
so memory never grows with traffic. Only 5xx and timeouts count toward the error rate."""
from __future__ import annotations

import math
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Dict, List, Optional, Tuple

_RATIO = math.log(1.001)
HIGHEST_US = 600_000_000


def _bucket(us: int) -> int:
    return 0 if us <= 1 else int(math.ceil(math.log(us) / _RATIO))


def _bucket_top(b: int) -> float:
    return 1.0 if b == 0 else math.exp(b * _RATIO)


class _Bucket:
    __slots__ = ("hist", "count", "server_errors", "client_errors", "timeouts", "sum_us", "max_us")

    def __init__(self) -> None:
        self.hist: Counter = Counter()
        self.clear()

    def clear(self) -> None:
        self.hist.clear()
        self.count = self.server_errors = self.client_errors = self.timeouts = 0
        self.sum_us = 0
        self.max_us = 0

    def add(self, us: int, outcome: str) -> None:
        self.hist[_bucket(us)] += 1
        self.count += 1
        self.sum_us += us
        self.max_us = max(self.max_us, us)
        if outcome == "server_error":
            self.server_errors += 1
        elif outcome == "timeout":
            self.timeouts += 1
        elif outcome == "client_error":
            self.client_errors += 1

    def merge(self, other: "_Bucket") -> None:
        if other.count == 0:
            return
        self.hist.update(other.hist)
        self.count += other.count
        self.sum_us += other.sum_us
        self.max_us = max(self.max_us, other.max_us)
        self.server_errors += other.server_errors
        self.client_errors += other.client_errors
        self.timeouts += other.timeouts

    def percentile_ms(self, p: float) -> float:
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(p / 100.0 * self.count))
        seen = 0
        for b in sorted(self.hist):
            seen += self.hist[b]
            if seen >= rank:
                return min(math.ceil(_bucket_top(b)), self.max_us) / 1000.0
        return self.max_us / 1000.0


class LatencyRecorder:
    def __init__(self, window_s: float = 60.0, slots: int = 12) -> None:
        self.window_s = window_s
        self.slot_ms = window_s * 1000.0 / slots
        self._ring: List[Tuple[List[int], _Bucket]] = [([-1], _Bucket()) for _ in range(slots)]
        self._lifetime = _Bucket()
        self._lock = threading.Lock()
        # Synthetic probes (header x-frameworm-probe): counted in every figure above and
        # reported apart here, as the embedded runtime does.
        self._probes = _Bucket()
        self._since = time.time()
        self._origin_wall = time.time() * 1000.0 - time.monotonic() * 1000.0

    def _now_ms(self) -> float:
        return self._origin_wall + time.monotonic() * 1000.0

    def record(self, latency_ms: float, outcome: str, probe: bool = False) -> None:
        us = round(latency_ms * 1000)
        us = 0 if not us >= 0 else min(us, HIGHEST_US)
        epoch = int(self._now_ms() // self.slot_ms)
        with self._lock:
            tag, bucket = self._ring[epoch % len(self._ring)]
            if tag[0] != epoch:
                bucket.clear()
                tag[0] = epoch
            bucket.add(us, outcome)
            self._lifetime.add(us, outcome)
            if probe:
                self._probes.add(us, outcome)

    def snapshot(self) -> Dict[str, object]:
        current = int(self._now_ms() // self.slot_ms)
        wanted = len(self._ring)
        m = _Bucket()
        with self._lock:
            for tag, bucket in self._ring:
                if current - wanted < tag[0] <= current:
                    m.merge(bucket)
            lt = self._lifetime
            window_errors = m.server_errors + m.timeouts
            return {
                "p50_ms": m.percentile_ms(50), "p95_ms": m.percentile_ms(95), "p99_ms": m.percentile_ms(99),
                "mean_ms": 0 if m.count == 0 else m.sum_us / m.count / 1000.0,
                "max_ms": m.max_us / 1000.0,
                "requests": lt.count, "window_requests": m.count,
                "error_rate": 0 if m.count == 0 else window_errors / m.count,
                "errors": lt.server_errors + lt.timeouts, "server_errors": lt.server_errors,
                "client_errors": lt.client_errors, "timeouts": lt.timeouts,
                "window_errors": window_errors, "window_client_errors": m.client_errors,
                "window_timeouts": m.timeouts, "sum_ms": lt.sum_us / 1000.0,
                "probe_requests": self._probes.count,
                "probe_errors": self._probes.server_errors + self._probes.timeouts,
                "probe_client_errors": self._probes.client_errors,
                "window_s": self.window_s,
                "since": datetime.fromtimestamp(self._since, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            }


PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_FAMILIES = [
    ("frameworm_request_duration_seconds", "summary",
     "Time from a /predict request arriving to its response ending. Quantiles over the sliding window.",
     lambda s: [("", {"quantile": "0.5"}, s["p50_ms"] / 1000), ("", {"quantile": "0.95"}, s["p95_ms"] / 1000),
                ("", {"quantile": "0.99"}, s["p99_ms"] / 1000), ("_sum", {}, s["sum_ms"] / 1000),
                ("_count", {}, s["requests"])]),
    ("frameworm_requests_total", "counter", "Prediction requests answered, whatever the outcome.",
     lambda s: [("", {}, s["requests"])]),
    ("frameworm_request_errors_total", "counter",
     "Prediction requests that failed on the server side (5xx or timeout); these count toward the error rate.",
     lambda s: [("", {}, s["errors"])]),
    ("frameworm_request_timeouts_total", "counter",
     "Prediction requests that timed out (a subset of frameworm_request_errors_total).",
     lambda s: [("", {}, s["timeouts"])]),
    ("frameworm_request_client_errors_total", "counter",
     "Prediction requests refused as invalid (4xx); these do not count toward the error rate.",
     lambda s: [("", {}, s["client_errors"])]),
    ("frameworm_error_rate", "gauge",
     "Share of requests in the sliding window that failed on the server side (5xx or timeout).",
     lambda s: [("", {}, s["error_rate"])]),
    ("frameworm_window_requests", "gauge", "Prediction requests in the sliding window.",
     lambda s: [("", {}, s["window_requests"])]),
    ("frameworm_probe_requests_total", "counter",
     "Synthetic probe requests answered; included in frameworm_requests_total.",
     lambda s: [("", {}, s["probe_requests"])]),
    ("frameworm_probe_errors_total", "counter",
     "Synthetic probe requests that failed on the server side (5xx or timeout); included in frameworm_request_errors_total.",
     lambda s: [("", {}, s["probe_errors"])]),
    ("frameworm_probe_client_errors_total", "counter",
     "Synthetic probe requests refused as invalid (4xx); included in frameworm_request_client_errors_total.",
     lambda s: [("", {}, s["probe_client_errors"])]),
]


def _label_value(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt(v: float) -> str:
    from errors import js_number
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if v == math.inf:
        return "+Inf"
    if v == -math.inf:
        return "-Inf"
    return js_number(v)


def to_prometheus(series: List[Tuple[Dict[str, object], Dict[str, str]]], labels: Optional[Dict[str, str]] = None) -> str:
    lines: List[str] = []
    for name, kind, help_text, samples in _FAMILIES:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for snap, own in series:
            for suffix, extra, value in samples(snap):
                all_labels = {**(labels or {}), **own, **extra}
                text = ",".join(f'{k}="{_label_value(v)}"' for k, v in all_labels.items())
                lines.append(f"{name}{suffix}{'{' + text + '}' if text else ''} {_fmt(value)}")
    # Fault drills run at the control plane's stable endpoint, never in this server: always 0.
    model = {k: v for k, v in (labels or {}).items() if k == "model"}
    text = ",".join(f'{k}="{_label_value(v)}"' for k, v in model.items())
    lines.append("# HELP frameworm_drill_active Whether a fault drill is running at this endpoint (1) or not (0).")
    lines.append("# TYPE frameworm_drill_active gauge")
    lines.append(f"frameworm_drill_active{'{' + text + '}' if text else ''} 0")
    return "\n".join(lines) + "\n"
