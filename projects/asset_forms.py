"""The asset browser's forms: its GET filters and its bulk actions, validated like any input."""

from __future__ import annotations

from django import forms

from kroma.lib.ids import parse_id
from projects.models import Asset, Project, Stage
from projects.services.asset_actions import BULK_ACTIONS
from projects.widgets import use_fast_widgets

SORTS = [("new", "Newest first"), ("old", "Oldest first"), ("rating", "Highest rated")]
RATINGS = [
    ("", "Any rating"),
    *[(str(n), f"{n}★ and up") for n in (5, 4, 3, 2, 1)],
    ("unrated", "Not rated"),
    ("rejected", "Rejected"),
]


class AssetBrowserForm(forms.Form):
    q = forms.CharField(required=False, max_length=120, label="Search titles and prompts")
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *Asset.Kind.choices])
    stage = forms.ChoiceField(required=False, choices=[("", "Any stage"), *Stage.choices])
    panel = forms.ChoiceField(required=False, label="Panel")
    character = forms.ChoiceField(required=False, label="Character")
    run = forms.CharField(required=False, max_length=64, label="Run id")
    rating = forms.ChoiceField(required=False, choices=RATINGS)
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    sort = forms.ChoiceField(required=False, choices=SORTS)
    failed = forms.BooleanField(required=False, label="Show failed candidates")
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args: object, project: Project, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        panels = project.panels.order_by(
            "page__chapter__position", "page__position", "position"
        ).values_list("key", "title")
        self.fields["panel"].choices = [
            ("", "Any panel"),
            *[(key, f"{key} · {title}" if title else key) for key, title in panels],
        ]
        characters = project.characters.order_by("name").values_list("slug", "name")
        self.fields["character"].choices = [("", "Anyone"), *characters]
        use_fast_widgets(self)


class BulkActionForm(forms.Form):
    """Which action, on which images; the action's own choices are checked by its service."""

    action = forms.ChoiceField(choices=[])
    assets = forms.TypedMultipleChoiceField(
        coerce=int, error_messages={"required": "Select at least one image first."}
    )
    confirm = forms.BooleanField(required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [(a.name, a.label) for a in BULK_ACTIONS.values()]
        # Which ids exist in the project is the service's check; here they only need to be ids.
        raw = self.data.getlist("assets") if hasattr(self.data, "getlist") else []
        self.fields["assets"].choices = [(v, v) for v in raw if parse_id(v) is not None]
        # What no page sends (tiles carry real ids): the view answers 400 instead of a message.
        self.bad_ids = [v for v in raw if parse_id(v) is None]
