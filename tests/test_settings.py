"""Settings: shipped defaults, environment and flag overrides, and clear errors naming the setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from retrieval.parameters import FEATURES
from tests.conftest import ROOT


def test_shipped_defaults_load_with_tuned_values() -> None:
    settings = load_settings(env={})
    assert settings.corpus == ROOT / "seeds"
    assert settings.top_k == 3
    assert set(settings.ranking.weights) == set(FEATURES)
    tuned = (ROOT / "config" / "tuned.toml").read_text()
    assert f"k1 = {settings.index.k1}" in tuned and f"abstain_threshold = {settings.ranking.abstain_threshold}" in tuned
    assert settings.telegram.token is None
    # The fine-tuned model's adapter, resolved against config/ wherever the clone lies.
    assert settings.index.semantic_adapter == str(ROOT / "config" / "minilm-tuned.safetensors")


def test_environment_then_flags_override() -> None:
    env = {
        "VERBATIM_ANSWERS_TOP_K": "5",
        "VERBATIM_INDEX_ENGINE": "rank-bm25",
        "VERBATIM_TELEGRAM_ALLOWED_USERS": "1, 2",
    }
    settings = load_settings(env=env, overrides={"answers.top_k": 7})
    assert settings.top_k == 7
    assert settings.index.engine == "rank-bm25"
    assert settings.telegram.allowed_users == frozenset({1, 2})


@pytest.mark.parametrize(
    ("env", "overrides", "message"),
    [
        ({"VERBATIM_ANSWERS_TOP_K": "abc"}, {}, "VERBATIM_ANSWERS_TOP_K: expected int, got 'abc'"),
        ({"VERBATIM_INDEX_B": "1.5"}, {}, "VERBATIM_INDEX_B: must be between 0 and 1, got 1.5"),
        (
            {"VERBATIM_INDEX_ENGINE": "lucene"},
            {},
            "VERBATIM_INDEX_ENGINE: must be one of auto, rank-bm25, bm25s",
        ),
        ({}, {"answers.top_k": 0}, "--top: must be at least 1, got 0"),
        # A misspelt variable would otherwise leave the default in place without a word.
        (
            {"VERBATIM_ANSWER_TOP_K": "5"},
            {},
            "VERBATIM_ANSWER_TOP_K: unknown setting (did you mean VERBATIM_ANSWERS_TOP_K?)",
        ),
        ({"VERBATIM_COLOUR": "1"}, {}, "VERBATIM_COLOUR: unknown setting (names are VERBATIM_<SECTION>_<KEY>)"),
        ({"TELEGRAM_API_BASE_URL": "ftp://x"}, {}, "must be an http(s) URL"),
        ({"TELEGRAM_API_BASE_URL": "http://127.0.0.1:1"}, {}, "must end in /bot (as https://api.telegram.org/bot"),
        ({"VERBATIM_RANKING_CONFIDENCE_HIGH": "1.2"}, {}, "must be between 0 and 1, got 1.2"),
        ({"VERBATIM_RANKING_SEMANTIC_CANDIDATES": "-1"}, {}, "must be at least 0, got -1"),
        ({"VERBATIM_INDEX_TOKEN_DIMENSIONS": "512"}, {}, "must be between 0 and 384, got 512"),
        (
            {"VERBATIM_INDEX_SEMANTIC_ADAPTER": "/nowhere/adapter.safetensors"},
            {},
            "index.semantic_adapter: no such file: /nowhere/adapter.safetensors",
        ),
        (
            {"VERBATIM_RANKING_LEXICAL_CONFIDENCE_HIGH": "0.2", "VERBATIM_RANKING_LEXICAL_CONFIDENCE_MEDIUM": "0.4"},
            {},
            "ranking.lexical_confidence_medium (0.4) must not exceed ranking.lexical_confidence_high (0.2)",
        ),
        (
            {"VERBATIM_RANKING_CONFIDENCE_HIGH": "0.3", "VERBATIM_RANKING_CONFIDENCE_MEDIUM": "0.5"},
            {},
            "ranking.confidence_medium (0.5) must not exceed ranking.confidence_high (0.3)",
        ),
    ],
)
def test_wrong_values_name_the_setting(env: dict[str, str], overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(env=env, overrides=overrides, flags={"answers.top_k": "--top"})


def test_broken_config_file_names_the_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "verbatim.toml"
    bad.write_text("[answers]\ntop_k = 'three'\n")
    with pytest.raises(SettingsError, match=r"verbatim.toml: answers.top_k: expected int"):
        load_settings(bad, env={})
    bad.write_text("[answers]\ncolour = 1\n")
    with pytest.raises(SettingsError, match=r"unknown setting 'answers\.colour'"):
        load_settings(bad, env={})
    bad.write_text("[answers\n")
    with pytest.raises(SettingsError, match="cannot read configuration"):
        load_settings(bad, env={})
    with pytest.raises(SettingsError, match="configuration file not found"):
        load_settings(tmp_path / "missing.toml", env={})


def test_unknown_ranking_feature_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "verbatim.toml"
    config.write_text("[ranking.weights]\nmagic = 1.0\n")
    with pytest.raises(SettingsError, match="unknown feature 'magic'"):
        load_settings(config, env={})


def test_token_from_environment_or_file_and_never_in_repr(tmp_path: Path) -> None:
    token = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345678"
    settings = load_settings(env={"TELEGRAM_BOT_TOKEN": token})
    assert settings.telegram.token == token
    assert token not in repr(settings)
    secret = tmp_path / "token"
    secret.write_text(token + "\n")
    config = tmp_path / "verbatim.toml"
    config.write_text(f'[telegram]\ntoken_file = "{secret}"\n')
    assert load_settings(config, env={}).telegram.token == token
    secret.write_text("")
    with pytest.raises(SettingsError, match="is empty") as raised:
        load_settings(config, env={})
    assert token not in str(raised.value)
