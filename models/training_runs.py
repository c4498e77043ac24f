"""Fine-tuning runs shared by the whole class. No Streamlit here.

When a lecturer says "press Train", a hundred students press it with the same preset. Training is the
heaviest thing the app does, so:
- one run per settings: every session asking for the same settings watches the same run (and a finished
  run's result is kept, so pressing again costs nothing);
- one run trains at a time on the server (runs queue, and a waiting student is told how many are ahead);
- each optimiser step is one unit of work on the encoder's engine (models/engine.py), so steps interleave
  with other requests on that model instead of holding it for a whole run;
- a run nobody watches any more (every watcher pressed Stop or left) stops at its next step.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import torch

from models.engine import BatchKind, engine_for
from models.finetune import EpochRecord, FinetuneResult, FinetuneSettings, run_finetune

FINISHED_RUNS_KEPT = 32  # results are small: curves and a few numbers per strategy
CONCURRENT_RUNS = 1  # two runs at once would only share the same 2 CPUs, and double the memory


def _train_steps(loaded: Any, works: list[Callable[[], Any]]) -> list[Any]:
    """Run queued training steps; the engine's worker otherwise runs everything in inference mode."""
    with torch.inference_mode(False), torch.enable_grad():
        return [work() for work in works]


TRAIN_STEP = BatchKind("train-step", _train_steps, max_cost=1)


@dataclass(frozen=True)
class RunView:
    """What a watcher sees of a run at one moment."""

    records: tuple[EpochRecord, ...]
    state: str  # "queued", "training", "done", "stopped", "failed"
    ahead: int  # runs queued before this one
    result: FinetuneResult | None
    error: str | None


class TrainingRun:
    def __init__(self, settings: FinetuneSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._records: list[EpochRecord] = []
        self._state = "queued"
        self._result: FinetuneResult | None = None
        self._error: str | None = None
        self.watchers = 0
        self.finished = threading.Event()

    @property
    def cancelled(self) -> bool:
        with self._lock:
            return self.watchers <= 0

    def record(self, epoch: EpochRecord) -> None:
        with self._lock:
            self._records.append(epoch)

    def set_state(self, state: str, *, result: FinetuneResult | None = None, error: str | None = None) -> None:
        with self._lock:
            self._state, self._result, self._error = state, result or self._result, error
        if state in ("done", "stopped", "failed"):
            self.finished.set()

    def view(self, ahead: int) -> RunView:
        with self._lock:
            return RunView(tuple(self._records), self._state, ahead, self._result, self._error)


class TrainingRuns:
    """Every run of the server: the ones queued or training, and the finished ones kept by settings."""

    def __init__(self, *, kept: int = FINISHED_RUNS_KEPT, concurrent: int = CONCURRENT_RUNS) -> None:
        self._lock = threading.Lock()
        self._active: dict[FinetuneSettings, TrainingRun] = {}
        self._finished: dict[FinetuneSettings, TrainingRun] = {}
        self._queue: list[FinetuneSettings] = []
        self._kept = kept
        self._slots = threading.Semaphore(concurrent)

    def finished(self, settings: FinetuneSettings) -> TrainingRun | None:
        with self._lock:
            return self._finished.get(settings)

    def join(self, loaded: Any, settings: FinetuneSettings) -> TrainingRun:
        """The run for `settings`: a finished one, the one in progress (now watched once more), or a new one."""
        with self._lock:
            done = self._finished.get(settings)
            if done is not None:
                return done
            run = self._active.get(settings)
            if run is None:
                run = TrainingRun(settings)
                self._active[settings] = run
                self._queue.append(settings)
                threading.Thread(target=self._train, args=(loaded, run), name="finetune-run", daemon=True).start()
            with run._lock:
                run.watchers += 1
            return run

    def leave(self, run: TrainingRun) -> None:
        """One watcher fewer; a run left without watchers stops at its next step."""
        with run._lock:
            run.watchers = max(0, run.watchers - 1)

    def ahead_of(self, run: TrainingRun) -> int:
        with self._lock:
            return self._queue.index(run.settings) if run.settings in self._queue else 0

    def _train(self, loaded: Any, run: TrainingRun) -> None:
        engine = engine_for(loaded)
        try:
            with self._slots:
                with self._lock:
                    if run.settings in self._queue:
                        self._queue.remove(run.settings)
                if run.cancelled:
                    run.set_state("stopped")
                    return
                run.set_state("training")
                result = run_finetune(
                    loaded.model,
                    loaded.tokenizer,
                    run.settings,
                    on_epoch=run.record,
                    should_stop=lambda: run.cancelled,
                    step=lambda work: engine.call(TRAIN_STEP, work),
                )
            if result.stopped:
                run.set_state("stopped", result=result)
            else:
                run.set_state("done", result=result)
                with self._lock:
                    self._finished[run.settings] = run
                    while len(self._finished) > self._kept:
                        self._finished.pop(next(iter(self._finished)))
        except Exception as error:  # a fault stays with this run; the page says what happened
            traceback.print_exc()
            run.set_state("failed", error=f"{type(error).__name__}: {error}")
        finally:
            with self._lock:
                if run.settings in self._queue:
                    self._queue.remove(run.settings)
                if self._active.get(run.settings) is run:
                    del self._active[run.settings]
