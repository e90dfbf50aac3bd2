"""Settings every service reads from the environment (pydantic-settings)."""

from __future__ import annotations

from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """The broker connection: the services and the operator CLI read the same env vars."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_prefix: str = Field(
        "", description="Put before every topic name: one cluster can serve several environments"
    )
    kafka_enable_idempotence: bool = Field(
        False, description="True on Apache Kafka; the embedded broker refuses idempotent producers"
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's admin client, consumer and producer."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.kafka_bootstrap_servers,
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol.startswith("SASL_"):
            if not self.kafka_sasl_username or self.kafka_sasl_password is None:
                raise ValueError(
                    f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                    "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
                )
            options.update(
                sasl_mechanism=self.kafka_sasl_mechanism,
                sasl_plain_username=self.kafka_sasl_username,
                sasl_plain_password=self.kafka_sasl_password.get_secret_value(),
            )
        if self.kafka_security_protocol == "SASL_SSL":
            options["ssl_context"] = create_ssl_context()
        return options


class ServiceSettings(KafkaSettings):
    """Common settings; each service subclasses it to set its name and port.

    Every field maps to the upper-case env var of the same name (``KAFKA_BOOTSTRAP_SERVERS``,
    ``MONGODB_URL``, ``ADMIN_API_KEY``, ...).
    """

    service_name: str = "service"
    kafka_create_topics: bool = Field(
        True,
        description="Create missing topics at start and after the broker lost them; off where "
        "only the operators' init job may create topics",
    )
    mongodb_url: str = "mongodb://127.0.0.1:27017"
    mongodb_database: str | None = Field(None, description="Defaults to the service name")
    admin_api_key: SecretStr = Field(min_length=16)
    api_key_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a process remembers a valid API key: a key revoked on another "
        "service stops working here within this long of hearing ApiKeyRevoked (0: never "
        "remembered, one store read per request)",
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    outbox_relay_interval_seconds: float = Field(0.2, gt=0)
    outbox_retained_events: int = Field(
        20, ge=0, description="Sent events kept per document, to publish again after a broker reset"
    )
    outbox_reset_check_seconds: float = Field(
        5.0, gt=0, description="How often the relay checks whether the broker lost its events"
    )
    outbox_republish_on_broker_loss: bool = Field(
        False,
        description="Publish every retained event again when the broker lost its data: on for "
        "the embedded broker (it keeps nothing across a restart), off where Kafka keeps its data",
    )
    lease_ttl_seconds: float = Field(
        5.0,
        gt=0,
        description="How long a replica's hold on the relay (and on a tally) lasts without "
        "renewal; another replica takes over this long after the holder died",
    )
    consumer_max_records: int = Field(500, ge=1)
    consumer_retry_attempts: int = Field(5, ge=1)
    consumer_retry_backoff_seconds: float = Field(0.2, gt=0)

    @property
    def database_name(self) -> str:
        return self.mongodb_database or self.service_name
