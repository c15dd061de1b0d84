"""Errors caused by the user's input. Entry points print them as one line, without a traceback."""


class UserError(Exception):
    """A problem the user can fix: a bad setting, a missing file. Its message is one line naming the setting."""


class ConfigError(UserError):
    """A configuration value that is not allowed."""


class DataError(UserError):
    """A dataset or results file that is missing or unreadable."""
