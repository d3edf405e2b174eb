"""What the multi-asset checks share: counts as metadata, and the results a run selected."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import dagster as dg


def counts_metadata(counts: Mapping[str, Any]) -> dict[str, dg.MetadataValue]:
    """Counts as integer metadata (plotted across partitions in the UI)."""
    return {name: dg.MetadataValue.int(int(value)) for name, value in counts.items()}


def selected(
    context: dg.AssetCheckExecutionContext,
    results: Iterable[tuple[dg.AssetCheckSpec, dg.AssetCheckResult]],
) -> Iterator[dg.AssetCheckResult]:
    """The results of a multi-asset check's specs that this run selected, each tagged with its
    asset and name (a run may select only some of them, e.g. one asset with its checks)."""
    chosen = context.selected_asset_check_keys
    for spec, result in results:
        if spec.key in chosen:
            yield dg.AssetCheckResult(
                asset_key=spec.asset_key,
                check_name=spec.name,
                passed=result.passed,
                severity=result.severity,
                metadata=result.metadata,
                description=result.description,
            )
