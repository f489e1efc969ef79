"""What one client may ask of the lab: body size, text length, tokens per request, request rate, open streams."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """The lab's limits (the defaults suit one person at one browser).

    Attributes:
        max_body_bytes: the largest request body.
        max_text: the most characters of a text typed on the page (a prime, a sentence).
        max_page_text: the most characters of a page's text sent back (to recolour it, to map its gradients).
        max_length: the most tokens one request may generate.
        max_gradient_tokens: the gradient-flow map covers at most this many tokens (its cost grows as T², and it
            holds the run's lock: a generation asked for meanwhile waits for it).
        requests_per_second, burst: each client's token bucket (refill rate and size).
        max_streams: generations streaming at once, all clients together.
    """

    max_body_bytes: int = 256 * 1024
    max_text: int = 2000
    max_page_text: int = 20_000
    max_length: int = 2000
    max_gradient_tokens: int = 80
    requests_per_second: float = 20.0
    burst: int = 40
    max_streams: int = 4


class RateLimiter:
    """A token bucket per client: ``burst`` requests at once, then ``rate`` per second."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.buckets: dict[str, tuple[float, float]] = {}               # client -> (tokens, time)
        self.lock = threading.Lock()

    def wait(self, client: str) -> float:
        """0 if ``client`` may make a request now (and counts it), else the seconds until it may."""
        with self.lock:
            now = self.clock()
            tokens, then = self.buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens < 1.0:
                self.buckets[client] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self.buckets[client] = (tokens - 1.0, now)
            return 0.0


class StreamSlots:
    """At most ``size`` streams at once: :meth:`take` before one starts, :meth:`give` when it ends."""

    def __init__(self, size: int):
        self.size, self.used = size, 0
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.used >= self.size:
                return False
            self.used += 1
            return True

    def give(self) -> None:
        with self.lock:
            self.used -= 1
