#!/usr/bin/env python3
"""Parse Prometheus expositions with Python's reference parsers (prometheus_client).

Usage:
    parse_check.py [--text | --openmetrics | --auto] FILE... [--compare]

Each FILE (``-`` is standard input) is parsed as text 0.0.4 with
``prometheus_client.parser.text_string_to_metric_families`` or as OpenMetrics 1.0
with ``prometheus_client.openmetrics.parser.text_string_to_metric_families``.
``--text`` / ``--openmetrics`` set the format of the files after them; the default,
``--auto``, takes a file whose last line is ``# EOF`` for OpenMetrics.

``--compare`` also checks that all text files and all OpenMetrics files describe
the same series with the same values (``le`` compared as numbers, since the formats
render it differently). The only difference allowed: a histogram with a negative
bucket bound has ``_sum``/``_count`` in text but not in OpenMetrics.

Prints one line per file and exits 1 if anything fails to parse or compare.
Needs ``prometheus-client`` (``pip install prometheus-client``; tested with 0.26).
"""

import math
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text


def read(path):
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def series(families):
    """{(sample name, sorted labels with le as float): value} of parsed families."""
    out = {}
    for family in families:
        for s in family.samples:
            labels = dict(s.labels)
            if "le" in labels:
                labels["le"] = float(labels["le"])
            key = (s.name, tuple(sorted(labels.items())))
            if key in out:
                raise ValueError(f"series {key} appears twice")
            out[key] = float(s.value)
    return out


def same_value(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def compare(text_series, om_series):
    problems = []
    for key, value in om_series.items():
        if key not in text_series:
            problems.append(f"{key} only in OpenMetrics")
        elif not same_value(value, text_series[key]):
            problems.append(f"{key}: OpenMetrics {value} != text {text_series[key]}")
    negative_histograms = {
        (name[: -len("_bucket")], tuple(l for l in labels if l[0] != "le"))
        for (name, labels) in text_series
        if name.endswith("_bucket") and dict(labels).get("le", 0) < 0
    }
    for key in text_series.keys() - om_series.keys():
        name, labels = key
        base = name.rsplit("_", 1)[0]
        if name.endswith(("_sum", "_count")) and (base, labels) in negative_histograms:
            continue
        problems.append(f"{key} only in text")
    return problems


def main(argv):
    mode = "auto"
    do_compare = False
    files = []
    for arg in argv:
        if arg in ("--text", "--openmetrics", "--auto"):
            mode = arg[2:]
        elif arg == "--compare":
            do_compare = True
        elif arg in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            files.append((arg, mode))
    if not files:
        print(__doc__, file=sys.stderr)
        return 2

    failed = False
    parsed = {"text": {}, "openmetrics": {}}
    for path, mode in files:
        try:
            content = read(path)
            fmt = mode
            if fmt == "auto":
                fmt = "openmetrics" if content.endswith("# EOF\n") or content.endswith("# EOF") else "text"
            parse = parse_openmetrics if fmt == "openmetrics" else parse_text
            families = list(parse(content))
            found = series(families)
            parsed[fmt].update(found)
            print(f"ok   {path} ({fmt}): {len(families)} families, {len(found)} series")
        except Exception as e:  # report every file, then fail
            failed = True
            print(f"FAIL {path}: {type(e).__name__}: {e}")

    if do_compare and not failed:
        problems = compare(parsed["text"], parsed["openmetrics"])
        for p in problems:
            print(f"DIFF {p}")
        if problems:
            failed = True
        else:
            print(f"ok   text and OpenMetrics agree on {len(parsed['openmetrics'])} series")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
