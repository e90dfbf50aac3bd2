"""The participant card: its number's Luhn check digit (the domain's ``card_number``) catches
exactly what Luhn promises (every single mistyped digit, every swap of neighbouring digits but
09 ↔ 90), and the printable HTML card."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bpu_registration.cards import (
    OCCUPATION_LABELS,
    CardView,
    card_enrolment,
    card_number,
    card_of,
    format_card_number,
    indonesian_date,
    render_card_html,
    valid_card_number,
)
from bpu_registration.domain import (
    Enrolment,
    EnrolmentStatus,
    Occupation,
    Worker,
    parse_identity,
)
from bpu_shared.events import BenefitProgramme
from bpu_shared.month import Month

serials = st.integers(min_value=1, max_value=10**10 - 1)


def test_a_known_luhn_number() -> None:
    # The textbook example: 7992739871 has check digit 3.
    assert card_number(7992739871) == "79927398713"
    assert card_number(1) == "00000000018"
    assert valid_card_number("79927398713")
    assert not valid_card_number("79927398710")


@pytest.mark.parametrize("serial", [0, -1, 10**10, 10**12])
def test_serials_outside_ten_digits_are_refused(serial: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        card_number(serial)


@given(serials)
def test_every_card_number_validates(serial: int) -> None:
    number = card_number(serial)
    assert len(number) == 11 and number[:10] == f"{serial:010d}"
    assert valid_card_number(number)
    assert "".join(format_card_number(number).split()) == number


@given(serials, st.integers(min_value=0, max_value=10), st.integers(min_value=1, max_value=9))
def test_any_single_mistyped_digit_fails(serial: int, position: int, shift: int) -> None:
    number = card_number(serial)
    wrong = str((int(number[position]) + shift) % 10)
    mistyped = number[:position] + wrong + number[position + 1 :]
    assert mistyped != number
    assert not valid_card_number(mistyped)


@given(serials, st.integers(min_value=0, max_value=9))
def test_any_swap_of_different_neighbours_fails_except_09_and_90(serial: int, i: int) -> None:
    number = card_number(serial)
    a, b = number[i], number[i + 1]
    assume(a != b and {a, b} != {"0", "9"})
    swapped = number[:i] + b + a + number[i + 2 :]
    assert not valid_card_number(swapped)


@given(st.lists(st.sampled_from("0123456789"), min_size=8, max_size=8), st.integers(0, 8))
def test_luhn_does_not_see_09_swapped_to_90(digits: list[str], i: int) -> None:
    """What Luhn does not promise, shown so the test above is read as the whole guarantee."""
    payload = "".join(digits[:i]) + "09" + "".join(digits[i:])
    assume(payload != "0" * 10)
    number = card_number(int(payload))
    swapped = number[:i] + "90" + number[i + 2 :]
    assert valid_card_number(swapped)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "7992739871",
        "799273987130",
        "7992739871a",
        "7992-7398-713",
        "٧٩٩٢٧٣٩٨٧١٣",
    ],
)
def test_what_is_not_a_card_number(text: str) -> None:
    assert not valid_card_number(text)


def test_card_number_grouped_for_reading() -> None:
    assert format_card_number("12345678901") == "1234 5678 901"


# -- the printable card ------------------------------------------------------------------------


def kaur_card(**changes: object) -> CardView:
    card = CardView(
        card_number=card_number(1234567890),
        name="Siti Aminah",
        nik_masked="1704********0001",
        birth_date=date(1990, 7, 1),
        gender="P",
        occupation="Petani",
        village_name="Gedung Wani",
        village_code="17.04.01.2001",
        regency_name="Kabupaten Kaur",
        programme_name="Perlindungan Pekerja Rentan 2026",
        sponsor_name="Pemerintah Kabupaten Kaur",
        benefits=["JKK", "JKM"],
        first_month="2026-01",
        last_month="2026-12",
        issued_on=date(2026, 1, 5),
    )
    return replace(card, **changes)  # type: ignore[arg-type]


def test_the_card_shows_its_values_in_indonesian_with_english_labels() -> None:
    page = render_card_html(kaur_card())
    assert page.startswith("<!DOCTYPE html>") and '<html lang="id">' in page
    assert "1234 5678 90" in page and card_number(1234567890) not in page
    assert "Nomor Kartu <small>/ Card number</small>" in page
    for text in (
        "Siti Aminah",
        "1704********0001",
        "1 Juli 1990",
        "Perempuan",
        "Petani",
        "Gedung Wani",
        "17.04.01.2001",
        "Kabupaten Kaur",
        "Perlindungan Pekerja Rentan 2026",
        "Pemerintah Kabupaten Kaur",
        "JKK, JKM",
        "Januari 2026 – Desember 2026",
        "5 Januari 2026",
    ):
        assert text in page, text
    assert "1704014107900001" not in page


def test_the_card_is_self_contained_and_prints_at_id_card_size() -> None:
    page = render_card_html(kaur_card())
    assert re.search(r"@media print\s*{", page)
    assert "size:85.6mm 54mm" in page
    assert 'name="viewport"' in page
    for external in ("http://", "https://", "<link", "src=", "url(", "@import", "<script"):
        assert external not in page


def test_every_value_is_escaped() -> None:
    hostile = '<script>alert("x")</script>'
    page = render_card_html(
        kaur_card(
            name=hostile,
            occupation="<b>tani</b>",
            village_name="A & B",
            regency_name='"><img onerror=1>',
            programme_name="<i>p</i>",
            sponsor_name="<u>s</u>",
            nik_masked="<nik>",
            village_code="<code>",
        )
    )
    assert "<script" not in page and "<img" not in page
    for raw in ("<b>", "<i>", "<u>", "<nik>", "<code>"):
        assert raw not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "A &amp; B" in page


@given(st.text(min_size=1, max_size=40))
def test_no_name_can_add_markup(name: str) -> None:
    page = render_card_html(kaur_card(name=name))
    body = page.split("<body>", 1)[1]
    # Only the page's own tags remain once the name is taken out.
    assert body.count("<") == render_card_html(kaur_card(name="x")).split("<body>", 1)[1].count("<")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gender": "X"}, "gender is L or P"),
        ({"benefits": ["JKK", "JP"]}, "unknown benefit"),
        ({"first_month": "2026-13"}, "not a month"),
        ({"last_month": "2025-12"}, "before"),
        ({"card_number": "12345678901"}, "not a valid card number"),
    ],
)
def test_a_card_view_refuses_what_cannot_be_printed(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        kaur_card(**change)


def test_a_man_and_dates_in_indonesian() -> None:
    assert "Laki-laki" in render_card_html(kaur_card(gender="L"))
    assert indonesian_date(date(1985, 8, 17)) == "17 Agustus 1985"
    assert indonesian_date(date(2000, 2, 29)) == "29 Februari 2000"


# -- a worker's card ---------------------------------------------------------------------------


def enrolment(ident: str, programme: str, *, active: bool = True, year: int = 2026) -> Enrolment:
    return Enrolment(
        enrolment_id=ident,
        programme_id=programme,
        sponsor_id="SP-KAUR",
        benefits=(BenefitProgramme.JKK, BenefitProgramme.JKM),
        first_month=Month(year, 1),
        last_month=Month(year, 12),
        # 20:00 UTC on 4 January is 03:00 on 5 January in Jakarta.
        enrolled_at=datetime(year, 1, 4, 20, 0, tzinfo=UTC),
        status=EnrolmentStatus.ACTIVE if active else EnrolmentStatus.ENDED,
    )


def kaur_worker(*enrolments: Enrolment) -> Worker:
    return Worker(
        worker_id="WK-1",
        identity=parse_identity("1704014107900001"),
        name="Siti Aminah",
        phone=None,
        occupation=Occupation.FISHER,
        village_code="17.04.01.2001",
        declared_monthly_income=1_000_000,
        card_number=card_number(42),
        registered_at=datetime(2025, 1, 4, tzinfo=UTC),
        enrolments=enrolments,
    )


def test_the_card_is_for_the_latest_active_enrolment_the_caller_may_see_else_the_latest() -> None:
    old = enrolment("EN-2025", "PG-KAUR", active=False, year=2025)
    kaur = enrolment("EN-KAUR", "PG-KAUR")
    province = enrolment("EN-PROV", "PG-BENGKULU", year=2027)
    worker = kaur_worker(old, kaur, province)
    assert card_enrolment(worker, {"PG-KAUR", "PG-BENGKULU"}) is province
    assert card_enrolment(worker, {"PG-KAUR"}) is kaur
    assert card_enrolment(worker, {"PG-KAUR"}, "EN-2025") is old  # an ended one, asked for
    assert card_enrolment(worker, {"PG-KAUR"}, "EN-PROV") is None  # not the caller's to see
    assert card_enrolment(kaur_worker(old), {"PG-KAUR"}) is old  # else the latest
    assert card_enrolment(worker, []) is None


def test_what_the_card_of_a_worker_shows() -> None:
    card = card_of(
        kaur_worker(enrolment("EN-1", "PG-KAUR")),
        enrolment("EN-1", "PG-KAUR"),
        "Perlindungan Pekerja Rentan 2026",
        "Pemerintah Kabupaten Kaur",
    )
    assert card == CardView(
        card_number=card_number(42),
        name="Siti Aminah",
        nik_masked="1704********0001",
        birth_date=date(1990, 7, 1),
        gender="P",
        occupation="Nelayan",
        village_name="Gedung Wani",
        village_code="17.04.01.2001",
        regency_name="Kabupaten Kaur",
        programme_name="Perlindungan Pekerja Rentan 2026",
        sponsor_name="Pemerintah Kabupaten Kaur",
        benefits=["JKK", "JKM"],
        first_month="2026-01",
        last_month="2026-12",
        issued_on=date(2026, 1, 5),
    )
    assert "5 Januari 2026" in render_card_html(card)


def test_every_occupation_has_a_label() -> None:
    assert set(OCCUPATION_LABELS) == set(Occupation)
