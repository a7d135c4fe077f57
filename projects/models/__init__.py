"""The universe: a project and everything that belongs to one story world."""

from projects.models.assets import Asset, AssetLink, ProjectExport
from projects.models.base import Project, ProjectOwned, ProjectStorage, slug_validator
from projects.models.security import ApiToken, AuditEvent, ProjectSecret, ProviderAccount
from projects.models.story import (
    ASPECT_SIZES,
    Aspect,
    CastMember,
    Chapter,
    Layout,
    Outfit,
    Page,
    Panel,
    aspect_for,
)
from projects.models.universe import (
    PROMPT_VARIABLES,
    STAGE_HELP,
    Character,
    PromptTemplate,
    ReferenceSet,
    ReferenceSetItem,
    Stage,
    StyleGuide,
    StyleReference,
)

__all__ = [
    "ASPECT_SIZES",
    "PROMPT_VARIABLES",
    "STAGE_HELP",
    "ApiToken",
    "Aspect",
    "Asset",
    "AssetLink",
    "AuditEvent",
    "CastMember",
    "Chapter",
    "Character",
    "Layout",
    "Outfit",
    "Page",
    "Panel",
    "Project",
    "ProjectExport",
    "ProjectOwned",
    "ProjectSecret",
    "ProjectStorage",
    "PromptTemplate",
    "ProviderAccount",
    "ReferenceSet",
    "ReferenceSetItem",
    "Stage",
    "StyleGuide",
    "StyleReference",
    "aspect_for",
    "slug_validator",
]
