"""The source-level callsite and module values, re-exported where dynamic debug's users first
found them; they are defined in :mod:`model.source`."""

from __future__ import annotations

from model.source import CallsiteSpec, ClassMapSpec, ModuleSpec

__all__ = ["CallsiteSpec", "ClassMapSpec", "ModuleSpec"]
