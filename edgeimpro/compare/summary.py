"""summary.json: everything the report shows, computed from results.jsonl's records alone (so a resumed
run summarizes all its sessions), and the verdict `--fail-on` asks for."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from edgeimpro.compare.metrics import aggregate, confusion_matrix, per_class_table
from edgeimpro.compare.records import InputRecord, ReferenceDescription, SessionRecord

FAIL_ON = ("exact", "top1", "none")
MISMATCH_LIST = 200          # mismatching inputs named in the summary


def _stats(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values),
            "median": statistics.median(values)}


def primary_reference(refs: Sequence[ReferenceDescription]) -> str | None:
    """The reference the verdict is about: the exact one (tflm) when present, else the first."""
    exact = [r.name for r in refs if r.exact]
    return exact[0] if exact else (refs[0].name if refs else None)


def device_performance(session: SessionRecord | None, records: Sequence[InputRecord]) -> dict[str, Any]:
    counts = [r.device.count for r in records if r.device.count is not None]
    kind = next((r.device.count_kind for r in records if r.device.count is not None), "none")
    out: dict[str, Any] = {"count_kind": kind, "per_inference": _stats(counts)}
    clock = session.device.clock_hz if session is not None else 0
    if kind == "cycles" and clock and counts:
        out["ms"] = _stats([1e3 * c / clock for c in counts])
    exchange = [r.device.seconds for r in records]
    link_bytes = sum(r.device.link_bytes for r in records)
    wall = sum(r.seconds for r in records)
    out["exchange_seconds"] = _stats(exchange)
    out["link_bytes_per_second"] = link_bytes / sum(exchange) if exchange and sum(exchange) > 0 else None
    out["link_bytes_per_input"] = link_bytes / len(records) if records else None
    out["inputs_per_second"] = len(records) / wall if wall > 0 else None
    out["retries"] = sum(r.device.retries for r in records)
    return out


def _accuracy(session: SessionRecord | None, records: Sequence[InputRecord], refs: list[str]
              ) -> dict[str, Any] | None:
    names = session.class_names if session is not None else []
    labelled = [r for r in records if r.truth is not None]
    unknown = sorted({r.label for r in records if r.label is not None and r.truth is None})
    if not labelled:
        return {"labelled": 0, "unknown_labels": unknown} if unknown else None
    truth = [r.truth for r in labelled if r.truth is not None]
    preds = {"device": [r.device.top1 for r in labelled]}
    for name in refs:
        preds[name] = [r.refs[name].top1 for r in labelled if name in r.refs]
    preds = {k: v for k, v in preds.items() if len(v) == len(truth)}
    return {
        "labelled": len(labelled),
        "unknown_labels": unknown,
        "accuracy": {k: sum(int(p == t) for p, t in zip(v, truth, strict=True)) / len(truth) for k, v in preds.items()},
        "confusion": {k: confusion_matrix(truth, v, len(names)).tolist() for k, v in preds.items()},
        "per_class": per_class_table(truth, preds, names),
    }


def _layers(session: SessionRecord | None, records: Sequence[InputRecord]) -> dict[str, Any] | None:
    checked = [(r, r.layers) for r in records if r.layers is not None]
    if not checked:
        return None
    ops = session.ops if session is not None else []
    first_counts: dict[int, int] = {}
    per_layer: dict[int, dict[str, int]] = {}
    table = []
    for r, div in checked:
        first = div.first
        if first is not None:
            first_counts[first.layer] = first_counts.get(first.layer, 0) + 1
        for layer, differing, max_abs in div.layers:
            e = per_layer.setdefault(layer, {"inputs_differing": 0, "max_abs": 0, "elements_differing": 0})
            e["inputs_differing"] += int(differing > 0)
            e["elements_differing"] += differing
            e["max_abs"] = max(e["max_abs"], max_abs if max_abs >= 0 else 255)
        table.append({"name": r.name, "key": r.key, "first": None if first is None else first.to_dict(),
                      "reproduced": div.reproduced})
    earliest = min(first_counts) if first_counts else None
    return {
        "inputs_checked": len(checked),
        "first_divergent_layer": None if earliest is None else
        {"layer": earliest, "opcode": ops[earliest] if earliest < len(ops) else "?", "inputs": first_counts[earliest],
         "max_abs": per_layer[earliest]["max_abs"]},
        "first_divergence_counts": {str(k): v for k, v in sorted(first_counts.items())},
        "per_layer": [{"layer": k, "opcode": ops[k] if k < len(ops) else "?", **v} for k, v in sorted(per_layer.items())],
        "inputs": table[:MISMATCH_LIST],
    }


def verdict(fail_on: str, primary: str | None, refs: dict[str, Any], inputs: int,
            state: str = "complete") -> dict[str, Any]:
    """The verdict by --fail-on over the inputs compared. `status` is the word shown: PASS only when the
    check ran over a complete run and held; FAIL; NOT CHECKED (--fail-on none: what differs is still
    said); INTERRUPTED or STOPPED for a run that did not complete, which never passes a check (what was not
    compared is not proven). `passed` decides the exit status (--fail-on none never fails)."""
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {FAIL_ON}")
    m = refs.get(primary or "", {})
    who = m.get("title", primary)
    if inputs == 0:
        finding = "no input was compared"
        holds = {"exact": False, "top1": False, "none": True}[fail_on]
    elif fail_on == "top1":
        holds = m.get("top1_agree_inputs") == inputs
        finding = (f"top-1 agrees with {who} on all {inputs} inputs" if holds else
                   f"top-1 differs from {who} on {inputs - m.get('top1_agree_inputs', 0)} of {inputs} inputs")
    else:                                  # exact, and what --fail-on none reports without checking it
        holds = m.get("exact_inputs") == inputs
        finding = (f"all {inputs} outputs identical to {who}" if holds else
                   f"{inputs - m.get('exact_inputs', 0)} of {inputs} outputs differ from {who}")
    if state != "complete":
        status = "INTERRUPTED" if state == "interrupted" else "STOPPED"
        return {"fail_on": fail_on, "passed": fail_on == "none", "status": status,
                "reason": f"run {state}, after {inputs} inputs: {finding}"}
    if fail_on == "none":
        return {"fail_on": fail_on, "passed": True, "status": "NOT CHECKED", "reason": finding}
    return {"fail_on": fail_on, "passed": holds, "status": "PASS" if holds else "FAIL", "reason": finding}


def summarize(sessions: Sequence[SessionRecord], records: Sequence[InputRecord], *, fail_on: str,
              state: str) -> dict[str, Any]:
    """The summary of a (possibly resumed, possibly unfinished) run; `state` says how it ended."""
    session = sessions[-1] if sessions else None
    records = sorted(records, key=lambda r: r.position)
    references = session.references if session is not None else []
    primary = primary_reference(references)
    ref_names = [r.name for r in references]
    refs: dict[str, Any] = {}
    for desc in references:
        m = aggregate(r.refs[desc.name] for r in records if desc.name in r.refs)
        refs[desc.name] = {**desc.to_json(), **m}
    mismatches = [r for r in records if primary and not r.refs[primary].exact]
    out = {
        "format": "edgeimpro-compare-summary",
        "version": 1,
        "state": state,
        "model": session.model if session is not None else None,
        "model_sha256": session.model_sha256 if session is not None else None,
        "device": asdict(session.device) if session is not None else None,
        "source": session.source if session is not None else None,
        "preprocessing": session.preprocessing if session is not None else None,
        "class_names": session.class_names if session is not None else None,
        "sessions": len(sessions),
        "inputs": len(records),
        "primary_reference": primary,
        "missing_references": session.missing_references if session is not None else {},
        "references": refs,
        "device_performance": device_performance(session, records),
        "labels": _accuracy(session, records, ref_names),
        "layers": _layers(session, records),
        "layers_requested": bool(session is not None and session.options.layers),
        "mismatches": [{"name": r.name, "key": r.key, "max_abs": r.refs[primary].max_abs,
                        "differing": r.refs[primary].differing} for r in mismatches[:MISMATCH_LIST] if primary],
        "mismatch_count": len(mismatches),
        "verdict": verdict(fail_on, primary, refs, len(records), state),
    }
    return _finite(out)


def _finite(obj: Any) -> Any:
    """JSON has no infinities or NaN: they become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj
