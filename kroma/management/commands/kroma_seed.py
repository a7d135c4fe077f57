"""Idempotent set-up: master key, schedules, the local user and the demo project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from kroma.lib.crypto import ensure_master_key_file
from pipeline.schedules import ensure_schedules
from projects.services.demo import seed_demo_project


class Command(BaseCommand):
    help = "Prepare a Kroma install. Safe to run any number of times; it never deletes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--with-default-user",
            action="store_true",
            help=f"Create the local superuser '{settings.SINGLE_USER_NAME}' "
            "(single-user mode signs in as this user).",
        )
        parser.add_argument(
            "--demo", action="store_true", help="Create the demo project for the local user."
        )

    def handle(self, *args: Any, with_default_user: bool, demo: bool, **options: Any) -> None:
        key_path = ensure_master_key_file()
        models_dir = Path(settings.MODELS_DIR)
        if models_dir.is_relative_to(settings.VAR_DIR):
            models_dir.mkdir(parents=True, exist_ok=True)  # where users drop larger models
        ensure_schedules()
        self.stdout.write(f"Master key: {key_path} (keep a copy; secrets need it)")
        user = None
        if with_default_user or demo:
            user, created = get_user_model().objects.get_or_create(
                username=settings.SINGLE_USER_NAME,
                defaults={"is_staff": True, "is_superuser": True},
            )
            if created:
                user.set_unusable_password()
                user.save()
                self.stdout.write(
                    f"Created local user '{user.username}'. To log in with a password, run: "
                    f"manage.py changepassword {user.username}"
                )
        if demo and user is not None:
            project = seed_demo_project(owner=user)
            self.stdout.write(
                f"Demo project '{project.slug}': {project.assets.count()} assets, "
                f"{project.characters.count()} characters."
            )
        self.stdout.write(self.style.SUCCESS("Seed complete."))
