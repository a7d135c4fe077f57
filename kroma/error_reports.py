"""Django's error reports (500 emails, the debug page) with secrets masked (kroma.lib.redact).

Wired in settings as DEFAULT_EXCEPTION_REPORTER_FILTER and DEFAULT_EXCEPTION_REPORTER.
"""

from __future__ import annotations

import re
from pprint import pformat
from typing import Any

from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from kroma.lib.redact import redact


class _Shown:
    """A value already turned into text for an error report (pprint shows it as it is)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class RedactingReporterFilter(SafeExceptionReporterFilter):
    """Django's error reports (500 emails, the debug page) with secrets masked.

    Always active, DEBUG or not; settings, request headers and cookies whose names look secret
    are hidden whole (Authorization and DATABASE_URL included), POSTed secret fields too, and
    every other value is masked by pattern, frame variables included.
    """

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL", flags=re.I
    )
    hidden_post = re.compile("TOKEN|KEY|SECRET|PASS|VALUE", flags=re.I)

    def is_active(self, request: Any) -> bool:
        return True

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        return redact(cleansed) if isinstance(cleansed, str) else cleansed

    def get_post_parameters(self, request: Any) -> Any:
        if request is None:
            return {}
        cleansed = super().get_post_parameters(request).copy()
        for name in list(cleansed):
            if self.hidden_post.search(name):
                cleansed[name] = self.cleansed_substitute
            else:
                cleansed.setlist(name, [redact(str(v)) for v in cleansed.getlist(name)])
        return cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> list[tuple[str, Any]]:
        shown = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            try:
                text = pformat(value)
            except Exception as exc:  # a broken __repr__ must not hide the report
                text = f"Error in formatting: {exc.__class__.__name__}: {exc}"
            shown.append((name, _Shown(redact(text))))
        return shown


class RedactingExceptionReporter(ExceptionReporter):
    """The exception's own message, its causes and the URL are part of every report: mask them."""

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        for key in ("exception_value", "exception_notes", "request_insecure_uri"):
            if data.get(key) is not None:
                data[key] = redact(str(data[key]))
        for frame in data.get("frames", []):
            if frame.get("exc_cause") is not None:
                frame["exc_cause"] = redact(str(frame["exc_cause"]))
        if "request_GET_items" in data:
            data["request_GET_items"] = [(k, redact(v)) for k, v in data["request_GET_items"]]
        return data
