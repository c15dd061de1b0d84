"""What every entry point shares: one-line user errors, the check of config-group choices."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from omegaconf import OmegaConf

from src.conf import CONF_DIR
from src.errors import ConfigError, UserError

# Keys filled from one top-level setting: setting them directly would make two spellings of one job (two run
# directories, and a resume that retrains everything), so the command line must use the top-level key.
ALIASES = {
    "trainer.max_epochs": "max_epochs",
    "trainer.deterministic": "deterministic",
    "trainer.default_root_dir": "hydra.run.dir",
    "dataset.batch_size": "batch_size",
    "dataset.shuffle_seed": "seed",
    "dataset.data_dir": "paths.data_dir",
    "callbacks.sensitivity.max_shift": "max_shift",
    "callbacks.stop_at_train_accuracy.threshold": "stop_train_accuracy",
    "data_dir": "paths.data_dir",
}


def check_group_choices(argv: list[str], conf_dir: Path = CONF_DIR) -> None:
    """Raise ConfigError for a command-line choice of a config group that has no file, e.g. `dataset=foo`, or for
    a key that is set from a top-level setting (ALIASES), e.g. `trainer.max_epochs=3` instead of `max_epochs=3`.

    Hydra reports a bad group choice in several lines; this names the setting and the allowed values in one.
    """
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, _, value = arg.lstrip("+~").partition("=")
        if key in ALIASES:
            raise ConfigError(f"{key} is set by {ALIASES[key]}: write {ALIASES[key]}={value} instead")
        if key == "hydra/launcher":
            check_launcher_available(value)
        # not a config group of ours (hydra/launcher: Hydra's)
        if "/" in key or not (conf_dir / key).is_dir():
            continue
        allowed = sorted(p.stem for p in (conf_dir / key).glob("*.yaml"))
        for choice in value.split(","):
            if choice not in allowed and choice != "null":
                raise ConfigError(f"{key}={choice!r} is not allowed: use one of {allowed}")


SLURM_LAUNCHERS = ("slurm", "slurm_cpu", "submitit_slurm")  # launchers that submit with SLURM's sbatch


def check_launcher_available(launcher: str | None) -> None:
    """A SLURM launcher needs SLURM's client on this machine: one line here instead of submitit's traceback."""

    if launcher in SLURM_LAUNCHERS and shutil.which("sbatch") is None:
        raise ConfigError(
            f"launcher {launcher} submits with SLURM, but sbatch is not on this machine's PATH: run on "
            "the cluster's login node, or use hydra/launcher=parallel (one job per core)"
        )


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


def run_cli(main: Callable, config_name: str) -> None:
    """Check the command line's group choices, then call the `@hydra.main` function `main` (config `config_name`).

    `--help` lists only the config groups this entry point composes (Hydra's own help lists every folder of conf/).
    """
    keep_freed_memory()
    # W&B's banners and run summaries off (WANDB_SILENT=false: on)
    os.environ.setdefault("WANDB_SILENT", "true")
    if "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        print(entry_point_help(config_name))
        return
    argv = sys.argv[1:]
    # not Hydra's --cfg, -sc, --info...
    if all(a in ("-m", "--multirun") or not a.startswith("-") for a in argv):
        user_errors_exit(check_group_choices)(argv)
        user_errors_exit(check_known_keys)(config_name, argv)
        user_errors_exit(check_output_writable)(config_name, argv)
        user_errors_exit(check_job_folder_names)(config_name, argv)
    main()


def check_output_writable(config_name: str, argv: list[str]) -> None:
    """The folder a training's output goes to can be created and written, checked before Hydra creates it (Hydra's
    own mkdir and log-file set-up would fail with a traceback): one line naming the path."""
    if config_name != "train":
        return
    key = "hydra.sweep.dir" if "-m" in argv or "--multirun" in argv else "hydra.run.dir"
    given = [a.split("=", 1)[1] for a in argv if a.startswith(f"{key}=")]
    target = Path(given[-1].strip("'\"") if given else "outputs").expanduser().absolute()
    existing = target
    while not _exists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ConfigError(f"{key}={target} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "read-only file system" if _read_only_fs(existing) else "no write permission"
        raise ConfigError(f"{key}={target} cannot be written: {existing} is not writable ({why})")
    try:  # what Hydra does next, with a traceback: /proc/..., a name over 255 characters, a full disk
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{key}={target} cannot be created ({e.strerror})") from None


def check_job_folder_names(config_name: str, argv: list[str]) -> None:
    """A multirun's job folders are named after their overrides (`kernel=3,seed=0`); a name longer than the file
    system allows (255 bytes) would fail in the job, after Hydra started the sweep: one line before, naming it."""
    if config_name != "train" or not ("-m" in argv or "--multirun" in argv):
        return
    from hydra import compose, initialize_config_dir

    from src.hydra_adapter import job_dirname, sweep_jobs

    task = [a for a in argv if not a.startswith(("-", "hydra.", "hydra/"))]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name, overrides=[a.split(",")[0] for a in task], return_hydra_config=True)
        names = [job_dirname(cfg, job) for job in sweep_jobs(task)]
    except Exception:  # an odd command line: Hydra itself will say what is wrong
        return
    limit = 255  # NAME_MAX of every file system this runs on (ext4, xfs, NFS, Lustre)
    long = max(names, key=lambda n: len(os.fsencode(n)), default="")
    if len(os.fsencode(long)) > limit:
        raise ConfigError(
            f"the job folder name {long[:60]}... is {len(os.fsencode(long))} bytes, over the {limit} a file system "
            "allows: sweep fewer keys on one command line, or shorten their values (a run's folder is named after its "
            "overrides)"
        )


def _exists(path: Path) -> bool:
    """Path.exists, False for a path the OS refuses to look up (a name over 255 characters)."""
    try:
        return path.exists()
    except OSError:
        return False


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_known_keys(config_name: str, argv: list[str]) -> None:
    """Raise ConfigError for `key=value` whose key the composed config lacks (a typo), in one line.

    Group choices on the same command line are composed first (the first value of a sweep), since they add keys.
    `+key=...` (append), `~key` (delete) and hydra.* keys are Hydra's business and pass.
    """
    from hydra import compose, initialize_config_dir

    pairs = [a.split("=", 1) for a in argv if "=" in a and not a.startswith(("-", "+", "~"))]
    groups = [f"{k}={v.split(',')[0]}" for k, v in pairs if "/" in k or (CONF_DIR / k).is_dir()]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name, overrides=groups)
    except Exception:  # an odd command line: Hydra itself will say what is wrong
        return
    missing = object()
    for key, _ in pairs:
        if "/" in key or (CONF_DIR / key).is_dir() or key.startswith("hydra."):
            continue
        if OmegaConf.select(cfg, key, default=missing) is missing:
            raise ConfigError(
                f"{key} is not a setting of src.{config_name}: see python -m src.{config_name} --help "
                f"(to add a new key, write +{key}=...)"
            )


def entry_point_help(config_name: str) -> str:
    """Usage, the config groups conf/<config_name>.yaml composes with their options, and the composed config."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name, return_hydra_config=True)
    sweeps = config_name == "train"  # the one entry point whose jobs are swept and launched
    choices = {
        g: c
        for g, c in cfg.hydra.runtime.choices.items()
        if not g.startswith("hydra/") or (sweeps and g == "hydra/launcher")
    }
    usage = f"python -m src.{config_name} [key=value ...]"
    if sweeps:
        usage += "   (a sweep: python -m src.train -m kernel=3,4,5 seed=0,1,2)"
    lines = [usage, "", "Config groups (group=option; default in brackets):" if choices else "Config groups: none"]
    for group, choice in sorted(choices.items()):
        folder = CONF_DIR / group
        options = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        if group == "hydra/launcher":
            options = sorted({*options, "basic"})
        lines.append(f"  {group}: " + ", ".join(f"[{o}]" if o == choice else o for o in options))
    del cfg.hydra
    lines += ["", "Settings (key=value; this is the default composition):", OmegaConf.to_yaml(cfg)]
    return "\n".join(lines)


def keep_freed_memory() -> None:
    """Tell glibc to keep freed memory (as the Makefile's MALLOC_* variables do), unless the user set them.

    Without it glibc returns every large freed block to the OS, and CPU forwards on batches of several hundred
    images lose up to half their speed. Settings from the environment win; other C libraries are left alone.
    """

    settings = {  # mallopt parameter -> (environment variable, bytes)
        -3: ("MALLOC_MMAP_THRESHOLD_", 32 << 20),  # M_MMAP_THRESHOLD: serve blocks < 32 MiB from the heap
        -1: ("MALLOC_TRIM_THRESHOLD_", 1 << 30),  # M_TRIM_THRESHOLD: return heap memory only above 1 GiB free
        -2: ("MALLOC_TOP_PAD_", 256 << 20),  # M_TOP_PAD: grow the heap 256 MiB at a time
    }
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    for param, (env, value) in settings.items():
        if env not in os.environ:
            mallopt(param, value)


class _NoTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "💡 Tip" not in record.getMessage()  # Lightning's advertisements for its cloud products


def tidy_lightning_logging() -> None:
    """Print each Lightning line once, through Hydra's handlers (console and the job's .log file), without tips.

    Lightning gives its loggers their own console handler when it is imported before logging is configured, so
    every line appeared twice: once from that handler and once from Hydra's.
    """
    import lightning  # noqa: F401  (creates the loggers this tidies)

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("lightning"):
            lg = logging.getLogger(name)
            lg.handlers.clear()
            lg.propagate = True
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _NoTips) for f in handler.filters):
            handler.addFilter(_NoTips())
