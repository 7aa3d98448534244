"""All of Dyad's settings, read once from `DYAD_*` environment variables."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DYAD_", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///var/dyad.sqlite3",
        description="SQLAlchemy async URL; the default is a SQLite file under ./var/",
    )
    profiles_dir: Path = Field(default=PROJECT_ROOT / "profiles")
    base_url: str = Field(
        default="",
        description="Public base of the FHIR endpoint used in links; derived from the request when empty.",
    )
    host: str = "127.0.0.1"
    port: int = 8080
    migrate_on_start: bool = True
    max_body_bytes: int = 5 * 1024 * 1024
    max_bundle_entries: int = 5000
    default_page_size: int = 50
    max_page_size: int = 1000
    db_pool_size: int = 10
    log_level: str = "INFO"
    sql_echo: bool = False


@lru_cache
def get_settings() -> Settings:
    return Settings()
