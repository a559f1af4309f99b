"""`tactful export-events`: Parquet partitioned by UTC day, typed columns, lossless round trip."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tactful import Engine, Event, Item
from tactful.cli.main import app
from tactful.domain.event import Provenance
from tactful.domain.person import Consent
from tactful.errors import Conflict
from tactful.services.event_export import (
    CONSENTS,
    EVENTS,
    MANIFEST,
    event_schema,
    read_manifest,
    write_event_export,
)
from tactful.storage.protocol import EventColumns

DAY = 86_400.0


def read_export(url: str) -> pa.Table:
    schema = event_schema()
    fs, root = fsspec.core.url_to_fs(url)
    arrow_fs = pa.fs.PyFileSystem(pa.fs.FSSpecHandler(fs))
    dataset = ds.dataset(
        f"{root}/{EVENTS}",
        filesystem=arrow_fs,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([schema.field("day")]), flavor="hive"),
    )
    return dataset.to_table().sort_by("seq")


def day_dirs(url: str) -> list[str]:
    fs, root = fsspec.core.url_to_fs(url)
    return sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{root}/{EVENTS}", detail=False))


def test_engine_export_round_trip_types_and_days(engine: Engine, tmp_path: Path) -> None:
    engine.upsert_items([Item(id=f"i{k}", title=f"I{k}") for k in range(4)])
    start = datetime(2026, 2, 27, 22, 30, tzinfo=UTC)  # crosses midnight and a month end
    events = [
        Event(
            id=f"e{n}",
            user_id=f"u{n % 3}",
            item_id=f"i{n % 4}" if n % 5 else None,
            type="play" if n % 5 else "search",
            value=float(n * 10) if n % 2 else None,
            timestamp=start + timedelta(hours=3 * n),
            surface="home" if n % 3 == 0 else None,
        )
        for n in range(24)
    ]
    engine.ingest(events)
    engine.set_consent("u1", Consent(personalization=True, provenances=[Provenance.explicit]))
    out = str(tmp_path / "export")
    report = engine.export_events(out)
    stored = [e for page in engine.store.iter_events() for e in page]
    assert report.events == len(stored) == 24 and report.last_seq == stored[-1].seq

    table = read_export(out)
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("day").type == pa.date32()
    assert table.schema.field("value").type == pa.float64() and table.schema.field("seq").type == pa.int64()
    assert table.column("seq").to_pylist() == [e.seq for e in stored]
    assert table.column("user_id").to_pylist() == [e.user_id for e in stored]
    assert table.column("item_id").to_pylist() == [e.item_id for e in stored]
    assert table.column("value").to_pylist() == [e.value for e in stored]
    assert table.column("provenance").to_pylist() == [e.provenance for e in stored]
    ts = [t.timestamp() for t in table.column("ts").to_pylist()]
    assert ts == pytest.approx([e.ts for e in stored], abs=1e-6)
    for t, d in zip(table.column("ts").to_pylist(), table.column("day").to_pylist(), strict=True):
        assert t.date() == d  # each row sits in the partition of its UTC day
    expected_days = sorted({datetime.fromtimestamp(e.ts, UTC).date().isoformat() for e in stored})
    assert day_dirs(out) == [f"day={d}" for d in expected_days] and report.days == len(expected_days)
    # a day's folder holds that day's rows only, readable on its own (as Spark prunes partitions)
    first = pq.read_table(f"{out}/{EVENTS}/day={expected_days[0]}")
    assert {
        datetime.fromtimestamp(t.timestamp(), UTC).date().isoformat() for t in first.column("ts").to_pylist()
    } == {expected_days[0]}

    consents = pq.read_table(f"{out}/{CONSENTS}").to_pylist()
    by_user = {row["user_id"]: row for row in consents}
    assert by_user["u1"]["provenances"] == ["explicit"] and by_user["u1"]["personalization"] is True
    manifest = read_manifest(out)
    assert manifest["events"] == 24 and manifest["erasure_seq"] == engine.store.erasure_seq()

    with pytest.raises(Conflict):
        engine.export_events(out)
    engine.ingest([Event(user_id="u9", item_id="i1", type="like", timestamp=start)])
    assert engine.export_events(out, overwrite=True).events == 25
    assert read_export(out).num_rows == 25


def test_export_to_an_fsspec_url(engine: Engine) -> None:
    engine.upsert_items([Item(id="a", title="A")])
    engine.ingest([Event(user_id="u", item_id="a", type="like") for _ in range(3)])
    url = f"memory://tactful-export-{uuid.uuid4().hex}/events"
    assert engine.export_events(url).events == 3
    assert read_export(url).num_rows == 3
    fs = fsspec.filesystem("memory")
    assert json.loads(fs.cat_file(f"{url.split('://')[1]}/{MANIFEST}"))["format"] == "tactful-events/1"
    fs.rm(url, recursive=True)


def pages_of(ts: list[float], size: int) -> list[EventColumns]:
    out = []
    for start in range(0, len(ts), size):
        chunk = ts[start : start + size]
        seqs = range(start + 1, start + 1 + len(chunk))
        out.append(
            EventColumns(
                seq=tuple(seqs),
                event_id=tuple(f"e{s}" for s in seqs),
                user_id=tuple(f"u{s % 7}" for s in seqs),
                item_id=tuple(None if s % 4 == 0 else f"i{s % 5}" for s in seqs),
                type=("click",) * len(chunk),
                value=tuple(None if s % 3 else float(s) for s in seqs),
                ts=tuple(chunk),
                provenance=("observed",) * len(chunk),
                surface=(None,) * len(chunk),
                recommendation_id=(None,) * len(chunk),
            )
        )
    return out


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=17),
)
def test_any_times_any_paging_land_in_their_day_and_round_trip(ts: list[float], size: int) -> None:
    url = f"memory://tactful-export-{uuid.uuid4().hex}/events"
    report = write_event_export(iter(pages_of(ts, size)), url, {}, erasure_seq=0)
    table = read_export(url)
    assert report.events == table.num_rows == len(ts)
    micros = np.round(np.asarray(ts) * 1e6).astype(np.int64)
    assert table.column("ts").cast(pa.int64()).to_pylist() == micros.tolist()
    days = np.floor(np.asarray(ts) / DAY).astype(np.int64)
    assert table.column("day").cast(pa.int32()).to_pylist() == days.tolist()
    assert day_dirs(url) == sorted(
        f"day={datetime.fromtimestamp(int(d) * DAY, UTC).date().isoformat()}" for d in set(days.tolist())
    )
    fsspec.filesystem("memory").rm(url, recursive=True)


def test_cli_export_events(tmp_path: Path, catalog_engine: Engine) -> None:
    catalog_engine.ingest([Event(user_id="u", item_id="jazz-1", type="like")])
    data_dir = catalog_engine.settings.data_dir
    runner = CliRunner()
    result = runner.invoke(app, ["--data-dir", str(data_dir), "export-events"])
    assert result.exit_code == 0, result.output
    assert read_export(str(data_dir / "exports" / "events")).num_rows == 1
    again = runner.invoke(app, ["--data-dir", str(data_dir), "export-events"])
    assert again.exit_code == 2 and "--overwrite" in again.output
    out = tmp_path / "elsewhere"
    result = runner.invoke(app, ["export-events", "--data-dir", str(data_dir), "--out", str(out)])
    assert result.exit_code == 0 and (out / MANIFEST).is_file()
