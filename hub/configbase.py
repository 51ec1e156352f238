"""Building blocks shared by every config model: the strict base model, references to secrets held
in environment variables, and the formatting of validation errors as `path: reason` lines.

Sub-configs live next to the code that owns them and import only this module, so that
`hub.config` can compose them without import cycles.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ENV_NAME_PATTERN = r"^[A-Z_][A-Z0-9_]*$"

#: Keys that would put a secret into the file; the config names an environment variable instead.
_SECRET_KEYS = ("password", "token", "secret", "auth_token", "api_key")

EnvName = Annotated[
    str,
    Field(pattern=ENV_NAME_PATTERN, description="Name of an environment variable (A-Z, 0-9, _)."),
]


class StrictModel(BaseModel):
    """Base of all config models: unknown keys are errors, values are immutable after load, and
    a secret written into the file is refused with a hint to use an environment variable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in _SECRET_KEYS:
                if key in data and key not in cls.model_fields:
                    raise ValueError(
                        f"'{key}' must not be written in the config file; "
                        f"name an environment variable in '{key}_env' instead"
                    )
        return data


class SecretMissingError(RuntimeError):
    """An environment variable named in the config for a secret is not set."""


def read_secret(env_name: str | None, what: str) -> str | None:
    """The secret held in environment variable `env_name`, or None when the config names none.

    Raises SecretMissingError when a variable is named but not set, so that a deployment with a
    forgotten secret fails at start with the variable's name instead of at the first request."""
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if value is None:
        raise SecretMissingError(f"{what}: environment variable {env_name} is not set")
    return value


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file: where it is (`sensors[3].area`) and why it is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """A config file that cannot be used; carries every problem found, not just the first."""

    def __init__(self, source: str, issues: list[ConfigIssue]):
        self.source = source
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"{source}: {len(issues)} error(s) in config\n{lines}")


def format_location(location: tuple[int | str, ...]) -> str:
    """`('sensors', 3, 'source', 'mqtt', 'topic')` → `sensors[3].source.mqtt.topic`."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


_LITERAL_EXPECTED = re.compile(r"^Input should be (.*)$")


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    given = error.get("input")
    if kind == "literal_error" or kind == "enum":
        expected = _LITERAL_EXPECTED.sub(r"\1", error["msg"])
        return f"unknown value {given!r} (expected {expected})"
    if kind == "extra_forbidden":
        return "unknown key (not part of this section; check the spelling)"
    if kind == "missing":
        return "required key is missing"
    message = error["msg"]
    # pydantic prefixes messages of ValueErrors raised in validators; the reason reads better bare.
    return message.removeprefix("Value error, ")


def issues_from_validation(error: ValidationError) -> list[ConfigIssue]:
    """Every pydantic error as a `ConfigIssue` with a readable path and reason."""
    issues = []
    for item in error.errors(include_url=False):
        location = tuple(part for part in item["loc"] if not _is_union_tag(part))
        issues.append(ConfigIssue(format_location(location), _describe(item)))
    return issues


def _is_union_tag(part: int | str) -> bool:
    # pydantic inserts the chosen member of a tagged union, e.g. 'function-after[...]'; not a key.
    return isinstance(part, str) and ("[" in part or "-" in part and part.startswith("function"))
