"""The retention policy: which rule applies to a recording, and why.

Pure rules, no I/O beyond reading the TOML file; what a rule decides (dates, derivative,
deletions) lives in ``models/policy/retention.py``. The file format is
documented in the shipped default, ``models/policy/default_policy.toml`` (the one copy, loaded with
importlib.resources so an installed package finds it too). Rules are tried in order and the
first whose ``match`` keys all pass wins; the last rule must be a catch-all (no match keys),
so every recording gets one.

Match keys (each a list; a recording passes when its value is one of them, compared
case-insensitively; a recording without the value never passes):

- ``media_type``: ``AUDIO`` or ``AUDIO_AND_VIDEO``; ``direction``: e.g. ``INBOUND``, ``OUTBOUND``;
  ``participant_type``: e.g. ``AGENT``, ``CUSTOMER``.
- ``queue``: any of the recording's queues: ``transferredFromQueue``, ``transferredToQueue``,
  and a ``queue``/``queueId``/``queueName`` field when the metadata carries one.
- ``tags``: any of the recording's tags: the strings of a ``tags`` or ``tagNames`` field of the
  metadata (a list, or one comma-separated string), plus ``composed`` for a merged file and
  ``transferred`` for a call that was transferred.

Durations are calendar arithmetic from the call's start: ``7y`` keeps until the same month and
day seven years later (29 February becomes 28 February in a common year), ``90d`` adds 90 days.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from models.errors import ConfigError
from models.policy.durations import MAX_DAYS, MAX_YEARS, Duration, parse_duration
from models.policy.facts import RecordingFacts
from models.source import MediaType

DEFAULT_POLICY_RESOURCE = "default_policy.toml"

# --- the policy file -------------------------------------------------------------------------

StorageClass = Literal[
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
]
_DELETE_AFTER = re.compile(r"after:(\d+)d")
_NO_LOCK = {"", "NONE", "OFF"}
_ENUM_KEYS = ("media_type", "direction", "participant_type")


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _lock_mode(value: object) -> object:
    value = _upper(value)
    return None if isinstance(value, str) and value in _NO_LOCK else value


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    media_type: tuple[MediaType, ...] | None = None
    direction: tuple[str, ...] | None = None
    participant_type: tuple[str, ...] | None = None
    queue: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _as_list(cls, value: object, info: Any) -> object:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            if not value:
                raise ValueError("is empty; list at least one value or leave the key out")
            if info.field_name in _ENUM_KEYS:
                return [_upper(v) for v in value]
        return value

    @property
    def is_catch_all(self) -> bool:
        return all(getattr(self, key) is None for key in type(self).model_fields)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    description: str = ""
    match: Match = Match()
    retention: Annotated[Duration, BeforeValidator(parse_duration), PlainSerializer(str)]
    object_lock_mode: Annotated[
        Literal["GOVERNANCE", "COMPLIANCE"] | None, BeforeValidator(_lock_mode)
    ] = None
    object_lock_required: StrictBool = False
    set_retain_until_on_upload: StrictBool = False
    delete_source: str = "never"
    storage_class: Annotated[StorageClass, BeforeValidator(_upper)] = "STANDARD"
    transition_after_days: StrictInt | None = Field(default=None, ge=0, le=MAX_DAYS)
    derivative: Annotated[
        Literal["none", "auto", "opus", "mp3", "mp4"],
        BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
    ] = "auto"
    statutory: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _default_retain_until(cls, data: object) -> object:
        # A lock mode without a retain-until date does nothing at upload, so it defaults on.
        if isinstance(data, dict) and "set_retain_until_on_upload" not in data:
            mode = _lock_mode(data.get("object_lock_mode"))
            return {**data, "set_retain_until_on_upload": mode is not None}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("delete_source", mode="before")
    @classmethod
    def _delete_source(cls, value: object) -> object:
        text = value.strip().lower() if isinstance(value, str) else value
        if text in ("never", "immediately"):
            return text
        m = _DELETE_AFTER.fullmatch(text) if isinstance(text, str) else None
        if m is None:
            raise ValueError(f"{value!r} is not one of immediately, never or after:<N>d")
        if int(m.group(1)) > MAX_DAYS:
            raise ValueError(f"{value!r} is longer than {MAX_YEARS} years")
        return text

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.object_lock_mode is None:
            if self.set_retain_until_on_upload:
                raise ValueError("set_retain_until_on_upload = true needs an object_lock_mode")
            if self.object_lock_required:
                raise ValueError("object_lock_required = true needs an object_lock_mode")
        elif self.object_lock_mode == "COMPLIANCE" and not self.set_retain_until_on_upload:
            raise ValueError(
                "object_lock_mode COMPLIANCE with set_retain_until_on_upload = false locks "
                "nothing (an object without a retain-until date is not retained): remove "
                "set_retain_until_on_upload or set it to true"
            )
        delay = self.delete_source_after_days
        if delay is not None and self.retention.min_days < delay:
            raise ValueError(
                f"retention {self.retention} is shorter than delete_source {self.delete_source}: "
                "the archive would expire while the copy at Infobip is still due for deletion "
                f"(and the source copy would then outlive it); keep at least {delay}d or delete "
                "the source copy sooner"
            )
        if self.transition_after_days is not None and self.storage_class == "STANDARD":
            raise ValueError(
                "transition_after_days needs a storage_class to move to, e.g. DEEP_ARCHIVE"
            )
        if self.derivative == "mp4" and self.match.media_type == (MediaType.AUDIO,):
            raise ValueError("derivative 'mp4' cannot be made from AUDIO recordings")
        return self

    @property
    def delete_source_after_days(self) -> int | None:
        """Days after ARCHIVED when the source copy may go; None = never."""
        if self.delete_source == "never":
            return None
        if self.delete_source == "immediately":
            return 0
        m = _DELETE_AFTER.fullmatch(self.delete_source)
        return int(m.group(1)) if m else None

    def summary(self) -> str:
        """One line for ``retention explain`` and plans."""
        lock = "no object lock"
        if self.object_lock_mode:
            when = "retain-until at upload" if self.set_retain_until_on_upload else "no date"
            need = ", required" if self.object_lock_required else ""
            lock = f"object lock {self.object_lock_mode} ({when}{need})"
        storage: str = self.storage_class
        if self.transition_after_days is not None:
            storage = f"STANDARD, {self.storage_class} after {self.transition_after_days}d"
        return (
            f"keep {self.retention}{' (statutory)' if self.statutory else ''}; {lock}; "
            f"source copy: delete {self.delete_source}; storage {storage}; "
            f"derivative {self.derivative}"
        )


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    # What an erasure request does with the other legs (the other participants' recordings)
    # of the person's conversations: "keep" them (the default: they are other people's
    # records too, and an agent's leg is the company's) or "erase" them with the person's own.
    erasure_other_legs: Literal["keep", "erase"] = "keep"
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _rules_in_order(self) -> Policy:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"rule name {rule.name!r} is used twice; names must be unique")
            seen.add(rule.name)
        for rule in self.rules[:-1]:
            if rule.match.is_catch_all:
                raise ValueError(
                    f"rule {rule.name!r} matches everything, so the rules after it can never "
                    "apply; move it to the end"
                )
        if not self.rules[-1].match.is_catch_all:
            raise ValueError(
                f"the last rule ({self.rules[-1].name!r}) must be a catch-all with no match keys, "
                "so that every recording has a rule"
            )
        return self

    @classmethod
    def load(cls, path: Path | None = None) -> Policy:
        """The policy at ``path``, or the built-in default; any problem is one ConfigError line."""
        if path is None:
            source = resources.files("models.policy").joinpath(DEFAULT_POLICY_RESOURCE)
            return cls.loads(source.read_text(encoding="utf-8"), source=DEFAULT_POLICY_RESOURCE)
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(
                f"{path}: cannot read the policy file: {reason} "
                "(RECVAULT_POLICY_FILE must name a readable TOML file)"
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: the policy file is not UTF-8 text") from None
        return cls.loads(text, source=str(path))

    @classmethod
    def loads(cls, text: str, *, source: str = "policy.toml") -> Policy:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{source}: {describe_policy_error(exc, data)}") from None

    @property
    def requires_object_lock(self) -> bool:
        """True when a run must refuse a bucket without Object Lock."""
        return any(rule.object_lock_required for rule in self.rules)

    def get(self, name: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.name == name), None)

    def match(self, facts: RecordingFacts) -> RuleMatch:
        for index, rule in enumerate(self.rules):
            checks = _check_rule(rule, facts)
            if all(ok for ok, _ in checks):
                reasons = [text for _, text in checks] or ["catch-all: no match keys"]
                return RuleMatch(rule=rule, index=index, reasons=reasons)
        # The validator guarantees a final catch-all, so this is a programming error.
        raise ConfigError("the policy has no rule for this recording (no catch-all rule)")

    def explain(self, facts: RecordingFacts) -> list[str]:
        """Each rule in order with why it did or did not match; the winner's effect last."""
        lines: list[str] = []
        winner: RuleMatch | None = None
        for index, rule in enumerate(self.rules):
            label = f"rule {index + 1} {rule.name!r}"
            if winner is not None:
                lines.append(f"{label}: not tried (rule {winner.index + 1} matched first)")
                continue
            checks = _check_rule(rule, facts)
            texts = "; ".join(text for _, text in checks)
            if all(ok for ok, _ in checks):
                winner = RuleMatch(rule=rule, index=index, reasons=[text for _, text in checks])
                lines.append(f"{label}: MATCH: {texts or 'catch-all: no match keys'}")
            else:
                lines.append(f"{label}: no match: {texts}")
        if winner is not None:
            until = winner.rule.retention.after(facts.started_at)
            lines.append(
                f"=> {winner.rule.name!r}: {winner.rule.summary()}; retain until {until:%Y-%m-%d}"
            )
        return lines


@dataclass(frozen=True)
class RuleMatch:
    rule: Rule
    index: int
    reasons: list[str]


def describe_policy_error(exc: ValidationError, data: Mapping[str, Any]) -> str:
    """pydantic's report as one line: ``rule 'mifid' retention: <what is wrong>``."""
    # A rule that fails validation also makes pydantic call the non-empty list "too short".
    errors = [
        e for e in exc.errors() if not (e["type"] == "too_short" and e["input"])
    ] or exc.errors()
    first = errors[0]
    loc = list(first["loc"])
    where = ""
    model: type[BaseModel] = Policy
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        where, loc, model = _rule_label(data, loc[1]), loc[2:], Rule
        if loc and loc[0] == "match":
            where, loc, model = where + " match.", loc[1:], Match
        elif loc:
            where += " "
    field = ".".join(str(part) for part in loc if not isinstance(part, int))
    msg = str(first["msg"]).removeprefix("Value error, ")
    kind = first["type"]
    if kind == "extra_forbidden":
        msg = f"unknown key (known keys: {', '.join(model.model_fields)})"
    elif kind == "missing":
        msg = "is missing (required)"
    elif kind == "too_short":
        msg = "must list at least one rule"
    elif kind != "value_error":
        msg = f"{msg.replace('tuple', 'list')}, got {first.get('input')!r}"
    text = f"{where}{field}: {msg}" if field else f"{where}: {msg}" if where else msg
    more = len(errors) - 1
    return f"{text} (and {more} more problem{'s' if more > 1 else ''})" if more else text


def _rule_label(data: Mapping[str, Any], index: int) -> str:
    rules = data.get("rules")
    if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict):
        name = rules[index].get("name")
        if isinstance(name, str) and name.strip():
            return f"rule {name.strip()!r}"
    return f"rule #{index + 1}"


# --- matching ----------------------------------------------------------------------------------


def _check_rule(rule: Rule, facts: RecordingFacts) -> list[tuple[bool, str]]:
    m = rule.match
    checks: list[tuple[bool, str]] = []
    for key, have in (
        ("media_type", facts.media_type),
        ("direction", facts.direction),
        ("participant_type", facts.participant_type),
    ):
        want: tuple[str, ...] | None = getattr(m, key)
        if want is None:
            continue
        wanted = [str(w) for w in want]
        ok = have is not None and have.casefold() in {w.casefold() for w in wanted}
        verb = "matches" if ok else "not in"
        checks.append((ok, f"{key} {have or '(none)'} {verb} {wanted}"))
    for key, values, wanted_set in (
        ("queue", facts.queues, m.queue),
        ("tags", facts.tags, m.tags),
    ):
        if wanted_set is None:
            continue
        wanted = list(wanted_set)
        folded = {w.casefold() for w in wanted}
        hits = sorted(v for v in values if v.casefold() in folded)
        if hits:
            checks.append((True, f"{key} {hits} matches {wanted}"))
        else:
            checks.append((False, f"{key} {sorted(values)} has none of {wanted}"))
    return checks
