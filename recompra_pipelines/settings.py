"""Whole-number settings read from the environment, with one rule for defaults and bad values.

Deployments configure retention and similar limits by environment variable (the run launcher's
env on Kubernetes, the daemon's environment on one machine), so a value is read where runs
execute. An unset or blank variable means the default; anything else must be a whole number at
or above the setting's minimum, or the run fails naming the variable and the value.
"""

import os


def whole_number_from_env(name: str, default: int, *, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a whole number") from None
    if value < minimum:
        raise ValueError(f"{name}={raw!r}: must be at least {minimum}")
    return value
