"""The chat page's Documents tab: the table, uploads, URLs and deleting after a confirmation.

The handlers call the same service parts as the REST API (server.uploads, server.urls), and the
table shows sources by the same rule (server.sources).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from cecot_rag.ingest.pipeline import Progress
from cecot_rag.server.page_files import PageFiles
from cecot_rag.server.rejected import Rejected
from cecot_rag.server.render import documents_html, escape_markdown
from cecot_rag.server.service import ChatService
from cecot_rag.server.uploads import UPLOAD_SUFFIXES
from cecot_rag.server.urls import checked_url

# Gradio hands each call its own tracker when a parameter defaults to a Progress instance.
_PROGRESS = gr.Progress()


def ingest_progress(tracker: Callable[..., Any], label: str) -> Progress:
    """Ingestion progress for the page: documents as a bar, passages embedded as a running total."""
    embedded = 0

    def on_source(source: str, index: int, total: int) -> None:
        tracker((index, total), desc=f"Ingesting {label}", unit="documents")

    def on_passages(count: int) -> None:  # the pipeline reports increments
        nonlocal embedded
        embedded += count
        tracker(None, desc=f"Ingesting {label}: {embedded} passages embedded")

    return Progress(on_source=on_source, on_passages=on_passages)


class DocumentsTab:
    """build() lays out the tab and wires its events; the handlers are methods."""

    def __init__(self, service: ChatService, files: PageFiles) -> None:
        self.service = service
        self.assistant = service.assistant
        self.files = files

    def build(self) -> list[gr.components.Component]:
        """The tab's components and events; returns the listing outputs (table, delete choice)."""
        documents_table = gr.HTML(documents_html([]), elem_id="documents", js_on_load=None)
        documents_status = gr.Markdown("", elem_id="documents-status")
        with gr.Row():
            upload_button = gr.UploadButton(
                "Upload files (" + " ".join(UPLOAD_SUFFIXES) + ")",
                file_count="multiple",
                file_types=list(UPLOAD_SUFFIXES),
                elem_id="upload",
            )
        with gr.Row():
            url_box = gr.Textbox(label="Add a web page or PDF by URL", scale=4, elem_id="url")
            add_url_button = gr.Button("Add URL", scale=1, elem_id="add-url")
        with gr.Row():
            delete_choice = gr.Dropdown(
                label="Document to delete", choices=[], scale=4, elem_id="delete-choice"
            )
            delete_button = gr.Button("Delete…", variant="stop", scale=1, elem_id="delete")
        # Deleting cannot be undone: the Delete button only asks; this row does it.
        with gr.Row(visible=False, elem_id="delete-confirm") as confirm_row:
            confirm_text = gr.Markdown("", elem_id="delete-question")
            confirm_button = gr.Button("Yes, delete it", variant="stop", elem_id="confirm-delete")
            cancel_button = gr.Button("Cancel", elem_id="cancel-delete")

        listing = [documents_table, delete_choice]
        upload_button.upload(
            self.add_files,
            upload_button,
            [documents_status, *listing],
            concurrency_limit=1,
            api_name="upload",
            # add_files checks types and origins itself, so a refused file's copy is removed too.
            preprocess=False,
        )
        gr.on(
            [add_url_button.click, url_box.submit],
            self.add_url,
            url_box,
            [documents_status, url_box, *listing],
            # Downloads run outside the index's write lock; the service caps them (503 beyond).
            concurrency_limit=self.service.settings.max_url_fetches,
            api_name="add_url",
        )
        delete_button.click(
            self.ask_to_delete, delete_choice, [confirm_row, confirm_text, documents_status], api_name=False
        )
        cancel_button.click(lambda: gr.update(visible=False), None, confirm_row, api_name=False)
        confirm_button.click(lambda: gr.update(visible=False), None, confirm_row, api_name=False).then(
            self.delete_document,
            delete_choice,
            [documents_status, *listing],
            concurrency_limit=1,
            api_name="delete_document",
        )
        return listing

    def list_documents(self) -> tuple[Any, Any]:
        ready = self.service.readiness.ready.is_set()
        documents = self.service.sources.documents(self.assistant.documents()) if ready else []
        choices = [(f"{d.title} ({d.document_id})", d.document_id) for d in documents]
        return documents_html(documents), gr.update(choices=choices, value=None)

    def ask_to_delete(self, document_id: str | None) -> tuple[Any, ...]:
        """Show the confirmation row naming the document and its passages (nothing is deleted yet)."""
        chosen = next((d for d in self.assistant.documents() if d.document_id == document_id), None)
        if chosen is None:
            return gr.update(visible=False), "", "Choose a document to delete first."
        passages = f"{chosen.passages} passage{'s' if chosen.passages != 1 else ''}"
        question = (
            f"Delete **{escape_markdown(chosen.title)}** and its {passages} from the index? "
            "This cannot be undone."
        )
        return gr.update(visible=True), question, ""

    def add_files(
        self, files: list[dict[str, Any]] | None, tracker: gr.Progress = _PROGRESS
    ) -> tuple[Any, ...]:
        """Ingest uploaded files (raw FileData: the upload event skips Gradio's preprocessing)."""
        lines = []
        for file in files or []:
            file = file if isinstance(file, dict) else {}  # anything else is refused as "not uploaded"
            temporary = str(file.get("path") or "")
            name = str(file.get("orig_name") or "")
            try:
                # Only a file this server's upload route received is read, or ever removed.
                received = self.files.claim(temporary)
            except Rejected as exc:
                lines.append(f"A file was not added: {escape_markdown(exc.message)}")
                continue
            name = name or received.name
            try:
                self.service.readiness.require_ready()
                with open(received, "rb") as upload:
                    saved, report = self.service.uploads.add(name, upload, ingest_progress(tracker, name))
                lines.append(f"**{escape_markdown(saved)}**: {report.summary()}")
            except Rejected as exc:
                lines.append(f"**{escape_markdown(name)}** was not added: {escape_markdown(exc.message)}")
            finally:
                # Gradio's copy goes whether or not the file was added: the uploads folder keeps the
                # only copy, so deleting the document deletes every copy.
                self.files.discard(received)
        return "\n\n".join(lines), *self.list_documents()

    def add_url(self, url: str, tracker: gr.Progress = _PROGRESS) -> tuple[Any, ...]:
        try:
            self.service.readiness.require_ready()
            url = checked_url(url)  # before any echo: text that cannot be encoded is never sent back
            report = self.service.urls.ingest(url, ingest_progress(tracker, url[:80]))
            status = f"**{escape_markdown(url)}**: {report.summary()}"
            url = ""
        except Rejected as exc:
            status = f"Not added: {escape_markdown(exc.message)}"
            url = gr.skip()  # the box keeps what was typed, whatever it is
        return status, url, *self.list_documents()

    def delete_document(self, document_id: str | None) -> tuple[Any, ...]:
        if not document_id:
            return "Choose a document to delete first.", *self.list_documents()
        try:
            self.service.delete_document(document_id)
            status = f"Deleted {escape_markdown(document_id)}."
        except KeyError as exc:  # DocumentNotFound: someone else deleted it meanwhile
            status = escape_markdown(str(exc))
        return status, *self.list_documents()
