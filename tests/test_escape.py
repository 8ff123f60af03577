"""Strings from a model file are data (issue 9): the escape helpers, each checked by the compiler or parser
of its destination, and an adversarial model (tensor names, labels and file name that close comments and
strings) exported, built and run without anything injected."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from edgeimpro.escape import c_comment, c_ident, c_string, html_text, one_line, printable, shell_arg

TINY = ROOT / "tests" / "fixtures" / "golden" / "tiny.tflite"     # 8x8x3 int8 in, 3 classes out, 7 ops

# Each one breaks out of a C comment, a C string, a line, a trigraph-aware compiler or an HTML page when
# pasted unescaped.
ADVERSARIAL: list[str | bytes] = [
    "",
    "plain_name:0",
    "*/ int injected = 1; /*",
    "/* nested",
    "a*/b/*c*//*/",
    '"); evil(); //',
    '"\n#error injected\n',
    "a\\",
    "\\",
    "x\\\ny",
    "line\rcarriage",
    "tab\there\vvt\fff",
    "#define int char",
    "??/",
    "??/\n#error trigraph",
    "?????=??(??)??<??>??!??'??-",
    "ends with ?",
    "\x00nul\x00",
    "\x1b[31mred\x1b[0m",
    "café ☕ 名前 \U0001f600",
    "\u202eRLO\u2066",
    "\udcff\udc80 surrogateescape",
    "1\0012",               # an octal escape followed by digits
    "\x7f\x80\x9f",
    "<script>alert('x')</script> & \"q\"",
    "$\\frac$",
    "x" * 20000 + "*/",
    b"\xff\xfe\x00raw \xc3\x28 bytes \x80",
    b"\xe2\x80\xa8 line separator",
]


def _expected_bytes(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8", "surrogateescape")


def _compiler(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed")
    return path


def _compile_run(tmp_path: Path, source: str, compiler: str, std: str, *extra: str) -> bytes:
    suffix = ".cc" if "++" in std else ".c"
    src = tmp_path / f"prog_{std.replace('+', 'p')}{suffix}"
    src.write_text(source, encoding="ascii")          # the helpers write ASCII only
    exe = tmp_path / f"prog_{std.replace('+', 'p')}"
    proc = subprocess.run([compiler, f"-std={std}", "-Wall", "-Wextra", "-Werror", *extra, str(src), "-o", str(exe)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[:3000]
    return subprocess.run([str(exe)], capture_output=True, check=True).stdout


# ---------------------------------------------------------------------------------------------- helpers


@pytest.mark.unit
@pytest.mark.parametrize("value", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_c_string_and_comment_are_one_ascii_line(value: str | bytes) -> None:
    lit = c_string(value)
    assert lit.isascii() and lit.isprintable() and lit[0] == lit[-1] == '"'
    inner = lit[1:-1]
    assert "??" not in inner
    # Every quote and backslash of the content is escaped: the literal ends at its last character only.
    assert re.fullmatch(r'(?:[^"\\]|\\[0-7]{3}|\\["\\?])*', inner), inner[:200]

    com = c_comment(value)
    assert com.isascii() and com.isprintable()
    assert "*/" not in com and "/*" not in com and "??" not in com
    assert not re.search(r"\\(?![xuU])", com), "a backslash in a comment is always an escape"

    line = one_line(value)
    assert line.isascii() and line.isprintable()


@pytest.mark.unit
def test_c_string_escapes() -> None:
    assert c_string("plain name:0/a;b") == '"plain name:0/a;b"'
    assert c_string('"\\?') == '"\\"\\\\\\?"'
    assert c_string("\n1") == '"\\0121"'          # 3 octal digits: the "1" after it is not swallowed
    assert c_string("é") == '"\\303\\251"'         # UTF-8 bytes
    assert c_string(b"\xff\x00") == '"\\377\\000"'
    assert c_string("\udcff") == '"\\377"'         # os.fsdecode / surrogateescape: the original byte


@pytest.mark.unit
def test_c_comment_keeps_ordinary_names_readable() -> None:
    name = "functional_1/conv2d_1/Relu;functional_1/conv2d_1/convolution"
    assert c_comment(name) == name
    assert c_comment("layer 3: CONV_2D 1x8x8x3 -> 1x8x8x4, 3x3 s1 SAME") == "layer 3: CONV_2D 1x8x8x3 -> 1x8x8x4, 3x3 s1 SAME"
    assert c_comment("*/ x /*") == "* / x / *"
    assert c_comment("??/") == "? ?/"
    assert c_comment("a\\\nb") == "a\\x5c\\x0ab"
    assert c_comment("é") == "\\u00e9"


@pytest.mark.unit
def test_c_ident() -> None:
    assert c_ident("functional_1/conv2d_1/Relu;functional_1/conv2d_1/convolution") == "relu"
    assert c_ident("serving_default_keras_tensor:0") == "serving_default_keras_tensor"
    assert c_ident("*/ system(\"x\"); /*") == "system__x"
    assert c_ident("") == c_ident("///") == c_ident("é") == "t"
    assert c_ident("x" * 100) == "x" * 28 and c_ident("x" * 100, 40) == "x" * 40
    for value in ADVERSARIAL:
        assert re.fullmatch(r"[a-z0-9_]{1,28}", c_ident(value))


@pytest.mark.unit
def test_printable_html_and_shell() -> None:
    assert printable("名前 café\ttab\nnew") == "名前 café\ttab\nnew"
    assert printable("\x1b[31m\r\u202e\udcff\x00") == "\\x1b[31m\\x0d\\u202e\\xff\\x00"
    printable("\udcff\ud800").encode("utf-8")              # no lone surrogate left: encodes
    assert html_text("<b a=\"1\">'&'</b>") == "&lt;b a=&quot;1&quot;&gt;&#x27;&amp;&#x27;&lt;/b&gt;"
    assert html_text(3) == "3"
    assert shell_arg("tiny.tflite") == "tiny.tflite"
    assert shell_arg("a b'$(touch x)") == "'a b'\"'\"'$(touch x)'"


@pytest.mark.host
def test_c_string_round_trips_through_the_compilers(tmp_path: Path) -> None:
    """Every literal, compiled as C11 (trigraphs on) and as C++11 / C++17, holds exactly the bytes."""
    rows = ",\n".join(f"    {{{c_string(v)}, sizeof {c_string(v)} - 1}}" for v in ADVERSARIAL)
    body = f"""static const struct {{ const char *s; size_t n; }} lits[] = {{
{rows}
}};
int main(void) {{
    for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) {{
        unsigned long n = (unsigned long)lits[i].n;
        fwrite(&n, sizeof n, 1, stdout);
        fwrite(lits[i].s, 1, lits[i].n, stdout);
    }}
    return 0;
}}
"""
    expected = b"".join(len(b).to_bytes(8, sys.byteorder) + b for b in map(_expected_bytes, ADVERSARIAL))
    c = "#include <stdio.h>\n" + body
    assert _compile_run(tmp_path, c, _compiler("gcc"), "c11") == expected
    cxx = "#include <cstdio>\n#include <cstddef>\n" + body
    for std in ("c++11", "c++17"):
        assert _compile_run(tmp_path, cxx, _compiler("g++"), std) == expected


@pytest.mark.host
def test_c_comment_hides_everything_from_the_compiler(tmp_path: Path) -> None:
    """Each text in a block comment and after //, each followed by a line of code: all lines still count
    (nothing is swallowed by a line splice, nothing escapes into code)."""
    lines = []
    for i, v in enumerate(ADVERSARIAL):
        lines += [f"/* {c_comment(v)} */ n += {i + 1};", f"// {c_comment(v)}", f"n += {i + 1};",
                  f"n += 0; // {c_comment(v)}", f"n += {i + 1}; /* {c_comment(v)} */"]
    total = 3 * sum(range(1, len(ADVERSARIAL) + 1))
    src = ("#include <stdio.h>\nint main(void) {\n    long n = 0;\n" + "\n".join(lines)
           + '\n    printf("%ld", n);\n    return 0;\n}\n')
    assert _compile_run(tmp_path, src, _compiler("gcc"), "c11", "-Wcomment") == str(total).encode()
    cxx = src.replace("#include <stdio.h>", "#include <cstdio>")
    assert _compile_run(tmp_path, cxx, _compiler("g++"), "c++11") == str(total).encode()


# ---------------------------------------------------------------------------------------------- a hostile model


def _injection(marker: Path) -> bytes:
    """A tensor name that, pasted into a C comment, defines a constructor running a shell command."""
    return (b'*/ extern int system(const char *); __attribute__((constructor)) static void pwn(void) '
            b'{ (void)system("touch ' + str(marker).encode() + b'"); } /*')


def hostile_names(marker: Path) -> dict[int, bytes]:
    """Tensor index of tiny.tflite -> name: I/O tensors (info table, TFLM comments), constants (AOT comments
    and identifiers), activations that sanitize to the same identifier."""
    return {
        0: b'in "\n#error injected in a string\n ??/\n \\\n */ /* \r \xff\x00 end \\',
        13: b"out \\",
        6: _injection(marker),
        2: b"w" * 20000 + b"*/ #error long",
        1: b"\r#error after a carriage return",
        4: b"//\\\n#error after a splice",
        5: b"??/\n#error trigraph",
        3: b"same name",
        7: b"same name",
        8: b"same-name",
        9: b"Same_Name",
        10: b"$\\frac$ <script>alert(1)</script>",
    }


LABELS = ['x"); evil(); //', '"\n#error label\n??/', "<script>alert(1)</script> $\\frac$ \udcff \u202e"]


def hostile_model(folder: Path, marker: Path) -> Path:
    """tiny.tflite with hostile tensor names, under a hostile file name, with hostile labels in model.json."""
    pytest.importorskip("tflite_micro")
    from tiny_models import edit_model

    from edgeimpro.graph.loader import load_graph
    from edgeimpro.modelcard import ModelCard, Preprocessing

    names = hostile_names(marker)

    def rename(m) -> None:
        for i, name in names.items():
            m.subgraphs[0].tensors[i].name = name

    data = edit_model(TINY.read_bytes(), rename)
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / 'm*\n#error file "name" ??= $(touch x).tflite'
    model.write_bytes(data)
    ModelCard(labels=LABELS, preprocessing=Preprocessing(8, 8, "rgb"),
              tflite_sha256=load_graph(data).sha256).save(model.with_name("model.json"))
    return model


def _c_block_comments_and_strings_removed(text: str) -> str:
    """The C text outside comments and string literals (the helpers write neither quotes nor comment
    delimiters inside them, so a simple scan is exact)."""
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:[^"\\\n]|\\.)*"', " ", text, flags=re.S)


def _tokens(text: str) -> dict[str, int]:
    """How often the hostile names' words occur in the C code outside comments and strings (as whole
    words: identifiers hold sanitized name fragments such as c6_extern_int_system)."""
    code = _c_block_comments_and_strings_removed(text)
    return {t: len(re.findall(rf"(?<![\w#]){t}\b", code))
            for t in ("#error", "#define", "system", "pwn", "evil", "injected", "script", "touch")}


def _code_files(folder: Path) -> dict[str, str]:
    """Generated files must be ASCII; an AOT export's verbatim copies of the runtime are UTF-8."""
    from edgeimpro.firmware import runtime_dir

    runtime = {p.read_bytes() for p in runtime_dir().rglob("*") if p.is_file()}
    return {str(f.relative_to(folder)): f.read_bytes().decode("utf-8" if f.read_bytes() in runtime else "ascii")
            for f in sorted(folder.rglob("*")) if f.suffix in (".h", ".c", ".cc", ".cpp", ".ino")}


def assert_nothing_injected(export: Path, clean: Path) -> None:
    """Every C file of `export` (the hostile model's) has the tokens of the clean model's export, no more."""
    hostile, baseline = _code_files(export), _code_files(clean)
    assert sorted(hostile) == sorted(baseline)
    for name, text in hostile.items():
        assert _tokens(text) == _tokens(baseline[name]), name


@pytest.mark.host
def test_hostile_model_exports_builds_and_runs_without_injection(tmp_path: Path) -> None:
    from edgeimpro.cli.main import main
    from edgeimpro.graph.loader import load_graph
    from edgeimpro.run import run_host

    marker = tmp_path / "PWNED"
    model = hostile_model(tmp_path / "model", marker)
    graph = load_graph(model)
    x = np.random.default_rng(3).integers(-128, 128, (4, 8, 8, 3), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)

    # run --on host: exported, compiled with -Wall -Wextra -Werror, run; same numbers as the clean model.
    assert main(["run", str(model), "--inputs", str(tmp_path / "x.npy"), "--on", "host",
                 "-o", str(tmp_path / "y.npz")]) == 0
    with np.load(tmp_path / "y.npz") as y:
        assert np.array_equal(y["output_0"], run_host(TINY, [x.reshape(4, 1, 8, 8, 3)]).outputs["output_0"])
    assert not marker.exists(), "a tensor name ran a shell command"

    # export --target aot: the code holds nothing injected, and the I/O names come back as read.
    aot = tmp_path / "aot"
    assert main(["export", str(model), "--target", "aot", "-o", str(aot), "--no-tflm-arena"]) == 0
    assert main(["export", str(TINY), "--target", "aot", "-o", str(tmp_path / "aot_clean"), "--no-tflm-arena",
                 "--name", c_ident(model.stem, 40)]) == 0   # the hostile export's default name: same file names
    assert_nothing_injected(aot, tmp_path / "aot_clean")
    idents = re.findall(r"^\s+(T\d+_\w+) = \d+,", (aot / "model.c").read_text(), re.M)
    assert len(idents) == len(set(idents)) and {"T7_SAME_NAME", "T8_SAME_NAME", "T9_SAME_NAME"} <= set(idents)
    (tmp_path / "names.c").write_text(
        '#include <stdio.h>\n#include <string.h>\n#include "model.h"\nint main(void) {\n'
        "    printf(\"%s\", EIP_MODEL_NAME);\n    putchar(0);\n"
        "    fwrite(eip_model_inputs[0].name, 1, strlen(eip_model_inputs[0].name), stdout);\n    putchar(0);\n"
        "    fwrite(eip_model_outputs[0].name, 1, strlen(eip_model_outputs[0].name), stdout);\n"
        "    return 0;\n}\n")
    exe = tmp_path / "names"
    # the export is self-contained: its own .c files (model and runtime) and nothing else
    subprocess.run([_compiler("gcc"), "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{aot}", str(tmp_path / "names.c"),
                    *map(str, sorted(aot.glob("*.c"))), "-lm", "-o", str(exe)], check=True, capture_output=True)
    out = subprocess.run([str(exe)], capture_output=True, check=True).stdout.split(b"\0")
    assert out[0] == c_ident(model.stem, 40).encode()
    # a C string ends at the first NUL: the input name is whole up to its embedded NUL byte; the loader
    # reads names as UTF-8, so the undecodable \xff became U+FFFD (EF BF BD) and everything else is intact
    expected = hostile_names(marker)[0].split(b"\0")[0].replace(b"\xff", "\ufffd".encode())
    assert out[1] == expected
    assert out[2] == graph.tensors[13].name.encode() == b"out \\"
    assert not marker.exists()

    # export --target tflm, both layouts: the headers compile (C++11 with trigraphs, C++17) and the labels
    # come back byte for byte.
    for layout in ("plain", "arduino"):
        out_dir = tmp_path / "hostile" / f"tflm_{layout}"
        assert main(["export", str(model), "--target", "tflm", "--layout", layout, "-o", str(out_dir),
                     "--arena-size", "8192"]) == 0
        clean_dir = tmp_path / "clean" / f"tflm_{layout}"
        assert main(["export", str(TINY), "--target", "tflm", "--layout", layout, "-o", str(clean_dir),
                     "--arena-size", "8192", "--name", c_ident(model.stem, 40)]) == 0
        assert_nothing_injected(out_dir, clean_dir)
        src = out_dir / "src" if layout == "arduino" else out_dir
        cc = ".cpp" if layout == "arduino" else ".cc"
        (tmp_path / "labels.cc").write_text(
            '#include <cstdio>\n#include <cstring>\n#include "model_config.h"\n#include "model_data.h"\n'
            "int main() {\n  for (int i = 0; i < model::kLabelCount; ++i) {\n"
            "    fwrite(model::kLabels[i], 1, strlen(model::kLabels[i]), stdout);\n    putchar(0);\n  }\n"
            "  return g_model_data_len > 0 ? 0 : 1;\n}\n")
        for std in ("c++11", "c++17"):
            exe = tmp_path / f"labels_{layout}_{std}"
            proc = subprocess.run([_compiler("g++"), f"-std={std}", "-Wall", "-Wextra", "-Werror", "-I", str(src),
                                   str(tmp_path / "labels.cc"), str(src / f"model_data{cc}"), "-o", str(exe)],
                                  capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr[:3000]
            got = subprocess.run([str(exe)], capture_output=True, check=True).stdout.split(b"\0")[:-1]
            assert got == [_expected_bytes(label) for label in LABELS]
        if layout == "arduino":
            props = (out_dir / "library.properties").read_text(encoding="ascii").splitlines()
            assert [p.split("=", 1)[0] for p in props] == ["name", "version", "author", "maintainer", "sentence",
                                                           "paragraph", "category", "url", "architectures",
                                                           "depends", "includes"]
    assert not marker.exists()


@pytest.mark.host
def test_comment_closing_tensor_name_runs_nothing(tmp_path: Path) -> None:
    """The attack alone (the other names would stop an unescaped build first): a weight tensor's name that
    closes its comment and defines a constructor calling system() during `run --on host`."""
    pytest.importorskip("tflite_micro")
    from tiny_models import edit_model

    from edgeimpro.cli.main import main

    marker = tmp_path / "PWNED"

    def rename(m) -> None:
        m.subgraphs[0].tensors[6].name = _injection(marker)

    model = tmp_path / "tiny.tflite"
    model.write_bytes(edit_model(TINY.read_bytes(), rename))
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8, 3), dtype=np.int8))
    assert main(["run", str(model), "--inputs", str(tmp_path / "x.npy"), "--on", "host",
                 "-o", str(tmp_path / "y.npz")]) == 0
    assert not marker.exists(), "a tensor name ran a shell command"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.add(tag)

    def handle_data(self, data) -> None:
        self.text.append(data)


@pytest.mark.unit
def test_compare_report_shows_hostile_labels_and_names_as_text(tmp_path: Path) -> None:
    """Labels with markup, mathtext and a lone surrogate; an input file named like markup: the report is
    written, holds no injected element, and shows the strings as text."""
    from test_compare import FakeDevice, run_fake

    model = hostile_model(tmp_path / "model", tmp_path / "PWNED")
    inputs = tmp_path / "in"
    inputs.mkdir()
    x = inputs / "<img src=x onerror=alert(1)>.npy"
    rng = np.random.default_rng(5)
    np.save(x, rng.integers(-128, 128, (6, 8, 8, 3), dtype=np.int8))
    np.save(inputs / "y.npy", np.arange(6) % 3)
    c = run_fake(model, x, tmp_path / "r", FakeDevice(model, perturb=3, wrong_top1=True),
                 labels=inputs / "y.npy", layers=True)
    report = c.outcome.report.read_text(encoding="utf-8")
    parser = _Text()
    parser.feed(report)
    parser.close()
    assert parser.tags <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "div", "b", "span",
                           "table", "tr", "th", "td", "p", "code", "figure", "img", "br"}
    text = "".join(parser.text)
    assert "<script>alert(1)</script> $\\frac$ \\xff \\u202e" in text      # the label, as text
    assert 'x"); evil(); //' in text
    assert "<img src=x onerror=alert(1)>.npy[0]" in text                 # an input's name, as text
    assert "<img src=x onerror=alert(1)>" not in report
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["class_names"][2] == LABELS[2]                          # the data itself is unchanged
