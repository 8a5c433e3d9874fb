"""A client that keeps calling a model through the emulated gateway while a deploy runs.

`Traffic(stack, model).start()` sends one chat completion every `interval` seconds, as a model user
would, in a thread of its own, until `stop()`; each answer is kept with its time. What tests and
`make bench` read from it: how many requests failed, and how long the gateway had no healthy
provider for the model (from the first failure of a run of failures to the next success).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from testing.sandbox_stack import SandboxStack

MODEL_USER = "alice@example.com"
"""The sandbox stack's model user (`group:ai-users` in Pulumi.sandbox.yaml)."""


@dataclass(frozen=True)
class Answer:
    """One request: when it was sent (monotonic seconds), its status, what went wrong."""

    at: float
    status: int
    body: str


@dataclass
class Traffic:
    """A model user calling `model` through the gateway every `interval` seconds."""

    stack: SandboxStack
    model: str
    interval: float = 0.1
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Traffic:
        """Send requests from now on, in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Traffic:
        """Stop sending and wait for the request in flight."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)
        return self

    def _run(self) -> None:
        request = {"model": self.model, "messages": [{"role": "user", "content": "are you there"}]}
        while not self._stop.is_set():
            at = time.monotonic()
            try:
                status, body = self.stack.gateway("/v1/chat/completions", MODEL_USER, request)
            except OSError as exc:
                status, body = 0, str(exc)
            self.answers.append(Answer(at, status, "" if status == 200 else str(body)[:300]))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - at)))

    @property
    def failed(self) -> list[Answer]:
        """Every answer that was not a 200."""
        return [answer for answer in self.answers if answer.status != 200]

    def outage_seconds(self) -> float:
        """Time without a healthy provider: for each run of failures, from its first failure to the
        next success (or the last request, if none followed)."""
        total, first_failure = 0.0, None
        for answer in self.answers:
            if answer.status != 200 and first_failure is None:
                first_failure = answer.at
            elif answer.status == 200 and first_failure is not None:
                total += answer.at - first_failure
                first_failure = None
        if first_failure is not None:
            total += self.answers[-1].at - first_failure
        return total
