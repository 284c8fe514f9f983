"""Settings: defaults from config/verbatim.toml, overridden by environment variables, then by flags."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.abstention import AbstentionError, AbstentionModel
from retrieval.parameters import FEATURES, IndexParameters, RankingParameters

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "verbatim.toml"
ENGINES = ("auto", "rank-bm25", "bm25s")
TUNED = "tuned.toml"  # written by `verbatim tune` beside the main settings file


class SettingsError(Exception):
    """A setting is missing, unknown or has a wrong value; the message names it."""


@dataclass(frozen=True)
class TelegramSettings:
    """What the Telegram bot needs; the token is kept out of repr so it never reaches a log."""

    token: str | None = field(default=None, repr=False)
    api_base_url: str = "https://api.telegram.org/bot"
    allowed_users: frozenset[int] = frozenset()
    allowed_chats: frozenset[int] = frozenset()
    questions_per_minute: int = 12


@dataclass(frozen=True)
class Settings:
    """Everything the entry points need, validated once."""

    corpus: Path
    index_dir: Path
    top_k: int = 3
    max_question_chars: int = 1000
    index: IndexParameters = field(default_factory=IndexParameters)
    ranking: RankingParameters = field(default_factory=RankingParameters)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)


# (section, key) -> expected type. Floats accept ints; lists hold ints.
_SCHEMA: dict[tuple[str, str], type] = {
    ("corpus", "path"): str,
    ("corpus", "index_dir"): str,
    ("answers", "top_k"): int,
    ("answers", "max_question_chars"): int,
    ("index", "engine"): str,
    ("index", "auto_threshold"): int,
    ("index", "k1"): float,
    ("index", "b"): float,
    ("index", "max_sentence_chars"): int,
    ("index", "semantic"): bool,
    ("index", "semantic_adapter"): str,
    ("index", "semantic_max_sentences"): int,
    ("index", "token_dimensions"): int,
    ("ranking", "candidates"): int,
    ("ranking", "paragraphs"): int,
    ("ranking", "semantic_candidates"): int,
    ("ranking", "abstain_threshold"): float,
    ("ranking", "evidence_floor"): float,
    ("ranking", "duplicate_similarity"): float,
    ("ranking", "confidence_high"): float,
    ("ranking", "confidence_medium"): float,
    ("ranking", "lexical_confidence_high"): float,
    ("ranking", "lexical_confidence_medium"): float,
    ("telegram", "token_file"): str,
    ("telegram", "api_base_url"): str,
    ("telegram", "allowed_users"): list,
    ("telegram", "allowed_chats"): list,
    ("telegram", "questions_per_minute"): int,
}


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    flags: Mapping[str, str] | None = None,
) -> Settings:
    """Read the TOML defaults, apply VERBATIM_* variables and then flags ("section.key" -> value).

    `flags` names the command-line flag behind each override, for error messages."""
    env = os.environ if env is None else env
    path = Path(env.get("VERBATIM_CONFIG") or config_file or DEFAULT_CONFIG)
    raw = _read_toml(path)
    tuned = path.parent / TUNED
    if tuned.exists():  # values chosen by `verbatim tune`; the main file's own values win
        for section, table in _read_toml(tuned).items():
            base_table = raw.setdefault(section, {})
            if isinstance(table, dict) and isinstance(base_table, dict):
                for key, value in table.items():
                    base_table.setdefault(key, value)
    values: dict[tuple[str, str], Any] = {}
    tables: dict[str, dict[str, float]] = {}
    for section, table in raw.items():
        if not isinstance(table, dict):
            raise SettingsError(f"{path}: '{section}' must be a [section]")
        for key, value in table.items():
            if section == "ranking" and key in ("weights", "lexical_weights"):
                tables[key] = _weights(value, f"{path}: [ranking.{key}]")
                continue
            if section == "ranking" and key in ("abstention", "lexical_abstention"):
                tables[key] = _abstention(value, f"{path}: [ranking.{key}]")
                continue
            values[(section, key)] = _check(section, key, value, f"{path}: {section}.{key}")
    base = path.parent
    for (section, key), value in list(values.items()):
        if key in ("path", "index_dir", "semantic_adapter") and value:
            values[(section, key)] = str((base / value).resolve())
        if key == "token_file" and value:
            values[(section, key)] = str((base / value).resolve())
    _check_variables(env)
    for (section, key), kind in _SCHEMA.items():
        name = _variable(section, key)
        if name in env:
            values[(section, key)] = _check(section, key, _parse_env(env[name], kind, name), name)
    if env.get("TELEGRAM_API_BASE_URL"):
        url = env["TELEGRAM_API_BASE_URL"]
        values[("telegram", "api_base_url")] = _check("telegram", "api_base_url", url, "TELEGRAM_API_BASE_URL")
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        flag = (flags or {}).get(dotted, f"--{key.replace('_', '-')}")
        values[(section, key)] = _check(section, key, value, flag)
    return _build(values, tables, env)


def _variable(section: str, key: str) -> str:
    """The environment variable overriding a setting: VERBATIM_<SECTION>_<KEY>."""
    return f"VERBATIM_{section.upper()}_{key.upper()}"


def _check_variables(env: Mapping[str, str]) -> None:
    """A VERBATIM_* variable that names no setting is a typo ("VERBATIM_ANSWER_TOP_K"): say so rather than
    silently run with the default it meant to change."""
    known = sorted({_variable(section, key) for section, key in _SCHEMA} | {"VERBATIM_CONFIG"})
    for name in sorted(env):
        if name.startswith("VERBATIM_") and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
            hint = f"did you mean {close[0]}?" if close else "names are VERBATIM_<SECTION>_<KEY>"
            raise SettingsError(f"{name}: unknown setting ({hint})")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as error:
        raise SettingsError(f"configuration file not found: {path}") from error
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"cannot read configuration {path}: {error}") from error


def _check(section: str, key: str, value: Any, where: str) -> Any:
    kind = _SCHEMA.get((section, key))
    if kind is None:
        raise SettingsError(f"{where}: unknown setting '{section}.{key}'")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise SettingsError(f"{where}: expected {kind.__name__}, got {value!r}")
    if isinstance(value, list) and not all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        raise SettingsError(f"{where}: expected a list of numeric ids, got {value!r}")
    _check_range(section, key, value, where)
    return value


_SHARES = {"b", "duplicate_similarity", "evidence_floor", "confidence_high", "confidence_medium"}
_SHARES |= {"lexical_confidence_high", "lexical_confidence_medium"}


def _check_range(section: str, key: str, value: Any, where: str) -> None:
    positive = {"top_k", "max_question_chars", "candidates", "paragraphs", "max_sentence_chars"}
    positive |= {"questions_per_minute", "auto_threshold"}
    if key in positive and value < 1:
        raise SettingsError(f"{where}: must be at least 1, got {value}")
    if key == "max_sentence_chars" and value < 100:  # shorter quotes would cut most sentences to pieces
        raise SettingsError(f"{where}: must be at least 100, got {value}")
    if key == "token_dimensions" and not 0 <= value <= 384:  # MiniLM's own dimensions
        raise SettingsError(f"{where}: must be between 0 and 384, got {value}")
    if key == "semantic_candidates" and value < 0:
        raise SettingsError(f"{where}: must be at least 0, got {value}")
    if key == "top_k" and value > 50:
        raise SettingsError(f"{where}: must be at most 50, got {value}")
    if key == "k1" and not 0 < value <= 10:  # k1 = 0 makes BM25 divide 0 by 0 for empty sentences
        raise SettingsError(f"{where}: must be above 0 and at most 10, got {value}")
    if key == "abstain_threshold" and not 0 <= value < 1:  # a probability; 1 would abstain on everything
        raise SettingsError(f"{where}: must be at least 0 and below 1, got {value}")
    if key in _SHARES and not 0 <= value <= 1:
        raise SettingsError(f"{where}: must be between 0 and 1, got {value}")
    if key == "engine" and value not in ENGINES:
        raise SettingsError(f"{where}: must be one of {', '.join(ENGINES)}, got {value!r}")
    if key in ("path", "index_dir") and not value:
        raise SettingsError(f"{where}: must not be empty")
    if key == "api_base_url" and not value.startswith(("http://", "https://")):
        raise SettingsError(f"{where}: must be an http(s) URL, got {value!r}")
    if key == "api_base_url" and not value.endswith("/bot"):  # the client appends the token to it
        raise SettingsError(f"{where}: must end in /bot (as https://api.telegram.org/bot does), got {value!r}")


def _parse_env(text: str, kind: type, name: str) -> Any:
    try:
        if kind is bool:
            if text.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.strip().lower() in ("true", "1", "yes")
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if kind is list:
            return [int(part) for part in text.replace(",", " ").split()]
    except ValueError as error:
        raise SettingsError(f"{name}: expected {kind.__name__}, got {text!r}") from error
    return text


def _weights(table: Any, where: str) -> dict[str, float]:
    if not isinstance(table, dict):
        raise SettingsError(f"{where}: must be a table of feature = weight")
    weights = dict.fromkeys(FEATURES, 0.0)
    for name, value in table.items():
        if name not in FEATURES:
            raise SettingsError(f"{where}: unknown feature '{name}' (known: {', '.join(FEATURES)})")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"{where}: {name} must be a number, got {value!r}")
        weights[name] = float(value)
    return weights


def _abstention(table: Any, where: str) -> dict[str, float]:
    if not isinstance(table, dict):
        raise SettingsError(f"{where}: must be a table of feature = weight (and bias)")
    try:
        AbstentionModel.from_table(table, 0.0)
    except AbstentionError as error:
        raise SettingsError(f"{where}: {error}") from error
    return {name: float(value) for name, value in table.items()}


def _read_token(values: Mapping[tuple[str, str], Any], env: Mapping[str, str]) -> str | None:
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if token:
        return token
    token_file = values.get(("telegram", "token_file"), "")
    if not token_file:
        return None
    try:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"telegram.token_file: cannot read {token_file}: {error.__class__.__name__}") from error
    if not token:
        raise SettingsError(f"telegram.token_file: {token_file} is empty")
    return token


def _build(
    values: Mapping[tuple[str, str], Any], tables: Mapping[str, dict[str, float]], env: Mapping[str, str]
) -> Settings:
    def get(section: str, key: str, default: Any) -> Any:
        return values.get((section, key), default)

    adapter = get("index", "semantic_adapter", "")
    if adapter and not Path(adapter).is_file():
        raise SettingsError(f"index.semantic_adapter: no such file: {adapter}")
    index = IndexParameters(
        engine=get("index", "engine", "auto"),
        k1=get("index", "k1", 1.2),
        b=get("index", "b", 0.75),
        auto_threshold=get("index", "auto_threshold", 50_000),
        max_sentence_chars=get("index", "max_sentence_chars", 400),
        semantic=get("index", "semantic", True),
        semantic_adapter=adapter,
        semantic_max_sentences=get("index", "semantic_max_sentences", 20_000),
        token_dimensions=get("index", "token_dimensions", 128),
    )
    defaults = RankingParameters()
    ranking = RankingParameters(
        weights=tables.get("weights", defaults.weights),
        lexical_weights=tables.get("lexical_weights", defaults.lexical_weights),
        candidates=get("ranking", "candidates", defaults.candidates),
        paragraphs=get("ranking", "paragraphs", defaults.paragraphs),
        semantic_candidates=get("ranking", "semantic_candidates", defaults.semantic_candidates),
        abstain_threshold=get("ranking", "abstain_threshold", defaults.abstain_threshold),
        evidence_floor=get("ranking", "evidence_floor", defaults.evidence_floor),
        abstention=tables.get("abstention", defaults.abstention),
        lexical_abstention=tables.get("lexical_abstention", defaults.lexical_abstention),
        duplicate_similarity=get("ranking", "duplicate_similarity", defaults.duplicate_similarity),
        confidence_high=get("ranking", "confidence_high", defaults.confidence_high),
        confidence_medium=get("ranking", "confidence_medium", defaults.confidence_medium),
        lexical_confidence_high=get("ranking", "lexical_confidence_high", defaults.lexical_confidence_high),
        lexical_confidence_medium=get("ranking", "lexical_confidence_medium", defaults.lexical_confidence_medium),
    )
    for prefix in ("", "lexical_"):
        medium, high = getattr(ranking, f"{prefix}confidence_medium"), getattr(ranking, f"{prefix}confidence_high")
        if medium > high:
            raise SettingsError(
                f"ranking.{prefix}confidence_medium ({medium}) must not exceed ranking.{prefix}confidence_high ({high})"
            )
    telegram = TelegramSettings(
        token=_read_token(values, env),
        api_base_url=get("telegram", "api_base_url", TelegramSettings.api_base_url),
        allowed_users=frozenset(get("telegram", "allowed_users", [])),
        allowed_chats=frozenset(get("telegram", "allowed_chats", [])),
        questions_per_minute=get("telegram", "questions_per_minute", 12),
    )
    return Settings(
        corpus=Path(get("corpus", "path", "seeds")),
        index_dir=Path(get("corpus", "index_dir", ".verbatim-index")),
        top_k=get("answers", "top_k", 3),
        max_question_chars=get("answers", "max_question_chars", 1000),
        index=index,
        ranking=ranking,
        telegram=telegram,
    )
