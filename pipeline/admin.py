from __future__ import annotations

from django.contrib import admin

from pipeline import models
from projects.admin import ReadOnlyAdmin, thumbnail

# The engine owns these: shown, never edited (the traceback of an errored item is for staff).
WORK_FIELDS = [
    "attempts",
    "locked_by",
    "lease_expires_at",
    "error_code",
    "traceback",
    "started_at",
    "finished_at",
]


class RunJobInline(admin.TabularInline):
    model = models.RunJob
    extra = 0
    fields = ["index", "scene_key", "status", "step", "attempts", "error"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(models.Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "uid",
        "project",
        "stage",
        "mode",
        "status",
        "estimated_cost_usd",
        "actual_cost_usd",
        "created_at",
    ]
    list_filter = ["status", "stage", "mode", "project"]
    search_fields = ["uid"]
    list_select_related = ["project"]
    autocomplete_fields = ["project"]
    raw_id_fields = ["requested_by"]
    readonly_fields = [
        "uid",
        "manifest_hash",
        "log_path",
        "created_at",
        "started_at",
        "finished_at",
        "actual_cost_usd",
    ]
    date_hierarchy = "created_at"
    inlines = [RunJobInline]


class RunCandidateInline(admin.TabularInline):
    model = models.RunCandidate
    extra = 0
    fields = ["preview", "index", "rank", "passed", "selected", "archived"]
    readonly_fields = ["preview", "index", "rank", "passed", "archived"]
    can_delete = False

    @admin.display(description="Image")
    def preview(self, obj: models.RunCandidate) -> str:
        return thumbnail(obj.asset if obj.asset_id else None)


@admin.register(models.RunJob)
class RunJobAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "project",
        "scene_key",
        "status",
        "step",
        "attempts",
        "lease_expires_at",
    ]
    list_filter = ["status", "project"]
    search_fields = ["run__uid", "scene_key"]
    list_select_related = ["run", "project"]
    raw_id_fields = ["run", "input_asset", "final_asset"]
    autocomplete_fields = ["project"]
    readonly_fields = WORK_FIELDS
    exclude = ["details"]
    inlines = [RunCandidateInline]


@admin.register(models.RunCandidate)
class RunCandidateAdmin(admin.ModelAdmin):
    list_display = ["preview", "__str__", "project", "rank", "passed", "selected", "archived"]
    list_filter = ["passed", "selected", "archived", "project"]
    list_select_related = ["job__run", "project", "asset"]
    raw_id_fields = ["job", "asset"]
    autocomplete_fields = ["project"]
    readonly_fields = ["qa_summary", "output_path"]

    @admin.display(description="Image")
    def preview(self, obj: models.RunCandidate) -> str:
        return thumbnail(obj.asset)


@admin.register(models.QualityReport)
class QualityReportAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__",
        "project",
        "run",
        "passed",
        "hard_failures",
        "soft_warnings",
        "created_at",
    ]
    list_filter = ["passed", "project"]
    list_select_related = ["project", "run", "candidate"]


@admin.register(models.CostEvent)
class CostEventAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "project",
        "user",
        "provider",
        "model",
        "operation",
        "usd",
        "unconfirmed",
        "run",
    ]
    list_filter = ["unconfirmed", "provider", "model", "operation", "project"]
    search_fields = ["idempotency_key", "run__uid"]
    list_select_related = ["project", "run"]
    date_hierarchy = "created_at"


@admin.register(models.WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["name", "seen_at"]


@admin.register(models.LabJob)
class LabJobAdmin(admin.ModelAdmin):
    list_display = ["__str__", "user", "operation", "status", "cost_usd", "created_at"]
    list_filter = ["operation", "status"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["inputs", "cost_usd", "created_at", *WORK_FIELDS]
    exclude = ["outputs"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False  # Lab jobs start from an upload in the Lab


@admin.register(models.PostprocessJob)
class PostprocessJobAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "project", "run", "status", "attempts", "created_at"]
    list_filter = ["status", "project"]
    list_select_related = ["project", "run", "job__run"]


@admin.register(models.StepRun)
class StepRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "item_type",
        "item_id",
        "step",
        "subject",
        "status",
        "paid",
        "duration_s",
        "error_code",
    ]
    list_filter = ["item_type", "step", "status", "paid"]
    search_fields = ["item_id", "param_key", "input_sha256"]
    list_select_related = ["project"]
