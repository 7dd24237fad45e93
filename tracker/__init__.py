"""session-buddy-ci's domain library: contexts, phase maps, storage,
analytics, reports and the integrations.

Names are imported lazily (PEP 562): ``tracker.context`` and
``tracker.phases`` use the standard library only, and the GitHub Action
imports them on every CI step where SQLAlchemy is not installed.

>>> from tracker import CICDTracker, CIPipelineContext   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "CICDTracker": "tracker.cicd",
    "SkillsTracker": "tracker.skills",
    "CrackerjackIntegration": "tracker.crackerjack",
    "IDEPluginProtocol": "tracker.ide",
    "IDEContext": "tracker.ide_context",
    "IDESuggestion": "tracker.ide",
    "SkillCatalogue": "tracker.semantic",
    "CIPipelineContext": "tracker.context",
    "WorkflowPhase": "tracker.phases",
    "Outcome": "tracker.phases",
    "Source": "tracker.phases",
    "Integration": "tracker.phases",
    "PhaseMap": "tracker.phases",
    "CI_STAGES": "tracker.phases",
    "CRACKERJACK_PHASES": "tracker.phases",
    "PipelineStageMetrics": "tracker.metrics",
    "PipelineAnalytics": "tracker.analytics",
    "SkillsStorage": "tracker.storage",
    "Settings": "tracker.settings",
    "InvocationRecord": "tracker.records",
    "TrackerError": "tracker.errors",
    "StorageError": "tracker.errors",
    "StorageFullError": "tracker.errors",
}

__all__ = [
    "CI_STAGES",
    "CRACKERJACK_PHASES",
    "CICDTracker",
    "CIPipelineContext",
    "CrackerjackIntegration",
    "IDEContext",
    "IDEPluginProtocol",
    "IDESuggestion",
    "Integration",
    "InvocationRecord",
    "Outcome",
    "PhaseMap",
    "PipelineAnalytics",
    "PipelineStageMetrics",
    "Settings",
    "SkillCatalogue",
    "SkillsStorage",
    "SkillsTracker",
    "Source",
    "StorageError",
    "StorageFullError",
    "TrackerError",
    "WorkflowPhase",
]

if TYPE_CHECKING:
    from .analytics import PipelineAnalytics
    from .cicd import CICDTracker
    from .context import CIPipelineContext
    from .crackerjack import CrackerjackIntegration
    from .errors import StorageError, StorageFullError, TrackerError
    from .ide import IDEPluginProtocol, IDESuggestion
    from .ide_context import IDEContext
    from .metrics import PipelineStageMetrics
    from .phases import (
        CI_STAGES,
        CRACKERJACK_PHASES,
        Integration,
        Outcome,
        PhaseMap,
        Source,
        WorkflowPhase,
    )
    from .records import InvocationRecord
    from .semantic import SkillCatalogue
    from .settings import Settings
    from .skills import SkillsTracker
    from .storage import SkillsStorage


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tracker' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
