"""What the chat page adds to Gradio's own assets: a click handler for [n] links, and its CSS.

Kept apart from page.py so the layout reads without a wall of strings. Nothing here is fetched from
outside the server: system fonts, no web fonts, no CDN.
"""

from __future__ import annotations

import gradio as gr

# An [n] in any answer shows that answer's sources (the panel holds every answer's, one shown at
# a time), scrolls to the cited passage and outlines it, instead of following the link.
PAGE_HEAD = """
<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest('a[href^="#source-"]');
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const anchor = document.getElementById(link.getAttribute("href").slice(1));
  if (!anchor) return;
  const group = anchor.closest(".sources");
  document.querySelectorAll("#sources-panel .sources[data-answer]").forEach((other) => {
    other.hidden = other !== group;
  });
  const card = anchor.closest(".citation") || anchor;
  card.scrollIntoView({behavior: "smooth", block: "center"});
  document.querySelectorAll("#sources-panel .citation.flash").forEach((c) => c.classList.remove("flash"));
  card.classList.add("flash");
}, true);
</script>
"""

PAGE_CSS = """
/* The chat's label and its clear button float over the top of the block: the messages scroll in
   the space below them, never under them. */
#chat .bubble-wrap { margin-top: 36px; height: calc(100% - 36px); }
.evidence { font-size: 0.85em; text-decoration: underline dotted; cursor: help; }
.evidence.strong { color: #15803d; }
.evidence.enough { color: #a16207; }
.evidence.weak { color: var(--body-text-color-subdued); }
#sources-panel { max-height: 640px; overflow-y: auto; }
.sources[hidden] { display: none !important; }
.sources .sources-for { font-weight: 600; margin: 0 0 8px 0; }
.sources .citation, .sources .retrieved { border: 1px solid var(--border-color-primary);
  border-radius: 8px; padding: 8px 10px; margin: 0 0 10px 0; }
.sources .citation.flash { outline: 3px solid #f5b301; }
.sources .cite-number { font-weight: 700; float: left; margin-right: 6px; }
.sources .cite-meta { font-size: 0.85em; margin-bottom: 4px; color: var(--body-text-color-subdued);
  overflow-wrap: anywhere; }
.sources .evidence-line { margin: 0 0 8px 0; }
.sources .source-kind, .sources .language { white-space: nowrap; }
.sources .source-kind.upload, .sources .source-kind.url { color: #b45309; font-weight: 600; }
.sources .cite-text { font-size: 0.92em; line-height: 1.45; white-space: pre-wrap; }
.sources .passage-heading { display: inline-block; font-size: 1.05em; margin: 2px 0; }
.sources mark { background: #ffe58a; color: #222; padding: 0 2px; border-radius: 2px; }
.sources .abstained, .sources .notice { border-left: 4px solid #d97706; padding: 6px 10px;
  margin-bottom: 10px; background: var(--background-fill-secondary); }
.sources details summary { cursor: pointer; margin: 6px 0; }
.sources-empty, .documents-empty { color: var(--body-text-color-subdued); }
.documents-scroll { overflow-x: auto; }
.documents-table { width: 100%; border-collapse: collapse; font-size: 0.92em; }
.documents-table th, .documents-table td { text-align: left; vertical-align: top; padding: 6px 10px;
  border: none; border-bottom: 1px solid var(--border-color-primary); }
.documents-table th { background: var(--background-fill-secondary); }
#documents .documents-table { border: 1px solid var(--border-color-primary); }
.documents-table .doc-title { min-width: 16em; overflow-wrap: anywhere; }
.documents-table .doc-source { min-width: 10em; overflow-wrap: anywhere; }
.documents-table .doc-passages { text-align: right; white-space: nowrap; }
.documents-table .doc-time, .documents-table .doc-id { white-space: nowrap; }
#delete-confirm { border: 1px solid #dc2626; border-radius: 8px; padding: 8px; }
@media (max-width: 700px) {
  .documents-table { min-width: 640px; }
  #sources-panel { max-height: none; }
}
"""

# System fonts: nothing for the browser to fetch, and glyphs for every language in the documents.
PAGE_THEME = gr.themes.Default(
    font=["system-ui", "Segoe UI", "Roboto", "DejaVu Sans", "sans-serif"],
    font_mono=["ui-monospace", "DejaVu Sans Mono", "monospace"],
)
