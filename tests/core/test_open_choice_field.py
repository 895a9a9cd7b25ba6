from insights.feedback.models import ThemeMember
from insights.models import Insight, InsightKind


def test_kind_choices_validate_but_stay_out_of_migrations():
    field = Insight._meta.get_field("kind")
    assert (InsightKind.ANOMALY.value, "Anomaly") in field.choices
    _name, path, _args, kwargs = field.deconstruct()
    assert "choices" not in kwargs
    assert path == "django.db.models.CharField"
    assert "choices" not in ThemeMember._meta.get_field("source").deconstruct()[3]
