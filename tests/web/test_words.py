"""Plain words, covers and charts (pure parts of the pages)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from tactful import Engine, Event, ManualClock, Settings
from tactful.domain.recommendation import Reason
from tactful.web.changes import Snapshot, describe
from tactful.web.charts import bar_chart, line_chart
from tactful.web.covers import cover_svg
from tactful.web.text import Labels
from tests.conftest import media_items


def test_labels_read_like_words() -> None:
    labels = Labels({"genre:hip-hop": "Hip-hop"})
    assert labels("genre:hip-hop") == "Hip-hop"
    assert labels("creator:silver-circuit-17") == "Silver Circuit"
    assert labels("topic:late-night") == "Late night"
    assert labels("era:1970s") == "1970s"
    assert labels.phrase("creator:silver-circuit-3") == "the artist Silver Circuit"
    reason = Reason(code="similar_tag_penalty", message="shares era:2020s with something you disliked")
    assert labels.message(reason) == "shares 2020s with something you disliked"


def test_covers_and_charts_are_self_contained_svg() -> None:
    for svg in (
        cover_svg("a1", "Rooms of the Garden", ["genre:jazz", "mood:calm"]),
        cover_svg("a2", "", []),
        bar_chart("denials", [("sensitive", 3.0), ("muted", 0.0)]),
        bar_chart("nothing", []),
        line_chart("per minute", [0, 4, 2], "60 min ago", "now"),
        line_chart("empty", [], "a", "b"),
    ):
        ET.fromstring(str(svg))  # well-formed
        assert not re.search(r"https?:|//", str(svg))
    assert ">RG<" in cover_svg("a1", "Rooms of the Garden", ["genre:jazz"])
    assert ">RG<" in cover_svg("a1", "Rooms of the Garden, Vol. 3", ["genre:jazz"])


def test_the_message_is_read_off_the_engines_before_and_after(tmp_path, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    with Engine(Settings(data_dir=tmp_path), clock=clock) as engine:
        engine.upsert_items(media_items())
        labels = Labels(engine.catalog().tag_labels)
        before = Snapshot(engine.profile("p"), [r.item_id for r in engine.preview("p", n=6).items])
        target = before.feed[0]
        engine.ingest([Event(user_id="p", item_id=target, type="dislike")])
        text = describe("Not for you", before, engine.profile("p"), engine.preview("p", n=6), labels)
        assert text.startswith("Not for you.") and "Less " in text and "left your feed" in text
        tag = engine.get_item(target).tags[0]
        assert labels(tag) in text and tag not in text  # names, not raw tags
        again = Snapshot(engine.profile("p"), [r.item_id for r in engine.preview("p", n=6).items])
        engine.undo_dislike("p", target)
        text = describe("Undone", again, engine.profile("p"), engine.preview("p", n=6), labels)
        assert "No longer held against you" in text and "New in your feed" in text
