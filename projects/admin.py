from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html

from kroma.lib import crypto
from kroma.lib.errors import UserError
from kroma.lib.images import ImageRejectedError, clean_image
from kroma.lib.providers import provider_choices
from projects import models
from projects.errors import StyleLocked
from projects.services.assets import store_clean_image
from projects.services.security import (
    delete_secret,
    lock_style_guide,
    set_secret,
    unlock_style_guide,
)


def thumbnail(asset: models.Asset | None, size: int = 64) -> str:
    if asset is None or not asset.pk:
        return "—"
    return format_html(
        '<img src="{}" alt="" width="{}" height="{}" style="object-fit:cover;border-radius:4px">',
        asset.thumbnail_url(),
        size,
        size,
    )


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "owner", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["name", "slug", "logline"]
    list_select_related = ["owner"]
    prepopulated_fields = {"slug": ["name"]}
    raw_id_fields = ["owner"]


@admin.register(models.ProjectStorage)
class ProjectStorageAdmin(admin.ModelAdmin):
    list_display = ["project", "backend", "__str__", "updated_at"]
    list_filter = ["backend"]
    list_select_related = ["project"]
    autocomplete_fields = ["project"]


@admin.register(models.Character)
class CharacterAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["name", "slug", "description"]
    list_select_related = ["project"]
    autocomplete_fields = ["project"]
    prepopulated_fields = {"slug": ["name"]}


class OutfitInline(admin.TabularInline):
    model = models.Outfit
    extra = 0
    fields = ["name", "description"]


CharacterAdmin.inlines = [OutfitInline]


@admin.register(models.Chapter)
class ChapterAdmin(admin.ModelAdmin):
    list_display = ["__str__", "position", "project"]
    list_filter = ["project"]
    list_select_related = ["project"]


@admin.register(models.Page)
class PageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "chapter", "position", "project"]
    list_filter = ["project"]
    list_select_related = ["project", "chapter"]
    raw_id_fields = ["chapter"]


class CastInline(admin.TabularInline):
    model = models.CastMember
    extra = 0
    raw_id_fields = ["character", "outfit"]
    fields = ["character", "outfit", "pose", "expression", "notes", "position"]


@admin.register(models.Panel)
class PanelAdmin(admin.ModelAdmin):
    """The story studio (Story page) is where panels are directed; this is for inspection."""

    list_display = ["title", "key", "page", "position", "aspect", "project"]
    list_filter = ["project", "aspect"]
    search_fields = ["title", "key", "script"]
    list_select_related = ["project", "page__chapter"]
    raw_id_fields = ["page", "base_asset"]
    inlines = [CastInline]


@admin.register(models.Outfit)
class OutfitAdmin(admin.ModelAdmin):
    list_display = ["name", "character"]
    search_fields = ["name", "character__name"]
    list_select_related = ["character"]
    raw_id_fields = ["character"]


class ImageRowInline(admin.TabularInline):
    """An ordered list of images (style references, reference set items) with thumbnails."""

    extra = 1
    raw_id_fields = ["asset"]
    fields = ["preview", "asset", "position", "notes"]
    readonly_fields = ["preview"]

    @admin.display(description="Image")
    def preview(self, obj: Any) -> str:
        return thumbnail(obj.asset if obj.asset_id else None)


def _is_locked(guide: models.StyleGuide | None) -> bool:
    return guide is not None and guide.is_locked


class StyleReferenceInline(ImageRowInline):
    """A locked guide's references are shown, not edited (the model refuses as well)."""

    model = models.StyleReference

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _is_locked(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _is_locked(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _is_locked(obj) and super().has_delete_permission(request, obj)


@admin.register(models.StyleGuide)
class StyleGuideAdmin(admin.ModelAdmin):
    """Locking and unlocking are the list's actions (audited services), never a form field;
    a locked guide's page is read-only and a post to it is refused."""

    list_display = ["name", "project", "status", "locked_at", "updated_at"]
    list_filter = ["status", "project"]
    search_fields = ["name", "slug", "rules"]
    list_select_related = ["project"]
    autocomplete_fields = ["project"]
    prepopulated_fields = {"slug": ["name"]}
    fields = ["project", "name", "slug", "description", "rules", "status", "locked_at", "content"]
    readonly_fields = ["status", "locked_at", "content"]
    inlines = [StyleReferenceInline]
    actions = ["lock", "unlock"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields if _is_locked(obj) else self.readonly_fields

    def get_prepopulated_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return {} if _is_locked(obj) else self.prepopulated_fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _is_locked(obj) and super().has_delete_permission(request, obj)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        guide = self.get_object(request, unquote(object_id))
        if _is_locked(guide):
            refused = StyleLocked(guide.name).message
            if request.method == "POST":
                self.message_user(request, refused, messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
            self.message_user(
                request,
                f"{refused} Use “Unlock selected style guides” in the list.",
                messages.WARNING,
            )
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Content sha256")
    def content(self, obj: models.StyleGuide) -> str:
        return obj.content_sha256 if obj.pk else "—"

    @admin.action(description="Lock selected style guides")
    def lock(self, request: HttpRequest, queryset: Any) -> None:
        self._set_status(request, queryset, models.StyleGuide.Status.LOCKED)

    @admin.action(description="Unlock selected style guides (back to draft)")
    def unlock(self, request: HttpRequest, queryset: Any) -> None:
        self._set_status(request, queryset, models.StyleGuide.Status.DRAFT)

    def _set_status(self, request: HttpRequest, queryset: Any, status: str) -> None:
        change = (
            lock_style_guide if status == models.StyleGuide.Status.LOCKED else unlock_style_guide
        )
        for guide in queryset:
            try:
                change(guide=guide, user=request.user)
            except UserError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"{guide.name}: now {status}.", messages.SUCCESS)


class ReferenceSetItemInline(ImageRowInline):
    model = models.ReferenceSetItem


@admin.register(models.ReferenceSet)
class ReferenceSetAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "project", "character"]
    list_filter = ["kind", "project"]
    search_fields = ["name", "slug"]
    list_select_related = ["project", "character"]
    autocomplete_fields = ["project"]
    raw_id_fields = ["character"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ReferenceSetItemInline]


class AssetUploadForm(forms.ModelForm):
    """Adding an asset in the admin means uploading an image; the rest is computed."""

    upload = forms.FileField(help_text="PNG, JPEG or WebP; validated by content and re-encoded.")

    class Meta:
        model = models.Asset
        fields = ["project", "kind", "title"]

    def clean_upload(self) -> Any:
        upload = self.cleaned_data["upload"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 1e6:.1f} MB; the limit is "
                f"{settings.MAX_UPLOAD_BYTES / 1e6:.0f} MB."
            )
        try:
            self.clean_image = clean_image(
                upload.read(), name=upload.name, max_pixels=settings.MAX_IMAGE_PIXELS
            )
        except ImageRejectedError as exc:
            raise forms.ValidationError(str(exc)) from None
        return upload

    def save(self, commit: bool = True) -> models.Asset:
        return store_clean_image(
            project=self.cleaned_data["project"],
            image=self.clean_image,
            kind=self.cleaned_data["kind"],
            title=self.cleaned_data.get("title") or self.cleaned_data["upload"].name,
        )

    def save_m2m(self) -> None:
        pass


@admin.register(models.Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ["preview", "__str__", "kind", "project", "width", "height", "created_at"]
    list_filter = ["kind", "project", "mime"]
    search_fields = ["title", "sha256", "path"]
    list_select_related = ["project"]
    autocomplete_fields = ["project"]
    readonly_fields = ["preview_large", "path", "sha256", "size_bytes", "width", "height", "mime"]
    date_hierarchy = "created_at"

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = AssetUploadForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["project", "kind", "title", "upload"]
        return [
            "preview_large",
            "project",
            "kind",
            "title",
            "path",
            "sha256",
            "size_bytes",
            "width",
            "height",
            "mime",
            "metadata",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    @admin.display(description="Image")
    def preview(self, obj: models.Asset) -> str:
        return thumbnail(obj, 48)

    @admin.display(description="Preview")
    def preview_large(self, obj: models.Asset) -> str:
        return thumbnail(obj, 240)


@admin.register(models.AssetLink)
class AssetLinkAdmin(admin.ModelAdmin):
    list_display = ["source", "relation", "target", "project", "created_at"]
    list_filter = ["relation", "project"]
    list_select_related = ["project", "source", "target"]
    raw_id_fields = ["source", "target"]
    autocomplete_fields = ["project"]


@admin.register(models.PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "stage", "project", "is_active", "updated_at"]
    list_filter = ["stage", "is_active", "project"]
    search_fields = ["name", "template"]
    list_select_related = ["project"]
    autocomplete_fields = ["project"]


class ProviderAccountForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=provider_choices)

    class Meta:
        model = models.ProviderAccount
        fields = ["project", "provider", "name", "base_url", "config", "is_enabled"]


@admin.register(models.ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    form = ProviderAccountForm
    list_display = ["__str__", "project", "base_url", "is_enabled"]
    list_filter = ["provider", "is_enabled", "project"]
    search_fields = ["name", "base_url"]
    list_select_related = ["project"]
    autocomplete_fields = ["project"]


class SecretForm(forms.ModelForm):
    """The value is write-only: it is encrypted on save and never shown again."""

    value = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Leave empty to keep the stored value.",
    )

    class Meta:
        model = models.ProjectSecret
        fields = ["project", "provider", "name"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.instance.pk and not cleaned.get("value"):
            self.add_error("value", "A new secret needs a value.")
        elif cleaned.get("value"):
            try:
                crypto.encrypt(cleaned["value"])  # a missing or bad master key: say so here
            except crypto.SecretKeyError as exc:
                self.add_error("value", str(exc))
        return cleaned

    def save(self, commit: bool = True) -> models.ProjectSecret:
        """Through set_secret (encrypted, audited); renames keep the stored value."""
        secret = super().save(commit=False)
        value = self.cleaned_data.get("value")
        if value:
            secret.set_value(value)
        if commit:
            secret.save()
        return secret


@admin.register(models.ProjectSecret)
class ProjectSecretAdmin(admin.ModelAdmin):
    form = SecretForm
    list_display = ["provider", "name", "hint", "project", "key_id", "updated_at"]
    list_filter = ["provider", "project"]
    search_fields = ["provider", "name"]
    list_select_related = ["project"]
    autocomplete_fields = ["project"]
    readonly_fields = ["hint", "key_id", "updated_at"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """A new value goes through set_secret (encrypted, audited, never logged)."""
        value = form.cleaned_data.get("value")
        if change:
            obj.save()  # a rename keeps the stored value
        if value:
            secret = set_secret(
                project=obj.project,
                user=request.user,
                provider=obj.provider,
                name=obj.name,
                value=value,
            )
            obj.pk, obj.ciphertext, obj.hint, obj.key_id = (
                secret.pk,
                secret.ciphertext,
                secret.hint,
                secret.key_id,
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        delete_secret(project=obj.project, user=request.user, provider=obj.provider, name=obj.name)


@admin.register(models.ProjectExport)
class ProjectExportAdmin(admin.ModelAdmin):
    list_display = ["__str__", "project", "status", "requested_by", "created_at"]
    list_filter = ["status", "project"]
    list_select_related = ["project", "requested_by"]
    raw_id_fields = ["requested_by"]
    autocomplete_fields = ["project"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Audit and accounting rows are written by the system, never edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "target", "actor", "project"]
    list_filter = ["action", "project"]
    search_fields = ["action", "target"]
    list_select_related = ["actor", "project"]
    date_hierarchy = "created_at"


@admin.register(models.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "project", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["project"]
    search_fields = ["name", "prefix"]
    list_select_related = ["user", "project"]
    raw_id_fields = ["user"]
    autocomplete_fields = ["project"]
    fields = [
        "name",
        "user",
        "project",
        "prefix",
        "scopes",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "created_at",
    ]
    readonly_fields = ["prefix", "last_used_at", "created_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a token is shown once when created, so it is issued by the API only
