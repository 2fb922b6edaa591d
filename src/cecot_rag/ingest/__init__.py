"""Ingestion: loaders turn files and URLs into text, chunking makes passages, the pipeline stores them."""
