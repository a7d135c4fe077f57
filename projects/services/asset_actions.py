"""The asset browser's bulk actions: one registry, so that the pipeline adds its own (export,
post-process, colour profile) at start-up without projects importing it.

An action is a name, a label, a service `apply(*, project, user, asset_ids, choices) -> str`
(the message shown after it; UserError for the user's mistakes), and optional choices the bulk
bar offers with it (a rating, steps, a profile). `confirm` actions ask before they act.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kroma.lib.errors import UserError
from projects.models import Project
from projects.services.assets import delete_assets
from projects.services.ratings import rate_assets

Choices = Callable[[Project], list[tuple[str, str]]]


@dataclass(frozen=True)
class BulkAction:
    name: str
    label: str
    apply: Callable[..., str]
    choices: Choices | None = None
    choice_label: str = ""
    multiple: bool = False  # several choices at once (steps) or one (a rating)
    confirm: bool = False


BULK_ACTIONS: dict[str, BulkAction] = {}


def register_bulk_action(action: BulkAction) -> None:
    BULK_ACTIONS[action.name] = action


def bulk_action(name: str) -> BulkAction:
    try:
        return BULK_ACTIONS[name]
    except KeyError:
        raise UserError("Choose one of the listed actions.", field="action") from None


def _rate(*, project: Project, user: object, asset_ids: list[int], choices: list[str]) -> str:
    if not choices or not choices[0]:
        raise UserError("Choose a rating from 1 to 5.", field="rating")
    done = rate_assets(project=project, user=user, asset_ids=asset_ids, rating=choices[0])
    return f"Rated {done.updated} image(s) {done.rating}★."


def _flag(rejected: bool) -> Callable[..., str]:
    def apply(*, project: Project, user: object, asset_ids: list[int], choices: list[str]) -> str:
        done = rate_assets(project=project, user=user, asset_ids=asset_ids, rejected=rejected)
        return f"{'Rejected' if rejected else 'Un-rejected'} {done.updated} image(s)."

    return apply


def _delete(*, project: Project, user: object, asset_ids: list[int], choices: list[str]) -> str:
    result = delete_assets(project=project, user=user, asset_ids=asset_ids)
    message = f"Deleted {len(result.deleted)} image(s)."
    if result.kept:
        why = ", ".join(sorted(set(result.kept.values())))
        message += f" Kept {len(result.kept)} still in use ({why})."
    return message


for _action in (
    BulkAction(
        "rate",
        "Rate",
        _rate,
        choices=lambda project: [(str(n), f"{n}★") for n in range(1, 6)],
        choice_label="Rating",
    ),
    BulkAction("reject", "Reject", _flag(True)),
    BulkAction("unreject", "Un-reject", _flag(False)),
    BulkAction("delete", "Delete…", _delete, confirm=True),
):
    register_bulk_action(_action)
