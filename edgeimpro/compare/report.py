"""report.html: one self-contained page (figures and thumbnails embedded as base64 PNG) from summary.json
and the gallery's records.

Model file, class, input, op and board names are data from files and devices: every one passes `_e`
(edgeimpro.escape.html_text) exactly once; table cells are HTML already, table headers are text.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgeimpro.compare import plots
from edgeimpro.compare.detect import same_cells
from edgeimpro.compare.records import InputRecord
from edgeimpro.escape import html_text
from edgeimpro.units import rate_text

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .6em 0; } td, th { border: 1px solid #ddd; padding: .25em .6em; }
th { background: #f4f4f4; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { padding: .8em 1em; border-radius: 6px; font-size: 1.15em; margin: 1em 0; }
.pass { background: #e3f5e1; border: 1px solid #7bc47f; } .fail { background: #fde2e1; border: 1px solid #e57373; }
.unchecked { background: #fff4d6; border: 1px solid #e0b84c; }
.note { color: #666; } .bad { color: #c62828; font-weight: 600; } .good { color: #2e7d32; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px; width: 230px; font-size: 12px; }
.card img { display: block; margin: 0 auto 6px; image-rendering: pixelated; }
.card .name { font-weight: 600; word-break: break-all; }
code { background: #f4f4f4; padding: 0 .2em; }
"""


def _e(x: Any) -> str:
    return html_text(x)


def _img(png: bytes, alt: str, **attrs: str) -> str:
    extra = "".join(f' {k}="{_e(v)}"' for k, v in attrs.items())
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="{_e(alt)}"{extra}>'


def _num(v: Any, fmt: str = "{:.4g}") -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return fmt.format(v)
    return f"{v:,}" if isinstance(v, int) else _e(v)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    head = f"<tr>{''.join(f'<th>{_e(h)}</th>' for h in header)}</tr>" if any(header) else ""  # none if empty
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _header(s: dict[str, Any]) -> str:
    dev = s.get("device") or {}
    v = s["verdict"]
    word = v["status"]
    cls = {"PASS": "pass", "FAIL": "fail"}.get(word, "unchecked")
    state = "" if s["state"] == "complete" else f' <span class="bad">(run {_e(s["state"])}: continue it with --resume)</span>'
    rows = [
        ("model", f"<code>{_e(s['model'])}</code> (sha256 {_e(str(s['model_sha256'])[:16])}…)"),
        ("device", f"{_e(dev.get('board'))} ({_e(dev.get('core'))}, {_e(dev.get('build_target'))}), firmware "
                   f"{_e(dev.get('firmware_version'))}, on <code>{_e(dev.get('url'))}</code>"),
        ("inputs", f"{s['inputs']:,} from {_e(s.get('source'))}"
                   + (f" ({s['resumed_inputs']:,} from earlier runs)" if s.get("resumed_inputs") else "")),
        ("preprocessing", _e(s.get("preprocessing"))),
    ]
    if s.get("missing_references"):
        rows.append(("not available", "; ".join(f"{_e(k)}: {_e(m)}" for k, m in s["missing_references"].items())))
    return (f"<h1>edgeimpro compare</h1>"
            f'<div class="verdict {cls}"><b>{_e(word)}</b> (--fail-on {_e(v["fail_on"])}): {_e(v["reason"])}{state}</div>'
            + _table(["", ""], [(f"<b>{k}</b>", val) for k, val in rows], numeric_from=9))


def _metrics(s: dict[str, Any]) -> str:
    refs = [r for r in s["references"].values() if r.get("inputs")]
    if not refs:
        return "<p>No input compared.</p>"
    names = [str(r["title"]) for r in refs]            # text: _table escapes headers
    rows = [
        ["exact-match rate (whole output)"] + [f"{_pct(r['exact_rate'])} ({r['exact_inputs']:,}/{r['inputs']:,})"
                                               for r in refs],
        ["max |Δ| (int8 steps)"] + [_num(r["max_abs_diff_steps"]) for r in refs],
        ["elements differing"] + [f"{r['differing_elements']:,} of {r['elements']:,}" for r in refs],
        ["MAE (output units)"] + [_num(r["mae"]) for r in refs],
        ["MAE (int8 steps)"] + [_num(r["mae_steps"]) for r in refs],
        ["RMSE (output units)"] + [_num(r["rmse"]) for r in refs],
        ["L2 relative error"] + [_num(r["l2_relative_error"]) for r in refs],
        ["cosine similarity"] + [_num(r["cosine_similarity"], "{:.6f}") for r in refs],
        ["top-1 agreement"] + [f"{_pct(r['top1_agreement'])} ({r['top1_agree_inputs']:,}/{r['inputs']:,})"
                               for r in refs],
    ]
    note = ('<p class="note">Device outputs compared with each desktop reference. tflite_micro runs the same '
            "int8 arithmetic the device must run, so anything but 100% exact is a bug; LiteRT's optimized kernels "
            "round differently by a few steps; the float Keras model shows the quantization error "
            "(its exact-match means: equal to its own int8 rounding).</p>")
    if s.get("detection"):
        note += ('<p class="note">This model is a detector: top-1 is the argmax of the whole output grid, which '
                 "means little; the detection section below compares the centroids.</p>")
    return "<h2>Device vs desktop</h2>" + note + _table(["metric", *names], rows)


def _performance(s: dict[str, Any]) -> str:
    p = s["device_performance"]
    rows = []
    per = p.get("per_inference")
    if per:
        kind = p["count_kind"]
        what = "instructions (QEMU -icount: instructions, not cycles)" if kind == "instructions" else kind
        rows.append([f"{_e(what)} per inference",
                     f"{per['mean']:,.0f} (min {per['min']:,.0f}, max {per['max']:,.0f})"])
    if p.get("ms"):
        rows.append(["milliseconds per inference", f"{p['ms']['mean']:.3f} (min {p['ms']['min']:.3f}, "
                                                   f"max {p['ms']['max']:.3f})"])
    if p.get("exchange_seconds"):
        rows.append(["link round trip per input (send, infer, receive)", f"{1e3 * p['exchange_seconds']['mean']:.1f} ms"])
    if p.get("link_bytes_per_second"):
        rows.append(["link throughput", f"{rate_text(p['link_bytes_per_second'])} "
                                        f"({p['link_bytes_per_input']:,.0f} B per input)"])
    if p.get("inputs_per_second"):
        rows.append(["whole comparison", f"{p['inputs_per_second']:.2f} inputs/s (device and references)"])
    rows.append(["link retries", f"{p.get('retries', 0):,}"])
    return "<h2>Device performance</h2>" + _table(["", ""], rows)


def _labels(s: dict[str, Any], conf_png: bytes | None) -> str:
    lab = s.get("labels")
    if not lab:
        return ""
    out = "<h2>Accuracy</h2>"
    if lab.get("unknown_labels"):
        out += (f'<p class="bad">Labels that are not classes of the model (not scored): '
                f"{_e(', '.join(lab['unknown_labels']))}</p>")
    if not lab.get("labelled"):
        return out
    titles = {"device": "device", **{k: v["title"] for k, v in s["references"].items()}}
    out += _table(["", *[titles.get(k, k) for k in lab["accuracy"]]],
                  [[f"top-1 accuracy on {lab['labelled']:,} labelled inputs",
                    *[_pct(v) for v in lab["accuracy"].values()]]])
    if conf_png:
        out += f'<figure id="confusion">{_img(conf_png, "confusion matrices")}</figure>'
    who = list(lab["accuracy"])
    rows = []
    for row in lab["per_class"]:
        rows.append([_e(row["class"]), f"{row['support']:,}", *[
            f"{_pct(row[w]['recall'])} / {_pct(row[w]['precision'])}" for w in who]])
    out += "<h3>Per class (recall / precision)</h3>" + _table(["class", "inputs", *[titles.get(w, w) for w in who]], rows)
    return out


def _detection(s: dict[str, Any]) -> str:
    det = s.get("detection")
    if not det:
        return ""
    preds = det["predictors"]
    g = det["grid"]
    out = (f"<h2>Detection and counting</h2><p class=\"note\">Centroids decoded from each {g['height']}x{g['width']} "
           f"output grid (stride {g['stride']}) at threshold {det['threshold']:g}: a cell is a detection of its best "
           f"class when that probability reaches the threshold. Classes: {_e(', '.join(det['classes']))}.</p>")
    rows = [["objects found"] + [f"{p['objects']:,}" for p in preds.values()],
            ["mean count per image"] + [f"{p['mean_count']:.2f}" for p in preds.values()],
            ["images with the device's centroids"] + [f"{p['same_centroids_as_device']:,}/{det['images']:,}"
                                                       for p in preds.values()]]
    if det["labelled"]:
        def metric(p: dict[str, Any], key: str, fmt: str) -> str:
            m = p.get("metrics")
            return "–" if m is None or m[key] is None else fmt.format(m[key])
        rows += [["F1"] + [metric(p, "f1", "{:.3f}") for p in preds.values()],
                 ["precision"] + [metric(p, "precision", "{:.3f}") for p in preds.values()],
                 ["recall"] + [metric(p, "recall", "{:.3f}") for p in preds.values()],
                 ["count MAE"] + [metric(p, "count_mae", "{:.2f}") for p in preds.values()],
                 ["count MAPE"] + [metric(p, "count_mape", "{:.1%}") for p in preds.values()],
                 ["images counted exactly"] + [metric(p, "count_exact", "{:.1%}") for p in preds.values()]]
        out += f"<p>{det['labelled']:,} of {det['images']:,} images have boxes (the truth).</p>"
    else:
        out += "<p>No input has boxes (give a detection dataset folder as SOURCE for F1 and count errors).</p>"
    out += _table(["", *[str(p["title"]) for p in preds.values()]], rows)
    who = list(preds)
    header = ["image", *(["true count"] if det["labelled"] else []), *[f"{preds[w]['title']} count" for w in who],
              *(["TP", "FP", "FN"] if det["labelled"] else [])]
    body = []
    for r in det["per_image"][:200]:
        truth = [f"{r['true_count']}"] if "true_count" in r else (["–"] if det["labelled"] else [])
        match = [f"{r[k]}" for k in ("tp", "fp", "fn")] if "tp" in r else (["–"] * 3 if det["labelled"] else [])
        body.append([_e(r["name"]), *truth, *[f"{r['counts'][w]}" for w in who], *match])
    more = "" if len(det["per_image"]) <= 200 else "<p class='note'>(the first 200 images; all in summary.json)</p>"
    return out + "<h3>Per image</h3>" + _table(header, body) + more


def _layers(s: dict[str, Any], chart: bytes | None) -> str:
    lay = s.get("layers")
    if lay is None:
        if s.get("layers_requested"):
            return ("<h2>Layer by layer</h2><p>Every output matched tflite_micro exactly: no layer needed to be "
                    "fetched (--layers dumps the layers of mismatching inputs).</p>")
        return ""
    out = "<h2>Layer by layer</h2>"
    first = lay.get("first_divergent_layer")
    if first is not None:
        out += (f'<p class="bad">The device first diverges from tflite_micro at layer {first["layer"]} '
                f"({_e(first['opcode'])}), max |Δ| {first['max_abs']} steps, in {first['inputs']} of "
                f"{lay['inputs_checked']} mismatching input(s). Later layers may differ only as a consequence.</p>")
    else:
        out += "<p>Every layer of the mismatching inputs matched tflite_micro on a second run.</p>"
    if chart:
        out += f'<figure id="layer-chart">{_img(chart, "per-layer divergence")}</figure>'
    rows = []
    for r in lay["inputs"][:50]:
        f = r["first"]
        rows.append([_e(r["name"]), "–" if f is None else f"{f['layer']} {_e(f['opcode'])}",
                     "–" if f is None else f"{f['max_abs']}", "–" if f is None else f"{f['differing']:,} / {f['elements']:,}",
                     "yes" if r.get("reproduced") else "no"])
    out += _table(["input", "first divergent layer", "max |Δ|", "elements differing", "reproduced"], rows)
    return out


def _gallery(s: dict[str, Any], records: Sequence[InputRecord], base: Path) -> str:
    out = '<h2>Most disagreeing inputs</h2><div class="gallery" id="gallery">'
    if not records:
        return out + "<p>No input disagrees with any reference.</p></div>"
    names = s.get("class_names") or []
    refs = s["references"]

    def cls(k: int) -> str:
        return _e(names[k] if 0 <= k < len(names) else k)

    for r in records:
        img = ""
        if r.thumb and (base / r.thumb).is_file():
            img = _img((base / r.thumb).read_bytes(), r.name)
        lines = [f'<div class="name">{_e(r.name)}</div>']
        det = r.detection
        if det is not None:
            if det.true_counts is not None:
                lines.append(f"true count: <b>{sum(det.true_counts)}</b> (green rings)")
            lines.append(f"device: <b>{len(det.device)}</b> found (crosses; red: false)")
            for name, cells in det.refs.items():
                same = same_cells(cells, det.device)
                lines.append(f"{_e(refs.get(name, {}).get('title', name))}: {len(cells)} found, "
                             + ("same centroids" if same else '<span class="bad">other centroids</span>'))
        else:
            if r.label is not None:
                lines.append(f"truth: <b>{_e(r.label)}</b>")
            lines.append(f"device: <b>{cls(r.device.top1)}</b> {r.device.score:.3f}")
        for name, x in r.refs.items():
            mark = "" if x.top1_agree else ' <span class="bad">≠</span>'
            exact = ('<span class="good">exact</span>' if x.exact and not refs.get(name, {}).get("float")
                     else f"max |Δ| {x.max_abs:.3g}")
            if det is not None:
                lines.append(f"{_e(refs.get(name, {}).get('title', name))} grid: {exact}")
                continue
            lines.append(f"{_e(refs.get(name, {}).get('title', name))}: <b>{cls(x.top1)}</b> {x.score:.3f}"
                         f"{mark}, {exact}")
        if r.layers is not None and r.layers.first is not None:
            f = r.layers.first
            lines.append(f'<span class="bad">first divergent layer {f.layer} {_e(f.opcode)}</span>')
        out += f'<div class="card">{img}{lines[0]}{"<br>".join(lines[1:])}</div>'
    return out + "</div>"


def _mismatches(s: dict[str, Any]) -> str:
    if not s["mismatch_count"]:
        return ""
    rows = [[_e(m["name"]), f"{m['max_abs']:.3g}", f"{m['differing']:,}"] for m in s["mismatches"][:100]]
    more = "" if s["mismatch_count"] <= 100 else f"<p class='note'>… and {s['mismatch_count'] - 100:,} more " \
                                                 "(all in summary.json / results.jsonl)</p>"
    return (f"<h2>Inputs that differ from {_e(s['primary_reference'])} ({s['mismatch_count']:,})</h2>"
            + _table(["input", "max |Δ|", "elements differing"], rows) + more)


def write_report(path: Path, summary: dict[str, Any], gallery: Sequence[InputRecord], base: Path) -> Path:
    """Write report.html; thumbnails are read from `base` (the report folder) and embedded."""
    hist = plots.difference_histogram(summary)
    parts = [_header(summary), _metrics(summary)]
    if hist:
        parts.append(f'<figure id="histogram">{_img(hist, "difference histogram")}</figure>')
    parts += [_performance(summary), _detection(summary), _labels(summary, plots.confusion_matrices(summary)),
              _layers(summary, plots.layer_divergence_chart(summary)), _gallery(summary, gallery, base),
              _mismatches(summary)]
    doc = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<title>edgeimpro compare: {_e(Path(str(summary.get('model'))).name)}</title>"
           f"<style>{CSS}</style></head><body>\n" + "\n".join(p for p in parts if p) + "\n</body></html>\n")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(path)
    return path
