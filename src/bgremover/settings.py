"""Process-wide settings, read from ``BGR_*`` environment variables or an optional config file.

These are deployment settings (where state lives, which backends to use). Per-tenant settings are a
different thing: they live in the parameter store and are read by workers only, through a cache.

The optional config file is TOML, named by ``BGR_CONFIG_FILE`` (default ``./bgremover.toml`` when it
exists), with the same keys in lower case (``database_url = "postgresql://..."``). Environment
variables win over the file.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("bgremover.toml")


class Settings(BaseSettings):
    """Deployment settings. Every field maps to ``BGR_<FIELD>`` (case-insensitive)."""

    model_config = SettingsConfigDict(env_prefix="BGR_", extra="ignore")

    database_url: str = "sqlite:///var/bgremover.db"
    queue_url: str = "sqlite:///var/queue.db"
    storage_url: str = "file://./var/blobs"
    model_dir: Path = Path("var/models")
    stage: str = "dev"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get("BGR_CONFIG_FILE", DEFAULT_CONFIG_FILE))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
