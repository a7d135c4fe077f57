from __future__ import annotations

import pytest
from django.utils import timezone

from pipeline.models import WorkerHeartbeat
from pipeline.tasks import heartbeat

pytestmark = pytest.mark.django_db


def test_health_reports_version_db_and_models(client, settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "RealESRGAN_x4plus_anime_6B.onnx").write_bytes(b"x")
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["version"] == settings.VERSION
    assert body["db"]["ok"] is True
    assert body["worker"]["heartbeat_age_s"] is None
    names = {f["name"] for f in body["models_dir"]["files"]}
    assert names == {"RealESRGAN_x4plus_anime_6B.onnx", "u2netp.onnx", "realesr-animevideov3.onnx"}
    assert body["models_dir"]["missing"] == []


def test_health_reports_missing_models(client, settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "absent"
    body = client.get("/health").json()
    assert body["models_dir"]["exists"] is False
    assert body["models_dir"]["missing"] == ["RealESRGAN_x4plus_anime_6B.onnx"]


def test_health_reports_worker_heartbeat_age(client):
    heartbeat()
    body = client.get("/health").json()
    assert 0 <= body["worker"]["heartbeat_age_s"] < 5
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timezone.timedelta(minutes=3))
    assert client.get("/health").json()["worker"]["heartbeat_age_s"] >= 180
