"""The FastStream Kafka broker every service uses, configured from settings."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from bpu_shared.settings import ServiceSettings


def security(settings: ServiceSettings) -> BaseSecurity | None:
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    if settings.kafka_sasl_username is None or settings.kafka_sasl_password is None:
        raise ValueError("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with SASL")
    cls = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }[settings.kafka_sasl_mechanism]
    return cls(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password.get_secret_value(),
        use_ssl=settings.kafka_security_protocol == "SASL_SSL",
    )


def make_broker(settings: ServiceSettings) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        enable_idempotence=settings.kafka_enable_idempotence,
        acks="all",
        security=security(settings),
        logger=None,
    )


async def true_end_offsets(
    consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    """Each partition's end offset, right on both brokers.

    The embedded broker (Tansu 0.6) answers "latest offset" with the last batch's base offset
    plus one, so a partition written in batches looks shorter than it is; the high watermark in
    a fetch response is right. On Apache Kafka both agree and this costs one small fetch per
    non-empty partition. Assigns ``partitions`` to ``consumer``.
    """
    ends = await consumer.end_offsets(list(partitions))
    non_empty = [tp for tp in partitions if ends.get(tp, 0) > 0]
    if not non_empty:
        return dict(ends)
    consumer.assign(non_empty)
    for tp in non_empty:
        consumer.seek(tp, ends[tp] - 1)
    await consumer.getmany(*non_empty, timeout_ms=2000, max_records=len(non_empty))
    return {
        tp: max(ends.get(tp, 0), (consumer.highwater(tp) or 0) if tp in non_empty else 0)
        for tp in partitions
    }
