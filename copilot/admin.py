from __future__ import annotations

from django.contrib import admin

from copilot import models
from projects.admin import ReadOnlyAdmin


class ChatMessageInline(admin.TabularInline):
    model = models.ChatMessage
    extra = 0
    fields = ["role", "content", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(models.ChatSession)
class ChatSessionAdmin(admin.ModelAdmin):
    list_display = ["title", "project", "user", "updated_at"]
    list_filter = ["project"]
    search_fields = ["title"]
    list_select_related = ["project", "user"]
    autocomplete_fields = ["project"]
    raw_id_fields = ["user"]
    inlines = [ChatMessageInline]


@admin.register(models.ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "session", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["content"]
    list_select_related = ["session"]
    raw_id_fields = ["session"]


class AgentInstructionEventInline(admin.TabularInline):
    model = models.AgentInstructionEvent
    extra = 0
    fields = ["event_type", "payload", "created_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(models.AgentInstruction)
class AgentInstructionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "project", "instruction_type", "status", "attempts", "created_at"]
    list_filter = ["status", "instruction_type", "project"]
    search_fields = ["objective", "requested_by"]
    list_select_related = ["project"]
    autocomplete_fields = ["project"]
    raw_id_fields = ["session"]
    readonly_fields = ["attempts", "locked_by", "lease_expires_at", "created_at", "updated_at"]
    inlines = [AgentInstructionEventInline]


@admin.register(models.AgentInstructionEvent)
class AgentInstructionEventAdmin(ReadOnlyAdmin):
    list_display = ["event_type", "instruction", "created_at"]
    list_filter = ["event_type"]
    list_select_related = ["instruction"]
