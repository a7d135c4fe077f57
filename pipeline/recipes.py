"""An image's recipe: how it was made, kept in the PNG itself (an iTXt chunk) and on its asset.

A run's candidate carries its run, panel, stage, prompt, model, size, the sha256 of its input and
of every reference sent, and its QA; a post-processed output carries its source's recipe plus
the steps applied. Any PNG tool shows the chunk (`kroma-recipe`, JSON); `read_recipe` reads it.
Inserting the chunk does not re-encode the image: the pixels are the provider's.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from projects.models import Asset

KEYWORD = b"kroma-recipe"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk; ValueError if `data` is not a well-formed PNG."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
        if kind == b"IEND":
            return chunks
    raise ValueError("a PNG without its IEND chunk")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _is_recipe(kind: bytes, body: bytes) -> bool:
    return kind == b"iTXt" and body.startswith(KEYWORD + b"\0")


def with_recipe(data: bytes, recipe: dict[str, Any]) -> bytes:
    """`data` with `recipe` as its one `kroma-recipe` iTXt chunk (replacing an older one).

    Bytes that are not a PNG are returned as they are (the recipe still lives on the asset).
    """
    try:
        chunks = _chunks(data)
    except ValueError:
        return data
    text = json.dumps(recipe, sort_keys=True, separators=(",", ":"), default=str).encode()
    body = KEYWORD + b"\0\0\0\0\0" + text  # no compression, no language, no translation
    kept = [c for c in chunks if not _is_recipe(*c)]
    out = [PNG_SIGNATURE]
    out += [_chunk(kind, chunk_body) for kind, chunk_body in kept[:-1]]
    out += [_chunk(b"iTXt", body), _chunk(*kept[-1])]
    return b"".join(out)


def read_recipe(data: bytes) -> dict[str, Any] | None:
    """The recipe stored in a PNG, or None."""
    try:
        chunks = _chunks(data)
    except ValueError:
        return None
    for kind, body in chunks:
        if _is_recipe(kind, body):
            # keyword \0 flag method language \0 translated \0 text
            _, _, rest = body.partition(b"\0")
            _, _, rest = rest[2:].partition(b"\0")
            _, _, text = rest.partition(b"\0")
            return json.loads(text.decode())
    return None


def job_recipe(run: Any, job: Any) -> dict[str, Any]:
    """What every candidate of a run's job shares: the run, panel, stage, request and inputs."""
    paths = [ref["path"] for ref in job.references or []]
    if job.input_path:
        paths.append(job.input_path)
    digests = dict(
        Asset.objects.filter(project_id=job.project_id, path__in=paths).values_list(
            "path", "sha256"
        )
    )
    size = job.size or run.plan.get("generation", {}).get("size", "")
    return {
        "kroma": 1,
        "project": run.project.slug,
        "run": run.uid,
        "panel": job.scene_key,
        "stage": run.stage,
        "provider": run.provider,
        "model": run.model,
        "size": size,
        "quality": run.plan.get("generation", {}).get("quality", ""),
        "prompt": job.prompt,
        "input": (
            {"path": job.input_path, "sha256": digests.get(job.input_path, "")}
            if job.input_path
            else None
        ),
        "references": [
            {
                "key": ref.get("key", ""),
                "role": ref.get("source", ""),
                "sha256": digests.get(ref["path"], ""),
            }
            for ref in job.references or []
        ],
    }


def candidate_recipe(base: dict[str, Any], index: int, qa: dict[str, Any]) -> dict[str, Any]:
    """A candidate's recipe: its job's, its index and its QA."""
    return {
        **base,
        "candidate": index,
        "qa": {
            "passed": not qa.get("hard_failures"),
            "hard_failures": qa.get("hard_failures", []),
            "soft_warnings": qa.get("soft_warnings", []),
            "metrics": qa.get("metrics", {}),
        },
    }


def derived_recipe(source: Any, step: str, key: str) -> dict[str, Any] | None:
    """A post-processed output's recipe: its source's, plus this step; None without one."""
    recipe = (getattr(source, "metadata", None) or {}).get("recipe")
    if not recipe:
        return None
    return {**recipe, "steps": [*recipe.get("steps", []), {"step": step, "key": key}]}
