"""Settings: one pydantic-settings class with the env prefix ``KIOSK_``, read once."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.shell_settings import DEFAULTS, default_terminal_id

LANGUAGES = ("de", "en")


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("kundenkiosk", appauthor=False))


class Settings(BaseSettings):
    """Everything configurable. Environment variables are ``KIOSK_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="KIOSK_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    secret_key_file: Path | None = None
    # A hex secret shared by all terminals of one installation (instead of the file).
    secret_key: str | None = None
    smtp_url: str | None = None
    mail_from: str = "Kundenkiosk <kundenkiosk@localhost>"
    public_url: str = "http://localhost:8000"
    export_dir: Path | None = None
    terminal_id: str = Field(default_factory=default_terminal_id)
    language: str = DEFAULTS.language
    # Seconds without input until the wipe, the warning included.
    idle_timeout_kiosk: int = DEFAULTS.idle_timeout_kiosk
    idle_timeout_desk: int = DEFAULTS.idle_timeout_desk
    idle_warning: int = DEFAULTS.idle_warning
    session_absolute_kiosk: int = 30 * 60
    session_absolute_agent: int = 8 * 3600
    session_idle_agent: int = 15 * 60
    reauth_valid: int = 5 * 60
    customer_types: list[str] = ["private", "teacher", "company", "organiser"]
    terms_version: str = "2026-01"
    privacy_version: str = "2026-01"
    marketing_version: str = "2026-01"
    # argon2id profile: OWASP's second recommendation (m=19 MiB, t=2, p=1) at least.
    argon2_memory_kib: int = 19 * 1024
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    # Operations (#17): logs, readiness, `kiosk serve` limits (#20 item 4).
    log_format: str = "text"  # text | json
    log_file: Path | None = None
    ready_timeout: float = 2.0
    serve_max_sessions: int = 20  # concurrent app processes of one `kiosk serve`
    serve_allowed_origins: list[str] = []  # besides the public URL's own origin
    serve_frame_ancestors: str = "'none'"  # CSP frame-ancestors of every page
    # Reverse proxies whose X-Forwarded-For names the client (else the peer is the client).
    serve_trusted_proxies: list[str] = []
    # The least time of a request whose answer must not tell whether an account exists
    # (services/timing.py); 0 turns the floor off.
    response_floor_ms: int = 250
    # Data protection (#16): how long things are kept (days; exports in hours), the wait
    # before an account deletion is carried out, rows per housekeeping transaction.
    retention_audit_days: int = Field(default=730, ge=1)
    retention_outbox_days: int = Field(default=30, ge=1)  # delivered mails
    retention_sessions_days: int = Field(default=90, ge=1)  # ended sessions
    retention_throttle_days: int = Field(default=30, ge=1)  # guessing counters
    retention_requests_days: int = Field(default=365, ge=1)  # finished support requests
    retention_exports_hours: int = Field(default=24, ge=1)  # files in the export directory
    deletion_wait_days: int = Field(default=14, ge=1)
    data_export_interval_minutes: int = Field(default=60, ge=1)
    housekeeping_batch: int = Field(default=5000, ge=1, le=100_000)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'kiosk.db'}"

    @property
    def resolved_export_dir(self) -> Path:
        return self.export_dir or self.home / "exports"

    @property
    def resolved_secret_key_file(self) -> Path:
        return self.secret_key_file or self.home / "secret.key"


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment; keyword overrides win (CLI options)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]
