"""Key results through the recompute flow, the insight and digest section, alignment decisions that
survive recomputes, role checks and the CSV import."""

from __future__ import annotations

from typing import Any

from insights import kinds, recompute
from insights.models import Insight, InsightKind, InsightStatus
from productops.digests.build import build_digest
from productops.digests.services import ensure_subscription
from productops.goals import services
from productops.goals.models import (
    Alignment,
    AlignmentStatus,
    KeyResult,
    KeyResultCheckIn,
    KrStatus,
    Objective,
)
from productops.portfolio.models import PortfolioItem

from .conftest import client_for


def _run_metrics_recompute(world: dict[str, Any]) -> None:
    """What record_write asks for after a metric write, run the way the worker runs it."""
    recompute.request(
        {"metrics"}, [world["atlas"].pk], metric_ids=[world["declining"].pk, world["growing"].pk]
    )
    recompute.run_pending()


def test_recompute_flags_the_declining_key_result_and_not_the_growing_one(
    goals_world: dict[str, Any],
) -> None:
    _run_metrics_recompute(goals_world)
    at_risk = KeyResult.objects.get(pk=goals_world["at_risk"].pk)
    on_track = KeyResult.objects.get(pk=goals_world["on_track"].pk)
    assert at_risk.status == KrStatus.AT_RISK
    assert on_track.status == KrStatus.ON_TRACK
    assert at_risk.projection["high"] < 1100
    insights = Insight.objects.filter(kind=InsightKind.GOAL_AT_RISK)
    assert [i.key for i in insights] == [services.insight_key(at_risk.pk)]
    insight = insights.get()
    assert kinds.target_url(insight) == f"/goals/key-results/{at_risk.pk}/"
    payload = kinds.payload_of(insight)
    assert isinstance(payload, kinds.GoalAtRiskPayload) and payload.target == 1100
    assert {p.slug for p in insight.products.all()} == {"atlas"}
    assert "atlas-team" in {t.slug for t in insight.teams.all()}
    # The inbox lists it, linked to the key result's page.
    inbox = client_for(world_user := goals_world["pm_atlas"]).get("/insights/?signal=goal").content.decode()
    assert f'href="/goals/key-results/{at_risk.pk}/"' in inbox and world_user
    assert "Daily sign-ups reach 600" not in inbox

    # The target lowered below the projection: the next recompute resolves the insight.
    at_risk.target_value = 700
    at_risk.save()
    _run_metrics_recompute(goals_world)
    insight.refresh_from_db()
    assert insight.status == InsightStatus.RESOLVED
    assert KeyResult.objects.get(pk=at_risk.pk).status == KrStatus.ON_TRACK


def test_the_digest_has_a_goals_at_risk_section(goals_world: dict[str, Any]) -> None:
    _run_metrics_recompute(goals_world)
    user = goals_world["pm_atlas"]
    ensure_subscription(user)
    digest = build_digest(user, with_charts=False)
    section = next(s for s in digest.sections if s.key == "goals")
    assert section.title == "Goals at risk"
    assert [i.title for i in section.items] == ["Key result at risk: Active users up to 1100"]
    assert section.items[0].url.endswith(f"/goals/key-results/{goals_world['at_risk'].pk}/")
    assert "target 1,100" in section.items[0].ci


def test_no_goals_section_items_when_nothing_is_at_risk(goals_world: dict[str, Any]) -> None:
    KeyResult.objects.filter(pk=goals_world["at_risk"].pk).update(target_value=600)
    _run_metrics_recompute(goals_world)
    digest = build_digest(goals_world["pm_atlas"], with_charts=False)
    assert next(s for s in digest.sections if s.key == "goals").items == []


def _items(world: dict[str, Any]) -> dict[str, PortfolioItem]:
    atlas = world["atlas"]
    out = {}
    for ext, title in [
        ("A-1", "Win back active users with a re-engagement campaign"),
        ("A-2", "Active users: weekly digest email to bring users back"),
        ("A-3", "Sign-up form with fewer fields to grow daily sign-ups"),
        ("A-4", "Migrate the billing database"),
    ]:
        out[ext] = PortfolioItem.objects.create(
            source_key="manual", external_id=ext, kind="epic", title=title, product=atlas
        )
    return out


def test_confirmed_and_rejected_suggestions_survive_recomputes(goals_world: dict[str, Any]) -> None:
    items = _items(goals_world)
    kr = goals_world["at_risk"]
    services.suggest_alignments()
    suggested = {(a.item.external_id, a.key_result_id) for a in Alignment.objects.select_related("item")}
    assert ("A-1", kr.pk) in suggested and ("A-2", kr.pk) in suggested
    assert ("A-3", goals_world["on_track"].pk) in suggested
    assert not any(ext == "A-4" for ext, _ in suggested)  # nothing in common with any goal

    pm = client_for(goals_world["pm_atlas"])
    assert (
        pm.post(
            f"/goals/key-results/{kr.pk}/align/", {"item": items["A-1"].pk, "action": "confirm"}
        ).status_code
        == 302
    )
    assert (
        pm.post(
            f"/goals/key-results/{kr.pk}/align/", {"item": items["A-2"].pk, "action": "reject"}
        ).status_code
        == 302
    )

    # A full recompute (nightly) and a portfolio write's scoped one.
    recompute.run_full()
    recompute.request({"portfolio"}, [goals_world["atlas"].pk])
    recompute.run_pending()

    by_item = {a.item.external_id: a for a in Alignment.objects.filter(key_result=kr).select_related("item")}
    assert by_item["A-1"].status == AlignmentStatus.CONFIRMED
    assert by_item["A-1"].decided_by == goals_world["pm_atlas"]
    assert by_item["A-2"].status == AlignmentStatus.REJECTED  # not suggested again
    assert Alignment.objects.filter(item=items["A-2"], key_result=kr).count() == 1

    page = pm.get("/goals/")
    assert page.status_code == 200
    body = page.content.decode()
    # The objective has work behind it now; the billing migration serves no objective.
    work = body.split('id="no-objective"')[1].split("</section>")[0]
    assert "Migrate the billing database" in work
    assert "Win back active users" not in work


def test_a_pm_of_another_product_cannot_edit(goals_world: dict[str, Any]) -> None:
    objective, kr = goals_world["objective"], goals_world["at_risk"]
    items = _items(goals_world)
    other = client_for(goals_world["pm_beta"])
    assert other.get(f"/goals/objectives/{objective.pk}/edit/").status_code == 403
    assert other.post(f"/goals/objectives/{objective.pk}/edit/", {"title": "x"}).status_code == 403
    assert other.get(f"/goals/objectives/{objective.pk}/key-results/new/").status_code == 403
    assert other.get(f"/goals/key-results/{kr.pk}/edit/").status_code == 403
    assert other.post(f"/goals/key-results/{kr.pk}/check-in/", {"comment": "hi"}).status_code == 403
    assert (
        other.post(
            f"/goals/key-results/{kr.pk}/align/", {"item": items["A-1"].pk, "action": "confirm"}
        ).status_code
        == 403
    )
    assert not KeyResultCheckIn.objects.exists() and not Alignment.objects.exists()
    # They still read it.
    assert other.get(f"/goals/key-results/{kr.pk}/").status_code == 200
    # Nor may they create an objective for Atlas, nor a company objective.
    data = {"title": "Sneaky", "level": "product", "period_start": "2026-10-01", "period_end": "2026-12-31"}
    response = other.post("/goals/objectives/new/", {**data, "product": goals_world["atlas"].pk})
    assert response.status_code == 200 and not Objective.objects.filter(title="Sneaky").exists()
    response = other.post("/goals/objectives/new/", {**data, "level": "company"})
    assert response.status_code == 200 and not Objective.objects.filter(title="Sneaky").exists()

    # The PM of the product may; so may the lead, for the company level.
    own = client_for(goals_world["pm_atlas"])
    response = own.post(f"/goals/key-results/{kr.pk}/check-in/", {"comment": "Campaign starts Monday."})
    assert response.status_code == 302 and KeyResultCheckIn.objects.filter(key_result=kr).count() == 1
    response = own.post("/goals/objectives/new/", {**data, "product": goals_world["atlas"].pk})
    assert (
        response.status_code == 302
        and Objective.objects.filter(title="Sneaky", product=goals_world["atlas"]).exists()
    )


def test_a_hand_updated_key_result_takes_its_last_check_in(
    goals_world: dict[str, Any], lead_client: Any
) -> None:
    company = Objective.objects.create(
        title="Be the best",
        level="company",
        period_start=goals_world["objective"].period_start,
        period_end=goals_world["objective"].period_end,
    )
    response = lead_client.post(
        f"/goals/objectives/{company.pk}/key-results/new/",
        {
            "title": "Partners signed",
            "start_value": 0,
            "target_value": 10,
            "unit": "partners",
            "aggregation": "last",
        },
    )
    assert response.status_code == 302
    kr = KeyResult.objects.get(title="Partners signed")
    assert kr.status == KrStatus.MANUAL and kr.current_value is None
    # A hand-updated key result needs a value.
    lead_client.post(f"/goals/key-results/{kr.pk}/check-in/", {"comment": "no value"})
    assert not kr.check_ins.exists()
    lead_client.post(
        f"/goals/key-results/{kr.pk}/check-in/", {"value": "4", "comment": "Two more this week."}
    )
    kr.refresh_from_db()
    assert kr.current_value == 4 and kr.progress_pct == 40
    page = lead_client.get(f"/goals/key-results/{kr.pk}/").content.decode()
    assert "Two more this week." in page
    # PMs never edit company objectives.
    assert client_for(goals_world["pm_atlas"]).get(f"/goals/key-results/{kr.pk}/edit/").status_code == 403


CSV = (
    "objective_id,objective,level,product,period_start,period_end,key_result,start,target,unit,metric,aggregation\n"
    "o-1,Grow Atlas sign-ups,product,atlas,2026-10-01,2026-12-31,Daily sign-ups,500,650,users,signups,last\n"
    "o-1,Grow Atlas sign-ups,product,atlas,2026-10-01,2026-12-31,Referral share,5,12,%,,\n"
    "o-2,Beta goals,product,beta,2026-10-01,2026-12-31,Beta thing,0,10,,,\n"
    "o-3,Broken row,product,atlas,2026-13-45,2026-12-31,Bad date,0,10,,,\n"
    "o-4,Bad target,product,atlas,2026-10-01,2026-12-31,Target missing,0,lots,,,\n"
)


def test_csv_import_with_bad_rows(goals_world: dict[str, Any]) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    pm = client_for(goals_world["pm_atlas"])
    upload = SimpleUploadedFile("goals.csv", CSV.encode(), content_type="text/csv")
    response = pm.post("/goals/import/", {"file": upload})
    assert response.status_code == 200
    report = response.context["report"]
    assert report.rows == 5
    assert report.objectives_created == 1 and report.key_results_created == 2
    rows = {e.row: (e.column, e.message) for e in report.errors}
    assert set(rows) == {4, 5, 6}  # the header is row 1
    assert rows[4][0] == "product" and "may not edit" in rows[4][1]  # Beta is not this PM's product
    assert rows[5][0] == "period_start"
    assert rows[6][0] == "target" and "not a number" in rows[6][1]
    kr = KeyResult.objects.get(title="Daily sign-ups")
    assert kr.metric == goals_world["growing"] and kr.status in {KrStatus.ON_TRACK, KrStatus.AT_RISK}
    bad = pm.get("/goals/import/bad-rows.csv")
    assert bad.status_code == 200
    text = bad.content.decode("utf-8-sig")
    assert "Broken row" in text and "Grow Atlas sign-ups" not in text

    # The same file again changes nothing.
    upload = SimpleUploadedFile("goals.csv", CSV.encode(), content_type="text/csv")
    report = pm.post("/goals/import/", {"file": upload}).context["report"]
    assert report.objectives_created == report.key_results_created == 0
    assert (
        report.key_results_updated == 0
        and KeyResult.objects.filter(objective__external_id="o-1").count() == 2
    )


def test_a_file_without_the_needed_columns_is_refused_with_a_message(
    goals_world: dict[str, Any], lead_client: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("goals.csv", b"name,value\nx,1\n", content_type="text/csv")
    response = lead_client.post("/goals/import/", {"file": upload})
    assert response.status_code == 200
    assert "no column for objective, period_start, period_end" in response.context["error"]
