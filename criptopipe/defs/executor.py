"""The run executor: Dagster's in-process executor, with a pool wait that sleeps, listens and says
who it waits for.

Every CoinCap step holds a slot of the `coincap` pool (one slot). A step whose slot is taken
waits in the executor's loop, and in Dagster 1.13.27 that loop has two faults:

- **It spins.** `InstanceConcurrencyContext.interval_to_next_pending_claim_check()` returns
  `min([0, *(ready_at - now)])`, which is never positive, so `ActiveExecution.sleep_til_ready()`
  never sleeps while a claim is pending. The database is asked only every 1-15 s (the claim's own
  backoff), but between those checks the loop re-runs `get_next_step()` without pause: one core
  at 100% for as long as the slot stays taken (forever, when its holder was killed).
- **It does not hear SIGTERM or Ctrl-C.** `dagster asset materialize` and every run worker
  execute inside `capture_interrupts()`, whose handler for SIGINT and SIGTERM only sets a flag:
  interrupts are raised at safe points, which are user code (`raise_execution_interrupts`) and
  the multiprocess/step-delegating executors' loops (`check_for_interrupts()`). The in-process
  loop has no such point, so a step waiting for a slot never runs user code and never looks at
  the flag; `timeout`/`kill -TERM` do nothing, only SIGKILL ends it (which leaves yet another
  pending claim behind).

`PoolWait` below fixes both where they are made: it waits `POLL_SECONDS` between passes while a
claim is pending (the claim still asks the database on Dagster's own schedule) and turns a
received interrupt into `DagsterExecutionInterruptedError` at that point, where no step is in
flight, so the run ends FAILED (or CANCELED when it was terminated from the UI) and its pending
claims are withdrawn. While blocked it logs which run holds the slot, since when, and whether that
run's process is alive; a holder whose process is provably gone is failed and its slots freed
on the spot (criptopipe.recovery), so a killed run never wedges the pool for the runs after it.

The executor also records the worker process (host, pid, start time) as the run tag
`criptopipe/worker` before any step runs: that is what lets a later run or `criptopipe` prove a
STARTED run's process is gone. Dagster's own engine events carry only the pid, not the host.

Private Dagster imports are pinned by `dagster==1.13.27` in pyproject.toml; the e2e tests fail
if an upgrade changes what they rely on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from types import TracebackType

import dagster as dg
from dagster._core.definitions.executor_definition import (
    IN_PROC_CONFIG,
    _core_in_process_executor_creation,
)
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.api import ExecuteRunWithPlanIterable
from dagster._core.execution.context.system import PlanExecutionContext, PlanOrchestrationContext
from dagster._core.execution.context_creation_job import PlanExecutionContextManager
from dagster._core.execution.plan.execute_plan import inner_plan_execution_iterator
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.executor.in_process import InProcessExecutor
from dagster._utils.interrupts import check_captured_interrupt

from criptopipe.defs import recovery
from criptopipe.pipeline import dead_runs, owners

#: pause between passes of the executor loop while a step waits for a slot: the CPU cost of
#: waiting, and the longest a SIGTERM / Ctrl-C waits to be acted on
POLL_SECONDS = 1.0
#: how often a blocked step looks at who holds the slot (and frees it if that run is dead)
LOOK_SECONDS = 10.0
#: how often it repeats "still waiting" when nothing changed
REPORT_SECONDS = 60.0


class PoolWait(InstanceConcurrencyContext):
    """Dagster's per-run concurrency context, with a wait that sleeps, hears interrupts and
    explains itself."""

    def __init__(self, job_context: PlanExecutionContext) -> None:
        super().__init__(job_context.instance, job_context.dagster_run)
        self._log = job_context.log
        self._waiting: dict[str, tuple[str, float]] = {}  # step -> (pool, since)
        self._next_look = 0.0
        self._last_report: tuple[float, str] = (0.0, "")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc_value, traceback)  # withdraws pending claims
        if exc_type is not None:
            # In process, no step outlives this loop: a claimed slot left here (the run is
            # ending on an error or an interrupt) would otherwise stay taken for good.
            try:
                self._instance.event_log_storage.free_concurrency_slots_for_run(self._run_id)
            except Exception as exc:  # the run's own error matters more; recovery frees later
                self._log.warning(f"could not free this run's pool slots: {exc}")

    def claim(self, concurrency_key: str, step_key: str, step_priority: int = 0) -> bool:
        if super().claim(concurrency_key, step_key, step_priority):
            if step_key in self._waiting:
                _, since = self._waiting.pop(step_key)
                self._log.info(
                    f"{step_key} got its slot of pool {concurrency_key} after waiting "
                    f"{dead_runs.duration(time.time() - since)}"
                )
            return True
        self._waiting.setdefault(step_key, (concurrency_key, time.time()))
        if time.monotonic() >= self._next_look:
            self._next_look = time.monotonic() + LOOK_SECONDS
            self._look_at_holders(concurrency_key, step_key)
        return False

    def interval_to_next_pending_claim_check(self) -> float:
        # Called by the executor loop right before it would sleep: the one point where no step
        # runs, so an interrupt can be raised here safely (see the module docstring).
        if check_captured_interrupt():
            waiting = ", ".join(sorted(self._waiting)) or "a step"
            raise DagsterExecutionInterruptedError(
                f"interrupted (SIGTERM/SIGINT) while {waiting} waited for a pool slot"
            )
        return POLL_SECONDS if self.has_pending_claims() else 0.0

    def _look_at_holders(self, pool: str, step_key: str) -> None:
        """Log who holds `pool` and since when; free the slots of holders that are dead."""
        try:
            holders = recovery.holders(self._instance, pool, exclude_run_id=self._run_id)
            dead = [h for h in holders if h.action in dead_runs.FREEING]
            for reaped in recovery.reap(self._instance, [h.run_id for h in dead]):
                self._log.warning(f"{step_key} waits for pool {pool}: {reaped.line()}")
        except Exception as exc:  # looking is a courtesy: never let it fail the run
            self._log.warning(f"could not look at who holds pool {pool}: {exc}")
            return
        now = datetime.now(timezone.utc)
        live = [h for h in holders if h.action not in dead_runs.FREEING]
        held = "; ".join(h.describe(now) for h in live) or "slot just freed"
        message = f"{step_key} is waiting for a slot of pool {pool}: {held}"
        last_at, last_message = self._last_report
        if dead or held != last_message or time.monotonic() - last_at >= REPORT_SECONDS:
            self._log.info(message)
            self._last_report = (time.monotonic(), held)


def _iterator(
    job_context: PlanExecutionContext,
    execution_plan: ExecutionPlan,
    instance_concurrency_context: InstanceConcurrencyContext | None = None,
) -> Iterator[DagsterEvent]:
    with PoolWait(job_context) as pool_wait:
        yield from inner_plan_execution_iterator(job_context, execution_plan, pool_wait)


class PoolAwareInProcessExecutor(InProcessExecutor):
    """`InProcessExecutor.execute`, with the run's worker recorded and `PoolWait` as the
    concurrency context."""

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        me = owners.current()
        plan_context.instance.add_run_tags(plan_context.run_id, {recovery.OWNER_TAG: me.encode()})
        step_keys = execution_plan.step_keys_to_execute
        yield DagsterEvent.engine_event(
            plan_context,
            f"Executing steps in process ({me.describe()})",
            event_specific_data=EngineEventData.in_process(me.pid, step_keys),
        )
        started = time.monotonic()
        yield from iter(
            ExecuteRunWithPlanIterable(
                execution_plan=plan_context.execution_plan,
                iterator=_iterator,
                execution_context_manager=PlanExecutionContextManager(
                    job=plan_context.job,
                    retry_mode=plan_context.retry_mode,
                    execution_plan=plan_context.execution_plan,
                    run_config=plan_context.run_config,
                    dagster_run=plan_context.dagster_run,
                    instance=plan_context.instance,
                    raise_on_error=plan_context.raise_on_error,
                    output_capture=plan_context.output_capture,
                    step_dependency_config=self.step_dependency_config,
                ),
            )
        )
        yield DagsterEvent.engine_event(
            plan_context,
            f"Finished steps in process ({me.describe()}) in "
            f"{dead_runs.duration(time.monotonic() - started)}",
            event_specific_data=EngineEventData.in_process(me.pid, step_keys),
        )


@dg.executor(name="in_process", config_schema=IN_PROC_CONFIG)
def pool_aware_in_process_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Dagster's `in_process` executor (same name and config) with `PoolWait`."""
    stock = _core_in_process_executor_creation(init_context.executor_config)
    return PoolAwareInProcessExecutor(
        retries=stock.retries, step_dependency_config=stock.step_dependency_config
    )
