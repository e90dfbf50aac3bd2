"""Registration's use cases, one handler each: load through the repository, ask the domain,
save through the unit of work. Access checks, "not found" and the clock live in the handlers;
the two tables below are the whole service on one screen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bpu_registration.handlers.imports import (
    CarryOver,
    CarryOverRequest,
    ErrorReport,
    GetImport,
    GetImportErrors,
    ListImports,
    Started,
    StartImport,
    carry_over,
    get_import,
    import_error_report,
    list_imports,
    start_import,
)
from bpu_registration.handlers.programmes import (
    ChangeProgramme,
    CloseProgramme,
    Closing,
    GetProgramme,
    ListProgrammes,
    OpenProgramme,
    ProgrammeChanges,
    change_programme,
    close_programme,
    get_programme,
    list_programmes,
    open_programme,
)
from bpu_registration.handlers.requests import answer_enrolment_requests
from bpu_registration.handlers.search import (
    GetCard,
    GetWorkerHistory,
    SearchWorkers,
    search_workers,
    worker_card,
    worker_history,
)
from bpu_registration.handlers.sponsors import (
    GetSponsor,
    ListSponsors,
    RegisterSponsor,
    get_sponsor,
    list_sponsors,
    register_sponsor,
)
from bpu_registration.handlers.waiting_list import (
    GetWaitingEntry,
    GetWaitingList,
    GetWaitingListSummary,
    WithdrawFromWaitingList,
    close_waiting_lists_of_closed_programmes,
    get_waiting_entry,
    get_waiting_list,
    get_waiting_list_summary,
    withdraw_from_waiting_list,
)
from bpu_registration.handlers.workers import (
    ChangeWorker,
    EndEnrolment,
    Ending,
    Enrolled,
    EnrolWorker,
    FindWorker,
    GetWorker,
    Move,
    MoveWorker,
    WorkerChanges,
    change_worker,
    end_enrolment,
    end_enrolments_of_closed_programmes,
    enrol_worker,
    find_worker,
    get_worker,
    move_worker,
)
from bpu_shared.auth import KEY_COMMAND_HANDLERS, KEY_EVENT_HANDLERS
from bpu_shared.events import EnrolmentRequested, ProgrammeClosed

COMMAND_HANDLERS: dict[type, Any] = {
    RegisterSponsor: register_sponsor,
    ListSponsors: list_sponsors,
    GetSponsor: get_sponsor,
    OpenProgramme: open_programme,
    GetProgramme: get_programme,
    ListProgrammes: list_programmes,
    ChangeProgramme: change_programme,
    CloseProgramme: close_programme,
    EnrolWorker: enrol_worker,
    GetWorker: get_worker,
    FindWorker: find_worker,
    SearchWorkers: search_workers,
    GetWorkerHistory: worker_history,
    GetCard: worker_card,
    ChangeWorker: change_worker,
    EndEnrolment: end_enrolment,
    MoveWorker: move_worker,
    GetWaitingList: get_waiting_list,
    GetWaitingListSummary: get_waiting_list_summary,
    GetWaitingEntry: get_waiting_entry,
    WithdrawFromWaitingList: withdraw_from_waiting_list,
    StartImport: start_import,
    CarryOver: carry_over,
    GetImport: get_import,
    ListImports: list_imports,
    GetImportErrors: import_error_report,
    **KEY_COMMAND_HANDLERS,  # issue, revoke and list API keys
}

EVENT_HANDLERS: dict[type, Sequence[Any]] = {
    ProgrammeClosed: [
        end_enrolments_of_closed_programmes,
        close_waiting_lists_of_closed_programmes,
    ],
    EnrolmentRequested: [answer_enrolment_requests],  # a regional registry's requests
    **KEY_EVENT_HANDLERS,  # ApiKeyIssued, ApiKeyRevoked: every service keeps the key hashes
}

__all__ = [
    "COMMAND_HANDLERS",
    "EVENT_HANDLERS",
    "CarryOver",
    "CarryOverRequest",
    "ChangeProgramme",
    "ChangeWorker",
    "CloseProgramme",
    "Closing",
    "EndEnrolment",
    "Ending",
    "EnrolWorker",
    "Enrolled",
    "ErrorReport",
    "FindWorker",
    "GetCard",
    "GetImport",
    "GetImportErrors",
    "GetProgramme",
    "GetSponsor",
    "GetWaitingEntry",
    "GetWaitingList",
    "GetWaitingListSummary",
    "GetWorker",
    "GetWorkerHistory",
    "ListImports",
    "ListProgrammes",
    "ListSponsors",
    "Move",
    "MoveWorker",
    "OpenProgramme",
    "ProgrammeChanges",
    "RegisterSponsor",
    "SearchWorkers",
    "StartImport",
    "Started",
    "WithdrawFromWaitingList",
    "WorkerChanges",
]
