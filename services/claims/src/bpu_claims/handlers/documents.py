"""A claim's supporting documents: attached (checked for kind, type and size), listed, read.
The content and file names are stored in the service's own database (GridFS), never logged."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bpu_claims.handlers.base import CLAIM_READERS, FILERS, Claims
from bpu_claims.handlers.claims import ClaimState, load_claim
from bpu_shared.auth import Principal
from bpu_shared.errors import Conflict, InvalidInput, NotFound

#: What a document may be: scans and photos of papers.
CONTENT_TYPES = ("application/pdf", "image/jpeg", "image/png")
MAX_BYTES = 10 * 1024 * 1024


class DocumentKind(StrEnum):
    DEATH_CERTIFICATE = "death_certificate"
    MEDICAL_BILL = "medical_bill"
    MEDICAL_REPORT = "medical_report"
    ACCIDENT_REPORT = "accident_report"  # the employer's or village head's report
    POLICE_REPORT = "police_report"
    HEIR_STATEMENT = "heir_statement"  # surat keterangan ahli waris
    FAMILY_CARD = "family_card"  # kartu keluarga
    SCHOOL_CERTIFICATE = "school_certificate"
    TRANSPORT_RECEIPT = "transport_receipt"
    OTHER = "other"


@dataclass(frozen=True)
class AttachDocument:
    claim_id: str
    kind: DocumentKind
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ListDocuments:
    claim_id: str


@dataclass(frozen=True)
class GetDocument:
    claim_id: str
    document_id: str


async def attach_document(
    cmd: AttachDocument, principal: Principal, deps: Claims
) -> dict[str, Any]:
    principal.require_role(*FILERS)
    claim = await load_claim(deps, principal, cmd.claim_id)
    if claim["state"] == ClaimState.PAID.value:
        raise Conflict(f"claim {cmd.claim_id} is paid; its file is closed", "state")
    content_type = cmd.content_type.split(";")[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        raise InvalidInput(
            "file", f"a {content_type or 'file of no type'} is not taken; send PDF, JPEG or PNG"
        )
    if not cmd.data:
        raise InvalidInput("file", "the file is empty")
    if len(cmd.data) > MAX_BYTES:
        raise InvalidInput("file", f"{len(cmd.data):,} bytes; at most {MAX_BYTES:,}")
    filename = (cmd.filename or "document").rsplit("/", 1)[-1][:200]
    metadata = {
        "claim_id": cmd.claim_id,
        "kind": cmd.kind.value,
        "content_type": content_type,
        "uploaded_by": principal.key_id,
    }
    document_id = await deps.repository.add_document(filename, cmd.data, metadata)
    found = await deps.repository.documents_of(cmd.claim_id)
    return next(d for d in found if d["document_id"] == document_id)


async def list_documents(
    q: ListDocuments, principal: Principal, deps: Claims
) -> list[dict[str, Any]]:
    principal.require_role(*CLAIM_READERS)
    await load_claim(deps, principal, q.claim_id)
    return await deps.repository.documents_of(q.claim_id)


async def get_document(
    q: GetDocument, principal: Principal, deps: Claims
) -> tuple[dict[str, Any], bytes]:
    principal.require_role(*CLAIM_READERS)
    await load_claim(deps, principal, q.claim_id)
    found = await deps.repository.document(q.claim_id, q.document_id)
    if found is None:
        raise NotFound("document", q.document_id)
    return found


DOCUMENT_COMMAND_HANDLERS: dict[type, Any] = {
    AttachDocument: attach_document,
    ListDocuments: list_documents,
    GetDocument: get_document,
}
