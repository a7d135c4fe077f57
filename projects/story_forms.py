"""The story studio's forms: fields and their limits; the rules are the services'."""

from __future__ import annotations

from typing import Any

from django import forms

from projects.models import Character, Panel, Project


class PasteScriptForm(forms.Form):
    script = forms.CharField(
        max_length=200_000,
        # Browsers send each line break as CR LF; the limit is the text's own length.
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 8,
                "placeholder": "PANEL 1: Wide shot of the harbour at dusk. Mara waits by the "
                "crane.\nPANEL 2: Close-up on Mara's face, rain on her collar.",
            }
        ),
        help_text="One panel per 'PANEL n:' line, or per paragraph. 'PAGE n' and 'CHAPTER n' "
        "lines start a new page or chapter. Characters named in a panel join its cast.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and args[0] is not None and "script" in args[0]:
            data = args[0].copy()
            data["script"] = data["script"].replace("\r\n", "\n")
            args = (data, *args[1:])
        super().__init__(*args, **kwargs)


class NewPanelForm(forms.Form):
    title = forms.CharField(max_length=120)


class PanelForm(forms.Form):
    title = forms.CharField(max_length=120)
    script = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What happens in the panel: action, place, mood.",
    )
    shot = forms.CharField(required=False, max_length=120, help_text="e.g. wide establishing shot")
    camera = forms.CharField(required=False, max_length=120, help_text="e.g. low angle, 35 mm")
    aspect = forms.ChoiceField(choices=Panel.Aspect.choices)
    base_image = forms.FileField(
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
        help_text="A sketch, layout or photo. Without one, the panel is drawn from its script.",
    )
    clear_base = forms.BooleanField(required=False, label="Remove the base image")


class CastForm(forms.Form):
    """One row per character of the project: in this panel or not, outfit, pose, expression."""

    def __init__(self, *args: Any, project: Project, panel: Panel, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.characters = list(project.characters.prefetch_related("outfits"))
        current = {m.character_id: m for m in panel.cast.all()}
        for character in self.characters:
            member = current.get(character.pk)
            prefix = f"c{character.pk}"
            self.fields[f"{prefix}_in"] = forms.BooleanField(
                required=False, label=character.name, initial=member is not None
            )
            # Choices from the prefetched outfits: no query per character.
            self.fields[f"{prefix}_outfit"] = forms.TypedChoiceField(
                choices=[("", "Own look (no outfit)")]
                + [(o.pk, o.name) for o in character.outfits.all()],
                coerce=int,
                empty_value=None,
                required=False,
                label="Outfit",
                initial=member.outfit_id if member else None,
            )
            for name, size in (("pose", 200), ("expression", 200), ("notes", 300)):
                self.fields[f"{prefix}_{name}"] = forms.CharField(
                    required=False,
                    max_length=size,
                    label=name.capitalize(),
                    initial=getattr(member, name) if member else "",
                )

    def rows(self) -> list[dict[str, Any]]:
        """Each character with its bound fields, for the template."""
        names = ("in", "outfit", "pose", "expression", "notes")
        return [
            {
                "character": c,
                **{name: self[f"c{c.pk}_{name}"] for name in names},
                "errors": [
                    f"{self[f'c{c.pk}_{name}'].label}: {error}"
                    for name in names
                    for error in self[f"c{c.pk}_{name}"].errors
                ],
            }
            for c in self.characters
        ]

    def entries(self) -> list[dict[str, Any]]:
        data = self.cleaned_data
        picked: list[tuple[Character, dict[str, Any]]] = [
            (c, data) for c in self.characters if data.get(f"c{c.pk}_in")
        ]
        return [
            {
                "character": c,
                "outfit": next(
                    (o for o in c.outfits.all() if o.pk == d.get(f"c{c.pk}_outfit")), None
                ),
                "pose": d.get(f"c{c.pk}_pose", ""),
                "expression": d.get(f"c{c.pk}_expression", ""),
                "notes": d.get(f"c{c.pk}_notes", ""),
            }
            for c, d in picked
        ]
