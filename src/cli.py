"""What every entry point shares: the config folder, one-line user errors, the check of config-group choices."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

from src.errors import ConfigError, UserError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
CHECKED_GROUPS = ("dataset", "logger", "callbacks", "experiment", "preset", "speed")


def check_group_choices(argv: list[str], conf_dir: Path = CONF_DIR) -> None:
    """Raise ConfigError for a command-line choice of a config group that has no file, e.g. `dataset=foo`.

    Hydra reports such a choice in several lines; this names the setting and the allowed values in one.
    """
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, _, value = arg.lstrip("+~").partition("=")
        if key not in CHECKED_GROUPS or not (conf_dir / key).is_dir():
            continue
        allowed = sorted(p.stem for p in (conf_dir / key).glob("*.yaml"))
        for choice in value.split(","):
            if choice not in allowed and choice != "null":
                raise ConfigError(f"{key}={choice!r} is not allowed: use one of {allowed}")


def user_errors_exit(func: Callable) -> Callable:
    """Run `func`; a UserError becomes `error: <message>` on stderr and exit status 2, with no traceback.

    HYDRA_FULL_ERROR=1 shows the traceback instead.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as e:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def run_cli(main: Callable) -> None:
    """Check the command line's group choices, then call the `@hydra.main` function `main`."""
    user_errors_exit(check_group_choices)(sys.argv[1:])
    main()
