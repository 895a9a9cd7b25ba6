"""Estimates from labels (GitHub has no estimate field; other trackers fall back to labels)."""

from __future__ import annotations

from connectors.sources.tracker_mapping import ItemBuilder, estimate_from_labels, parse_points


def test_sizes_and_points_from_labels() -> None:
    assert estimate_from_labels(["bug", "size: M"]) == (None, "M")
    assert estimate_from_labels(["Size/xl", "points: 5"]) == (5.0, "XL")
    assert estimate_from_labels(["sp:3", "size: L", "size: S"]) == (3.0, "L")  # the first of each kind
    assert estimate_from_labels(["estimate=2.5"]) == (2.5, "")
    assert estimate_from_labels(["size: huge", "points: many", "medium"]) == (None, "")
    assert estimate_from_labels(["workflow::in progress"]) == (None, "")


def test_parse_points_rejects_what_is_not_an_estimate() -> None:
    assert parse_points(8) == 8.0 and parse_points("3") == 3.0
    assert parse_points(None) is None and parse_points("") is None and parse_points(True) is None
    assert parse_points(-1) is None and parse_points("NaN") is None and parse_points("x") is None


def test_the_builder_keeps_a_tracker_estimate_and_falls_back_to_labels() -> None:
    builder = ItemBuilder("github")
    own = builder.item("1", {"title": "a", "labels": ["points: 2"], "estimate_points": 8.0}, {})
    assert own.values["estimate_points"] == 8.0
    labelled = builder.item("2", {"title": "b", "labels": ["size: s", "points: 2"]}, {})
    assert (labelled.values["estimate_points"], labelled.values["estimate_size"]) == (2.0, "S")
    none = builder.item("3", {"title": "c", "labels": []}, {})
    assert (none.values["estimate_points"], none.values["estimate_size"]) == (None, "")
