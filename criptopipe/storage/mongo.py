"""MongoDB: the raw archive -- CoinCap's records exactly as sent, one document per record.

A document is `{"_id": "<natural key joined by |, coin first>", <key columns; the partition column as a UTC
datetime>, <the table's `document_columns`>, "record": <as sent>, "fetched_at", "request_path",
"_batch"}`, with a unique index on the natural key.

Slice replacement without multi-document transactions (a standalone server has none):
1. every new document carries a fresh batch id and is upserted by `_id` (deterministic from the
   natural key, so a duplicate can never exist -- the unique index enforces it too);
2. then the slice's documents whose batch id is not the new one (keys that disappeared) are
   deleted.
What a reader may see mid-write: for keys in both the old and the new data, the old or the new
document (never neither, never both); keys only in the old data stay until step 2. A crash at
any point leaves such a state, and a rerun of the same write converges to exactly the new slice.
An empty slice (the first load) skips the upserts' lookups and inserts in bulk.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

import pandas as pd
import pymongo
from pymongo import errors as mongo_errors
from pymongo.collection import Collection
from pymongo.uri_parser import parse_uri

from criptopipe.storage.errors import (
    StorageAuthError,
    StorageConfigError,
    StorageError,
    StorageUnavailableError,
    WriteResult,
    redact_url,
    refuse_duplicate_keys,
    scrub,
    url_secrets,
)
from criptopipe.storage.slices import Slice, as_date, midnight
from criptopipe.storage.tables import Table

DEFAULT_DATABASE = "criptopipe"
BATCH = 5_000
INDEX = "natural_key"


def id_columns(ds: Table) -> list[str]:
    """The natural key with the coin first: ids read `bitcoin|2024-06-01|...` and never start
    with a bare date (which some MongoDB-compatible servers misread as a date)."""
    return [ds.coin_column, *(k for k in ds.key if k != ds.coin_column)]


def document_id(ds: Table, values: dict[str, Any]) -> str:
    return "|".join(
        v.isoformat() if isinstance(v, date) else str(v)
        for v in (values[k] for k in id_columns(ds))
    )


#: MongoDB's error codes for refused credentials: Unauthorized, AuthenticationFailed
AUTH_CODES = (13, 18)


class MongoStore:
    def __init__(
        self,
        uri: str,
        database: str | None = None,
        timeout_ms: int = 10_000,
        variable: str = "MONGODB_URI",
    ) -> None:
        self.uri, self.timeout_ms, self.variable = uri, timeout_ms, variable
        self.secrets = url_secrets(uri)
        try:
            parsed = parse_uri(uri)
        except (mongo_errors.InvalidURI, mongo_errors.ConfigurationError, ValueError) as exc:
            raise StorageConfigError(
                f"{variable} is not a MongoDB URI ({redact_url(uri)}): "
                f"{scrub(str(exc), *self.secrets)}"
            ) from None
        password = parsed.get("password")
        if password:
            self.secrets = tuple(dict.fromkeys((*self.secrets, password)))
        #: (host, port) of every server the URI names
        self.nodes: list[tuple[str, int]] = list(parsed.get("nodelist") or [])
        self._hosts = ", ".join(f"{h}:{p}" for h, p in self.nodes)
        self.database_name = database or parsed.get("database") or DEFAULT_DATABASE
        self._client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            uri,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            appname="criptopipe",
        )
        self._db = self._client[self.database_name]

    def __repr__(self) -> str:
        return f"MongoStore({redact_url(self.uri)!r}, database={self.database_name!r})"

    def close(self) -> None:
        self._client.close()

    def collection(self, ds: Table) -> Collection[dict[str, Any]]:
        return self._db[ds.name]

    def check(self, timeout_ms: int = 3_000) -> None:
        """One `ping` on a client of its own with a short server-selection timeout (the time
        pymongo keeps trying to connect), which logs in when the URI carries credentials."""
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            self.uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            appname="criptopipe-check",
        )
        try:
            client[self.database_name].command("ping")
        except mongo_errors.PyMongoError as exc:
            raise self.explain(exc, timeout_ms) from None
        except Exception as exc:  # a server that breaks the driver's handshake
            first = scrub(str(exc).splitlines()[0][:200] if str(exc) else "", *self.secrets)
            raise StorageConfigError(
                f"what answers at {self._hosts} ({self.variable}) failed MongoDB's handshake "
                f"({type(exc).__name__}: {first}): is it a MongoDB server that supports the "
                "URI's login?"
            ) from None
        finally:
            client.close()

    def explain(self, exc: Exception, timeout_ms: int | None = None) -> StorageError:
        text = scrub(str(exc).splitlines()[0].split(", full error:")[0][:300], *self.secrets)
        var = self.variable
        if isinstance(exc, mongo_errors.OperationFailure) and exc.code in AUTH_CODES:
            return StorageAuthError(
                f"MongoDB at {self._hosts} refused the credentials in {var} "
                f"({redact_url(self.uri)}): wrong user or password. {text}"
            )
        if isinstance(exc, mongo_errors.ServerSelectionTimeoutError | mongo_errors.AutoReconnect):
            return StorageUnavailableError(
                f"cannot reach MongoDB at {self._hosts} (gave up after "
                f"{(timeout_ms or self.timeout_ms) / 1000:g}s): {text}. Is the server running "
                f"and {var} right? `make run` starts a local one."
            )
        return StorageError(f"MongoDB error at {self._hosts}: {text}")

    def ensure_indexes(self, tables: Iterable[Table]) -> None:
        try:
            for ds in tables:
                coll = self.collection(ds)
                coll.create_index([(k, pymongo.ASCENDING) for k in ds.key], unique=True, name=INDEX)
                coll.create_index(
                    [(ds.partition_column, pymongo.ASCENDING), (ds.coin_column, pymongo.ASCENDING)],
                    name="slice",
                )
        except mongo_errors.PyMongoError as exc:
            raise self.explain(exc) from exc

    def _documents(self, ds: Table, frame: pd.DataFrame, batch: str) -> Iterator[dict[str, Any]]:
        kept = [*ds.key, *ds.document_columns]
        cols = kept + ["record", "fetched_at", "request_path"]
        for values in frame[cols].itertuples(index=False, name=None):
            row = dict(zip(cols, values, strict=True))
            doc: dict[str, Any] = {"_id": document_id(ds, row)}
            for k in kept:
                doc[k] = midnight(row[k]) if k == ds.partition_column else row[k]
            doc["record"] = row["record"]
            doc["fetched_at"] = row["fetched_at"]
            doc["request_path"] = row["request_path"]
            doc["_batch"] = batch
            yield doc

    def replace_slice(self, ds: Table, slc: Slice, frame: pd.DataFrame) -> WriteResult:
        slc.check_rows(ds, frame)
        refuse_duplicate_keys(ds.key, frame)
        started = time.monotonic()
        coll = self.collection(ds)
        flt = slc.mongo_filter(ds)
        batch = uuid.uuid4().hex
        try:
            empty = coll.find_one(flt, {"_id": 1}) is None
            chunk: list[dict[str, Any]] = []
            for doc in self._documents(ds, frame, batch):
                chunk.append(doc)
                if len(chunk) >= BATCH:
                    self._write(coll, chunk, empty)
                    chunk = []
            if chunk:
                self._write(coll, chunk, empty)
            deleted = coll.delete_many({**flt, "_batch": {"$ne": batch}}).deleted_count
        except mongo_errors.PyMongoError as exc:
            raise self.explain(exc) from exc
        return WriteResult(len(frame), deleted, time.monotonic() - started)

    @staticmethod
    def _write(coll: Collection[dict[str, Any]], docs: list[dict[str, Any]], empty: bool) -> None:
        if empty:
            try:
                coll.insert_many(docs, ordered=False)
                return
            except mongo_errors.BulkWriteError as exc:
                # someone else wrote keys meanwhile (a rerun racing a crash): upsert them all
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise
        coll.bulk_write(
            [pymongo.ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs], ordered=False
        )

    def read_slice(self, ds: Table, slc: Slice) -> list[dict[str, Any]]:
        """The slice's stored documents, by natural key (the batch marker left out)."""
        try:
            cursor = self.collection(ds).find(slc.mongo_filter(ds), {"_batch": 0})
            return sorted(cursor, key=lambda d: tuple(str(d.get(k)) for k in ds.key))
        except mongo_errors.PyMongoError as exc:
            raise self.explain(exc) from exc

    def keys(self, ds: Table, slc: Slice) -> set[tuple[Any, ...]]:
        projection = {k: 1 for k in ds.key}
        try:
            docs = self.collection(ds).find(slc.mongo_filter(ds), projection)
            return {
                tuple(as_date(d[k]) if k == ds.partition_column else d[k] for k in ds.key)
                for d in docs
            }
        except mongo_errors.PyMongoError as exc:
            raise self.explain(exc) from exc

    def days(self, ds: Table, slc: Slice) -> set[date]:
        """The days of the slice that hold at least one document. A projected find, not a
        `$group`: the embedded wire server matches no dates in an aggregation."""
        try:
            docs = self.collection(ds).find(
                slc.mongo_filter(ds), {ds.partition_column: 1, "_id": 0}
            )
            return {as_date(d[ds.partition_column]) for d in docs}
        except mongo_errors.PyMongoError as exc:
            raise self.explain(exc) from exc
