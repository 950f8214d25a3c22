"""Source patches applied to vendored files, each of which must match exactly as often as pinned."""

from __future__ import annotations

from app.host.pins import Patch


class PatchError(RuntimeError):
    """A patch no longer applies: the upstream file changed, so the workaround needs a look."""


def apply_patch(text: str, patch: Patch, what: str) -> str:
    found = text.count(patch.find)
    if found != patch.count:
        raise PatchError(
            f"patch for {what}: expected {patch.count} occurrence(s) of {patch.find!r} "
            f"in {patch.file}, found {found}. The upstream file changed; re-check the workaround."
        )
    return text.replace(patch.find, patch.replace)
