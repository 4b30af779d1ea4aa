#!/usr/bin/env python3
"""Draws docs/images/pr-comment.png: branch-pipelines' pull request comment as GitHub shows it,
from docs/images/pr-comment.md (what functions/branch-pipelines/src/comment.rs renders; a unit
test there keeps the two equal). The Markdown is turned into HTML (the subset the comment uses:
a heading, tables, an alert, code spans, bold, links, escapes, <sub>) styled like GitHub's light
theme, then photographed by headless Chromium (the one scripts/browser_test.sh installs).
Standard library only.

    python3 scripts/comment_image.py [comment.md] [output.png]
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 860, 545

CSS = """
body { margin: 0; padding: 24px; background: #ffffff; font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans",
       Helvetica, Arial, sans-serif; color: #1f2328; }
.comment { border: 1px solid #d1d9e0; border-radius: 6px; max-width: 800px; }
.header { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px; border-radius: 6px 6px 0 0;
          color: #59636e; }
.header b { color: #1f2328; }
.badge { border: 1px solid #d1d9e0; border-radius: 2em; padding: 0 7px; font-size: 12px; margin-left: 4px; }
.body { padding: 16px; }
h3 { margin: 0 0 16px; font-size: 1.25em; }
table { border-collapse: collapse; margin: 0 0 16px; display: block; width: max-content; max-width: 100%; }
th, td { border: 1px solid #d1d9e0; padding: 6px 13px; text-align: left; }
tr:nth-child(2n) td { background: #f6f8fa; }
th { font-weight: 600; }
code { font: 85% ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
       background: rgba(129, 139, 152, 0.12); padding: .2em .4em; border-radius: 6px; }
a { color: #0969da; text-decoration: none; }
sub { color: #59636e; }
.alert { border-left: .25em solid #9a6700; padding: 8px 16px; margin: 0 0 16px; }
.alert .title { color: #9a6700; font-weight: 500; }
"""


def inline(text: str) -> str:
    """Code spans, links, bold and backslash escapes of one line; the rest HTML-escaped."""
    out, i = [], 0
    pattern = re.compile(r"`([^`]*)`|\[((?:\\.|[^\]])*)\]\((https?://[^)\s]+)\)|\*\*((?:\\.|[^*])+)\*\*|\\(.)|<(/?)sub>")
    for m in pattern.finditer(text):
        out.append(html.escape(text[i:m.start()]))
        if m.group(1) is not None:
            out.append(f"<code>{html.escape(m.group(1))}</code>")
        elif m.group(3) is not None:
            out.append(f'<a href="{html.escape(m.group(3))}">{inline(m.group(2))}</a>')
        elif m.group(4) is not None:
            out.append(f"<strong>{inline(m.group(4))}</strong>")
        elif m.group(5) is not None:
            out.append(html.escape(m.group(5)))
        else:
            out.append(f"<{m.group(6)}sub>")
        i = m.end()
    out.append(html.escape(text[i:]))
    return "".join(out)


def cells(row: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def to_html(markdown: str) -> str:
    lines = [l for l in markdown.splitlines() if not l.startswith("<!--")]
    parts, i = [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("### "):
            parts.append(f"<h3>{inline(line[4:])}</h3>")
        elif line.startswith("> [!WARNING]"):
            body = []
            while i + 1 < len(lines) and lines[i + 1].startswith("> "):
                i += 1
                body.append(inline(lines[i][2:]))
            parts.append(f'<div class="alert"><div class="title">⚠ Warning</div>{" ".join(body)}</div>')
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            i -= 1
            head, body = cells(rows[0]), [cells(r) for r in rows[2:]]
            th = "".join(f"<th>{inline(c)}</th>" for c in head) if any(head) else ""
            trs = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in body)
            parts.append(f"<table>{f'<thead><tr>{th}</tr></thead>' if th else ''}<tbody>{trs}</tbody></table>")
        elif line.strip():
            parts.append(f"<p>{inline(line)}</p>")
        i += 1
    return "\n".join(parts)


def page(markdown: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><style>{CSS}</style></head><body>"
            "<div class='comment'><div class='header'><b>tollgate-bot</b> (the token's account) commented "
            "<span class='badge'>bot</span> · edited</div>"
            f"<div class='body'>{to_html(markdown)}</div></div></body></html>")


def main() -> int:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs/images/pr-comment.md"
    output = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs/images/pr-comment.png"
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("no chromium: run scripts/browser_test.sh once (it installs Debian's), or apt-get install chromium",
              file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="comment-image-") as scratch:
        sheet = Path(scratch) / "comment.html"
        sheet.write_text(page(source.read_text()))
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={scratch}/profile", "--force-device-scale-factor=1",
                        f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={output.resolve()}", sheet.as_uri()],
                       check=True, capture_output=True, timeout=120)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
