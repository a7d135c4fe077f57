"""API routes of a project's prompt templates (their checks are the pipeline's).

Creating or changing a template's text makes it its stage's one active template, as saving in
the template editor does; `is_active: false` turns it off (the manifest default, or another
active row, applies again).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status

from kroma.lib.errors import Conflict
from pipeline.services.prompt_template_edits import deactivate_template, delete_template
from pipeline.services.prompt_templates import MAX_TEMPLATE_CHARS, save_template
from projects.api_common import AUTH, ERRORS, api_project
from projects.api_crud import PageQuery, paged
from projects.models import Project, PromptTemplate, Stage

router = Router(auth=AUTH, tags=["prompt templates"])


class TemplateOut(Schema):
    id: int
    stage: Stage
    name: str
    template: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class TemplateList(Schema):
    items: list[TemplateOut]
    total: int
    offset: int
    limit: int


class TemplateIn(Schema):
    model_config = {"extra": "forbid"}

    stage: Stage
    name: str = Field(min_length=1, max_length=80)
    template: str = Field(min_length=1, max_length=MAX_TEMPLATE_CHARS)


class TemplatePatch(Schema):
    model_config = {"extra": "forbid"}

    template: str | None = Field(None, min_length=1, max_length=MAX_TEMPLATE_CHARS)
    is_active: bool | None = None


class StageQuery(Schema):
    stage: Stage | None = None


def template_of(project: Project, template_id: int) -> PromptTemplate:
    row = PromptTemplate.objects.filter(project=project, pk=template_id).first()
    if row is None:
        raise Http404("No such prompt template.")
    return row


@router.get("/{slug}/prompt-templates", response={200: TemplateList, **ERRORS})
def list_templates(
    request: HttpRequest, slug: str, page: Query[PageQuery], only: Query[StageQuery]
):
    rows = PromptTemplate.objects.filter(project=api_project(request, slug))
    if only.stage is not None:
        rows = rows.filter(stage=only.stage)
    return paged(rows.order_by("stage", "name", "pk"), page)


@router.post("/{slug}/prompt-templates", response={201: TemplateOut, **ERRORS})
def create_template(request: HttpRequest, slug: str, payload: TemplateIn):
    project = api_project(request, slug, write=True)
    name = " ".join(payload.name.split())
    if PromptTemplate.objects.filter(project=project, stage=payload.stage, name=name).exists():
        raise Conflict(
            f"A {payload.stage} template named {name!r} exists: change that one.",
            code="taken",
            field="name",
        )
    row = save_template(
        project=project,
        actor=request.user,
        stage=payload.stage,
        name=name,
        text=payload.template,
    )
    return Status(201, row)


@router.get("/{slug}/prompt-templates/{template_id}", response={200: TemplateOut, **ERRORS})
def get_template(request: HttpRequest, slug: str, template_id: int):
    return template_of(api_project(request, slug), template_id)


@router.patch("/{slug}/prompt-templates/{template_id}", response={200: TemplateOut, **ERRORS})
def patch_template(request: HttpRequest, slug: str, template_id: int, payload: TemplatePatch):
    project = api_project(request, slug, write=True)
    row = template_of(project, template_id)
    with transaction.atomic():
        if payload.is_active is False:
            if payload.template is not None:
                raise Conflict(
                    "Changing a template's text makes it the one in use: send is_active true "
                    "or leave it out.",
                    field="is_active",
                )
            return deactivate_template(template=row, actor=request.user)
        if payload.template is not None or payload.is_active:
            text = payload.template if payload.template is not None else row.template
            save_template(
                project=project, actor=request.user, stage=row.stage, name=row.name, text=text
            )
    return template_of(project, template_id)


@router.delete("/{slug}/prompt-templates/{template_id}", response={204: None, **ERRORS})
def remove_template(request: HttpRequest, slug: str, template_id: int):
    row = template_of(api_project(request, slug, write=True), template_id)
    delete_template(template=row, actor=request.user)
    return Status(204, None)
