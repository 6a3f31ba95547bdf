"""Catalogue modules of sources, one per domain. Each exposes ``SOURCES: tuple[Source, ...]``."""
