"""``Month``, the one ``YYYY-MM`` period type: cover, contributions and invoices are per month.
It is a value in the domain and a ``"YYYY-MM"`` string in JSON, events and the store."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

#: Years 1000 to 9999 (no look-ahead: pydantic's regex engine has none), months 01 to 12.
PATTERN = r"^[1-9]\d{3}-(0[1-9]|1[0-2])$"
_RE = re.compile(PATTERN)


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month; ordered, so ``start <= month <= end`` reads as it should."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9999:
            raise ValueError(f"{self.year}-{self.month} is not a month")

    @classmethod
    def parse(cls, text: str) -> Month:
        if not isinstance(text, str) or _RE.fullmatch(text) is None:
            raise ValueError(f"{text!r} is not a month: write YYYY-MM")
        return cls(int(text[:4]), int(text[5:]))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def plus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._coerce,
            serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="json"),
        )

    @classmethod
    def _coerce(cls, value: Any) -> Month:
        return value if isinstance(value, Month) else cls.parse(value)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "pattern": PATTERN, "examples": ["2026-01"]}
