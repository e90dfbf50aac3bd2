"""Registration rules: NIK parsing, sponsors, programmes and enrolment, with no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpu_registration.domain import (
    AlreadyFunded,
    NotEnrolled,
    Occupation,
    Programme,
    ProgrammeClosedError,
    Sponsor,
    Worker,
    age_on,
    card_number,
    check_phone,
    mask_nik,
    parse_identity,
    valid_card_number,
)
from bpu_shared.clock import JAKARTA
from bpu_shared.errors import InvalidInput
from bpu_shared.events import (
    BenefitProgramme,
    EndReason,
    FundingSource,
    ProgrammeStatus,
    ProgrammeTerms,
    SponsorKind,
)
from bpu_shared.month import Month

JKK, JKM, JHT = BenefitProgramme.JKK, BenefitProgramme.JKM, BenefitProgramme.JHT

#: A woman from Kinal (Kaur), born 1 July 1990: day 01 + 40 = 41.
WOMAN_NIK = "1704014107900001"
#: A man from Kinal, born 17 August 1985.
MAN_NIK = "1704011708850123"

KAUR_VILLAGE = "17.04.01.2001"  # Gedung Wani, Kinal, Kabupaten Kaur
PASER_VILLAGE = "64.01.01.2009"  # Samurangau, Kabupaten Paser
PPU_VILLAGE = "64.09.01.1001"  # Tanjung Tengah, Kabupaten Penajam Paser Utara


def invalid(exc: pytest.ExceptionInfo[InvalidInput]) -> tuple[str | None, str]:
    return exc.value.field, exc.value.detail


# -- parse_identity ----------------------------------------------------------------------------


def test_parse_identity_reads_a_womans_nik() -> None:
    identity = parse_identity(WOMAN_NIK)
    assert identity.nik == WOMAN_NIK
    assert identity.birth_date == date(1990, 7, 1)
    assert identity.gender == "P"
    assert identity.issued_in == "17.04.01"


def test_parse_identity_reads_a_mans_nik() -> None:
    identity = parse_identity(MAN_NIK)
    assert identity.birth_date == date(1985, 8, 17)
    assert identity.gender == "L"
    assert identity.issued_in == "17.04.01"


def test_parse_identity_day_71_is_a_woman_born_on_the_31st() -> None:
    identity = parse_identity("6401017112800002")
    assert identity.birth_date == date(1980, 12, 31)
    assert identity.gender == "P"
    assert identity.issued_in == "64.01.01"


@pytest.mark.parametrize(
    ("nik", "expected"),
    [
        ("170401410790000", "must be 16 digits"),
        ("17040141079000011", "must be 16 digits"),
        ("17040141079O0001", "must be 16 digits"),
        ("", "must be 16 digits"),
        ("9904014107900001", "digits 1–2 are not a known province code"),
        ("1004014107900001", "digits 1–2 are not a known province code"),
        ("1704013213900001", "digits 7–12 are not a valid birth date"),
        ("1704010002900001", "digits 7–12 are not a valid birth date"),
        ("1704013502900001", "digits 7–12 are not a valid birth date"),  # 35: neither sex
        ("1704017002900001", "digits 7–12 are not a valid birth date"),  # 30 Feb, woman
        ("1704012902010001", "digits 7–12 are not a valid birth date"),  # 29 Feb 2001
        ("1704014107900000", "the serial (digits 13–16) cannot be 0000"),
    ],
)
def test_parse_identity_names_what_is_wrong(nik: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_identity(nik)
    field, detail = invalid(exc)
    assert field == "nik"
    assert detail.startswith("not a valid NIK: ")
    assert expected in detail


def test_parse_identity_reports_every_problem_at_once() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_identity("9904013213900000")
    detail = exc.value.detail
    assert "not a known province code" in detail
    assert "not a valid birth date" in detail
    assert "cannot be 0000" in detail


def test_parse_identity_uses_the_field_name_given() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_identity("123", field_name="row 12: nik")
    assert exc.value.field == "row 12: nik"


def test_parse_identity_accepts_a_29_february_in_a_leap_year() -> None:
    identity = parse_identity("1704016902880001")
    assert identity.birth_date == date(1988, 2, 29)
    assert identity.gender == "P"


# parse_nik infers the century from two digits: YY up to this year's YY is 20YY, above it 19YY.
# So the birth dates a NIK can express are the hundred years ending with this year.
_THIS_YEAR = date.today().year
_EARLIEST = date(_THIS_YEAR - 99, 1, 1)


@given(
    birth=st.dates(min_value=_EARLIEST, max_value=date.today()),
    gender=st.sampled_from(["L", "P"]),
    serial=st.integers(min_value=1, max_value=9999),
)
def test_a_nik_built_from_a_birth_date_and_gender_parses_back(
    birth: date, gender: str, serial: int
) -> None:
    day = birth.day + (40 if gender == "P" else 0)
    nik = f"170401{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"
    identity = parse_identity(nik)
    assert identity.birth_date == birth
    assert identity.gender == gender
    assert identity.issued_in == "17.04.01"
    assert identity.nik == nik


# -- Month, age_on, mask_nik -------------------------------------------------------------------


def test_month_parses_prints_and_orders() -> None:
    october = Month.parse("2022-10")
    assert october == Month(2022, 10)
    assert str(october) == "2022-10"
    assert str(Month(2023, 1)) == "2023-01"
    assert october.first_day() == date(2022, 10, 1)
    assert Month.of(date(2022, 10, 31)) == october
    assert Month(2022, 12) < Month(2023, 1)
    assert not Month(2023, 1) < Month(2022, 12)
    assert Month(2022, 10) <= Month(2022, 10)
    assert not Month(2022, 10) < Month(2022, 10)
    assert Month(2022, 9) < Month(2022, 10)
    assert max(Month(2022, 10), Month(2022, 12), Month(2022, 11)) == Month(2022, 12)


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (date(1990, 7, 1), date(2022, 6, 30), 31),
        (date(1990, 7, 1), date(2022, 7, 1), 32),
        (date(1990, 7, 1), date(2022, 12, 31), 32),
        (date(2007, 10, 2), date(2022, 10, 1), 14),
        (date(2007, 10, 1), date(2022, 10, 1), 15),
        (date(1988, 2, 29), date(2023, 2, 28), 34),
        (date(1988, 2, 29), date(2023, 3, 1), 35),
        (date(1988, 2, 29), date(2024, 2, 29), 36),
        (date(2000, 1, 1), date(2000, 1, 1), 0),
    ],
)
def test_age_on_counts_whole_years_up_to_the_birthday(birth: date, day: date, age: int) -> None:
    assert age_on(birth, day) == age


def test_mask_nik_keeps_the_first_and_last_four_digits() -> None:
    assert mask_nik(WOMAN_NIK) == "1704********0001"
    assert mask_nik(MAN_NIK) == "1704********0123"


# -- Sponsor.register --------------------------------------------------------------------------


def test_register_a_regency() -> None:
    kaur = Sponsor.register("Pemkab Kaur", SponsorKind.REGENCY, "17.04")
    assert kaur.kind is SponsorKind.REGENCY
    assert kaur.region_code == "17.04"
    assert kaur.region_name == "Kabupaten Kaur, Bengkulu"
    assert kaur.name == "Pemkab Kaur"
    assert kaur.sponsor_id.startswith("SP-")


def test_register_a_city_a_province_a_village_and_a_donor() -> None:
    assert Sponsor.register("Pemkot", SponsorKind.CITY, "17.71").region_name == (
        "Kota Bengkulu, Bengkulu"
    )
    assert Sponsor.register("Pemprov", SponsorKind.PROVINCE, "17").region_name == "Bengkulu"
    village = Sponsor.register("APBDes Gedung Wani", SponsorKind.VILLAGE, KAUR_VILLAGE)
    assert village.region_name == "Gedung Wani, Kinal, Kabupaten Kaur, Bengkulu"
    donor = Sponsor.register("CSR", SponsorKind.DONOR, "17.04.01")
    assert donor.region_code == "17.04.01"


def test_sponsor_ids_are_random() -> None:
    a = Sponsor.register("A", SponsorKind.REGENCY, "17.04")
    b = Sponsor.register("A", SponsorKind.REGENCY, "17.04")
    assert a.sponsor_id != b.sponsor_id


@pytest.mark.parametrize(
    ("kind", "code", "field", "message"),
    [
        (
            SponsorKind.REGENCY,
            "17",
            "region_code",
            "'17' is a province; a regency or city code is needed",
        ),
        (
            SponsorKind.REGENCY,
            "17.04.01",
            "region_code",
            "'17.04.01' is a district; a regency or city code is needed",
        ),
        (
            SponsorKind.CITY,
            "17",
            "region_code",
            "'17' is a province; a regency or city code is needed",
        ),
        (
            SponsorKind.PROVINCE,
            "17.04",
            "region_code",
            "'17.04' is a regency or city; a province code is needed",
        ),
        (
            SponsorKind.VILLAGE,
            "17.04.01",
            "region_code",
            "'17.04.01' is a district; a village code is needed",
        ),
        (SponsorKind.REGENCY, "17.71", "kind", "17.71 is a city, not a regency"),
        (SponsorKind.CITY, "17.04", "kind", "17.04 is a regency, not a city"),
        (
            SponsorKind.REGENCY,
            "17.99",
            "region_code",
            "region code '17.99' is not in the Kemendagri region list",
        ),
        (
            SponsorKind.PROVINCE,
            "99",
            "region_code",
            "region code '99' is not in the Kemendagri region list",
        ),
        (
            SponsorKind.DONOR,
            "17.04.99",
            "region_code",
            "region code '17.04.99' is not in the Kemendagri region list",
        ),
    ],
)
def test_register_refuses_a_code_of_the_wrong_level_or_unknown(
    kind: SponsorKind, code: str, field: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        Sponsor.register("X", kind, code)
    assert invalid(exc) == (field, message)


# -- Programme.open ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paser() -> Sponsor:
    return Sponsor.register("Pemkab Paser", SponsorKind.REGENCY, "64.01")


@pytest.fixture(scope="module")
def ppu() -> Sponsor:
    return Sponsor.register("Pemkab Penajam Paser Utara", SponsorKind.REGENCY, "64.09")


@pytest.fixture(scope="module")
def bengkulu() -> Sponsor:
    return Sponsor.register("Pemprov Bengkulu", SponsorKind.PROVINCE, "17")


def open_programme(sponsor: Sponsor, **overrides: object) -> Programme:
    """Paser's 2022 programme, with ``overrides``; months may be written ``"YYYY-MM"``."""
    terms: dict[str, object] = {
        "name": "Perlindungan pekerja rentan 2022",
        "region_code": None,
        "budget_year": 2022,
        "budget_rupiah": 1_626_307_200,
        "quota": 32_268,
        "benefits": [JKK, JKM],
        "start_month": "2022-10",
        "end_month": "2022-12",
        "min_age": 15,
        "max_age": 64,
    }
    terms.update(overrides)
    for field in ("start_month", "end_month"):
        terms[field] = Month.parse(str(terms[field]))
    return Programme.open(sponsor, terms)


def test_paser_2022_october_to_december_is_valid(paser: Sponsor) -> None:
    programme = open_programme(paser)
    assert programme.sponsor_id == paser.sponsor_id
    assert programme.region_code == "64.01"
    assert programme.budget_year == 2022
    assert programme.budget_rupiah == 1_626_307_200
    assert programme.quota == 32_268
    assert programme.benefits == [JKK, JKM]
    assert programme.start_month == Month(2022, 10)
    assert programme.end_month == Month(2022, 12)
    assert (programme.min_age, programme.max_age) == (15, 64)
    assert programme.programme_id.startswith("PG-")
    assert programme.covers(Month(2022, 10))
    assert programme.covers(Month(2022, 12))
    assert not programme.covers(Month(2022, 9))
    assert not programme.covers(Month(2023, 1))


def test_open_keeps_optional_jht_and_drops_repeats(paser: Sponsor) -> None:
    programme = open_programme(paser, benefits=["JKM", "JKK", "JHT", "JKK"])
    assert programme.benefits == [JKM, JKK, JHT]


def test_open_a_single_month_programme(paser: Sponsor) -> None:
    programme = open_programme(paser, start_month="2022-12", end_month="2022-12")
    assert programme.covers(Month(2022, 12))


def test_open_takes_the_terms_as_the_shared_model_too(paser: Sponsor) -> None:
    terms = ProgrammeTerms(
        name="Perlindungan pekerja rentan 2022",
        region_code="64.01",
        budget_year=2022,
        budget_rupiah=1_626_307_200,
        quota=32_268,
        start_month="2022-10",  # type: ignore[arg-type]
        end_month="2022-12",  # type: ignore[arg-type]
    )
    programme = Programme.open(paser, terms)
    assert programme.region_code == "64.01"
    assert programme.benefits == [JKK, JKM]  # the default
    assert (programme.start_month, programme.end_month) == (Month(2022, 10), Month(2022, 12))
    assert (programme.min_age, programme.max_age) == (15, 64)
    assert programme.sponsor_id == paser.sponsor_id


@pytest.mark.parametrize(
    ("benefits", "message"),
    [
        ([JKK], "JKK and JKM are mandatory; missing JKM"),
        ([JKM, JHT], "JKK and JKM are mandatory; missing JKK"),
        ([], "JKK and JKM are mandatory; missing JKK, JKM"),
        ([JHT], "JKK and JKM are mandatory; missing JKK, JKM"),
    ],
)
def test_open_requires_jkk_and_jkm(
    paser: Sponsor, benefits: list[BenefitProgramme], message: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        open_programme(paser, benefits=benefits)
    assert invalid(exc) == ("benefits", message)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2021-10", "2022-12", "start_month"),
        ("2022-10", "2023-01", "end_month"),
        ("2023-01", "2023-03", "start_month"),
    ],
)
def test_open_keeps_the_months_inside_the_budget_year(
    paser: Sponsor, start: str, end: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        open_programme(paser, start_month=start, end_month=end)
    assert invalid(exc) == (field, "months must fall in the budget year 2022")


def test_open_refuses_an_end_before_the_start(paser: Sponsor) -> None:
    with pytest.raises(InvalidInput) as exc:
        open_programme(paser, start_month="2022-12", end_month="2022-10")
    assert invalid(exc) == ("end_month", "2022-10 is before start_month 2022-12")


@pytest.mark.parametrize(("min_age", "max_age"), [(65, 64), (0, 64), (-1, 10)])
def test_open_refuses_an_empty_age_range(paser: Sponsor, min_age: int, max_age: int) -> None:
    with pytest.raises(InvalidInput) as exc:
        open_programme(paser, min_age=min_age, max_age=max_age)
    assert invalid(exc) == ("max_age", f"age range {min_age}–{max_age} is empty")


def test_open_allows_a_narrower_region(paser: Sponsor, bengkulu: Sponsor) -> None:
    assert open_programme(paser, region_code="64.01.01").region_code == "64.01.01"
    assert open_programme(bengkulu, region_code="17.04").region_code == "17.04"
    assert open_programme(bengkulu, region_code=KAUR_VILLAGE).region_code == KAUR_VILLAGE


@pytest.mark.parametrize("region", ["64.09", "64", "17.04.01", "64.09.01"])
def test_open_refuses_a_region_outside_the_sponsors(paser: Sponsor, region: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        open_programme(paser, region_code=region)
    assert invalid(exc) == ("region_code", f"{region} is outside the sponsor's region 64.01")


def test_open_refuses_an_unknown_region(paser: Sponsor) -> None:
    with pytest.raises(InvalidInput) as exc:
        open_programme(paser, region_code="64.01.99")
    assert invalid(exc) == (
        "region_code",
        "region code '64.01.99' is not in the Kemendagri region list",
    )


# -- Worker.enrol ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paser_2022(paser: Sponsor) -> Programme:
    return open_programme(paser, min_age=15, max_age=64)


@pytest.fixture(scope="module")
def ppu_2022(ppu: Sponsor) -> Programme:
    return open_programme(ppu, name="PPU 2022", min_age=18, max_age=65)


@pytest.fixture(scope="module")
def bengkulu_extreme_poverty(bengkulu: Sponsor) -> Programme:
    return open_programme(
        bengkulu,
        name="Kemiskinan ekstrem 2022",
        budget_rupiah=16_212_268_800,
        quota=80_418,
        start_month="2022-01",
        min_age=35,
        max_age=64,
    )


def man_born(birth: date, district: str = "640101", serial: int = 1) -> str:
    return f"{district}{birth.day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


def noon(day: date) -> datetime:
    """Midday of ``day`` in Jakarta, where cover months are reckoned."""
    return datetime.combine(day, time(12), JAKARTA)


def enrol(programme: Programme, **overrides: object) -> Worker:
    """Siti enrolled on 20 September 2022, with ``overrides``; ``cover_start`` may be written
    ``"YYYY-MM"``."""
    args: dict[str, object] = {
        "nik": WOMAN_NIK,
        "name": "Siti Aminah",
        "phone": "081234567890",
        "occupation": Occupation.FARMER,
        "village_code": PASER_VILLAGE,
        "declared_monthly_income": 1_000_000,
        "min_declared_income": 1_000_000,
        "cover_start": None,
        "now": noon(date(2022, 9, 20)),
    }
    args.update(overrides)
    if isinstance(args["cover_start"], str):
        args["cover_start"] = Month.parse(args["cover_start"])
    return Worker.enrol(programme, **args)  # type: ignore[arg-type]


def test_enrol_a_worker(paser_2022: Programme) -> None:
    worker = enrol(paser_2022)
    assert worker.identity == parse_identity(WOMAN_NIK)
    assert worker.village_code == PASER_VILLAGE
    assert worker.district_code == "64.01.01"
    assert worker.regency_code == "64.01"
    assert worker.province_code == "64"
    assert worker.programme_id == paser_2022.programme_id
    assert worker.sponsor_id == paser_2022.sponsor_id
    assert worker.benefits == (JKK, JKM)
    assert worker.declared_monthly_income == 1_000_000
    assert worker.cover_start == Month(2022, 10)
    assert worker.worker_id.startswith("WK-")
    assert worker.registered_at == noon(date(2022, 9, 20))
    assert worker.registered_at.tzinfo is not None


def test_the_nik_prefix_does_not_have_to_match_the_domicile(paser_2022: Programme) -> None:
    # Issued in Kaur (17.04.01), living in Paser now: the NIK never changes when a person moves.
    worker = enrol(paser_2022, nik=WOMAN_NIK, village_code=PASER_VILLAGE)
    assert worker.identity.issued_in == "17.04.01"
    assert worker.regency_code == "64.01"


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2022, 1, 3), Month(2022, 10)),  # before the programme: its first month
        (date(2022, 10, 1), Month(2022, 10)),
        (date(2022, 11, 30), Month(2022, 11)),  # during it: this month
        (date(2022, 12, 31), Month(2022, 12)),
    ],
)
def test_default_cover_start_is_the_later_of_this_month_and_the_programme_start(
    paser_2022: Programme, today: date, expected: Month
) -> None:
    assert enrol(paser_2022, now=noon(today)).cover_start == expected


def test_default_cover_start_is_this_month_in_jakarta_not_in_utc(paser_2022: Programme) -> None:
    # 30 November 2022, 18:00 UTC is already 1 December, 01:00 in Jakarta (the clock handlers
    # are given is in Jakarta time).
    now = datetime(2022, 11, 30, 18, 0, tzinfo=UTC).astimezone(JAKARTA)
    assert enrol(paser_2022, now=now).cover_start == Month(2022, 12)


def test_default_cover_start_after_the_programme_ended_is_refused(paser_2022: Programme) -> None:
    with pytest.raises(InvalidInput) as exc:
        enrol(paser_2022, now=noon(date(2023, 1, 2)))
    assert invalid(exc) == (
        "cover_start",
        "2023-01 is outside the programme's months 2022-10–2022-12",
    )


def test_an_explicit_cover_start_inside_the_programme_is_kept(paser_2022: Programme) -> None:
    assert enrol(paser_2022, cover_start="2022-12").cover_start == Month(2022, 12)


@pytest.mark.parametrize("cover_start", ["2022-09", "2023-01", "2021-11"])
def test_a_cover_start_outside_the_programme_is_refused(
    paser_2022: Programme, cover_start: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        enrol(paser_2022, cover_start=cover_start)
    assert invalid(exc) == (
        "cover_start",
        f"{cover_start} is outside the programme's months 2022-10–2022-12",
    )


@pytest.mark.parametrize(
    ("village", "message"),
    [
        (PPU_VILLAGE, f"{PPU_VILLAGE} is outside the programme's region 64.01"),
        (KAUR_VILLAGE, f"{KAUR_VILLAGE} is outside the programme's region 64.01"),
        ("64.01.01", "'64.01.01' is a district; a village code is needed"),
        ("64.01", "'64.01' is a regency or city; a village code is needed"),
        ("64.01.01.2999", "region code '64.01.01.2999' is not in the Kemendagri region list"),
    ],
)
def test_domicile_must_be_a_village_inside_the_programmes_region(
    paser_2022: Programme, village: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        enrol(paser_2022, village_code=village)
    assert invalid(exc) == ("domicile_code", message)


def test_domicile_inside_a_narrower_programme_region(paser: Sponsor) -> None:
    district_programme = open_programme(paser, region_code="64.01.02")
    with pytest.raises(InvalidInput) as exc:
        enrol(district_programme, village_code=PASER_VILLAGE)
    assert invalid(exc) == (
        "domicile_code",
        f"{PASER_VILLAGE} is outside the programme's region 64.01.02",
    )


def test_income_below_the_lowest_is_refused(paser_2022: Programme) -> None:
    with pytest.raises(InvalidInput) as exc:
        enrol(paser_2022, declared_monthly_income=999_999)
    assert invalid(exc) == ("declared_monthly_income", "the lowest declared income is Rp1.000.000")


def test_income_at_and_above_the_lowest_is_accepted(paser_2022: Programme) -> None:
    assert enrol(paser_2022, declared_monthly_income=1_000_000).declared_monthly_income == 1_000_000
    assert enrol(paser_2022, declared_monthly_income=2_500_000).declared_monthly_income == 2_500_000


def test_an_invalid_nik_is_refused_on_enrolment(paser_2022: Programme) -> None:
    with pytest.raises(InvalidInput) as exc:
        enrol(paser_2022, nik="1704014107900000")
    assert exc.value.field == "nik"
    assert "cannot be 0000" in exc.value.detail


# A man born 30 September 2006 is 16 on 1 October 2022, when the 2022 programmes start.
SIXTEEN_ON_COVER_START = man_born(date(2006, 9, 30))


def test_a_worker_of_16_passes_paser_15_to_64(paser_2022: Programme) -> None:
    worker = enrol(paser_2022, nik=SIXTEEN_ON_COVER_START)
    assert worker.identity.birth_date == date(2006, 9, 30)
    assert age_on(worker.identity.birth_date, worker.cover_start.first_day()) == 16


def test_a_worker_of_16_fails_penajam_paser_utara_18_to_65(ppu_2022: Programme) -> None:
    with pytest.raises(InvalidInput) as exc:
        enrol(ppu_2022, nik=SIXTEEN_ON_COVER_START, village_code=PPU_VILLAGE)
    assert invalid(exc) == (
        "nik",
        "the worker is 16 on 2022-10-01; the programme takes ages 18–65",
    )


@pytest.mark.parametrize(
    ("birth", "accepted"),
    [
        (date(2007, 10, 1), True),  # 15 on 1 Oct 2022
        (date(2007, 10, 2), False),  # 14 on 1 Oct 2022, 15 the day after
        (date(1957, 10, 2), True),  # 64
        (date(1957, 10, 1), False),  # 65 on the day cover starts
    ],
)
def test_paser_age_limits_at_the_first_day_of_cover(
    paser_2022: Programme, birth: date, accepted: bool
) -> None:
    nik = man_born(birth)
    if accepted:
        assert enrol(paser_2022, nik=nik).identity.birth_date == birth
    else:
        with pytest.raises(InvalidInput) as exc:
            enrol(paser_2022, nik=nik)
        assert exc.value.field == "nik"
        assert exc.value.detail.endswith("the programme takes ages 15–64")


@pytest.mark.parametrize(
    ("birth", "accepted"),
    [
        (date(2004, 10, 1), True),  # 18
        (date(2004, 10, 2), False),  # 17
        (date(1956, 10, 2), True),  # 65
        (date(1956, 10, 1), False),  # 66
    ],
)
def test_penajam_paser_utara_age_limits(ppu_2022: Programme, birth: date, accepted: bool) -> None:
    nik = man_born(birth)
    if accepted:
        assert enrol(ppu_2022, nik=nik, village_code=PPU_VILLAGE).identity.birth_date == birth
    else:
        with pytest.raises(InvalidInput) as exc:
            enrol(ppu_2022, nik=nik, village_code=PPU_VILLAGE)
        assert exc.value.field == "nik"
        assert exc.value.detail.endswith("the programme takes ages 18–65")


@pytest.mark.parametrize(
    ("birth", "accepted"),
    [
        (date(1987, 3, 1), True),  # 35 on 1 Mar 2022
        (date(1987, 3, 2), False),  # 34
        (date(1957, 3, 2), True),  # 64
        (date(1957, 3, 1), False),  # 65
        (date(1990, 7, 1), False),  # 31
    ],
)
def test_bengkulu_extreme_poverty_age_limits(
    bengkulu_extreme_poverty: Programme, birth: date, accepted: bool
) -> None:
    nik = man_born(birth, district="170401")
    kwargs = {"nik": nik, "village_code": KAUR_VILLAGE, "cover_start": "2022-03"}
    if accepted:
        worker = enrol(bengkulu_extreme_poverty, **kwargs)
        assert worker.regency_code == "17.04"
    else:
        with pytest.raises(InvalidInput) as exc:
            enrol(bengkulu_extreme_poverty, **kwargs)
        assert exc.value.field == "nik"
        assert exc.value.detail.endswith("the programme takes ages 35–64")


def test_age_is_taken_at_the_chosen_cover_start_not_today(paser_2022: Programme) -> None:
    # 14 in October, 15 from 1 November: cover from November is allowed, from October is not.
    nik = man_born(date(2007, 11, 1))
    assert enrol(paser_2022, nik=nik, cover_start="2022-11").cover_start == Month(2022, 11)
    with pytest.raises(InvalidInput) as exc:
        enrol(paser_2022, nik=nik, cover_start="2022-10", now=noon(date(2022, 11, 15)))
    assert invalid(exc) == ("nik", "the worker is 14 on 2022-10-01; the programme takes ages 15–64")


def test_age_uses_the_default_cover_start(paser_2022: Programme) -> None:
    nik = man_born(date(2007, 11, 1))
    # Enrolling in September: cover defaults to October, when the worker is still 14.
    with pytest.raises(InvalidInput):
        enrol(paser_2022, nik=nik, now=noon(date(2022, 9, 1)))
    # Enrolling in November: cover defaults to November, when the worker is 15.
    assert enrol(
        paser_2022, nik=nik, now=noon(date(2022, 11, 1) + timedelta(days=3))
    ).cover_start == Month(2022, 11)


@pytest.mark.parametrize("text", ["2022-13", "2022-00", "2022-10-01", "22-10", "2022/10"])
def test_month_parse_refuses_what_is_not_a_month(text):
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse(text)


def test_a_region_code_without_dots_is_refused_with_the_dotted_form():
    with pytest.raises(InvalidInput) as caught:
        Sponsor.register("Pemkab Kaur", SponsorKind.REGENCY, "1704")
    assert caught.value.field == "region_code"
    assert "'17.04'" in caught.value.detail


# -- one payer per worker-month ------------------------------------------------------------------


def months_strategy() -> st.SearchStrategy[tuple[Month, Month]]:
    """A run of months inside 2022–2024, first <= last."""
    month = st.integers(0, 35).map(lambda i: Month(2022, 1).plus(i))
    return st.tuples(month, month).map(lambda pair: (min(pair), max(pair)))


def yearly(
    sponsor: Sponsor, year: int, first: int = 1, last: int = 12, **terms: object
) -> Programme:
    return open_programme(
        sponsor,
        name=f"Pekerja rentan {year}",
        budget_year=year,
        start_month=f"{year}-{first:02d}",
        end_month=f"{year}-{last:02d}",
        **terms,
    )


def test_the_same_enrolment_again_is_the_one_made(paser: Sponsor) -> None:
    programme = yearly(paser, 2022)
    worker = enrol(programme, cover_start="2022-10")
    again = worker.plan(programme, Month(2022, 11), noon(date(2022, 10, 2)))
    assert again is worker.latest
    assert len(worker.enrolments) == 1


def test_another_programme_for_overlapping_months_is_refused_naming_it(
    paser: Sponsor, bengkulu: Sponsor
) -> None:
    regency = yearly(paser, 2022)
    province = yearly(Sponsor.register("Pemprov Kaltim", SponsorKind.PROVINCE, "64"), 2022, first=7)
    worker = enrol(regency, cover_start="2022-10")
    with pytest.raises(AlreadyFunded) as exc:
        worker.plan(province, None, noon(date(2022, 8, 1)))
    assert exc.value.field == "nik"
    assert exc.value.extra == {
        "programme_id": regency.programme_id,
        "sponsor_id": paser.sponsor_id,
        "overlap": {"from": "2022-10", "to": "2022-12"},
    }
    assert f"programme {regency.programme_id} of sponsor {paser.sponsor_id}" in exc.value.detail
    assert "2022-10–2022-12" in exc.value.detail


def test_months_that_do_not_overlap_are_a_second_enrolment_of_the_same_worker(
    paser: Sponsor,
) -> None:
    this_year, next_year = yearly(paser, 2022, first=10), yearly(paser, 2023)
    worker = enrol(this_year)
    plan = worker.plan(next_year, None, noon(date(2022, 12, 20)))
    both = worker.enrolled(plan)
    assert [(e.programme_id, str(e.first_month), str(e.last_month)) for e in both.enrolments] == [
        (this_year.programme_id, "2022-10", "2022-12"),
        (next_year.programme_id, "2023-01", "2023-12"),
    ]
    assert both.worker_id == worker.worker_id
    assert both.months()[0] == "2022-10" and both.months()[-1] == "2023-12"
    assert len(both.months()) == 15


@given(a=months_strategy(), b=months_strategy())
def test_overlap_is_exactly_the_shared_months(
    a: tuple[Month, Month], b: tuple[Month, Month]
) -> None:
    from bpu_registration.domain import Enrolment

    e = Enrolment("EN-1", "PG-1", "SP-1", (JKK, JKM), a[0], a[1], noon(date(2022, 1, 1)))
    shared = {m for m in e.months()} & {
        m for m in Enrolment("EN-2", "PG-2", "SP-2", (JKK, JKM), b[0], b[1], e.enrolled_at).months()
    }
    found = e.overlap(*b)
    if not shared:
        assert found is None
    else:
        assert found == (min(shared), max(shared))


def test_an_ended_enrolment_frees_the_months_after_it(paser: Sponsor) -> None:
    regency, province_programme = (
        yearly(paser, 2022),
        yearly(Sponsor.register("Pemprov Kaltim", SponsorKind.PROVINCE, "64"), 2022),
    )
    worker = enrol(regency, cover_start="2022-01", now=noon(date(2022, 1, 5)))
    moved_away, ended = worker.end(
        worker.latest.enrolment_id, EndReason.WITHDRAWN, date(2022, 5, 20)
    )
    assert (str(ended.last_month), ended.status.value) == ("2022-05", "ended")
    assert moved_away.latest.end_reason is EndReason.WITHDRAWN
    with pytest.raises(AlreadyFunded):
        moved_away.plan(province_programme, Month(2022, 5), noon(date(2022, 5, 21)))
    taken_over = moved_away.plan(province_programme, Month(2022, 6), noon(date(2022, 5, 21)))
    assert str(taken_over.first_month) == "2022-06"


def test_ending_twice_is_refused(paser: Sponsor) -> None:
    worker = enrol(yearly(paser, 2022), cover_start="2022-02", now=noon(date(2022, 2, 1)))
    ended_worker, _ = worker.end(worker.latest.enrolment_id, EndReason.DEATH, date(2022, 3, 9))
    with pytest.raises(NotEnrolled):
        ended_worker.end(worker.latest.enrolment_id, EndReason.DEATH, date(2022, 3, 9))


def test_an_end_before_the_first_month_keeps_one_month(paser: Sponsor) -> None:
    worker = enrol(yearly(paser, 2022), cover_start="2022-06", now=noon(date(2022, 5, 1)))
    _, ended = worker.end(worker.latest.enrolment_id, EndReason.WITHDRAWN, date(2022, 5, 10))
    assert (ended.first_month, ended.last_month) == (Month(2022, 6), Month(2022, 6))


def test_move_ends_the_old_enrolment_the_month_before(paser: Sponsor) -> None:
    regency = yearly(paser, 2022)
    province = yearly(Sponsor.register("Pemprov Kaltim", SponsorKind.PROVINCE, "64"), 2022)
    worker = enrol(regency, cover_start="2022-01", now=noon(date(2022, 1, 3)))
    moved, ended, started = worker.move(province, Month(2022, 7), noon(date(2022, 6, 15)))
    assert (ended.last_month, ended.end_reason) == (Month(2022, 6), EndReason.MOVED_PROGRAMME)
    assert (started.programme_id, started.first_month) == (province.programme_id, Month(2022, 7))
    assert [e.status.value for e in moved.enrolments] == ["ended", "active"]
    with pytest.raises(InvalidInput) as exc:
        worker.move(province, Month(2022, 1), noon(date(2022, 6, 15)))
    assert exc.value.field == "from_month"


def test_change_checks_each_value_and_names_what_changed(paser: Sponsor) -> None:
    worker = enrol(yearly(paser, 2022), cover_start="2022-10")
    changed, names = worker.change(
        domicile_code="64.01.02.2004", phone="0812 3456 7891", declared_monthly_income=1_000_000
    )
    assert names == ["domicile_code", "phone"]
    assert (changed.village_code, changed.phone) == ("64.01.02.2004", "+6281234567891")
    assert changed.district_code == "64.01.02"
    with pytest.raises(InvalidInput) as exc:
        worker.change(domicile_code="64.01.02")
    assert exc.value.field == "domicile_code"
    with pytest.raises(InvalidInput) as bad_phone:
        worker.change(phone="12345")
    assert bad_phone.value.field == "phone"


def test_a_phone_is_kept_in_e164_and_a_bad_one_names_the_field(paser: Sponsor) -> None:
    assert check_phone("0812-3456-7890") == "+6281234567890"
    assert check_phone("+62 21 1234567") == "+62211234567"
    assert check_phone("  ") is None
    with pytest.raises(InvalidInput) as exc:
        enrol(yearly(paser, 2022), phone="99")
    assert exc.value.field == "phone"


def test_an_occupation_the_programme_does_not_take_is_refused(paser: Sponsor) -> None:
    fishers_only = yearly(paser, 2022, occupations=["fisher"])
    with pytest.raises(InvalidInput) as exc:
        enrol(fishers_only)
    assert exc.value.field == "occupation"
    assert enrol(fishers_only, occupation=Occupation.FISHER).occupation is Occupation.FISHER


# -- programmes over time ------------------------------------------------------------------------


def test_funding_source_defaults_to_the_sponsors_budget(paser: Sponsor, bengkulu: Sponsor) -> None:
    assert yearly(paser, 2022).funding_source is FundingSource.APBD_REGENCY
    assert yearly(bengkulu, 2022).funding_source is FundingSource.APBD_PROVINCE
    donor = Sponsor.register("Yayasan Nelayan", SponsorKind.DONOR, "64.01")
    assert yearly(donor, 2022).funding_source is FundingSource.DONOR
    assert yearly(paser, 2022, funding_source="donor").funding_source is FundingSource.DONOR


def test_before_its_start_anything_may_change(paser: Sponsor) -> None:
    programme = yearly(paser, 2023)
    changed, names = programme.change(
        paser,
        {"start_month": Month(2023, 4), "max_age": 60, "quota": 100},
        date(2022, 12, 1),
        enrolled=0,
    )
    assert names == ["start_month", "max_age", "quota"]
    assert (changed.start_month, changed.max_age, changed.quota) == (Month(2023, 4), 60, 100)
    assert changed.programme_id == programme.programme_id


def test_after_its_start_only_name_budget_and_quota_change(paser: Sponsor) -> None:
    programme = yearly(paser, 2023)
    with pytest.raises(InvalidInput) as exc:
        programme.change(paser, {"max_age": 60}, date(2023, 1, 1), enrolled=0)
    assert exc.value.field == "max_age"
    assert "only budget_rupiah, name, quota may change" in exc.value.detail
    raised, names = programme.change(paser, {"quota": 40_000}, date(2023, 6, 1), enrolled=32_268)
    assert (names, raised.quota) == (["quota"], 40_000)


def test_the_quota_never_drops_below_the_workers_enrolled(paser: Sponsor) -> None:
    with pytest.raises(InvalidInput) as exc:
        yearly(paser, 2023).change(paser, {"quota": 10}, date(2023, 2, 1), enrolled=11)
    assert (exc.value.field, exc.value.detail) == (
        "quota",
        "11 workers are enrolled; the quota cannot go below that",
    )


def test_a_change_is_checked_like_an_opening(paser: Sponsor) -> None:
    with pytest.raises(InvalidInput) as exc:
        yearly(paser, 2023).change(paser, {"end_month": Month(2024, 2)}, date(2022, 5, 1), 0)
    assert exc.value.field == "end_month"


def test_close_ends_the_programme_at_its_last_month_and_then_nothing_changes(
    paser: Sponsor,
) -> None:
    programme = yearly(paser, 2023)
    closed = programme.close(Month(2023, 9), date(2023, 8, 14))
    assert (closed.status, closed.end_month) == (ProgrammeStatus.CLOSED, Month(2023, 9))
    with pytest.raises(ProgrammeClosedError):
        closed.change(paser, {"quota": 5}, date(2023, 8, 15), 0)
    with pytest.raises(ProgrammeClosedError):
        closed.close(None, date(2023, 8, 15))
    with pytest.raises(ProgrammeClosedError):
        enrol(closed, cover_start="2023-09", now=noon(date(2023, 8, 15)))
    with pytest.raises(InvalidInput) as past:
        programme.close(Month(2023, 7), date(2023, 8, 14))
    assert past.value.field == "last_month"
    assert programme.close(None, date(2023, 8, 14)).end_month == Month(2023, 12)


# -- card numbers --------------------------------------------------------------------------------


@given(st.integers(1, 10**10 - 1))
def test_every_card_number_is_11_digits_and_validates(serial: int) -> None:
    number = card_number(serial)
    assert len(number) == 11 and number.isdigit()
    assert int(number[:10]) == serial
    assert valid_card_number(number)


@given(st.integers(1, 10**10 - 1), st.integers(0, 10), st.integers(1, 9))
def test_one_mistyped_digit_is_caught(serial: int, position: int, shift: int) -> None:
    number = card_number(serial)
    wrong = number[:position] + str((int(number[position]) + shift) % 10) + number[position + 1 :]
    assert not valid_card_number(wrong)


def test_card_number_refuses_serials_it_cannot_hold() -> None:
    for serial in (0, -1, 10**10):
        with pytest.raises(ValueError):
            card_number(serial)
    assert not valid_card_number("1234567890")
    assert not valid_card_number("00000000000")  # serial 0 is never issued
    assert not valid_card_number("１２３４５６７８９０１")


def test_a_new_domicile_outside_a_paying_programme_is_refused(paser: Sponsor) -> None:
    programme = yearly(paser, 2022)
    worker = enrol(programme, cover_start="2022-10")
    with pytest.raises(InvalidInput) as exc:
        worker.change([programme], domicile_code="17.04.01.2001")
    assert exc.value.field == "domicile_code"
    assert "end that enrolment (reason moved_away) first" in exc.value.detail
    inside, _ = worker.change([programme], domicile_code="64.01.02.2004")
    assert inside.village_code == "64.01.02.2004"
