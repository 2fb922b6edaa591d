"""The ask budget: one for the page and the REST API together.

At most max_concurrent_asks questions are answered at once, at most max_waiting_asks wait for a
turn (each at most ask_wait_seconds); anyone beyond is refused at once with one sentence, which
REST sends as a 503 and the page shows as the reply. Gradio's queue does not limit the page's
asks on its own (the ask event has no concurrency limit of its own), so the two add up to one.
"""

from __future__ import annotations

import asyncio

from cecot_rag.settings import Settings


class AskBudget:
    """Answering slots and a bounded line, taken and given back on the event loop only."""

    def __init__(self, settings: Settings, slots: int | None = None) -> None:
        self.settings = settings
        self.slots = slots or settings.max_concurrent_asks
        self._slots = asyncio.BoundedSemaphore(self.slots)
        self._waiting = 0

    @property
    def busy(self) -> str:
        """What a refused question is told."""
        questions = "question" if self.slots == 1 else "questions"
        return f"the server is answering {self.slots} {questions}; retry shortly"

    async def take(self) -> bool:
        """Take a slot, waiting in a bounded line; False when the line is full or the wait too long.

        Waiting happens on the event loop (no thread held), so a burst of clients costs nothing
        until their turn; beyond max_waiting_asks they are refused at once. The semaphore wakes
        waiters in arrival order, and `locked()` is true while anyone waits, so no newcomer
        overtakes the line.
        """
        if not self._slots.locked():
            return await self._slots.acquire()  # a free slot: returns without suspending
        if self._waiting >= self.settings.max_waiting_asks:
            return False
        self._waiting += 1
        try:
            # wait_for, not asyncio.timeout: it runs acquire as a task of its own, so on 3.11 a grant
            # that races the timeout is either returned or given back, never cancels this request.
            return await asyncio.wait_for(self._slots.acquire(), self.settings.ask_wait_seconds)
        except TimeoutError:
            return False
        finally:
            self._waiting -= 1

    def give_back(self) -> None:
        self._slots.release()
