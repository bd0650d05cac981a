"""Whether a live object still says what the operator wants it to say.

The desired manifest must be contained in the live object: every field it sets has the same
value there (the API server adds defaults and status, which are ignored). Quantities compare
by value, because the API server rewrites them canonically (`0.5` cpu is stored as `500m`).
Only objects that drifted are re-applied, so a steady run costs no writes.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(1000),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


def quantity_value(text: str) -> Decimal | None:
    """The value of a Kubernetes quantity (`500m`, `4Gi`, `1e3`), None when `text` is not one."""
    match = _QUANTITY.match(text)
    if match is None:
        return None
    number, suffix = match.group(1), match.group(2) or ""
    try:
        value = Decimal(number)
    except InvalidOperation:
        return None
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    if suffix in _DECIMAL:
        return value * _DECIMAL[suffix]
    return value * (Decimal(10) ** int(suffix[1:]))


def _same_scalar(desired: Any, live: Any) -> bool:
    if desired == live and type(desired) is type(live):
        return True
    if isinstance(desired, str) and isinstance(live, str):
        a, b = quantity_value(desired), quantity_value(live)
        return a is not None and a == b
    return False


def contains(live: Any, desired: Any) -> bool:
    """True when every field set in `desired` has the same value in `live`."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            contains(live[k], v) if k in live else _is_empty(v) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(a, b) for a, b in zip(live, desired, strict=True))
        )
    return _same_scalar(desired, live)


def _is_empty(value: Any) -> bool:
    # The API server drops empty lists and maps (`envFrom: []`), so absent means the same.
    return value == [] or value == {}


def drifted(desired: dict[str, Any], live: dict[str, Any] | None) -> bool:
    """Whether `live` (None: absent) needs `desired` applied again."""
    if live is None:
        return True
    desired_meta = desired.get("metadata", {})
    wanted = {
        **desired,
        "metadata": {
            k: desired_meta[k] for k in ("labels", "annotations", "ownerReferences") if k in desired_meta
        },
    }
    return not contains(live, wanted)
