"""Policy files: parsing, defaults, the shipped policies, and one-line validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import ConfigError
from models.policy.durations import Duration
from models.policy.rules import Policy

REPO = Path(__file__).resolve().parents[2]
CATCH_ALL = '[[rules]]\nname = "rest"\nretention = "1y"\n'


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        Policy.loads(text, source="policy.toml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("policy.toml: ")
    return message


def test_full_rule_parses() -> None:
    policy = Policy.loads(
        """
        version = 1
        [[rules]]
        name = "video"
        description = "video calls"
        retention = "P5Y"
        object_lock_mode = "compliance"
        object_lock_required = true
        delete_source = "after:30d"
        storage_class = "deep_archive"
        transition_after_days = 90
        derivative = "MP4"
        statutory = true
        [rules.match]
        media_type = "audio_and_video"
        direction = ["inbound", "OUTBOUND"]
        queue = ["fx-desk"]
        tags = "vip"
        """
        + CATCH_ALL
    )
    rule = policy.rules[0]
    assert rule.retention == Duration(years=5)
    assert rule.object_lock_mode == "COMPLIANCE"
    assert rule.set_retain_until_on_upload is True  # defaults on with a lock mode
    assert rule.delete_source_after_days == 30
    assert rule.storage_class == "DEEP_ARCHIVE"
    assert rule.derivative == "mp4"
    assert rule.match.media_type == ("AUDIO_AND_VIDEO",)
    assert rule.match.direction == ("INBOUND", "OUTBOUND")
    assert rule.match.tags == ("vip",)
    assert policy.requires_object_lock
    assert policy.get("video") is rule
    assert policy.get("nope") is None


def test_rule_defaults() -> None:
    rule = Policy.loads(CATCH_ALL).rules[0]
    assert rule.match.is_catch_all
    assert rule.object_lock_mode is None
    assert rule.set_retain_until_on_upload is False
    assert rule.object_lock_required is False
    assert rule.delete_source == "never"
    assert rule.delete_source_after_days is None
    assert rule.storage_class == "STANDARD"
    assert rule.transition_after_days is None
    assert rule.derivative == "auto"
    assert rule.statutory is False


@pytest.mark.parametrize(("text", "days"), [("never", None), ("immediately", 0), ("after:7d", 7)])
def test_delete_source_forms(text: str, days: int | None) -> None:
    rule = Policy.loads(CATCH_ALL + f'delete_source = "{text}"\n').rules[0]
    assert rule.delete_source_after_days == days


def test_lock_mode_none_spelled_out() -> None:
    rule = Policy.loads(CATCH_ALL + 'object_lock_mode = "none"\n').rules[0]
    assert rule.object_lock_mode is None
    assert rule.set_retain_until_on_upload is False


def test_governance_without_retain_until_at_upload() -> None:
    text = CATCH_ALL + 'object_lock_mode = "GOVERNANCE"\nset_retain_until_on_upload = false\n'
    rule = Policy.loads(text).rules[0]
    assert rule.object_lock_mode == "GOVERNANCE"
    assert rule.set_retain_until_on_upload is False


def test_default_policy_is_conservative() -> None:
    policy = Policy.load(None)
    assert [r.name for r in policy.rules] == ["default"]
    rule = policy.rules[0]
    assert rule.retention == Duration(years=7)
    assert rule.object_lock_mode == "GOVERNANCE"
    assert rule.set_retain_until_on_upload is True
    assert rule.object_lock_required is False
    assert not policy.requires_object_lock  # a bucket without Object Lock still works
    assert rule.delete_source_after_days is None
    assert rule.derivative == "auto"
    assert rule.statutory is False


def test_default_policy_is_package_data() -> None:
    assert (REPO / "models" / "policy" / "default_policy.toml").is_file()
    assert Policy.load(REPO / "models" / "policy" / "default_policy.toml") == Policy.load(None)


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(CATCH_ALL)
    assert Policy.load(path).rules[0].name == "rest"


def test_load_missing_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope.toml: cannot read the policy file: No such file"):
        Policy.load(path)


def test_load_directory_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the policy file"):
        Policy.load(tmp_path)


def test_load_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'# caf\xe9\n[[rules]]\nname = "a"\nretention = "1y"\n')
    with pytest.raises(ConfigError, match=r"latin1\.toml: the policy file is not UTF-8 text"):
        Policy.load(path)


def test_error_names_the_file_path(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[[rules]]\nname = "mifid"\nretention = "7 years"\n')
    with pytest.raises(ConfigError) as err:
        Policy.load(path)
    assert str(err.value) == (
        f"{path}: rule 'mifid' retention: '7 years' is not a duration like 7y or 90d"
    )


RULE = '[[rules]]\nname = "a"\nretention = "1y"\n'
TWO = '[[rules]]\nname = "a"\nretention = "1y"\n{extra}\n' + CATCH_ALL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[rules]]\nname = "mifid"\nretention = "7 years"\n',
            "rule 'mifid' retention: '7 years' is not a duration like 7y or 90d",
        ),
        (
            '[[rules]]\nname = "mifid"\nretention = 7\n',
            "rule 'mifid' retention: 7 is not a duration like 7y or 90d (write it as a quoted",
        ),
        ('[[rules]]\nname = "a"\nretention = "0d"\n', "rule 'a' retention: '0d' is zero"),
        ('[[rules]]\nname = "a"\nretention = "101y"\n', "is longer than 100 years"),
        ('[[rules]]\nname = "mifid"\n', "rule 'mifid' retention: is missing (required)"),
        ('[[rules]]\nretention = "1y"\n', "rule #1 name: is missing (required)"),
        ('[[rules]]\nname = " "\nretention = "1y"\n', "rule #1 name: must not be blank"),
        (RULE + 'retension = "2y"\n', "rule 'a' retension: unknown key (known keys: name,"),
        (RULE + 'object_lock_mode = "LEGAL"\n', "rule 'a' object_lock_mode: Input should be"),
        (RULE + 'delete_source = "after 30 days"\n', "'after 30 days' is not one of immediately"),
        (RULE + 'delete_source = "after:30"\n', "rule 'a' delete_source: 'after:30' is not"),
        (RULE + 'storage_class = "COLD"\n', "rule 'a' storage_class: Input should be 'STANDARD'"),
        (
            RULE + 'storage_class = "GLACIER"\ntransition_after_days = -1\n',
            "rule 'a' transition_after_days: Input should be greater than or equal to 0, got -1",
        ),
        (
            RULE + 'storage_class = "GLACIER"\ntransition_after_days = "30"\n',
            "rule 'a' transition_after_days: Input should be a valid integer, got '30'",
        ),
        (RULE + 'derivative = "flac"\n', "rule 'a' derivative: Input should be 'none', 'auto'"),
        (RULE + 'statutory = "yes"\n', "rule 'a' statutory: Input should be a valid boolean"),
        (
            RULE + "set_retain_until_on_upload = true\n",
            "rule 'a': set_retain_until_on_upload = true needs an object_lock_mode",
        ),
        (
            RULE + "object_lock_required = true\n",
            "rule 'a': object_lock_required = true needs an object_lock_mode",
        ),
        (
            RULE + "transition_after_days = 30\n",
            "rule 'a': transition_after_days needs a storage_class to move to",
        ),
        # Finding 11: absurd numbers are rejected here, not by an OverflowError at run time.
        (
            RULE + 'delete_source = "after:99999999999999999999d"\n',
            "rule 'a' delete_source: 'after:99999999999999999999d' is longer than 100 years",
        ),
        (
            RULE + 'storage_class = "GLACIER"\ntransition_after_days = 99999999999999999\n',
            "rule 'a' transition_after_days: Input should be less than or equal to 36600",
        ),
        # Finding 11: a COMPLIANCE lock without a retain-until date protects nothing.
        (
            RULE + 'object_lock_mode = "COMPLIANCE"\nset_retain_until_on_upload = false\n',
            "rule 'a': object_lock_mode COMPLIANCE with set_retain_until_on_upload = false "
            "locks nothing",
        ),
        # Finding 2: the archive may not expire while the source copy is still due for deletion.
        (
            RULE.replace('"1y"', '"1d"') + 'delete_source = "after:30d"\n',
            "rule 'a': retention 1d is shorter than delete_source after:30d",
        ),
        (
            RULE + 'delete_source = "after:366d"\n',
            "rule 'a': retention 1y is shorter than delete_source after:366d",
        ),
        (
            TWO.format(extra='derivative = "mp4"\nmatch = { media_type = "AUDIO" }'),
            "rule 'a': derivative 'mp4' cannot be made from AUDIO recordings",
        ),
        (
            TWO.format(extra='match = { queues = ["x"] }'),
            "rule 'a' match.queues: unknown key (known keys: media_type, direction,",
        ),
        (
            TWO.format(extra='match = { media_type = ["VIDEO"] }'),
            "rule 'a' match.media_type: Input should be 'AUDIO' or 'AUDIO_AND_VIDEO', got 'VIDEO'",
        ),
        (
            TWO.format(extra="match = { tags = [] }"),
            "rule 'a' match.tags: is empty; list at least one value or leave the key out",
        ),
        (
            RULE.replace('"a"', '"first"') + 'match = { direction = "INBOUND" }\n',
            "the last rule ('first') must be a catch-all with no match keys",
        ),
        (RULE + CATCH_ALL, "rule 'a' matches everything, so the rules after it can never apply"),
        (
            TWO.format(extra='match = { direction = "INBOUND" }').replace('"rest"', '"a"'),
            "rule name 'a' is used twice",
        ),
        ("version = 1\n", "rules: is missing (required)"),
        ("rules = []\n", "rules: must list at least one rule"),
        ('rules = "x"\n', "rules: Input should be a valid list, got 'x'"),
        ("version = 2\n" + RULE, "version: Input should be 1, got 2"),
        ("rule = 1\n" + RULE, "rule: unknown key (known keys: version, erasure_other_legs, rules)"),
        ('[[rules]\nname = "a"\n', "not valid TOML: Expected ']]'"),
        (
            RULE + 'storage_class = "COLD"\nderivative = "flac"\n',
            "rule 'a' storage_class: Input should be 'STANDARD'",
        ),
    ],
)
def test_validation_errors_are_one_line(text: str, expected: str) -> None:
    assert expected in _error(text)


def test_retention_as_long_as_the_source_deletion_delay_is_accepted() -> None:
    policy = Policy.loads(RULE + 'delete_source = "after:365d"\n')
    assert policy.rules[0].delete_source_after_days == 365
    policy = Policy.loads(RULE.replace('"1y"', '"30d"') + 'delete_source = "after:30d"\n')
    assert policy.rules[0].delete_source_after_days == 30


def test_more_problems_are_counted() -> None:
    message = _error(RULE + 'storage_class = "COLD"\nderivative = "flac"\n')
    assert message.endswith("(and 1 more problem)")


def test_example_policies_parse() -> None:
    mifid = Policy.load(REPO / "examples" / "policy-mifid2.toml")
    gdpr = Policy.load(REPO / "examples" / "policy-gdpr-support.toml")
    assert mifid.requires_object_lock
    assert not gdpr.requires_object_lock
    for rule in mifid.rules:
        assert rule.object_lock_mode == "COMPLIANCE"
        assert rule.statutory
        assert rule.delete_source_after_days == 30
        assert (rule.storage_class, rule.transition_after_days) == ("DEEP_ARCHIVE", 90)
    assert mifid.rules[-1].retention == Duration(years=5)
    for rule in gdpr.rules:
        assert rule.object_lock_mode == "GOVERNANCE"
        assert not rule.statutory
        assert rule.delete_source_after_days == 0
        assert rule.derivative == "opus"
    assert [r.retention for r in gdpr.rules] == [Duration(years=1), Duration(days=90)]
