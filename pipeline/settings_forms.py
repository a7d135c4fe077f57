"""Forms of a project's settings page.

The generation and QA form is built from the manifest's rule tables (pipeline.config): every
rule becomes a field of its kind, with the manifest default as placeholder, so a rule added
there shows up here. An empty field means "use the default".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django import forms

from kroma.lib.providers import provider_choices
from pipeline.config import Rule, manifest_rules
from pipeline.services.settings import MISSING, get_path

LABELS = {
    "generation.max_candidates": "Candidates cap",
    "generation.candidates": "Default candidates",
    "generation.model": "Default model",
    "generation.quality": "Default quality",
    "generation.size": "Default size",
    "generation.provider": "Default provider",
    "safe_batch_limit": "Safe batch limit",
    "output_guard.chroma_soft": "Chroma soft threshold",
    "output_guard.chroma_hard": "Chroma hard threshold",
    "output_guard.min_std": "Minimum contrast (std)",
    "generation.timeout_s": "Timeout (s)",
    "generation.retry_base_s": "Retry backoff (s)",
}
HELP = {
    "generation.max_candidates": "Most candidates a run may ask for per scene.",
    "generation.candidates": "Candidates per scene when a run does not say.",
    "safe_batch_limit": "Most scenes one run may plan.",
    "output_guard.enforce_grayscale": "Fail candidates with colour above the thresholds.",
    "output_guard.chroma_soft": "A pixel's chroma above this is a soft warning.",
    "output_guard.chroma_hard": "A pixel's chroma above this is a hard failure.",
    "output_guard.max_soft_fraction": "Share of pixels allowed over the soft threshold.",
    "output_guard.max_hard_fraction": "Share of pixels allowed over the hard threshold.",
    "output_guard.min_std": "Below this a candidate counts as blank.",
}
KIND_HELP = {"list": "One per line.", "json": "A JSON value."}
# Sections of the form: (key, title, open by default). A rule's section is the first part of
# its dotted path ("generation.size" -> generation; "safe_batch_limit" -> run), unless SECTION_OF
# says otherwise; sections not listed come last, closed.
SECTIONS = [
    ("generation", "Generation", True),
    ("output_guard", "QA guard", True),
    ("run", "Run", True),
    ("calls", "Provider calls", False),
    ("variations", "Variations", False),
    ("prompts", "Prompts", False),
    ("references", "References and policy", False),
]
SECTION_OF = {
    "safe_batch_limit": "generation",
    "style_refs": "references",
    "scene_refs": "references",
    "policy.allowed_style_roots": "references",
    **{
        f"generation.{key}": "calls"
        for key in ("concurrency", "timeout_s", "max_retries", "retry_base_s", "max_input_images")
    },
}

# Within a section, these come first, in this order; the rest follow in rule-table order.
FIRST = [
    "generation.model",
    "generation.quality",
    "generation.size",
    "generation.candidates",
    "generation.max_candidates",
    "safe_batch_limit",
]


def field_name(dotted: str) -> str:
    return dotted.replace(".", "__")


def _section(dotted: str) -> str:
    return SECTION_OF.get(dotted) or (dotted.split(".", 1)[0] if "." in dotted else "run")


def _kind(rule: Any) -> str:
    return rule.kind if isinstance(rule, Rule) else "json"


def _show(value: Any, kind: str) -> str:
    """A value as the form shows it (initial value or placeholder)."""
    if value is MISSING or value is None:
        return ""
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "list":
        return "\n".join(str(v) for v in value) if isinstance(value, list) else json.dumps(value)
    if kind == "json" and not isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _lines(value: str) -> list[str] | None:
    items = [line.strip() for line in value.splitlines() if line.strip()]
    return items or None


def _json_or_text(value: str) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


@dataclass
class SettingRow:
    """One setting as the template shows it."""

    bound: forms.BoundField
    dotted: str
    default: str
    bounds: str
    overridden: bool
    help: str
    stored_error: str = ""

    @property
    def errors(self) -> list[str]:
        return [*self.bound.errors, *([self.stored_error] if self.stored_error else [])]

    @property
    def wide(self) -> bool:
        return isinstance(self.bound.field.widget, forms.Textarea)


@dataclass
class SettingSection:
    key: str
    title: str
    open: bool
    rows: list[SettingRow] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.open or any(row.errors or row.overridden for row in self.rows)


class ManifestSettingsForm(forms.Form):
    """Every manifest rule as a field; `values()` gives dotted path -> value (None: default)."""

    def __init__(
        self,
        data: Any = None,
        *,
        defaults: dict[str, Any],
        overrides: Any,
        stored_error: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(data)
        self.rules = manifest_rules()
        self.defaults = defaults
        self.overrides = overrides if isinstance(overrides, dict) else {}
        self.stored_error = stored_error  # (dotted path, reason) of the saved overrides
        self.kinds: dict[str, str] = {}
        for dotted, rule in self.rules.items():
            kind = _kind(rule)
            if kind == "list" and not isinstance(get_path(defaults, dotted), list):
                kind = "json"
            name = field_name(dotted)
            self.kinds[dotted] = kind
            self.fields[name] = self._field(dotted, rule, kind)
            current = get_path(self.overrides, dotted)
            if current is not MISSING:
                bool_value = {True: "true", False: "false"}.get(current) if kind == "bool" else None
                self.initial[name] = bool_value or _show(current, kind)

    def _field(self, dotted: str, rule: Any, kind: str) -> forms.Field:
        default = get_path(self.defaults, dotted)
        shown = _show(default, kind)
        label = LABELS.get(dotted) or dotted.rsplit(".", 1)[-1].replace("_", " ").capitalize()
        attrs = {"placeholder": shown}
        common = {"required": False, "label": label, "help_text": HELP.get(dotted, "")}
        if kind in ("int", "number"):
            attrs |= {"min": f"{rule.lo:g}", "max": f"{rule.hi:g}"}
            if kind == "int":
                return forms.IntegerField(widget=forms.NumberInput(attrs), **common)
            return forms.FloatField(widget=forms.NumberInput(attrs | {"step": "any"}), **common)
        if kind == "choice":
            options = [(o, o) for o in rule.choices()]
            return forms.ChoiceField(choices=[("", f"Default: {shown}"), *options], **common)
        if kind == "bool":
            return forms.TypedChoiceField(
                choices=[("", f"Default: {shown}"), ("true", "yes"), ("false", "no")],
                coerce=lambda value: value == "true",
                empty_value=None,
                **common,
            )
        if kind == "list":
            attrs |= {"rows": 2, "placeholder": shown or "(none)"}
            return forms.CharField(widget=forms.Textarea(attrs), **common)
        if kind == "text":
            widget = forms.Textarea(attrs | {"rows": 3}) if len(shown) > 60 else None
            return forms.CharField(widget=widget or forms.TextInput(attrs), **common)
        return forms.CharField(widget=forms.TextInput(attrs), **common)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for dotted, rule in self.rules.items():
            name = field_name(dotted)
            if name not in cleaned:
                continue
            value = cleaned[name] = self._value(self.kinds[dotted], cleaned[name])
            if value is None:
                continue
            try:
                rule(value)
            except ValueError as exc:
                self.add_error(name, str(exc))
        return cleaned

    @staticmethod
    def _value(kind: str, value: Any) -> Any:
        """The cleaned field as a manifest value; None for an empty field (the default)."""
        if value in ("", None):
            return None
        if kind == "list":
            return _lines(value)
        if kind == "json":
            return _json_or_text(value)
        return value

    def values(self) -> dict[str, Any]:
        """Dotted path -> the value asked for (None: the manifest default)."""
        return {dotted: self.cleaned_data.get(field_name(dotted)) for dotted in self.rules}

    def sections(self) -> list[SettingSection]:
        """The fields in their sections, as the template shows them."""
        known = {key: SettingSection(key, title, is_open) for key, title, is_open in SECTIONS}
        extra: dict[str, SettingSection] = {}
        ordered = sorted(self.rules, key=lambda d: FIRST.index(d) if d in FIRST else len(FIRST))
        for dotted in ordered:
            key = _section(dotted)
            section = known.get(key) or extra.setdefault(
                key, SettingSection(key, key.replace("_", " ").capitalize(), False)
            )
            section.rows.append(self._row(dotted))
        return [s for s in [*known.values(), *extra.values()] if s.rows]

    def _row(self, dotted: str) -> SettingRow:
        rule, kind = self.rules[dotted], self.kinds[dotted]
        bounds = f"{rule.lo:g}..{rule.hi:g}" if kind in ("int", "number") else ""
        error = ""
        if self.stored_error and self.stored_error[0] == dotted and not self.is_bound:
            error = self.stored_error[1]
        return SettingRow(
            bound=self[field_name(dotted)],
            dotted=dotted,
            default=_show(get_path(self.defaults, dotted), kind),
            bounds=bounds,
            overridden=get_path(self.overrides, dotted) is not MISSING,
            help=HELP.get(dotted) or KIND_HELP.get(kind, ""),
            stored_error=error,
        )


class SecretForm(forms.Form):
    """Add or replace a secret. The value is write-only: never rendered back, even on error."""

    provider = forms.ChoiceField(choices=[])
    name = forms.CharField(max_length=80, initial="api_key")
    value = forms.CharField(
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        max_length=4000,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "secret")
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = provider_choices()


class ProviderAccountForm(forms.Form):
    provider = forms.ChoiceField(choices=[])
    name = forms.CharField(max_length=80, initial="default")
    base_url = forms.CharField(
        max_length=200,
        required=False,
        label="Base URL",
        help_text="Empty: the provider's public endpoint.",
        widget=forms.URLInput(attrs={"placeholder": "https://…"}),
    )
    is_enabled = forms.BooleanField(required=False, initial=True, label="Enabled")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "account")
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = provider_choices()


class ProviderAccountEditForm(forms.Form):
    base_url = forms.CharField(
        max_length=200,
        required=False,
        label="Base URL",
        widget=forms.URLInput(attrs={"placeholder": "The provider's public endpoint"}),
    )
    is_enabled = forms.BooleanField(required=False, label="Enabled")


class BudgetForm(forms.Form):
    """The project's monthly budget and cap per run (USD); empty: no limit."""

    monthly_budget_usd = forms.DecimalField(
        label="Monthly budget (USD)",
        required=False,
        min_value=0,
        max_digits=10,
        decimal_places=2,
        help_text="Most the project may spend in a calendar month (UTC). Empty: no limit.",
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}),
    )
    run_cap_usd = forms.DecimalField(
        label="Cap per run (USD)",
        required=False,
        min_value=0,
        max_digits=10,
        decimal_places=2,
        help_text="Most one run may spend. Empty: no limit.",
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}),
    )


class TokenForm(forms.Form):
    """A new API token: its name, what it may do, where, and for how long."""

    name = forms.CharField(
        max_length=80, label="Name", help_text="What it is for, e.g. “nightly export script”."
    )
    access = forms.ChoiceField(
        label="Scopes",
        choices=[("read", "Read only"), ("write", "Read and write")],
        initial="read",
        widget=forms.RadioSelect,
    )
    reach = forms.ChoiceField(
        label="Projects",
        choices=[("project", "This project only"), ("all", "All my projects")],
        initial="project",
        widget=forms.RadioSelect,
    )
    expires_days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Empty: never expires.",
        widget=forms.NumberInput(attrs={"min": "1", "max": "3650", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "token")
        super().__init__(*args, **kwargs)

    def scopes(self) -> list[str]:
        return ["read", "write"] if self.cleaned_data["access"] == "write" else ["read"]
