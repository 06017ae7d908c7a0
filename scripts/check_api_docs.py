#!/usr/bin/python3
"""Checks the public header's documentation (STYLE B7, B11; curl tests 1119/1139).

Usage: scripts/check_api_docs.py [--symbols docs/symbols.md] [--changelog CHANGELOG.md]
                                 include/recsys.h

Fails (exit 1, one line per offender) when:
  - a RECSYS_API declaration has no /** ... */ comment directly before it (only whitespace
    may separate them; a @defgroup or "@}" comment does not count), or that comment has no
    "@since MAJOR.MINOR" tag, or the tag names a version newer than the header's;
  - a RECSYS_DEPRECATED declaration has no "@deprecated MAJOR.MINOR" tag;
  - an experimental recsys_x_* function is outside #ifdef RECSYS_STATIC_LINKING_ONLY, or a
    stable function is inside it (STYLE B7);
  - a public struct has members after its last "/* above: since 0.N */" marker (STYLE B3);
  - docs/symbols.md differs from what scripts/gen_symbols.py generates now ("make docs");
  - CHANGELOG.md has no section for the header's version with an "ABI" subsection (B11).

The header parser below is shared with gen_symbols.py and gen_map.py. It understands the
subset of C that recsys.h uses: comments, preprocessor lines, typedefs of structs, enums and
function pointers, and RECSYS_API declarations. Python 3 standard library only.
"""
import os
import re
import sys

sys.dont_write_bytecode = True

SINCE_RE = re.compile(r"@since\s+(\d+)\.(\d+)\b")
DEPRECATED_RE = re.compile(r"@deprecated\s+(\d+)\.(\d+)\b")
MARKER_RE = re.compile(r"above:\s*since\s+(\d+)\.(\d+)\b")
IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EXPERIMENTAL_GUARD = "RECSYS_STATIC_LINKING_ONLY"
# Macros that are part of the header's plumbing rather than its interface.
PRIVATE_MACROS = {"RECSYS_H"}


class Comment:
    def __init__(self, start, end, text):
        self.start, self.end, self.text = start, end, text
        body = text[2:-2] if text.endswith("*/") else text[2:]
        self.is_doc = text.startswith("/**") and not text.startswith("/**<") and \
            not text.startswith("/**/")
        self.is_trailing = text.startswith("/**<")
        self.body = body
        self.is_group = bool(re.search(r"@defgroup\b|@\{|@\}", body))

    def since(self):
        m = SINCE_RE.search(self.body)
        return (int(m.group(1)), int(m.group(2))) if m else None


class Symbol:
    """One public name: kind is function, variable, macro, type, enumerator or member."""

    def __init__(self, name, kind, line, group, doc=None, parent=None):
        self.name, self.kind, self.line, self.group = name, kind, line, group
        self.doc = doc            # the Comment documenting it, or None
        self.parent = parent      # enclosing enum/struct Symbol for enumerators/members
        self.since = None         # (major, minor) resolved by resolve_versions()
        self.since_source = ""    # "own", "enum", "group", "marker" or "default"
        self.deprecated = None    # (major, minor), True, or None
        self.experimental = False
        self.decl = ""            # the declaration text (comments blanked)
        self.value_expr = None    # an enumerator's "= ..." text or an object-like macro's body


class Header:
    def __init__(self, path):
        self.path = path
        with open(path, encoding="utf-8") as f:
            self.text = f.read()
        self.comments = []
        self.code = self._blank_comments(self.text)
        self.version = self._version()
        self.symbols = []
        self.errors = []          # structural problems found while parsing
        self._parse()

    # ---- lexing ----------------------------------------------------------------------------
    def _blank_comments(self, t):
        """Returns t with every comment replaced by spaces (newlines kept), recording them."""
        out = list(t)
        i, n = 0, len(t)
        while i < n:
            c = t[i]
            if c == '"' or c == "'":
                j = i + 1
                while j < n and t[j] != c:
                    j += 2 if t[j] == "\\" else 1
                i = j + 1
            elif t.startswith("/*", i):
                j = t.find("*/", i + 2)
                j = n if j < 0 else j + 2
                self.comments.append(Comment(i, j, t[i:j]))
                for k in range(i, j):
                    if out[k] != "\n":
                        out[k] = " "
                i = j
            elif t.startswith("//", i):
                j = t.find("\n", i)
                j = n if j < 0 else j
                self.comments.append(Comment(i, j, t[i:j]))
                for k in range(i, j):
                    out[k] = " "
                i = j
            else:
                i += 1
        return "".join(out)

    def line_of(self, pos):
        return self.text.count("\n", 0, pos) + 1

    def _version(self):
        def grab(name):
            m = re.search(r"^\s*#\s*define\s+RECSYS_VERSION_%s\s+(\d+)" % name, self.code, re.M)
            return int(m.group(1)) if m else None
        return (grab("MAJOR"), grab("MINOR"), grab("PATCH"))

    def doc_before(self, pos, floor):
        """The doc comment ending right before pos (only whitespace between), or None."""
        best = None
        for c in self.comments:
            if c.end <= pos and c.start >= floor and (best is None or c.end > best.end):
                best = c
        if best is None or not best.is_doc or best.is_group:
            return None
        if self.text[best.end:pos].strip():
            return None
        return best

    def comments_in(self, start, end):
        return [c for c in self.comments if c.start >= start and c.end <= end]

    # ---- parsing ---------------------------------------------------------------------------
    def _parse(self):
        code, n = self.code, len(self.code)
        groups = []               # stack of (name, Comment)
        pp_stack = []             # stack of conditions of open #if blocks
        seen_macros = set()
        events = sorted((c.start, c) for c in self.comments if c.is_group)
        ev_i = 0
        i = 0
        prev_end = 0

        def advance_groups(upto):
            nonlocal ev_i
            while ev_i < len(events) and events[ev_i][0] < upto:
                c = events[ev_i][1]
                m = re.search(r"@defgroup\s+(\S+)", c.body)
                if m:
                    groups.append((m.group(1), c))
                elif "@}" in c.body and groups:
                    groups.pop()
                ev_i += 1

        while i < n:
            if code[i].isspace():
                i += 1
                continue
            advance_groups(i)
            group = groups[-1] if groups else None
            line_start = code.rfind("\n", 0, i) + 1
            if code[i] == "#" and not code[line_start:i].strip():
                j = i
                while True:
                    e = code.find("\n", j)
                    e = n if e < 0 else e
                    if code[j:e].rstrip().endswith("\\") and e < n:
                        j = e + 1
                        continue
                    break
                directive = code[i:e].replace("\\\n", " ")
                self._preprocessor(directive, i, prev_end, group, pp_stack, seen_macros)
                i = prev_end = e
                continue
            # extern "C" { ... } wrappers and their closing brace
            m = re.compile(r'extern\s*"C"\s*\{').match(code, i)
            if m:
                i = prev_end = m.end()
                continue
            if code[i] == "}":
                i = prev_end = i + 1
                continue
            # a declaration: up to the ';' at depth 0
            depth, j = 0, i
            while j < n:
                ch = code[j]
                if ch in "({[":
                    depth += 1
                elif ch in ")}]":
                    depth -= 1
                elif ch == ";" and depth == 0:
                    break
                elif ch in "\"'":
                    k = j + 1
                    while k < n and code[k] != ch:
                        k += 2 if code[k] == "\\" else 1
                    j = k
                j += 1
            self._declaration(i, j, prev_end, group, pp_stack)
            i = prev_end = j + 1

    def _preprocessor(self, directive, pos, floor, group, pp_stack, seen_macros):
        m = re.match(r"#\s*(\w+)\s*(.*)", directive, re.S)
        if not m:
            return
        word, rest = m.group(1), m.group(2).strip()
        if word in ("if", "ifdef", "ifndef"):
            pp_stack.append((word, rest))
        elif word == "endif":
            if pp_stack:
                pp_stack.pop()
        elif word in ("else", "elif") and pp_stack:
            pp_stack[-1] = (word, pp_stack[-1][1])
        elif word == "define":
            name = IDENT_RE.match(rest).group(0)
            if not name.startswith("RECSYS_") or name in PRIVATE_MACROS or name in seen_macros:
                return
            seen_macros.add(name)
            s = Symbol(name, "macro", self.line_of(pos), group,
                       doc=self.doc_before(pos, floor))
            s.experimental = self._in_experimental(pp_stack) or name.startswith("RECSYS_X_")
            s.decl = directive
            body = rest[len(name):]
            s.value_expr = None if body.startswith("(") else " ".join(body.split()) or None
            self.symbols.append(s)

    @staticmethod
    def _in_experimental(pp_stack):
        for word, cond in pp_stack:
            if EXPERIMENTAL_GUARD in cond and word in ("ifdef", "if", "elif"):
                return True
        return False

    def _declaration(self, start, end, floor, group, pp_stack):
        decl = self.code[start:end]
        flat = " ".join(decl.split())
        doc = self.doc_before(start, floor)
        line = self.line_of(start)
        experimental = self._in_experimental(pp_stack)
        if re.match(r"RECSYS_API\b", flat):
            stripped = re.sub(r"RECSYS_DEPRECATED\s*\((?:[^()\"]|\"(?:[^\"\\]|\\.)*\")*\)", " ",
                              flat)
            stripped = re.sub(r"\bRECSYS_(API|WARN_UNUSED)\b", " ", stripped)
            paren = stripped.find("(")
            head = stripped[:paren] if paren >= 0 else stripped
            names = IDENT_RE.findall(head)
            if not names:
                self.errors.append("%s:%d: cannot parse RECSYS_API declaration" %
                                   (self.path, line))
                return
            s = Symbol(names[-1], "function" if paren >= 0 else "variable", line, group, doc)
            s.deprecated = self._deprecation(doc, "RECSYS_DEPRECATED" in flat)
            s.experimental = experimental
            s.decl = flat
            self.symbols.append(s)
            return
        if not flat.startswith("typedef"):
            return
        # typedef enum/struct with a body
        m = re.match(r"typedef\s+(enum|struct|union)\s*(\w*)\s*\{", flat)
        if m:
            ob = self.code.index("{", start)
            cb = self._match_brace(ob)
            tail = IDENT_RE.findall(self.code[cb + 1:end])
            name = tail[-1] if tail else m.group(2)
            t = Symbol(name, "type", line, group, doc)
            t.experimental = experimental
            t.deprecated = self._deprecation(doc, False)
            t.decl = flat
            self.symbols.append(t)
            if m.group(1) == "enum":
                self._enumerators(t, ob + 1, cb, group)
            else:
                self._members(t, ob + 1, cb, group)
            return
        # typedef of a function pointer: typedef ret (*name)(args);
        m = re.search(r"\(\s*\*\s*(\w+)\s*\)\s*\(", flat)
        if m:
            name = m.group(1)
        else:
            ids = IDENT_RE.findall(flat)
            name = ids[-1] if ids else None
        if name:
            t = Symbol(name, "type", line, group, doc or self._trailing_doc(end))
            t.experimental = experimental
            t.deprecated = self._deprecation(t.doc, False)
            t.decl = flat
            self.symbols.append(t)

    def _trailing_doc(self, end):
        """A /**< */ comment after a declaration's ';' on the same line."""
        eol = self.text.find("\n", end)
        eol = len(self.text) if eol < 0 else eol
        for c in self.comments:
            if c.is_trailing and end <= c.start < eol:
                return c
        return None

    @staticmethod
    def _deprecation(doc, has_attr):
        if doc:
            m = DEPRECATED_RE.search(doc.body)
            if m:
                return (int(m.group(1)), int(m.group(2)))
        return True if has_attr else None

    def _match_brace(self, ob):
        depth = 0
        for k in range(ob, len(self.code)):
            if self.code[k] == "{":
                depth += 1
            elif self.code[k] == "}":
                depth -= 1
                if depth == 0:
                    return k
        raise ValueError("%s: unbalanced brace at line %d" % (self.path, self.line_of(ob)))

    def _split_body(self, lo, hi, sep):
        """Yields (start, end) of each sep-separated piece at depth 0 within [lo, hi)."""
        depth, piece = 0, lo
        for k in range(lo, hi):
            ch = self.code[k]
            if ch in "({[":
                depth += 1
            elif ch in ")}]":
                depth -= 1
            elif ch == sep and depth == 0:
                yield piece, k
                piece = k + 1
        if self.code[piece:hi].strip():
            yield piece, hi

    def _attach(self, items, lo, hi):
        """Gives each (Symbol, start) the /** */ before it or the /**< */ after it."""
        starts = [st for _, st in items]
        for c in self.comments_in(lo, hi):
            if c.is_trailing:
                owners = [k for k, st in enumerate(starts) if st < c.start]
                if owners:
                    items[owners[-1]][0].doc = c
            elif c.is_doc and not c.is_group:
                after = [k for k, st in enumerate(starts) if st >= c.end]
                if after and not self.text[c.end:starts[after[0]]].strip():
                    items[after[0]][0].doc = c

    def _enumerators(self, enum, lo, hi, group):
        items = []
        for a, b in self._split_body(lo, hi, ","):
            m = IDENT_RE.search(self.code, a, b)
            if not m:
                continue
            s = Symbol(m.group(0), "enumerator", self.line_of(m.start()), group, parent=enum)
            s.experimental = enum.experimental or m.group(0).startswith("RECSYS_X_")
            eq = self.code.find("=", m.end(), b)
            s.value_expr = " ".join(self.code[eq + 1:b].split()) if eq >= 0 else None
            items.append((s, m.start()))
        self._attach(items, lo, hi)
        self.symbols.extend(s for s, _ in items)

    def _members(self, struct, lo, hi, group):
        items = []
        for a, b in self._split_body(lo, hi, ";"):
            piece = " ".join(self.code[a:b].split())
            m = re.search(r"\(\s*\*\s*(\w+)\s*\)\s*\(", piece)
            if m:
                name = m.group(1)
            else:
                ids = IDENT_RE.findall(re.sub(r"\[[^\]]*\]", " ", piece))
                if not ids:
                    continue
                name = ids[-1]
            first = IDENT_RE.search(self.code, a, b)
            s = Symbol(struct.name + "." + name, "member", self.line_of(first.start()), group,
                       parent=struct)
            s.experimental = struct.experimental
            items.append((s, first.start()))
        self._attach(items, lo, hi)
        # release markers: members above "/* above: since X.Y */" were added in X.Y
        markers = [(c.start, (int(mm.group(1)), int(mm.group(2))))
                   for c in self.comments_in(lo, hi) for mm in [MARKER_RE.search(c.body)] if mm]
        for s, st in items:
            own = s.doc.since() if s.doc else None
            later = [v for pos, v in markers if pos > st]
            if own:
                s.since, s.since_source = own, "own"
            elif later:
                s.since, s.since_source = later[0], "marker"
            else:
                self.errors.append(
                    "%s:%d: %s: member below the struct's last release marker; add "
                    "'/* above: since %s.%s */' under it (STYLE B3)" %
                    (self.path, s.line, s.name, self.version[0], self.version[1]))
        self.symbols.extend(s for s, _ in items)

    # ---- versions --------------------------------------------------------------------------
    def resolve_versions(self, default=(0, 1)):
        """@since of the symbol's own comment; enumerators then inherit their enum's, every
        non-function then inherits its @defgroup's; otherwise the default (0.1, the first
        release). Functions must carry their own tag (the checker enforces it)."""
        for s in self.symbols:
            if s.since is not None:
                continue
            own = s.doc.since() if s.doc else None
            if own:
                s.since, s.since_source = own, "own"
                continue
            if s.parent is not None:
                if s.parent.since is None:
                    self._resolve_one(s.parent, default)
                if s.parent.since_source in ("own", "group"):
                    s.since, s.since_source = s.parent.since, s.parent.since_source
                    continue
            gs = s.group[1].since() if s.group else None
            if gs:
                s.since, s.since_source = gs, "group"
            else:
                s.since, s.since_source = default, "default"

    def _resolve_one(self, s, default):
        own = s.doc.since() if s.doc else None
        gs = s.group[1].since() if s.group else None
        if own:
            s.since, s.since_source = own, "own"
        elif gs:
            s.since, s.since_source = gs, "group"
        else:
            s.since, s.since_source = default, "default"

    def api(self):
        """RECSYS_API functions and variables, in header order."""
        return [s for s in self.symbols if s.kind in ("function", "variable")]


def repo_root(header_path):
    return os.path.dirname(os.path.dirname(os.path.abspath(header_path)))


def check(header_path, symbols_path, changelog_path):
    h = Header(header_path)
    h.resolve_versions()
    errors = list(h.errors)
    cur = (h.version[0], h.version[1])
    if None in h.version:
        errors.append("%s: RECSYS_VERSION_MAJOR/MINOR/PATCH not found" % header_path)
        cur = None
    api = h.api()
    if not api:
        errors.append("%s: no RECSYS_API declarations found" % header_path)
    for s in api:
        where = "%s:%d: %s" % (header_path, s.line, s.name)
        if s.doc is None:
            errors.append("%s: no /** ... */ comment directly before the declaration" % where)
            continue
        since = s.doc.since()
        if since is None:
            errors.append("%s: doc comment lacks '@since 0.N'" % where)
        elif cur and since > cur:
            errors.append("%s: @since %d.%d is newer than the header's version %d.%d" %
                          ((where,) + since + cur))
        if s.deprecated is True:
            errors.append("%s: RECSYS_DEPRECATED without '@deprecated 0.N' in its comment" %
                          where)
        is_x = s.name.startswith("recsys_x_")
        if is_x and not s.experimental:
            errors.append("%s: experimental recsys_x_* API outside #ifdef %s" %
                          (where, EXPERIMENTAL_GUARD))
        if s.experimental and not is_x:
            errors.append("%s: declared under %s but not named recsys_x_*" %
                          (where, EXPERIMENTAL_GUARD))
        if not s.name.startswith("recsys_"):
            errors.append("%s: public name without the recsys_ prefix" % where)
    for s in h.symbols:
        if s.kind != "function" and s.since and cur and s.since > cur:
            errors.append("%s:%d: %s: @since %d.%d is newer than the header's version %d.%d" %
                          ((header_path, s.line, s.name) + s.since + cur))

    if symbols_path is not None:
        import difflib
        import tempfile
        import gen_symbols
        fresh = gen_symbols.render(h)
        with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as tmp:
            tmp.write(fresh)
        try:
            try:
                with open(symbols_path, encoding="utf-8") as f:
                    committed = f.read()
            except FileNotFoundError:
                committed = None
            if committed is None:
                errors.append("%s: missing; run 'make docs'" % symbols_path)
            elif committed != fresh:
                diff = list(difflib.unified_diff(committed.splitlines(), fresh.splitlines(),
                                                 symbols_path, "regenerated", lineterm="", n=0))
                shown = "\n    ".join(diff[:30])
                more = "\n    ... (%d more diff lines)" % (len(diff) - 30) if len(diff) > 30 else ""
                errors.append("%s: out of date with %s; run 'make docs' and commit it:\n    %s%s"
                              % (symbols_path, header_path, shown, more))
        finally:
            os.unlink(tmp.name)

    if changelog_path is not None and None not in h.version:
        ver = "%d.%d.%d" % h.version
        try:
            with open(changelog_path, encoding="utf-8") as f:
                log = f.read()
        except FileNotFoundError:
            log = None
        if log is None:
            errors.append("%s: missing (STYLE B11)" % changelog_path)
        else:
            m = re.search(r"^##\s+\[?%s\]?.*$" % re.escape(ver), log, re.M)
            if not m:
                errors.append("%s: no '## %s' section for the header's version" %
                              (changelog_path, ver))
            else:
                nxt = re.search(r"^##\s", log[m.end():], re.M)
                section = log[m.end():m.end() + nxt.start()] if nxt else log[m.end():]
                if not re.search(r"^###\s+ABI\b", section, re.M):
                    errors.append("%s: section %s has no '### ABI' subsection (STYLE B11)" %
                                  (changelog_path, ver))
    return h, errors


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("header")
    ap.add_argument("--symbols", help="generated symbol table to verify "
                    "(default: docs/symbols.md beside include/; 'none' to skip)")
    ap.add_argument("--changelog", help="CHANGELOG to verify (default: CHANGELOG.md beside "
                    "include/; 'none' to skip)")
    args = ap.parse_args(argv)
    root = os.path.relpath(repo_root(args.header))
    sym = args.symbols or os.path.normpath(os.path.join(root, "docs", "symbols.md"))
    log = args.changelog or os.path.normpath(os.path.join(root, "CHANGELOG.md"))
    h, errors = check(args.header, None if sym == "none" else sym,
                      None if log == "none" else log)
    if errors:
        for e in errors:
            print(e)
        print("check_api_docs: FAIL: %d problem(s) in the public API documentation" %
              len(errors))
        return 1
    print("check_api_docs: %d RECSYS_API declarations documented with @since; %s up to date"
          % (len(h.api()), os.path.relpath(sym) if sym != "none" else "symbols.md not checked"))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main(sys.argv[1:]))
