"""Turning off or deleting one prompt template row (the API's), each audited.

Saving and resetting are prompt_templates.save_template / reset_template; a deactivated or
deleted row leaves its stage to another active row or to the manifest default.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from projects.models import PromptTemplate
from projects.services.records import audit


def deactivate_template(
    *, template: PromptTemplate, actor: AbstractBaseUser | None
) -> PromptTemplate:
    """Stop using this row for its stage (nothing is written when it is not in use)."""
    if template.is_active:
        with transaction.atomic():
            template.is_active = False
            template.save(update_fields=["is_active", "updated_at"])
            audit(
                template.project,
                actor,
                "prompt_template.deactivated",
                f"{template.stage}/{template.name}",
                stage=template.stage,
                name=template.name,
            )
    return template


def delete_template(*, template: PromptTemplate, actor: AbstractBaseUser | None) -> None:
    """Delete the row; its text is kept in the audit event."""
    with transaction.atomic():
        audit(
            template.project,
            actor,
            "prompt_template.deleted",
            f"{template.stage}/{template.name}",
            stage=template.stage,
            name=template.name,
            template=template.template,
            was_active=template.is_active,
        )
        template.delete()
