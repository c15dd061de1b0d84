"""The one checker of numeric settings, used by every entry point and module: YAML and the command line give bools
where numbers are meant (`kernel=true` is an int to Python), and NaN or inf where finite values are meant."""

from __future__ import annotations

import math

from src.errors import ConfigError


def is_integer(value) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def integer(key: str, value, minimum: int, why: str = "") -> int:
    """`value` if it is an integer >= minimum, else a one-line ConfigError naming `key` (`why`: a hint appended)."""
    if not is_integer(value) or value < minimum:
        raise ConfigError(f"{key}={value!r} is not allowed: must be an integer >= {minimum}{why}")
    return value
