"""The `tmfserver` console script as operators run it: help, exit codes, settings validation, check-config."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tmfserver.cli import build_parser, settings_table
from tmfserver.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
TMFSERVER = Path(sys.executable).parent / "tmfserver"  # the installed console script, not a module path


def tmfserver(*argv: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    # Only PATH-like basics from the outer environment: a stray TMF_* variable must not change the outcome.
    base = {k: v for k, v in os.environ.items() if not k.startswith("TMF_") and k not in ("PORT", "HOST")}
    base.pop("DATABASE_URL", None)
    return subprocess.run(
        [str(TMFSERVER), *argv],
        env={**base, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def subcommands(parser) -> dict:
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return dict(actions[0].choices) if actions else {}


def test_every_command_has_help() -> None:
    commands = subcommands(build_parser())
    assert {"openapi", "migrate", "serve", "dispatch", "events", "check-config"} <= set(commands)
    assert set(subcommands(commands["events"])) == {"dead-letters", "replay"}
    for argv in (["--help"], *([name, "--help"] for name in commands), ["events", "replay", "--help"]):
        result = tmfserver(*argv)
        assert result.returncode == 0, (argv, result.stderr)
        assert result.stdout.startswith("usage: tmfserver"), argv


def test_unknown_command_is_a_usage_error() -> None:
    result = tmfserver("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "command"),
    [
        ("PORT", "eighty", "serve"),
        ("PORT", "70000", "serve"),
        ("TMF_LOG_LEVEL", "loud", "migrate"),
        ("TMF_MAX_LIMIT", "-1", "serve"),
        ("TMF_TRUSTED_PROXIES", "10.0.0.0/8,not-a-network", "serve"),
        ("DATABASE_URL", "mysql://root@localhost/x", "migrate"),
        ("TMF_AUTH_MODE", "kerberos", "check-config"),
    ],
)
def test_bad_setting_stops_start_up_with_one_line_naming_it(tmp_path: Path, variable, value, command) -> None:
    database = tmp_path / "never.db"
    env = {"DATABASE_URL": f"sqlite:///{database}", variable: value}
    result = tmfserver(command, env=env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tmfserver: invalid setting {variable}")
    assert not database.exists()  # nothing ran


def test_limits_that_contradict_each_other_are_refused(tmp_path: Path) -> None:
    result = tmfserver("check-config", env={"TMF_DEFAULT_LIMIT": "50", "TMF_MAX_LIMIT": "10"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "TMF_DEFAULT_LIMIT (50) is larger than TMF_MAX_LIMIT (10)" in result.stderr


def test_check_config_masks_secrets(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": "postgresql+psycopg://app:s3cret-pw@db.internal:5432/tmf",
        "TMF_AUTH_API_KEYS": "k-very-secret:tmf.read",
        "TMF_MAX_LIMIT": "250",
    }
    result = tmfserver("check-config", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "s3cret-pw" not in result.stdout and "k-very-secret" not in result.stdout
    values = json.loads(result.stdout)
    assert values["DATABASE_URL"] == "postgresql+psycopg://app:********@db.internal:5432/tmf"
    assert values["TMF_AUTH_API_KEYS"] == "********"
    assert values["TMF_MAX_LIMIT"] == "250"
    assert set(values) == {env_name(field) for field in Settings.model_fields}

    text_output = tmfserver("check-config", env=env, cwd=tmp_path).stdout
    assert "TMF_MAX_LIMIT=250  # set" in text_output.splitlines()
    assert "TMF_DEFAULT_LIMIT=100  # default" in text_output.splitlines()
    assert "s3cret-pw" not in text_output


def test_a_bad_database_url_is_not_echoed(tmp_path: Path) -> None:
    result = tmfserver("check-config", env={"DATABASE_URL": "oracle://u:hunter2@h/db"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr and "hunter2" not in result.stderr


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TMF_MAX_LIMIT=300\nTMF_DEFAULT_LIMIT=20\n")
    values = json.loads(tmfserver("check-config", "--json", cwd=tmp_path).stdout)
    assert (values["TMF_MAX_LIMIT"], values["TMF_DEFAULT_LIMIT"]) == ("300", "20")
    values = json.loads(tmfserver("check-config", "--json", env={"TMF_MAX_LIMIT": "400"}, cwd=tmp_path).stdout)
    assert (values["TMF_MAX_LIMIT"], values["TMF_DEFAULT_LIMIT"]) == ("400", "20")
    other = tmp_path / "prod.env"
    other.write_text("TMF_MAX_LIMIT=500\n")
    values = json.loads(tmfserver("--env-file", str(other), "check-config", "--json", cwd=tmp_path).stdout)
    assert values["TMF_MAX_LIMIT"] == "500"


def test_check_config_connect_reports_an_unreachable_database(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "postgresql+psycopg://nobody:pw-x@127.0.0.1:1/none"}
    result = tmfserver("check-config", "--connect", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "database unreachable at postgresql+psycopg://nobody:********@127.0.0.1:1/none" in result.stderr
    assert "pw-x" not in result.stderr


def test_migrate_brings_a_new_database_to_head_and_connect_succeeds(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from tmfserver.cli import alembic_config

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert tmfserver("migrate", env={"DATABASE_URL": url}, cwd=tmp_path).returncode == 0
    with create_engine(url).connect() as connection:
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert revision == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert tmfserver("migrate", env={"DATABASE_URL": url}, cwd=tmp_path).returncode == 0  # idempotent
    assert tmfserver("check-config", "--connect", env={"DATABASE_URL": url}, cwd=tmp_path).returncode == 0


def test_readme_settings_table_is_the_generated_one() -> None:
    operating = (ROOT / "docs" / "operating.md").read_text()
    assert settings_table() in operating, (
        "docs/operating.md settings table is stale: paste `tmfserver check-config --table`"
    )


def test_env_example_settings_are_valid(tmp_path: Path) -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    settings = [line.removeprefix("#") for line in lines if re.match(r"^#[A-Z_]+=", line)]
    assert settings, ".env.example shows no settings"
    (tmp_path / ".env").write_text("\n".join(settings) + "\n")
    result = tmfserver("check-config", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    for name, value in (line.split("=", 1) for line in settings):
        if name not in ("DATABASE_URL", "TMF_AUTH_API_KEYS"):  # shown masked
            assert values[name] == value, name


def test_openapi_builds_both_served_documents() -> None:
    from tmfserver import specbuild

    result = tmfserver("openapi")
    assert result.returncode == 0, result.stderr
    built = [line.removeprefix("built ") for line in result.stdout.splitlines()]
    assert built == [str(specbuild.served_document_path(name)) for name in ("TMF652", "TMF663-v5", "TMF663")]


def test_events_commands_as_processes(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'events.db'}"}
    assert tmfserver("migrate", env=env, cwd=tmp_path).returncode == 0
    listed = tmfserver("events", "dead-letters", env=env, cwd=tmp_path)
    assert (listed.returncode, listed.stdout) == (0, "")
    replayed = tmfserver("events", "replay", "--id", "7", env=env, cwd=tmp_path)
    assert replayed.returncode == 0 and json.loads(replayed.stdout) == {"replayed": 0}
    assert tmfserver("events", env=env, cwd=tmp_path).returncode == 2  # an action is required


def test_spec_diff_reports_the_v4_to_v5_changes() -> None:
    result = tmfserver("spec-diff", "TMF663@4.0.0", "TMF663@5.0.0")
    assert result.returncode == 0, result.stderr
    report = result.stdout
    assert "renamed cartItem.ItemTotalPrice → cartItem.itemTotalPrice" in report
    assert "type of relatedParty: [RelatedParty] → [RelatedPartyOrPartyRole]" in report
    assert "added creationDate: string (date-time)" in report and "newly required @type" in report
    assert "operationId registerListener → createHub" in report
    assert "added application/json-patch-query+json" in report
    assert "## OperationIds with no handler yet (0)" in report
