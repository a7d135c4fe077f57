from __future__ import annotations

from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "projects"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from projects.search_index import ensure_after_migrate

        # The asset search index lives outside the ORM; a table rebuild can drop its triggers.
        post_migrate.connect(ensure_after_migrate, sender=self, dispatch_uid="asset-search")
