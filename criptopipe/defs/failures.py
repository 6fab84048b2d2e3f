"""The layers' errors as Dagster step failures: retried only when a retry can help, and never
carrying a password or key into the event log.

Each error class of the layers below says whether a retry may help (`retryable`); this is the
one place that turns that into Dagster's terms:

- `retryable = False` (bad settings, refused credentials, unknown coins, the budget, bad data):
  `Failure(allow_retries=False)`, one attempt;
- a `retry_limit` of (retries, seconds) (a server that does not answer at all): a
  `RetryRequested` with that short, bounded wait instead of the policy's minutes; the message
  says how often and how long;
- `retryable = True` otherwise (429/5xx storms, timeouts, a database that dropped the
  connection): a `Failure` the assets' `RetryPolicy` retries with its backoff.

Dagster writes an exception's message *and its whole cause chain* to the event log and the
compute logs. So every message is scrubbed of the run's secrets, and the chain is kept (for the
traceback) only when no link of it holds one; an error we did not classify whose chain holds a
secret is replaced by a scrubbed copy of itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Protocol

import dagster as dg

from criptopipe.config import ConfigError
from criptopipe.pipeline.candles import NoSymbolsError
from criptopipe.pipeline.ingest import EmptyAnswerError, UnknownCoinsError
from criptopipe.pipeline.planner import BudgetExceededError
from criptopipe.sources.coincap.errors import CoinCapError
from criptopipe.sources.exchanges.errors import ExchangeSourceError
from criptopipe.storage.errors import StorageError, chain_holds, scrub
from criptopipe.storage.slices import OutOfSliceError

#: the errors of the layers below; each says whether a retry may help (`retryable`)
KNOWN_ERRORS = (
    CoinCapError,
    ExchangeSourceError,
    NoSymbolsError,
    UnknownCoinsError,
    EmptyAnswerError,
    BudgetExceededError,
    StorageError,
    ConfigError,
    OutOfSliceError,
)


def failure(exc: BaseException, secrets: Iterable[str], suffix: str = "") -> Exception:
    """The step failure (or bounded retry request) for one of the layers' errors: raise it
    without `from` (its cause is set here: the error itself, or nothing when that would carry
    a secret)."""
    secrets = tuple(secrets)
    description = scrub(f"{exc}{suffix}", *secrets)
    cause = None if chain_holds(exc, secrets) else exc
    limit = getattr(exc, "retry_limit", None)
    if limit is not None:
        retries, wait = limit
        reason = dg.Failure(description=description, allow_retries=True)
        request = dg.RetryRequested(max_retries=retries, seconds_to_wait=wait)
        request.__cause__, request.__suppress_context__ = reason, True
        reason.__cause__ = cause
        return request
    fail = dg.Failure(description=description, allow_retries=bool(getattr(exc, "retryable", True)))
    fail.__cause__ = cause
    fail.__suppress_context__ = True
    return fail


class HasSecrets(Protocol):
    def secrets(self) -> tuple[str, ...]: ...


def secrets_of(holders: Iterable[HasSecrets]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s for holder in holders for s in holder.secrets()))


@contextlib.contextmanager
def step_failures(*holders: HasSecrets, suffix: str = "") -> Iterator[None]:
    """Turn the layers' typed errors into step failures, retried only when they say so, and
    keep the secrets the `holders` (the step's resources) know out of whatever escapes. They
    are asked when an error happens: a resource reads its settings on first use."""
    try:
        yield
    except KNOWN_ERRORS as exc:
        raise failure(exc, secrets_of(holders), suffix)  # noqa: B904 - its chain is set here
    except Exception as exc:  # our own Failures included: built from scrubbed text, checked
        secrets = secrets_of(holders)
        if chain_holds(exc, secrets):
            raise _scrubbed(exc, secrets) from None
        raise


def _scrubbed(exc: BaseException, secrets: tuple[str, ...]) -> Exception:
    """An error we did not classify, with its text scrubbed and no chain: the retry policy
    treats it as before (unknown errors are retried), the event log never sees the secret."""
    allow = getattr(exc, "allow_retries", True)
    return dg.Failure(
        description=scrub(f"{type(exc).__name__}: {exc}", *secrets), allow_retries=allow
    )
