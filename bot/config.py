"""Settings: one object built from a TOML file, defaults and the environment.

This is the only module that reads `os.environ`. Secrets (the SMTP password,
the Discord token) come only from the environment, never from the file, so the
file can be world-readable and kept in version control.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from abiwatch.db import DEFAULT_DB

ENV_CONFIG = "ABIWATCH_CONFIG"
ENV_DB = "ABIWATCH_DB"
ENV_SMTP_PASSWORD = "ABIWATCH_SMTP_PASSWORD"
ENV_DISCORD_TOKEN = "DISCORD_TOKEN"
# Non-secret SMTP settings may also come from the environment (containers set
# them that way); they override the file.
ENV_SMTP = {"host": "ABIWATCH_SMTP_HOST", "port": "ABIWATCH_SMTP_PORT",
            "security": "ABIWATCH_SMTP_SECURITY", "username": "ABIWATCH_SMTP_USERNAME"}
SECURITY_MODES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}


class ConfigError(ValueError):
    """The configuration cannot be used; `problems` lists each thing to fix."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class DatabaseSettings:
    path: str = DEFAULT_DB


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 0  # 0: the usual port for `security` (25, 587 or 465)
    security: str = "none"
    username: str = ""
    timeout: float = 30.0
    ca_file: str = ""
    verify: bool = True
    password: str = field(default="", repr=False)  # environment only

    @property
    def effective_port(self) -> int:
        """Return the port to connect to."""
        return self.port or DEFAULT_PORTS.get(self.security, 25)


@dataclass(frozen=True)
class DigestSettings:
    sender: str = "abiwatch <abiwatch@localhost>"
    list_id: str = "abiwatch weekly digest <digest.abiwatch.localhost>"
    unsubscribe: str = ""  # empty: mailto:<sender>?subject=unsubscribe
    subject_prefix: str = "[abiwatch]"
    maintainers: tuple[str, ...] = ()
    interfaces: tuple[str, ...] = ()  # for --to recipients; empty means all
    max_open: int = 10  # still-open concerns listed in one digest, oldest first
    # "Still open" lists concerns on series with mail in this many days before the
    # digest's end; older open concerns are one count line.
    active_days: int = 90


@dataclass(frozen=True)
class Subscriber:
    email: str
    name: str = ""
    interfaces: tuple[str, ...] = ()  # empty means all


@dataclass(frozen=True)
class SqlSettings:
    time_limit_ms: int = 5000
    max_rows: int = 1000


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8001
    time_limit_ms: int = 2000
    max_returned_rows: int = 1000


@dataclass(frozen=True)
class CorrectionsSettings:
    # Addresses whose `#abiwatch:` mail commands are applied to any concern (a concern's
    # raiser and its patch's author may always correct it).
    trusted: tuple[str, ...] = ()
    # Discord roles (names or ids) whose members may correct concerns from Discord.
    discord_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = DatabaseSettings()
    smtp: SmtpSettings = SmtpSettings()
    digest: DigestSettings = DigestSettings()
    sql: SqlSettings = SqlSettings()
    serve: ServeSettings = ServeSettings()
    corrections: CorrectionsSettings = CorrectionsSettings()
    subscribers: tuple[Subscriber, ...] = ()
    discord_token: str = field(default="", repr=False)  # environment only
    source: str = ""  # the file read, or "" for defaults only


# TOML key -> dataclass field where they differ (`from` is a Python keyword).
_RENAMES = {("digest", "from"): "sender"}
_SECTIONS: dict[str, type] = {"database": DatabaseSettings, "smtp": SmtpSettings,
                              "digest": DigestSettings, "sql": SqlSettings,
                              "serve": ServeSettings, "corrections": CorrectionsSettings}
_SECRETS = {("smtp", "password"): ENV_SMTP_PASSWORD, ("discord", "token"): ENV_DISCORD_TOKEN}
_TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false",
               str: "a text in quotes", tuple: "a list of texts, like [\"a\", \"b\"]"}


def _keys(section: str) -> dict[str, Any]:
    """Return TOML key -> dataclass field of a section, without environment-only fields."""
    out = {}
    for f in fields(_SECTIONS[section]):
        if (section, f.name) in _SECRETS:
            continue
        key = next((k for (s, k), v in _RENAMES.items() if s == section and v == f.name), f.name)
        out[key] = f
    return out


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _coerce(where: str, value: Any, default: Any, problems: list[str]) -> Any:
    """Return value converted to the type of default, or default after noting a problem."""
    kind = type(default)
    if kind is tuple:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, kind):
        return value
    problems.append(f"{where} must be {_TYPE_WORDS[kind]} (got {value!r})")
    return default


def _valid_address(addr: str) -> bool:
    _, email = parseaddr(addr)
    local, _, domain = email.rpartition("@")
    return bool(local) and bool(domain) and " " not in email


def _section(name: str, raw: Any, problems: list[str]) -> Any:
    cls = _SECTIONS[name]
    if not isinstance(raw, dict):
        problems.append(f"[{name}] must be a table of settings")
        return cls()
    known = _keys(name)
    values = {}
    for key, value in raw.items():
        if (name, key) in _SECRETS:
            problems.append(f"{name}.{key}: secrets are not read from the config file; "
                            f"set {_SECRETS[(name, key)]} in the environment instead "
                            "(for systemd: in the EnvironmentFile)")
        elif key not in known:
            problems.append(f"unknown setting '{name}.{key}'{_suggest(key, known)}")
        else:
            f = known[key]
            values[f.name] = _coerce(f"{name}.{key}", value, f.default, problems)
    return cls(**values)


def _subscribers(raw: Any, problems: list[str]) -> tuple[Subscriber, ...]:
    if not isinstance(raw, list):
        problems.append("subscribers must be written as [[subscribers]] tables")
        return ()
    out, seen = [], set()
    for n, entry in enumerate(raw, 1):
        where = f"subscriber #{n}"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a [[subscribers]] table")
            continue
        for key in entry:
            if key not in ("email", "name", "interfaces"):
                problems.append(f"unknown setting '{key}' in {where}"
                                f"{_suggest(key, ['email', 'name', 'interfaces'])}")
        email = entry.get("email")
        if not isinstance(email, str) or not _valid_address(email):
            problems.append(f"{where} needs email = \"someone@example.org\" (got {email!r})")
            continue
        if email.lower() in seen:
            problems.append(f"{where}: {email} is listed twice")
        seen.add(email.lower())
        ifs = _coerce(f"{where} ({email}) interfaces", entry.get("interfaces", []), (), problems)
        name = _coerce(f"{where} ({email}) name", entry.get("name", ""), "", problems)
        out.append(Subscriber(email, name, ifs))
    return tuple(out)


def _environment(s: Settings, env: Mapping[str, str], problems: list[str]) -> Settings:
    smtp = s.smtp
    for key, var in ENV_SMTP.items():
        if env.get(var):
            f = _keys("smtp")[key]
            value: Any = env[var]
            if f.default.__class__ is int:
                try:
                    value = int(value)
                except ValueError:
                    problems.append(f"{var} must be a whole number (got {value!r})")
                    continue
            smtp = replace(smtp, **{f.name: value})
    smtp = replace(smtp, password=env.get(ENV_SMTP_PASSWORD, ""))
    database = s.database
    if env.get(ENV_DB):
        database = replace(database, path=env[ENV_DB])
    return replace(s, smtp=smtp, database=database,
                   discord_token=env.get(ENV_DISCORD_TOKEN, "").strip())


def _validate(s: Settings, problems: list[str]) -> None:
    if s.smtp.security not in SECURITY_MODES:
        problems.append(f"smtp.security must be one of {', '.join(SECURITY_MODES)} "
                        f"(got {s.smtp.security!r}){_suggest(s.smtp.security, SECURITY_MODES)}")
    for where, port in (("smtp.port", s.smtp.port), ("serve.port", s.serve.port)):
        if not 0 <= port <= 65535 or (where == "serve.port" and port == 0):
            problems.append(f"{where} must be between 1 and 65535 (got {port})")
    if s.smtp.ca_file and not Path(s.smtp.ca_file).is_file():
        problems.append(f"smtp.ca_file {s.smtp.ca_file} does not exist")
    if not _valid_address(s.digest.sender):
        problems.append(f"digest.from must be an address like 'abiwatch <bot@example.org>' "
                        f"(got {s.digest.sender!r})")
    for where, addrs in (("digest.maintainers", s.digest.maintainers),
                         ("corrections.trusted", s.corrections.trusted)):
        for addr in addrs:
            if not _valid_address(addr):
                problems.append(f"{where}: {addr!r} is not a mail address")
    for role in s.corrections.discord_roles:
        if not role.strip():
            problems.append("corrections.discord_roles: a role name cannot be empty")
    if "<" not in s.digest.list_id or not s.digest.list_id.rstrip().endswith(">"):
        problems.append("digest.list_id must look like 'description <id.example.org>' "
                        f"(RFC 2919; got {s.digest.list_id!r})")
    if s.digest.unsubscribe and ":" not in s.digest.unsubscribe:
        problems.append("digest.unsubscribe must be a mailto: or https: URI "
                        f"(got {s.digest.unsubscribe!r})")
    for where, n in (("digest.max_open", s.digest.max_open),
                     ("digest.active_days", s.digest.active_days), ("sql.time_limit_ms",
                     s.sql.time_limit_ms), ("sql.max_rows", s.sql.max_rows),
                     ("serve.time_limit_ms", s.serve.time_limit_ms),
                     ("serve.max_returned_rows", s.serve.max_returned_rows)):
        if n <= 0:
            problems.append(f"{where} must be more than 0 (got {n})")


def config_path(explicit: str | os.PathLike | None = None,
                environ: Mapping[str, str] | None = None) -> Path | None:
    """Return the config file to read: the explicit one, else $ABIWATCH_CONFIG, else None."""
    env = os.environ if environ is None else environ
    chosen = explicit or env.get(ENV_CONFIG)
    return Path(chosen) if chosen else None


def read_settings(path: str | os.PathLike | None = None,
                  environ: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
    """Return the settings and the list of problems found (empty when all is well)."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    file = config_path(path, env)
    data: dict[str, Any] = {}
    if file is not None:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            problems.append(f"config file {file} does not exist (given by "
                            f"{'--config' if path else ENV_CONFIG})")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"config file {file} is not valid TOML: {exc}")
        except OSError as exc:
            problems.append(f"config file {file} cannot be read: {exc.strerror}")
    parts: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            parts[key] = _section(key, value, problems)
        elif key == "subscribers":
            parts["subscribers"] = _subscribers(value, problems)
        elif key == "discord":
            if not isinstance(value, dict) or set(value) - {"token"}:
                problems.append("[discord] has no settings in the file; the bot reads "
                                f"{ENV_DISCORD_TOKEN} from the environment")
            elif "token" in value:
                problems.append(f"discord.token: secrets are not read from the config file; "
                                f"set {ENV_DISCORD_TOKEN} in the environment instead")
        else:
            problems.append(f"unknown section [{key}]"
                            f"{_suggest(key, [*_SECTIONS, 'subscribers'])}")
    settings = Settings(**parts, source=str(file) if file else "")
    settings = _environment(settings, env, problems)
    _validate(settings, problems)
    return settings, problems


def database_path(given: str | None, settings: Settings) -> str:
    """Return the database to use: --db (or ABIWATCH_DB) when given, else
    database.path from the settings, else the default file in the current folder."""
    return given or settings.database.path or DEFAULT_DB


def load_settings(path: str | os.PathLike | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Return the settings; raise ConfigError listing every problem if there is any."""
    settings, problems = read_settings(path, environ)
    if problems:
        raise ConfigError(problems)
    return settings


def send_problems(settings: Settings) -> list[str]:
    """Return what stops mail from being sent with these settings (empty when nothing)."""
    s = settings.smtp
    if s.username and not s.password:
        return [f"smtp.username is {s.username!r} but {ENV_SMTP_PASSWORD} is not set: put "
                "the password in the environment (never in the config file)"]
    return []


def warnings(settings: Settings) -> list[str]:
    """Return things that work but are probably not what the operator wants."""
    out = []
    s = settings.smtp
    if s.username and s.security == "none" and s.host not in ("localhost", "127.0.0.1", "::1"):
        out.append(f"smtp.security is 'none': the password would cross the network to "
                   f"{s.host} unencrypted; use 'starttls' or 'ssl'")
    if s.security != "none" and not s.verify:
        out.append("smtp.verify = false: the server's certificate is not checked")
    if settings.digest.sender.endswith("@localhost>") or settings.digest.sender.endswith(
            "@localhost"):
        out.append("digest.from is the default (abiwatch@localhost): set a real address "
                   "before mailing people")
    if not settings.discord_token:
        out.append(f"{ENV_DISCORD_TOKEN} is not set: `abiwatch bot run` will not start")
    return out


def interface_problems(settings: Settings, known: list[str]) -> list[str]:
    """Return a problem for each interface named in the settings that is not in `known`."""
    lower = {k.lower() for k in known}
    out = []
    named = [("digest.interfaces", i) for i in settings.digest.interfaces]
    named += [(f"subscriber {s.email}", i) for s in settings.subscribers for i in s.interfaces]
    for where, name in named:
        if name.lower() not in lower:
            out.append(f"{where}: unknown interface {name!r}{_suggest(name, known)}; "
                       f"known: {', '.join(known)}")
    return out
