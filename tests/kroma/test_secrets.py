"""Master keys (MultiFernet, newest first) and `manage.py kroma_rotate_secrets`."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from kroma.lib import crypto
from projects.models import AuditEvent, ProjectSecret
from projects.services import secret_keys
from projects.services.security import set_secret
from tests.conftest import TEST_MASTER_KEY

pytestmark = pytest.mark.django_db
OLD_KEY = TEST_MASTER_KEY  # what conftest configures: the secrets below are written with it
NEW_KEY = Fernet.generate_key().decode()


def _secrets(project, count: int) -> list[ProjectSecret]:
    return [
        set_secret(
            project=project, user=None, provider="openai", name=f"key{i}", value=f"sk-value-{i:04d}"
        )
        for i in range(count)
    ]


def _rotate(**options) -> str:
    out = io.StringIO()
    call_command("kroma_rotate_secrets", stdout=out, **options)
    return out.getvalue()


def test_the_newest_key_encrypts_and_every_listed_key_decrypts(monkeypatch):
    old_ciphertext, old_id = crypto.encrypt("sk-written-before")
    monkeypatch.setenv("IAT_MASTER_KEY", f"{NEW_KEY}, {OLD_KEY}")
    assert crypto.key_ids() == [crypto.key_id(NEW_KEY), crypto.key_id(OLD_KEY)]
    ciphertext, kid = crypto.encrypt("sk-written-after")
    assert (kid, old_id) == (crypto.key_id(NEW_KEY), crypto.key_id(OLD_KEY))
    assert crypto.decrypt(old_ciphertext) == "sk-written-before"
    monkeypatch.setenv("IAT_MASTER_KEY", NEW_KEY)
    assert crypto.decrypt(ciphertext) == "sk-written-after"


def test_keys_from_a_file_newest_first_comments_ignored(monkeypatch, settings, tmp_path):
    monkeypatch.delenv("IAT_MASTER_KEY")
    settings.MASTER_KEY_FILE = tmp_path / "keys"
    settings.MASTER_KEY_FILE.write_text(f"# added 2026-12-02\n{NEW_KEY}\n\n{OLD_KEY}\n")
    assert crypto.key_ids() == [crypto.key_id(NEW_KEY), crypto.key_id(OLD_KEY)]
    settings.MASTER_KEY_FILE.write_text("# nothing yet\n")
    with pytest.raises(crypto.SecretKeyError, match="holds no key"):
        crypto.key_ids()


def test_rotation_moves_every_secret_to_the_newest_key_and_the_old_key_can_go(project, monkeypatch):
    _secrets(project, 3)
    monkeypatch.setenv("IAT_MASTER_KEY", f"{NEW_KEY},{OLD_KEY}")
    out = _rotate(batch_size=2)
    new_id = crypto.key_id(NEW_KEY)
    assert f"Newest key {new_id}: 3 re-encrypted, 0 already under it, 0 unreadable." in out
    assert set(ProjectSecret.objects.values_list("key_id", flat=True)) == {new_id}
    events = AuditEvent.objects.filter(action="secret.reencrypted").order_by("target")
    assert [e.target for e in events] == ["openai/key0", "openai/key1", "openai/key2"]
    assert events[0].data == {"from_key": crypto.key_id(OLD_KEY), "to_key": new_id}
    assert "sk-value" not in str([e.data for e in events])

    monkeypatch.setenv("IAT_MASTER_KEY", NEW_KEY)  # the old key removed
    assert [s.reveal() for s in ProjectSecret.objects.order_by("name")] == [
        "sk-value-0000",
        "sk-value-0001",
        "sk-value-0002",
    ]
    again = _rotate()
    assert "0 re-encrypted, 3 already under it" in again
    assert AuditEvent.objects.filter(action="secret.reencrypted").count() == 3


def test_an_interrupted_rotation_resumes_where_it_stopped(project, monkeypatch):
    _secrets(project, 5)
    monkeypatch.setenv("IAT_MASTER_KEY", f"{NEW_KEY},{OLD_KEY}")

    def stop(result):
        raise KeyboardInterrupt  # Ctrl-C after the first batch was committed

    with pytest.raises(KeyboardInterrupt):
        secret_keys.rotate_secrets(batch_size=2, on_batch=stop)
    new_id = crypto.key_id(NEW_KEY)
    assert ProjectSecret.objects.filter(key_id=new_id).count() == 2
    out = _rotate(batch_size=2)
    assert "3 re-encrypted, 2 already under it, 0 unreadable." in out
    assert ProjectSecret.objects.exclude(key_id=new_id).count() == 0
    assert AuditEvent.objects.filter(action="secret.reencrypted").count() == 5


def test_a_secret_no_key_opens_is_reported_and_the_rest_rotate(project, monkeypatch):
    lost_key = Fernet.generate_key().decode()
    monkeypatch.setenv("IAT_MASTER_KEY", lost_key)
    set_secret(project=project, user=None, provider="openai", name="lost", value="sk-lost-00000")
    monkeypatch.setenv("IAT_MASTER_KEY", OLD_KEY)
    _secrets(project, 1)
    monkeypatch.setenv("IAT_MASTER_KEY", f"{NEW_KEY},{OLD_KEY}")
    err = io.StringIO()
    with pytest.raises(CommandError, match="could not be opened"):
        call_command("kroma_rotate_secrets", stdout=io.StringIO(), stderr=err)
    assert "no configured key opens noir_city:openai/lost" in err.getvalue()
    assert ProjectSecret.objects.get(name="key0").key_id == crypto.key_id(NEW_KEY)
    assert ProjectSecret.objects.get(name="lost").key_id == crypto.key_id(lost_key)


def test_a_row_replaced_during_rotation_keeps_its_new_value(project, monkeypatch):
    (secret,) = _secrets(project, 1)
    monkeypatch.setenv("IAT_MASTER_KEY", f"{NEW_KEY},{OLD_KEY}")
    real_rotate = crypto.rotate

    def rotate_while_replaced(ciphertext):
        set_secret(project=project, user=None, provider="openai", name="key0", value="sk-new-99")
        return real_rotate(ciphertext)

    monkeypatch.setattr(crypto, "rotate", rotate_while_replaced)
    result = secret_keys.rotate_secrets()
    assert result.rotated == 0
    assert ProjectSecret.objects.get(pk=secret.pk).reveal() == "sk-new-99"
