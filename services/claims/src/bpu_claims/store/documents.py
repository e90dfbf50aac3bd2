"""A claim's supporting documents (death certificate, medical bills, police report) in GridFS,
in the service's own database: bucket ``claim_documents``, each file's metadata naming its
claim, its kind, its content type and who attached it. The GridFS calls used here are pinned
against the embedded store in the conformance suite (upload, download by id, find by metadata;
a missing file's delete fails there, so a document is only ever deleted right after it was
found)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile

from bpu_shared.clock import JAKARTA
from bpu_shared.service import Repository

BUCKET = "claim_documents"
#: 256 KiB chunks: a scanned certificate of a few MB is a handful of chunk documents.
CHUNK_BYTES = 256 * 1024


def _file(doc: Any) -> dict[str, Any]:
    meta = dict(doc.metadata or {})
    uploaded = doc.upload_date
    if isinstance(uploaded, str):  # the embedded store keeps it as text (conformance suite)
        uploaded = datetime.fromisoformat(uploaded)
    if uploaded.tzinfo is None:  # GridFS stamps UTC; a client that is not tz-aware drops it
        uploaded = uploaded.replace(tzinfo=UTC)
    return {
        "document_id": str(doc._id),
        "filename": doc.filename,
        "length": int(doc.length),
        "uploaded_at": uploaded.astimezone(JAKARTA),
        **meta,
    }


class DocumentStore(Repository):
    @property
    def bucket(self) -> AsyncGridFSBucket:
        return AsyncGridFSBucket(self.db, bucket_name=BUCKET, chunk_size_bytes=CHUNK_BYTES)

    async def ensure_document_indexes(self) -> None:
        await self.db[f"{BUCKET}.files"].create_index("metadata.claim_id")

    async def add_document(self, filename: str, data: bytes, metadata: Mapping[str, Any]) -> str:
        """Store one document; its id."""
        file_id = await self.bucket.upload_from_stream(filename, data, metadata=dict(metadata))
        return str(file_id)

    async def documents_of(self, claim_id: str) -> list[dict[str, Any]]:
        """The claim's documents (without their content), oldest first."""
        cursor = self.bucket.find({"metadata.claim_id": claim_id}).sort("uploadDate", 1)
        return [_file(doc) async for doc in cursor]

    async def document(
        self, claim_id: str, document_id: str
    ) -> tuple[dict[str, Any], bytes] | None:
        """One document of the claim and its content; None if it is not the claim's."""
        try:
            oid = ObjectId(document_id)
        except InvalidId:
            return None
        found = await self.bucket.find({"_id": oid, "metadata.claim_id": claim_id}).to_list()
        if not found:
            return None
        try:
            stream = await self.bucket.open_download_stream(oid)
        except NoFile:
            return None
        return _file(found[0]), await stream.read()
