"""Settings from real files in a temporary folder."""

from pathlib import Path

import pytest

from jobs import config
from jobs.errors import ConfigError

CREDS = {"VIPPS_CLIENT_ID": "id", "VIPPS_CLIENT_SECRET": "secret"}


def write(folder: Path, toml: str = "", dotenv: str | None = None) -> Path:
    path = folder / "config.toml"
    path.write_text(toml)
    if dotenv is not None:
        (folder / ".env").write_text(dotenv)
    return path


def test_defaults_without_any_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = config.load(environ=CREDS)
    assert s.base_url == "https://api.vipps.no"
    assert s.token_url == "https://api.vipps.no/miami/v1/token"
    assert s.credentials.key_type == "accounting"
    assert s.topics == ("funds", "fees") and s.formats == ("csv", "xlsx")
    assert str(s.timezone) == "Europe/Oslo"
    assert s.file_mode == 0o600
    assert set(s.system_headers) == {
        "Vipps-System-Name",
        "Vipps-System-Version",
        "Vipps-System-Plugin-Name",
        "Vipps-System-Plugin-Version",
    }


def test_precedence_environment_then_dotenv_then_toml(tmp_path):
    path = write(
        tmp_path,
        '[api]\nbase_url = "https://toml.example"\ntoken_path = "/authentication/v1/token"\n',
        "VIPPS_BASE_URL=https://dotenv.example\nVIPPS_CLIENT_ID=from-dotenv\nVIPPS_CLIENT_SECRET=dotenv-secret\n",
    )
    s = config.load(path, environ={})
    assert s.base_url == "https://dotenv.example"
    assert s.token_url == "https://dotenv.example/authentication/v1/token"
    assert s.credentials.client_id == "from-dotenv"

    s = config.load(path, environ={"VIPPS_BASE_URL": "http://127.0.0.1:9/", "VIPPS_CLIENT_ID": "from-env"})
    assert s.base_url == "http://127.0.0.1:9"
    assert s.credentials.client_id == "from-env"
    assert s.credentials.client_secret == "dotenv-secret"

    s = config.load(write(tmp_path, '[api]\nbase_url = "https://toml.example"\n', ""), environ=CREDS)
    assert s.base_url == "https://toml.example"


def test_merchant_keys_use_the_merchant_token_endpoint_and_need_a_subscription_key(tmp_path):
    env = {**CREDS, "VIPPS_KEY_TYPE": "merchant", "VIPPS_MSN": "123456"}
    s = config.load(write(tmp_path), environ=env)
    assert s.token_url == "https://api.vipps.no/accesstoken/get"
    with pytest.raises(ConfigError, match="VIPPS_SUBSCRIPTION_KEY not set"):
        s.require_credentials()
    s = config.load(write(tmp_path), environ={**env, "VIPPS_SUBSCRIPTION_KEY": "k"})
    assert s.require_credentials().msn == "123456"


def test_missing_credentials_are_named_and_the_secret_is_never_in_a_repr(tmp_path):
    s = config.load(write(tmp_path), environ={"VIPPS_CLIENT_SECRET": "hush"})
    with pytest.raises(ConfigError, match="^VIPPS_CLIENT_ID not set: put them in .env"):
        s.require_credentials()
    s = config.load(write(tmp_path), environ={**CREDS, "VIPPS_CLIENT_SECRET": "hush"})
    assert "hush" not in repr(s)


# Shared with tests/test_config_check.py, which runs `check` and `run` over them.
BAD_CONFIGS = [
    ('[api]\nclient_secret = "x"\n', "credentials belong in .env"),
    ('[api]\nbase_url = "ftp://x"\n', "not an http"),
    ('[api]\nkey_type = "partner"\n', "key_type in .*/config.toml is 'partner': it must be one of \"accounting\""),
    ('[export]\ntimezone = "Mars/Olympus"\n', "unknown time zone"),
    ('[export]\ntopics = ["funds", "sales"]\n', "topics in .*/config.toml is .* must be a list of"),
    ('[export]\nfile_mode = "0044"\n', "file_mode"),
    ("[retry]\nmax_attempts = 0\n", "max_attempts"),
    ('[system]\nname = "a name that is far longer than thirty characters"\n', "1-30 ASCII"),
    ("[api\n", "cannot read config file"),
]


@pytest.mark.parametrize("toml, message", BAD_CONFIGS)
def test_bad_config_is_one_line_naming_the_fix(tmp_path, toml, message):
    with pytest.raises(ConfigError, match=message) as caught:
        config.load(write(tmp_path, toml), environ=CREDS)
    assert "\n" not in str(caught.value)


def test_a_wrong_key_type_in_the_environment_is_named(tmp_path):
    with pytest.raises(ConfigError, match="VIPPS_KEY_TYPE is 'partner'"):
        config.load(write(tmp_path), environ={**CREDS, "VIPPS_KEY_TYPE": "partner"})


def test_an_explicit_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="not found: check --config"):
        config.load(tmp_path / "nope.toml", environ=CREDS)


def test_the_committed_config_toml_loads_and_holds_no_secret():
    root = Path(__file__).parent.parent
    s = config.load(root / "config.toml", environ=CREDS)
    assert s.base_url == "https://api.vipps.no"


def test_relative_paths_in_config_toml_are_read_from_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "etc"
    folder.mkdir()
    path = write(folder, '[export]\nout = "exports"\n[state]\npath = "db/state.sqlite3"\n')
    monkeypatch.chdir(tmp_path)
    s = config.load(path, environ=CREDS)
    assert s.out == folder / "exports"
    assert s.state_path == folder / "db" / "state.sqlite3"
    s = config.load(write(folder, '[export]\nout = "/srv/exports"\n'), environ=CREDS)
    assert str(s.out) == "/srv/exports"
