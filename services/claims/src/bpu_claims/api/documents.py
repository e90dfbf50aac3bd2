"""``/claims/{id}/documents``: attach a supporting document (multipart), list them, read one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from pydantic import BaseModel

from bpu_claims.handlers.documents import (
    MAX_BYTES,
    AttachDocument,
    DocumentKind,
    GetDocument,
    ListDocuments,
)
from bpu_shared.auth import Anyone
from bpu_shared.http import problem_responses

router = APIRouter(tags=["claims"])


class DocumentOut(BaseModel):
    document_id: str
    claim_id: str
    kind: str
    filename: str
    content_type: str
    length: int
    uploaded_by: str
    uploaded_at: datetime

    @classmethod
    def of(cls, doc: dict[str, Any]) -> DocumentOut:
        return cls(**{k: doc[k] for k in cls.model_fields})


@router.post(
    "/claims/{claim_id}/documents",
    response_model=DocumentOut,
    status_code=201,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def attach_document(
    claim_id: str,
    request: Request,
    response: Response,
    who: Anyone,
    file: Annotated[UploadFile, File(description=f"PDF, JPEG or PNG, at most {MAX_BYTES:,} bytes")],
    kind: Annotated[DocumentKind, Form()] = DocumentKind.OTHER,
) -> DocumentOut:
    """Attach a supporting document (death certificate, medical bill, heir statement…)."""
    data = await file.read(MAX_BYTES + 1)
    doc = await request.app.state.bus.handle(
        AttachDocument(
            claim_id=claim_id,
            kind=kind,
            filename=file.filename or "document",
            content_type=file.content_type or "",
            data=data,
        ),
        who,
    )
    response.headers["Location"] = f"/claims/{claim_id}/documents/{doc['document_id']}"
    return DocumentOut.of(doc)


@router.get(
    "/claims/{claim_id}/documents",
    response_model=list[DocumentOut],
    responses=problem_responses(401, 403, 404),
)
async def list_documents(claim_id: str, request: Request, who: Anyone) -> list[DocumentOut]:
    found = await request.app.state.bus.handle(ListDocuments(claim_id), who)
    return [DocumentOut.of(d) for d in found]


@router.get(
    "/claims/{claim_id}/documents/{document_id}",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}},
        **problem_responses(401, 403, 404),
    },
)
async def read_document(claim_id: str, document_id: str, request: Request, who: Anyone) -> Response:
    meta, data = await request.app.state.bus.handle(GetDocument(claim_id, document_id), who)
    return Response(
        content=data,
        media_type=meta["content_type"],
        headers={"Content-Disposition": f'attachment; filename="document-{document_id}"'},
    )
