"""What a run's control loop reads from memory instead of asking the API server at every step.

- The TrainingRun itself comes from kopf's watch (the daemon's live body). The watch lags
  behind the operator's own status writes by a moment, so the loop also keeps the object the
  last status write returned and uses whichever of the two is newer (`RunView`). Resource
  versions are comparable integers since Kubernetes 1.35 (KEP-5504); where they are not
  (an older or unusual API server) the watched object wins, and the worst a stale one can
  cause is a repeated, identical status write.
- The Redis password is read from its Secret once per Secret reference and kept
  (`PasswordCache`); it is read again only when Redis refuses it (the password was rotated)
  or the reference changes. The operator keeps no watch on Secrets: that would hold every
  Secret value of the watched namespaces in its memory.
- Referenced Secrets are checked for existence (metadata only) at every tick while one is
  missing, and once they all exist only every `SECRET_RECHECK_SECONDS` (`SecretPresence`).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

# Seconds between existence checks of a run's Secrets once they all exist.
SECRET_RECHECK_SECONDS = 60.0


def compare_resource_versions(a: str, b: str) -> int | None:
    """-1, 0 or 1 as resource version `a` is older than, equal to or newer than `b`, for two
    versions of the same object; None when either is not a comparable version (KEP-5504: a
    positive integer without leading zeros)."""
    if not all(v.isdigit() and v[0] != "0" for v in (a, b)):
        return None
    a_key, b_key = (len(a), a), (len(b), b)
    return (a_key > b_key) - (a_key < b_key)


def _resource_version(body: dict[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("resourceVersion") or "")


class RunView:
    """The freshest copy of one TrainingRun: the watched object, or the one the operator's own
    last write returned while the watch has not caught up with it."""

    def __init__(self) -> None:
        self.written: dict[str, Any] | None = None

    def wrote(self, body: dict[str, Any]) -> None:
        """Remember the object an API write returned."""
        self.written = body

    def current(self, watched: dict[str, Any]) -> dict[str, Any]:
        if self.written is None:
            return watched
        order = compare_resource_versions(_resource_version(self.written), _resource_version(watched))
        if order == 1:
            return self.written
        self.written = None  # the watch has caught up (or cannot be compared): it leads again
        return watched


class PasswordCache:
    """One password, kept for the Secret reference it was read from."""

    def __init__(self) -> None:
        self.reference: Hashable | None = None
        self.password: str | None = None

    def get(self, reference: Hashable) -> str | None:
        """The password read for `reference`; None when it must be read (again)."""
        return self.password if reference == self.reference else None

    def put(self, reference: Hashable, password: str) -> None:
        self.reference, self.password = reference, password

    def forget(self) -> None:
        self.reference = self.password = None


class SecretPresence:
    """When the Secrets a run references are due to be checked for existence again."""

    def __init__(self, recheck_seconds: float = SECRET_RECHECK_SECONDS) -> None:
        self.recheck_seconds = recheck_seconds
        self.references: Hashable | None = None
        self.present_at: float | None = None

    def due(self, references: Hashable, now: float) -> bool:
        if references != self.references or self.present_at is None:
            return True
        return now - self.present_at >= self.recheck_seconds

    def checked(self, references: Hashable, now: float, all_present: bool) -> None:
        self.references = references
        self.present_at = now if all_present else None
