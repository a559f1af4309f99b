"""``tactful export-events``: the event log as Parquet, partitioned by day, for Spark and friends.

The export is read from the store a page of columns at a time
(:meth:`~tactful.storage.protocol.Store.iter_event_columns`) and streamed to pyarrow as
record batches: nothing is written row by row and memory stays bounded by one page. The
layout is Hive-style, which Spark, pyarrow and DuckDB read as it is::

    <out>/events/day=2026-03-01/part-0.parquet   every event of that UTC day
    <out>/consents.parquet                       each person's consent (training honours it)
    <out>/_manifest.json                         what was exported, and the erasure sequence

``<out>`` is a folder or any fsspec URL (``s3://bucket/exports/events`` with the ``s3``
extra). An export is a copy of personal data: the manifest records the store's erasure
sequence, and training from an export refuses it once a person has been erased since
(export again).
"""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tactful.errors import Conflict, NotFound, ValidationError
from tactful.extras import require
from tactful.storage.protocol import EventColumns, Store

FORMAT = "tactful-events/1"
MANIFEST = "_manifest.json"
EVENTS = "events"
CONSENTS = "consents.parquet"
DAY_SECONDS = 86_400
BATCH = 50_000
DEFAULT_PROVENANCES = ("explicit", "observed")


@dataclass(frozen=True)
class ExportReport:
    """What one export wrote."""

    url: str
    events: int
    days: int
    people_with_consent: int
    last_seq: int
    erasure_seq: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"exported {self.events} events over {self.days} days to {self.url} "
            f"in {self.seconds:.1f}s (up to event seq {self.last_seq})"
        )


def event_schema() -> Any:
    """The column types of an export's event files (``day`` is the partition column)."""
    pa = require("pyarrow", "parquet", "exporting events")
    return pa.schema(
        [
            pa.field("seq", pa.int64(), nullable=False),
            pa.field("event_id", pa.string()),
            pa.field("user_id", pa.string(), nullable=False),
            pa.field("item_id", pa.string()),
            pa.field("type", pa.string(), nullable=False),
            pa.field("value", pa.float64()),
            pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("provenance", pa.string(), nullable=False),
            pa.field("surface", pa.string()),
            pa.field("recommendation_id", pa.string()),
            pa.field("day", pa.date32(), nullable=False),
        ]
    )


def record_batch(page: EventColumns, schema: Any) -> Any:
    """One page of stored events as an Arrow record batch (column at a time)."""
    pa = require("pyarrow", "parquet", "exporting events")
    ts = np.asarray(page.ts, dtype=np.float64)
    micros = np.round(ts * 1e6).astype(np.int64)
    days = np.floor(ts / DAY_SECONDS).astype(np.int32)
    arrays = [
        pa.array(np.asarray(page.seq, dtype=np.int64)),
        pa.array(page.event_id, type=pa.string()),
        pa.array(page.user_id, type=pa.string()),
        pa.array(page.item_id, type=pa.string()),
        pa.array(page.type, type=pa.string()),
        pa.array(page.value, type=pa.float64()),
        pa.array(micros, type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        pa.array(page.provenance, type=pa.string()),
        pa.array(page.surface, type=pa.string()),
        pa.array(page.recommendation_id, type=pa.string()),
        pa.array(days, type=pa.int32()).cast(pa.date32()),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _filesystem(url: str) -> tuple[Any, Any, str]:
    """(fsspec filesystem, the pyarrow filesystem over it, root path) for a folder or URL."""
    import fsspec

    pafs = require("pyarrow.fs", "parquet", "exporting events")
    fs, root = fsspec.core.url_to_fs(url)
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    arrow_fs = pafs.LocalFileSystem() if "file" in protocols else pafs.PyFileSystem(pafs.FSSpecHandler(fs))
    return fs, arrow_fs, str(root).rstrip("/")


def write_event_export(
    pages: Iterator[EventColumns],
    url: str,
    consents: dict[str, tuple[bool, tuple[str, ...]]],
    erasure_seq: int,
    overwrite: bool = False,
    progress: Callable[[int], None] = lambda _: None,
) -> ExportReport:
    """Stream ``pages`` of events to a day-partitioned Parquet export at ``url``.

    ``consents`` maps a person to (personalization allowed, provenances that may personalize).
    """
    started = time.perf_counter()
    pa = require("pyarrow", "parquet", "exporting events")
    ds = require("pyarrow.dataset", "parquet", "exporting events")
    pq = require("pyarrow.parquet", "parquet", "exporting events")
    fs, arrow_fs, root = _filesystem(url)
    if fs.exists(root) and fs.ls(root):
        if not overwrite:
            raise Conflict(f"{url} is not empty (pass --overwrite to replace it)", field="out")
        fs.rm(root, recursive=True)
    fs.makedirs(posixpath.join(root, EVENTS), exist_ok=True)
    schema = event_schema()
    counts = {"events": 0, "last_seq": 0}
    days: set[int] = set()

    def batches() -> Iterator[Any]:
        for page in pages:
            batch = record_batch(page, schema)
            counts["events"] += len(page)
            counts["last_seq"] = int(page.seq[-1])
            days.update(np.unique(np.floor(np.asarray(page.ts) / DAY_SECONDS).astype(np.int64)).tolist())
            progress(len(page))
            yield batch

    ds.write_dataset(
        ds.Scanner.from_batches(batches(), schema=schema),
        posixpath.join(root, EVENTS),
        filesystem=arrow_fs,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([schema.field("day")]), flavor="hive"),
        basename_template="part-{i}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        max_open_files=512,
        max_partitions=1 << 20,
        max_rows_per_file=1_048_576,
        max_rows_per_group=BATCH,
    )
    people = sorted(consents)
    consent_table = pa.table(
        {
            "user_id": pa.array(people, type=pa.string()),
            "personalization": pa.array([consents[p][0] for p in people], type=pa.bool_()),
            "provenances": pa.array([list(consents[p][1]) for p in people], type=pa.list_(pa.string())),
        }
    )
    with fs.open(posixpath.join(root, CONSENTS), "wb") as fh:
        pq.write_table(consent_table, fh)
    report = ExportReport(
        url=url,
        events=counts["events"],
        days=len(days),
        people_with_consent=len(people),
        last_seq=counts["last_seq"],
        erasure_seq=erasure_seq,
        seconds=round(time.perf_counter() - started, 3),
    )
    manifest = {"format": FORMAT, "exported_at": time.time(), **asdict(report)}
    fs.pipe_file(posixpath.join(root, MANIFEST), json.dumps(manifest, indent=2).encode())
    return report


def export_events(
    store: Store,
    url: str,
    overwrite: bool = False,
    batch_size: int = BATCH,
    progress: Callable[[int], None] = lambda _: None,
) -> ExportReport:
    """Export every stored event, and every person's consent, from ``store`` to ``url``."""
    require("pyarrow", "parquet", "exporting events")
    erasures = store.erasure_seq()
    consents = {
        uid: (c.personalization, tuple(p.value for p in c.provenances)) for uid, c in store.consents().items()
    }
    report = write_event_export(
        store.iter_event_columns(batch_size), url, consents, erasures, overwrite, progress
    )
    if store.erasure_seq() != erasures:
        fs, _, root = _filesystem(url)
        fs.rm(root, recursive=True)  # it may hold the erased person's events
        raise Conflict(
            "a person was erased during the export; it may hold their events: export again",
            field="out",
        )
    return report


def read_manifest(url: str) -> dict[str, Any]:
    """An export's manifest, checked for its format."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    path = posixpath.join(str(root).rstrip("/"), MANIFEST)
    try:
        manifest = json.loads(fs.cat_file(path))
    except FileNotFoundError:
        raise NotFound(f"no event export at {url} (run tactful export-events)", field="export") from None
    if manifest.get("format") != FORMAT:
        raise ValidationError(f"unknown export format {manifest.get('format')!r}", field="export")
    return dict(manifest)
