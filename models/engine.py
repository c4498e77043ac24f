"""One inference engine per loaded model, shared by every student. No Streamlit here.

A lecturer says "now everyone try it" and a hundred students press a button within seconds. If each
of them ran the model alone, one after another, the last would wait minutes; the model is far
faster per request when it runs many requests in one pass. So each loaded model gets one engine:
a worker thread (started when work arrives, gone when there is none) that runs every call on that
model, taking what all sessions asked for and running it in batches:

- a *batch lane* per kind of request (`BatchKind`: BERT's mask rows, attention maps, CLIP's text and
  image encodings): the requests waiting when the worker comes round share one forward pass;
- for GPT-2, the *decode lane* (models/continuous_batching.py): generations join and leave between
  token steps, and prompt scoring shares those steps.

The worker gives each lane one bounded unit of work in turn, and within a lane takes sessions in turn,
so no request holds the model for long. A request that raises fails alone (its batch is re-run one
request at a time to find it); a cancelled one gives up its place at the next step.

Callers in models/ call `engine_for(loaded).call(kind, payload)`. Who is asking (which browser session)
and how to tell them they are waiting comes from `asking_as(...)`, which the page sets around its model
calls (ui/engine_wait.py); a call outside it counts as its own thread's session.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Protocol, TypeVar

import torch

Payload = TypeVar("Payload")
Result = TypeVar("Result")

# How often a waiting caller is told where it stands (and gets a chance to give up).
WAIT_POLL_S = 0.25
# How long an idle worker waits for more work before its thread ends.
IDLE_GRACE_S = 0.5
# Seconds per unit of work assumed before an engine has measured its own speed.
_FIRST_GUESS_S = 0.05


class RequestFailed(RuntimeError):
    """One request failed; the engine and everybody else's requests go on. The message says why."""


class RequestCancelled(RuntimeError):
    """The request was cancelled (Stop, a new run of the page, or a closed tab) before it finished."""


@dataclass(frozen=True)
class QueueStatus:
    """Where one request stands: `ahead` requests before it, about `eta_s` seconds to go (None: unknown),
    and how long it has waited so far."""

    ahead: int
    eta_s: float | None
    running: bool
    waited_s: float = 0.0

    def describe(self) -> str:
        if self.running:
            timing = f", about {math.ceil(self.eta_s)} s to go" if self.eta_s else ""
            return "running" + timing
        people = "next in line" if self.ahead == 0 else f"{self.ahead} request{'' if self.ahead == 1 else 's'} ahead"
        return people + (f", about {math.ceil(self.eta_s)} s" if self.eta_s is not None else "")


@dataclass(frozen=True)
class EngineLoad:
    """What one engine is doing now (requests running and waiting), and what it has done: requests answered,
    and requests stopped before their end (Stop, a rerun of the page, a closed tab)."""

    running: int
    waiting: int
    busy: bool
    answered: int = 0
    stopped: int = 0


# ---------------------------------------------------------------------------------------
# Who is asking


@dataclass(frozen=True)
class Requester:
    """The session a request belongs to, and how to tell it that it is waiting.

    `on_wait` is called about every WAIT_POLL_S seconds while the request waits or runs; it may raise
    (a page that stops, a closed tab), which cancels the request.
    """

    session: str
    on_wait: Callable[[QueueStatus], None] | None = None


_requester: contextvars.ContextVar[Requester | None] = contextvars.ContextVar("lecture_lab_requester", default=None)


def current_requester() -> Requester:
    return _requester.get() or Requester(session=f"thread-{threading.get_ident()}")


@contextlib.contextmanager
def asking_as(session: str, on_wait: Callable[[QueueStatus], None] | None = None) -> Iterator[None]:
    """Requests made inside belong to `session`; `on_wait` hears where they stand while they wait."""
    token = _requester.set(Requester(session, on_wait))
    try:
        yield
    finally:
        _requester.reset(token)


# ---------------------------------------------------------------------------------------
# Tickets: one request's place in an engine


class Ticket:
    """One request: its payload, who asked, its cost, and (once done) its result or error."""

    def __init__(self, payload: Any, *, session: str, cost: int = 1) -> None:
        self.payload = payload
        self.session = session
        self.cost = max(1, int(cost))
        self.created = time.perf_counter()
        self.started: float | None = None
        self.cancelled = False
        self._done = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def cancel(self) -> None:
        """Give up: the engine drops the request at its next step (a no-op once it is done)."""
        self.cancelled = True

    def finish(self, result: Any) -> None:
        self._result = result
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._result


class Lane(Protocol):
    """A source of work for an engine's worker. Bookkeeping runs under the engine's lock; `run_once`
    runs on the worker with the lock released, and does one bounded unit of work (one batch, one step)."""

    def has_work(self) -> bool: ...

    def run_once(self) -> None: ...

    def status_of(self, ticket: Ticket) -> QueueStatus: ...

    def load(self) -> tuple[int, int]: ...

    def served(self) -> tuple[int, int]:
        """(requests answered, requests stopped before their end) so far."""

    def abandon(self, error: Exception) -> None:
        """Fail every request the lane holds (after an unexpected error in the lane itself)."""


class Engine:
    """The one worker that runs everything on one model, lane by lane.

    `lock` guards every lane's queues. The worker thread exists only while there is work, so an idle
    engine holds no thread, and a model let go by the memory budget is freed once its last call ends.
    """

    def __init__(self, loaded: Any, name: str = "") -> None:
        self.loaded = loaded
        self.name = name or getattr(getattr(loaded, "entry", None), "key", "model")
        self.lock = threading.Condition()
        self._lanes: dict[str, Lane] = {}
        self._worker: threading.Thread | None = None
        self._on_idle: list[Callable[[], None]] = []

    # Lanes ------------------------------------------------------------------------------

    def lane(self, name: str, make: Callable[[], Lane]) -> Lane:
        with self.lock:
            if name not in self._lanes:
                self._lanes[name] = make()
            return self._lanes[name]

    def existing_lane(self, name: str) -> Lane | None:
        with self.lock:
            return self._lanes.get(name)

    def when_idle(self, action: Callable[[], None]) -> None:
        """Run `action` on the worker each time it runs out of work (e.g. hand memory back)."""
        with self.lock:
            self._on_idle.append(action)

    def wake(self) -> None:
        """Start the worker if it is not running (call with `lock` held, after adding work)."""
        if self._worker is None:
            # Not a daemon: at exit the interpreter waits for the step in progress instead of killing the
            # thread inside torch (which aborts the process). The worker ends as soon as its work does. It holds
            # the engine only weakly while it waits for more work, so a model let go is freed at once.
            self._worker = threading.Thread(
                target=_worker_loop, args=(weakref.ref(self), self.lock), name=f"engine-{self.name}"
            )
            self._worker.start()
        self.lock.notify_all()

    def is_worker(self) -> bool:
        return threading.current_thread() is self._worker

    def _run_available(self) -> bool:
        """Give each busy lane one unit of work; with none, run the idle actions. True when work was done."""
        with self.lock:
            busy = [lane for lane in self._lanes.values() if lane.has_work()]
            idle_actions = [] if busy else list(self._on_idle)
        for action in idle_actions:
            action()
        for lane in busy:
            try:
                lane.run_once()
            except Exception as error:  # a bug in a lane must not leave its requests waiting forever
                with self.lock:
                    lane.abandon(error)
        return bool(busy)

    def _has_work(self) -> bool:
        return any(lane.has_work() for lane in self._lanes.values())

    # Calls ------------------------------------------------------------------------------

    def call(self, kind: BatchKind[Payload, Result], payload: Payload) -> Result:
        """Run `payload` as part of the next batch of its kind; blocks, telling the requester where it stands."""
        if self.is_worker():  # a batch function calling back into its own engine runs inline
            return kind.run(self.loaded, [payload])[0]
        lane = self.lane(kind.name, lambda: BatchLane(self, kind))
        requester = current_requester()
        ticket = Ticket(payload, session=requester.session, cost=kind.cost(payload))
        lane.add(ticket)
        return self.wait_for(ticket, lane, requester)

    def call_many(
        self,
        kind: BatchKind[Payload, Result],
        payloads: list[Payload],
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Result]:
        """Run several payloads of one request (the chunks of a long job): they queue together and are taken
        a few at a time between other sessions' requests. `progress(done, total)` follows them in order."""
        if self.is_worker():
            return kind.run(self.loaded, list(payloads))
        lane = self.lane(kind.name, lambda: BatchLane(self, kind))
        requester = current_requester()
        tickets = [Ticket(payload, session=requester.session, cost=kind.cost(payload)) for payload in payloads]
        for ticket in tickets:
            lane.add(ticket)
        results = []
        try:
            for done, ticket in enumerate(tickets, start=1):
                results.append(self.wait_for(ticket, lane, requester))
                if progress is not None:
                    progress(done, len(tickets))
        finally:
            for ticket in tickets:
                ticket.cancel()
        return results

    def wait_for(self, ticket: Ticket, lane: Lane, requester: Requester | None = None) -> Any:
        requester = requester or current_requester()
        try:
            while not ticket.wait(WAIT_POLL_S):
                if requester.on_wait is not None:
                    requester.on_wait(self.status(ticket, lane))
            return ticket.result()
        except BaseException:
            ticket.cancel()
            raise

    def status(self, ticket: Ticket, lane: Lane) -> QueueStatus:
        with self.lock:
            status = lane.status_of(ticket)
        return dataclasses.replace(status, waited_s=time.perf_counter() - ticket.created)

    def load(self) -> EngineLoad:
        with self.lock:
            running = waiting = answered = stopped = 0
            for lane in self._lanes.values():
                lane_running, lane_waiting = lane.load()
                lane_answered, lane_stopped = lane.served()
                running += lane_running
                waiting += lane_waiting
                answered += lane_answered
                stopped += lane_stopped
            return EngineLoad(
                running=running, waiting=waiting, busy=self._worker is not None, answered=answered, stopped=stopped
            )


# ---------------------------------------------------------------------------------------
# Batch lanes: requests of one kind share a forward pass


@dataclass(frozen=True)
class BatchKind(Generic[Payload, Result]):
    """A kind of request that batches: `run(loaded, payloads)` returns one result per payload, each the
    same as running that payload alone. A batch holds at most `max_cost` units (`cost(payload)` each:
    tokens, images), so one batch never holds the model for long; a single larger request runs alone."""

    name: str
    run: Callable[[Any, list[Payload]], list[Result]]
    max_cost: int
    cost: Callable[[Payload], int] = lambda payload: 1
    padded: bool = False  # payloads are padded to the longest: a batch costs count × the largest cost


class BatchLane:
    """Waiting requests of one kind; each `run_once` takes sessions in turn up to the kind's cost budget."""

    def __init__(self, engine: Engine, kind: BatchKind) -> None:
        self.engine = engine
        self.kind = kind
        self.pending: deque[Ticket] = deque()
        self.running: list[Ticket] = []
        self.seconds_per_cost = _FIRST_GUESS_S
        self.answered = 0
        self.stopped = 0

    def add(self, ticket: Ticket) -> None:
        with self.engine.lock:
            self.pending.append(ticket)
            self.engine.wake()

    def has_work(self) -> bool:
        return bool(self.pending)

    def load(self) -> tuple[int, int]:
        return len(self.running), len(self.pending)

    def served(self) -> tuple[int, int]:
        return self.answered, self.stopped

    def status_of(self, ticket: Ticket) -> QueueStatus:
        if ticket.started is not None:
            return QueueStatus(ahead=0, eta_s=None, running=True)
        ahead, cost_ahead = 0, sum(t.cost for t in self.running)
        for other in self.pending:
            if other is ticket:
                break
            ahead += 1
            cost_ahead += other.cost
        return QueueStatus(
            ahead=ahead + len(self.running), eta_s=(cost_ahead + ticket.cost) * self.seconds_per_cost, running=False
        )

    def _take(self) -> list[Ticket]:
        """Sessions in turn, oldest request first, until the cost budget is spent (always at least one)."""
        live = [ticket for ticket in self.pending if not ticket.cancelled]
        for ticket in self.pending:
            if ticket.cancelled:
                ticket.fail(RequestCancelled("cancelled before it ran"))
                self.stopped += 1
        by_session: dict[str, deque[Ticket]] = {}
        for ticket in live:
            by_session.setdefault(ticket.session, deque()).append(ticket)
        taken: list[Ticket] = []
        spent = largest = 0
        while by_session:
            for session in list(by_session):
                queue = by_session[session]
                ticket = queue[0]
                if self.kind.padded:
                    cost = (len(taken) + 1) * max(largest, ticket.cost)
                else:
                    cost = spent + ticket.cost
                if taken and cost > self.kind.max_cost:
                    by_session.clear()
                    break
                taken.append(queue.popleft())
                spent += ticket.cost
                largest = max(largest, ticket.cost)
                if not queue:
                    del by_session[session]
        chosen = set(map(id, taken))
        self.pending = deque(ticket for ticket in live if id(ticket) not in chosen)
        return taken

    def run_once(self) -> None:
        with self.engine.lock:
            batch = self._take()
            self.running = batch
        if not batch:
            return
        started = time.perf_counter()
        for ticket in batch:
            ticket.started = started
        try:
            self._run(batch)
        finally:
            elapsed = time.perf_counter() - started
            cost = sum(ticket.cost for ticket in batch)
            with self.engine.lock:
                self.running = []
                # A slow moving average: one odd batch should not swing everyone's estimate.
                self.seconds_per_cost = 0.7 * self.seconds_per_cost + 0.3 * elapsed / cost

    def abandon(self, error: Exception) -> None:
        for ticket in [*self.running, *self.pending]:
            ticket.fail(request_failed(error))
        self.running, self.pending = [], deque()

    def _run(self, batch: list[Ticket]) -> None:
        try:
            with torch.inference_mode():
                results = self.kind.run(self.engine.loaded, [ticket.payload for ticket in batch])
        except Exception as error:
            if len(batch) == 1:
                batch[0].fail(request_failed(error))
                return
            for ticket in batch:  # find the request that fails; the others still get their answers
                self._run([ticket])
            return
        for ticket, result in zip(batch, results):
            ticket.finish(result)
        self.answered += len(batch)


def _worker_loop(engine_ref: weakref.ref, lock: threading.Condition) -> None:
    """An engine's worker: run work while there is some. Out of work, it waits a moment for more, since a caller
    with a series of steps (a training run) sends the next one a moment after the last ends, and a fresh thread
    costs torch a new thread team (measured: +35 % on a training run). While it waits it holds the engine only
    weakly: a model let go in that moment is freed, and the worker ends."""
    while True:
        engine = engine_ref()
        if engine is None:
            return
        if engine._run_available():
            continue
        del engine
        with lock:
            engine = engine_ref()
            if engine is not None and not engine._has_work():
                del engine
                lock.wait(IDLE_GRACE_S)
                engine = engine_ref()
            if engine is None:
                return
            if not engine._has_work():
                engine._worker = None
                return


def request_failed(error: Exception) -> RequestFailed:
    """The error one request gets when the model raised while running it."""
    failure = RequestFailed(f"the model could not run this request ({type(error).__name__}: {error})")
    failure.__cause__ = error
    return failure


# ---------------------------------------------------------------------------------------
# One engine per loaded model

_creating = threading.Lock()


def engine_for(loaded: Any) -> Engine:
    """The engine of a loaded model, created on first use; every session using the model shares it."""
    engine = getattr(loaded, "engine", None)
    if engine is None:
        with _creating:
            engine = getattr(loaded, "engine", None)
            if engine is None:
                engine = Engine(loaded)
                loaded.engine = engine
    return engine
