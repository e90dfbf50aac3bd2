"""A person's age in whole years: registration enrols by it (ages 15–64 on the cover's first
day) and claims pays a child's scholarship by it (under 23 on each due day). Pure."""

from __future__ import annotations

from datetime import date


def age_on(birth_date: date, day: date) -> int:
    """Whole years of age on ``day``; born on 29 February, a year is full on 1 March in other
    years."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - before_birthday
