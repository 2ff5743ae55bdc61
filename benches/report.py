"""Renders a benchmark run: the Markdown table, the SVG chart and the README
fragment (docs/benchmarks.md), all from the JSON that benches/compare.py
writes. Nothing here measures, so a run can be re-rendered at any time:

    python3 benches/compare.py --report benches/results/latest.json

The prose around the table lives in docs/benchmarks-notes.md.
"""

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROSE = ROOT / "docs" / "benchmarks-notes.md"
DRAIN_DELAY_MS = 200


def fmt_bytes(n):
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def fmt_ms(v):
    return f"{v:.3f} ms" if abs(v) < 1 else f"{v:.2f} ms" if abs(v) < 100 else f"{v:.0f} ms"


def fmt_us(v):
    return f"{v:.0f} µs" if v >= 100 else f"{v:.1f} µs"


def fmt_kb(v):
    return f"{v / 1024:.2f} MiB" if v >= 1024 else f"{v} kB"


def fmt_count(v):
    return f"{v:,.0f}"


@dataclass
class Row:
    """One metric: how to show it, and graceinit's target against the best peer."""

    key: str
    label: str
    fmt: object
    chart: bool = True
    target: str = ""
    # (graceinit value, best peer value) -> met?
    check: object = None
    # A target that needs no peer (an absolute bound).
    absolute: bool = False


ROWS = [
    Row("size", "static binary size", fmt_bytes,
        target="≤ 1.3 MB", check=lambda g, best: g <= 1.3e6, absolute=True),
    Row("startup_instructions", "start-up: instructions of the init process (valgrind)", fmt_count,
        target="≤ fewest of the peers", check=lambda g, best: g <= best),
    Row("startup_init_syscalls", "start-up: system calls of the init process (strace)", fmt_count),
    Row("startup_child_syscalls", "start-up: system calls of its child before exec", fmt_count,
        target="≤ 8", check=lambda g, best: g <= 8, absolute=True),
    Row("startup_faults", "start-up: page faults over bare `/bin/true`, median", fmt_count,
        target="≤ fewest of the peers", check=lambda g, best: g <= best),
    Row("startup_cpu_ms", "start-up: CPU time over bare `/bin/true`, median", fmt_ms,
        target="≤ 1.0× least of the peers", check=lambda g, best: g <= best),
    Row("startup_median_ms", "start-up + exit of `/bin/true`, median", fmt_ms, chart=False),
    Row("startup_p90_ms", "start-up + exit of `/bin/true`, p90", fmt_ms, chart=False),
    Row("startup_overhead_ms", "start-up overhead over bare `/bin/true`, median", fmt_ms,
        target="≤ 1.0× fastest peer", check=lambda g, best: g <= best),
    Row("idle_rss_kb", "idle RSS (VmRSS)", fmt_kb,
        target="≤ smallest peer", check=lambda g, best: g <= best),
    Row("peak_rss_kb", "peak RSS (VmHWM)", fmt_kb, chart=False),
    Row("idle_wakeups", "idle wakeups (context switches of PID 1 while idle)", str,
        target="0", check=lambda g, best: g == 0, absolute=True),
    Row("reap_2000_ms", "reap 2,000 orphans, median", fmt_ms),
    Row("reap_20000_ms", "reap 20,000 orphans, median", fmt_ms,
        target="≤ 1.0× fastest peer", check=lambda g, best: g <= best),
    Row("reap_20000_best_ms", "reap 20,000 orphans, best run", fmt_ms, chart=False,
        target="≤ 1.0× fastest peer", check=lambda g, best: g <= best),
    Row("forward_median_us", "signal forwarding latency, median", fmt_us,
        target="≤ 1.1× fastest peer", check=lambda g, best: g <= 1.1 * best),
    Row("forward_p99_us", "signal forwarding latency, p99", fmt_us,
        target="≤ 1.1× fastest peer", check=lambda g, best: g <= 1.1 * best),
    Row("forward_pinned_median_us", "signal forwarding latency, all on one CPU, median", fmt_us,
        target="≤ 1.1× fastest peer", check=lambda g, best: g <= 1.1 * best),
    Row("forward_pinned_p99_us", "signal forwarding latency, all on one CPU, p99", fmt_us,
        target="≤ 1.1× fastest peer", check=lambda g, best: g <= 1.1 * best),
    Row("stop_median_us", "stop latency (SIGTERM → PID 1 gone), median", fmt_us),
    Row("stop_p90_us", "stop latency, p90", fmt_us, chart=False),
    Row("drain_error_median_ms", f"drain accuracy: forward − {DRAIN_DELAY_MS} ms, median", fmt_ms,
        chart=False),
    Row("drain_error_max_ms", f"drain accuracy: forward − {DRAIN_DELAY_MS} ms, max", fmt_ms,
        chart=False),
]

# Health probes: columns are the probing tools, ratios are to `graceinit --http`.
PROBE_ROWS = [
    Row("wall_median_ms", "one probe, wall time, median", fmt_ms),
    Row("wall_p90_ms", "one probe, wall time, p90", fmt_ms, chart=False),
    Row("cpu_median_ms", "one probe, CPU time (user + sys), median", fmt_ms),
]
PROBE_BASE = "graceinit --http"


def ratio(value, base):
    if value is None or base is None:
        return None
    if base == 0:
        return 1.0 if value == 0 else float("inf")
    return value / base


def evaluate(inits):
    """Per row: values, ratios to graceinit, best peer, target verdict.
    `inits` maps a name to its stats (with `candidate` for builds and floors
    that are shown but never the best peer)."""
    table = []
    for row in ROWS:
        values = {name: stats.get(row.key) for name, stats in inits.items()}
        if all(v is None for v in values.values()):
            continue
        base = values.get("graceinit")
        peers = [v for name, v in values.items()
                 if name != "graceinit" and not inits[name].get("candidate") and v is not None]
        best = min(peers) if peers else None
        met = None
        if row.check and base is not None and (best is not None or row.absolute):
            met = bool(row.check(base, best))
        table.append({
            "key": row.key, "label": row.label, "values": values,
            "ratios": {name: ratio(v, base) for name, v in values.items()},
            "best_peer": best, "target": row.target, "met": met,
            "vs_best_peer": ratio(base, best) if best is not None else None,
        })
    return table


def evaluate_probes(tools):
    table = []
    for row in PROBE_ROWS:
        values = {name: stats.get(row.key) for name, stats in tools.items()}
        base = values.get(PROBE_BASE)
        table.append({"key": row.key, "label": row.label, "values": values,
                      "ratios": {name: ratio(v, base) for name, v in values.items()}})
    return table


def cells(entry, names, fmt, base_name, suffix=lambda name: ""):
    out = []
    for name in names:
        value = entry["values"].get(name)
        if value is None:
            out.append("n/a")
            continue
        cell = fmt(value) + suffix(name)
        r = entry["ratios"].get(name)
        if name != base_name and r is not None:
            cell += " (∞×)" if r == float("inf") else f" ({r:.2f}×)"
        out.append(cell)
    return out


def markdown(inits, table, notes, probes=None):
    names = list(inits)
    fmts = {row.key: row.fmt for row in ROWS}
    lines = ["| metric | " + " | ".join(names) + " | target | met |",
             "|---|" + "---:|" * len(names) + "---|:-:|"]
    for entry in table:
        libc = (lambda n: "" if inits[n].get("static", True) else " + libc") \
            if entry["key"] == "size" else (lambda n: "")
        row_cells = cells(entry, names, fmts[entry["key"]], "graceinit", libc)
        verdict = {True: "✅", False: "❌", None: ""}[entry["met"]]
        lines.append(f"| {entry['label']} | " + " | ".join(row_cells)
                     + f" | {entry['target']} | {verdict} |")
    if probes:
        tools = list(probes["tools"])
        pfmts = {row.key: row.fmt for row in PROBE_ROWS}
        lines += ["", "| health probe | " + " | ".join(f"`{t}`" for t in tools) + " |",
                  "|---|" + "---:|" * len(tools)]
        for entry in evaluate_probes(probes["tools"]):
            lines.append(f"| {entry['label']} | "
                         + " | ".join(cells(entry, tools, pfmts[entry["key"]], PROBE_BASE)) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


COLORS = {"graceinit": "#2e7d32", "tini": "#1565c0", "tini-static": "#64b5f6",
          "dumb-init": "#ef6c00", "catatonit": "#8e24aa", "floor-fork": "#9e9e9e",
          "floor-spawn": "#cfcfcf", PROBE_BASE: "#2e7d32", "graceinit --tcp": "#81c784",
          "curl -fsS": "#c62828", "busybox wget -q": "#f9a825"}
CANDIDATE_COLORS = ["#81c784", "#a5d6a7", "#c8e6c9", "#66bb6a"]


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def short_label(label):
    return (label.replace("`", "").replace(", median", " (median)")
            .replace("signal forwarding latency", "forwarding latency")
            .replace("start-up overhead over bare /bin/true", "start-up overhead")
            .replace(" (SIGTERM → PID 1 gone)", "").replace("start-up: ", "start-up ")
            .replace(" of the init process", " of the init").replace(" (valgrind)", "")
            .replace(" (strace)", "").replace(" over bare /bin/true", " over bare"))


def panel(out, top, title, names, groups, base_name, colors, cap=3.0):
    """Horizontal grouped bars of each series' value over `base_name`'s;
    bars past `cap` are cut short and labelled with their ratio. Returns
    the y below the panel."""
    bar, gap, label_w, plot_w = 9, 14, 300, 420
    x = lambda r: label_w + plot_w * min(r, cap) / cap  # noqa: E731
    out.append(f'<text x="10" y="{top + 20}" font-size="15" font-weight="bold">{escape(title)}</text>')
    for i, name in enumerate(names):
        lx = 10 + (i % 6) * 125
        ly = top + 34 + (i // 6) * 16
        out.append(f'<rect x="{lx}" y="{ly}" width="12" height="12" fill="{colors[name]}"/>'
                   f'<text x="{lx + 16}" y="{ly + 10}">{escape(name)}</text>')
    first = top + 56 + 16 * ((len(names) - 1) // 6)
    group_h = bar * len(names) + gap
    bottom = first + group_h * len(groups)
    for tick in range(int(cap) + 1):
        tx = x(tick)
        out.append(f'<line x1="{tx}" y1="{first - 6}" x2="{tx}" y2="{bottom}" '
                   f'stroke="{"#333" if tick == 1 else "#ddd"}" stroke-width="{2 if tick == 1 else 1}"/>'
                   f'<text x="{tx}" y="{bottom + 14}" text-anchor="middle">{tick}×</text>')
    for g, entry in enumerate(groups):
        gy = first + g * group_h
        out.append(f'<text x="{label_w - 8}" y="{gy + group_h / 2}" text-anchor="end" '
                   f'dominant-baseline="middle">{escape(short_label(entry["label"]))}</text>')
        base = entry["values"][base_name]
        for i, name in enumerate(names):
            value = entry["values"].get(name)
            if value is None:
                continue
            r = entry["ratios"][name]
            y = gy + i * bar
            if base == 0:
                # A zero base has no ratio: a full bar for any cost, labelled with the count.
                w = x(cap) - label_w if value else 1
                text = f"{value}"
            else:
                w = max(x(r) - label_w, 1)
                text = f"{r:.2f}×" + ("" if r <= cap else " ▸")
            out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar - 1}" '
                       f'fill="{colors[name]}"><title>{escape(name)}: {value}</title></rect>'
                       f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 1}" font-size="9">{text}</text>')
    return bottom + 24


def svg_chart(inits, table, probes=None):
    names = list(inits)
    candidates = iter(CANDIDATE_COLORS * 3)
    colors = {n: COLORS.get(n) or next(candidates) for n in names}
    charted = {row.key for row in ROWS if row.chart}
    groups = [e for e in table if e["key"] in charted and e["values"].get("graceinit") is not None]
    out = []
    y = panel(out, 0, "Cost relative to graceinit (graceinit = 1×; a longer bar costs more "
              "than graceinit)", names, groups, "graceinit", colors)
    if probes:
        tools = list(probes["tools"])
        charted = {row.key for row in PROBE_ROWS if row.chart}
        groups = [e for e in evaluate_probes(probes["tools"]) if e["key"] in charted]
        y = panel(out, y, f"Health probe cost relative to {PROBE_BASE}", tools, groups,
                  PROBE_BASE, {**colors, **{t: COLORS.get(t, "#555") for t in tools}})
    dynamic = [n for n in names if inits[n].get("static") is False]
    if dynamic:
        out.append(f'<text x="10" y="{y}" font-size="10" fill="#555">Binary size: '
                   f'{", ".join(dynamic)} are dynamically linked and need libc (~2 MB) besides.</text>')
        y += 8
    width, height = 830, y + 4
    head = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
            f'<rect width="{width}" height="{height}" fill="white"/>']
    return "\n".join(head + out + ["</svg>"]) + "\n"


def readme_fragment(md, info):
    """docs/benchmarks.md: the README's benchmark section, regenerated with each full run."""
    return f"""## Benchmarks

What graceinit costs next to the inits you use today, measured in one run on
{info['cpus']} × {info['cpu']} (Linux {info['kernel']}), {info['date']}. Every init runs as the
real PID 1 of its own PID namespace, and they take turns in every iteration, so
noise from the machine hits all of them alike. Ratios are each init's value over
graceinit's: above 1× costs more than graceinit.

![graceinit against tini, tini-static, dumb-init and catatonit](benches/results/chart.svg)

{md}
{PROSE.read_text()}"""


def render(data):
    """(Markdown table, SVG chart, README fragment) of one run's JSON."""
    inits = data["inits"]
    table = evaluate(inits)
    probes = data.get("probes")
    md = markdown(inits, table, data["notes"], probes)
    return md, svg_chart(inits, table, probes), readme_fragment(md, data["meta"]), table
