#!/usr/bin/env python3
"""The key reference of agent.ini, generated from agent/config/config.def.

config.def is the one table of the configuration keys (the C code includes
it as an X-macro); its last column is the operator's description.  This
script renders the keys into two documents, between marker lines:

  packaging/doc/configuration.md   one Markdown table per section
  packaging/wcs-agent.ini.5        one .TP entry per key, per section

  config-reference.py            check (ctest integ_test_doc_reference): exit 1
                                 when a key has no description or a
                                 document's generated part is not what
                                 config.def gives (a key added, changed or
                                 removed without its documentation)
  config-reference.py --write    rewrite the generated parts in place
  --root DIR                     the source tree to use (default: this one)

Only the text between the markers is generated; the rest of each document
is written by hand.
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def paths(root):
    """(config.def, configuration.md, wcs-agent.ini.5) under root."""
    return (os.path.join(root, "agent", "config", "config.def"),
            os.path.join(root, "packaging", "doc", "configuration.md"),
            os.path.join(root, "packaging", "wcs-agent.ini.5"))


CONFIG_DEF, MARKDOWN, MAN_PAGE = paths(ROOT)

MD_BEGIN = "<!-- BEGIN config.def keys (tests/scripts/config-reference.py --write) -->"
MD_END = "<!-- END config.def keys -->"
MAN_BEGIN = '.\\" BEGIN config.def keys (tests/scripts/config-reference.py --write)'
MAN_END = '.\\" END config.def keys'

# CONFIG_KEY(ID, "SECTION", "KEY", FIELD, KIND, DEFAULT, CHECK, MIN, MAX, FLAGS, "DESC")
LINE = re.compile(
    r'^CONFIG_KEY\(\s*(?P<id>\w+),\s*"(?P<section>\w+)",\s*"(?P<key>\w+)",\s*[\w.]+,\s*'
    r'(?P<kind>\w+),\s*(?P<default>NULL|"(?:[^"\\]|\\.)*"),\s*\w+,\s*(?P<min>-?\d+),\s*'
    r'(?P<max>-?\d+),\s*(?P<flags>[\w |]+),\s*"(?P<desc>(?:[^"\\]|\\.)*)"\s*\)$')


def keys():
    """[dict] of config.def's keys in order; raises ValueError on a line it cannot read."""
    out = []
    with open(CONFIG_DEF, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.startswith("CONFIG_KEY("):
                continue
            m = LINE.match(line.rstrip("\n"))
            if m is None:
                raise ValueError("config.def:%d: not CONFIG_KEY(ID, SECTION, KEY, FIELD, KIND, "
                                 "DEFAULT, CHECK, MIN, MAX, FLAGS, DESC)" % n)
            k = m.groupdict()
            k["line"] = n
            k["default"] = None if k["default"] == "NULL" else k["default"][1:-1]
            out.append(k)
    return out


def default_text(k):
    if k["default"] is None:
        return None
    return k["default"]


def notes(k):
    """The facts config.def knows beyond the description: list, secret, reference, range."""
    n = []
    if k["kind"] == "KIND_LIST":
        n.append("list")
    if "KF_SECRET" in k["flags"]:
        n.append("secret")
    if "KF_REF" in k["flags"]:
        n.append("secret reference allowed")
    if k["kind"] in ("KIND_I64", "KIND_INT"):
        n.append("%s..%s" % (k["min"], k["max"]))
    if k["kind"] == "KIND_BOOL":
        n.append("true or false")
    return n


def sections(ks):
    out = []
    for k in ks:
        if not out or out[-1][0] != k["section"]:
            out.append((k["section"], []))
        out[-1][1].append(k)
    return out


def md_cell(s):
    return s.replace("|", "\\|")


def render_markdown(ks):
    lines = []
    for sec, items in sections(ks):
        lines += ["", "### [%s]" % sec, "", "| key | default | meaning |", "|---|---|---|"]
        for k in items:
            d = default_text(k)
            d = "*(none)*" if d is None else "*(empty)*" if d == "" else "`%s`" % d
            meaning = k["desc"]
            if notes(k):
                meaning += " *(%s)*" % ", ".join(notes(k))
            lines.append("| `%s.%s` | %s | %s |" % (sec, k["key"], md_cell(d), md_cell(meaning)))
    return lines + [""]


def man_text(s):
    """Text safe on a roff text line: backslashes escaped, no leading control character."""
    s = s.replace("\\", "\\e").replace("-", "\\-")
    if s[:1] in (".", "'"):
        s = "\\&" + s
    return s


def render_man(ks):
    lines = []
    for sec, items in sections(ks):
        lines.append(".SS [%s]" % sec)
        for k in items:
            d = default_text(k)
            lines.append(".TP")
            head = "\\fB%s\\fR" % man_text(k["key"])
            if d is None:
                head += " (no default)"
            elif d == "":
                head += " (default: empty)"
            else:
                head += " (default: \\fI%s\\fR)" % man_text(d)
            lines.append(head)
            body = k["desc"]
            if notes(k):
                body += " (" + ", ".join(notes(k)) + ")"
            lines.append(man_text(body))
    return lines


def replace_block(path, begin, end, body):
    """(old text, new text) of path with the lines between begin and end replaced by body."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    try:
        b = lines.index(begin)
        e = lines.index(end, b)
    except ValueError:
        raise ValueError("%s: the marker lines %r and %r are missing" % (path, begin, end))
    new = lines[:b + 1] + body + lines[e:]
    return text, "\n".join(new)


def main(argv):
    global ROOT, CONFIG_DEF, MARKDOWN, MAN_PAGE
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--root":
        ROOT = os.path.abspath(args[1])
        CONFIG_DEF, MARKDOWN, MAN_PAGE = paths(ROOT)
        args = args[2:]
    write = args == ["--write"]
    if args not in ([], ["--write"]):
        print("usage: config-reference.py [--root DIR] [--write]", file=sys.stderr)
        return 64
    problems = []
    try:
        ks = keys()
    except ValueError as e:
        print("config-reference: %s" % e, file=sys.stderr)
        return 1
    if len(ks) < 40:
        problems.append("config.def: only %d keys found" % len(ks))
    for k in ks:
        if len(k["desc"].strip()) < 10:
            problems.append("config.def:%d: %s.%s has no description (the DESC column)"
                            % (k["line"], k["section"], k["key"]))
    for path, begin, end, body in ((MARKDOWN, MD_BEGIN, MD_END, render_markdown(ks)),
                                   (MAN_PAGE, MAN_BEGIN, MAN_END, render_man(ks))):
        try:
            old, new = replace_block(path, begin, end, body)
        except (OSError, ValueError) as e:
            problems.append(str(e))
            continue
        if old == new:
            continue
        if write:
            with open(path, "w", encoding="utf-8") as f:
                f.write(new)
            print("config-reference: rewrote %s" % os.path.relpath(path, ROOT))
        else:
            problems.append("%s: the key reference differs from config.def; run "
                            "tests/scripts/config-reference.py --write and review the diff"
                            % os.path.relpath(path, ROOT))
    for p in problems:
        print("config-reference: %s" % p, file=sys.stderr)
    if not problems and not write:
        print("config-reference: %d keys documented in %s and %s" % (
            len(ks), os.path.relpath(MARKDOWN, ROOT), os.path.relpath(MAN_PAGE, ROOT)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
