"""The measurements of bench.run turned into figures, each against the issue's target."""

from __future__ import annotations

import math

from bench.report import Figure, at_least, at_most, info

BIG_TOKEN_TTL = 900  # the production lifetime: the large date is about memory and speed
# The exporter renews a token this much before it expires (README: "a margin scaled to its lifetime").
MAX_MARGIN, MARGIN_SHARE = 60.0, 0.2


def token_limit(wall: float, ttl: float) -> int:
    """One token per lifetime the run lasted, plus one; a lifetime ends at the renewal margin."""
    return math.ceil(wall / (ttl - min(MAX_MARGIN, ttl * MARGIN_SHARE))) + 1


def latency_figures(runs: dict, latency_ms: int, token_ttl: int) -> list[Figure]:
    figures = []
    for level, r in runs.items():
        wall, ideal, n = r["run"]["wall_s"], r["ideal_s"], r["requests"]["total"]
        kinds = ", ".join(f"{v} {k}" for k, v in sorted(r["requests"]["by_kind"].items()))
        detail = (
            f"{wall:.1f} s vs {n} requests ({kinds}) x {latency_ms} ms / {level} = {ideal:.1f} s; "
            f"own clock {r['own_s']:.1f} s"
        )
        name = f"latency c={level}: wall / ideal"
        if level in ("8", "32"):
            figures.append(at_most(name, wall / ideal, 1.25, "x", detail))
        else:
            figures.append(info(name, wall / ideal, "x", detail))
    for level, r in runs.items():
        # What no exporter can overlap: its own start-up (imports, before its clock starts), and the
        # ledger list's cursor pages and the token fetches (under one lock), one after another.
        startup = r["run"]["wall_s"] - r["own_s"]
        serial = sum(r["requests"]["by_kind"].get(k, 0) for k in ("ledgers", "token"))
        rest = r["requests"]["total"] - serial
        floor = startup + (serial + rest / int(level if level.isdigit() else 1)) * latency_ms / 1000
        figures.append(
            info(
                f"latency c={level}: wall / floor",
                r["run"]["wall_s"] / floor,
                "x",
                f"floor {floor:.1f} s: start-up {startup:.1f} s, {serial} ledger-list and token "
                f"requests in series, {rest} in parallel",
            )
        )
    for level, r in runs.items():
        # The run cannot take less wall time than the CPU its threads need under one GIL.
        cpu = r["run"]["cpu_s"]
        figures.append(
            info(
                f"latency c={level}: exporter CPU / ideal",
                cpu / r["ideal_s"],
                "x",
                f"exporter CPU {cpu:.1f} s (user + system); the sandbox, on the same cores, "
                f"{r['requests']['sandbox_cpu_s']:.1f} s",
            )
        )
    for level, r in runs.items():
        # Seen from the API: how many requests the run kept busy on average, and at most.
        own, busy, peak = r["own_s"], r["requests"]["busy_s"], r["requests"]["peak_in_flight"]
        figures.append(
            info(
                f"latency c={level}: requests in flight, mean",
                busy / own,
                "",
                f"peak {peak}; the API spent {busy:.1f} s on requests during the run's {own:.1f} s",
            )
        )
    for level, r in runs.items():
        limit = token_limit(r["run"]["wall_s"], token_ttl)
        figures.append(
            at_most(
                f"tokens, latency c={level}",
                r["tokens"],
                limit,
                "tokens",
                f"token lifetime {token_ttl} s, run {r['run']['wall_s']:.1f} s; sandbox issued "
                f"{r['requests']['tokens_issued']}",
            )
        )
    return figures


def large_figures(r: dict, entries: int) -> list[Figure]:
    export, writers, transfer, naive = (r[k] for k in ("export", "writers", "transfer", "naive"))
    wall, rss = export["run"]["wall_s"], export["run"]["peak_rss_mb"]
    bare = writers["csv_s"] + writers["xlsx_s"] + transfer["transfer_s"]
    written = export["rows"] == export["csv_rows"] == export["xlsx_rows"] == entries
    return [
        Figure(
            "large date: rows in the files",
            export["csv_rows"],
            "rows",
            f"= {entries} in CSV and XLSX",
            written,
            f"read back: CSV {export['csv_rows']}, XLSX entries sheet {export['xlsx_rows']}; summary line "
            f"{export['rows']}",
        ),
        info("large date: export wall time", wall, "s", f"{entries} entries, CPU {export['run']['cpu_s']:.1f} s"),
        at_most("large date: export peak RSS", rss, 150, "MB"),
        info(
            "large date: bare writers (CSV + XLSX)",
            writers["csv_s"] + writers["xlsx_s"],
            "s",
            f"csv module {writers['csv_s']:.1f} s + openpyxl write-only {writers['xlsx_s']:.1f} s",
        ),
        info("large date: bare transfer", transfer["transfer_s"], "s", f"{transfer['pages']} pages, plain httpx"),
        info("large date: naive wall time", naive["run"]["wall_s"], "s", "pandas, one request at a time"),
        info("large date: naive peak RSS", naive["run"]["peak_rss_mb"], "MB"),
        at_most(
            "large date: export / (bare writers + transfer)",
            wall / bare,
            1.3,
            "x",
            f"{wall:.1f} s vs CSV {writers['csv_s']:.1f} + XLSX {writers['xlsx_s']:.1f} + transfer "
            f"{transfer['transfer_s']:.1f} = {bare:.1f} s",
        ),
        at_least(
            "large date: naive wall / export wall",
            naive["run"]["wall_s"] / wall,
            5,
            f"naive {naive['run']['wall_s']:.1f} s (fetch {naive['fetch_s']:.1f}, frame {naive['frame_s']:.1f}, "
            f"to_csv {naive['csv_s']:.1f}, to_excel {naive['xlsx_s']:.1f})",
        ),
        at_least(
            "large date: naive RSS / export RSS",
            naive["run"]["peak_rss_mb"] / rss,
            10,
            f"naive {naive['run']['peak_rss_mb']:.0f} MB vs export {rss:.0f} MB",
        ),
        info("large date: bare writers RSS", writers["run"]["peak_rss_mb"], "MB", "rows held in memory, for scale"),
        at_most(
            "tokens, large date",
            export["tokens"],
            token_limit(wall, BIG_TOKEN_TTL),
            "tokens",
            f"token lifetime {BIG_TOKEN_TTL} s",
        ),
    ]


def format_figures(r: dict, entries: int) -> list[Figure]:
    """The GBAT10, camt.053 and Vipps settlement XML writers beside the CSV writer on the big date: throughput
    and peak RSS."""
    figures = []
    csv_s = r["streams"]["csv"]["write_s"]
    for name, s in r["streams"].items():
        rate = s["rows"] / s["write_s"] / 1000
        rss, size = s["run"]["peak_rss_mb"], s["bytes"] / 2**20
        detail = (
            f"{s['write_s']:.1f} s ({s['write_s'] / csv_s:.2f}x the CSV writer's), CPU {s['write_cpu_s']:.1f} "
            f"s, for {s['rows']} rows, {size:.0f} MiB; peak RSS {rss:.0f} MB"
        )
        figures.append(info(f"large date: {name} writer alone", rate, "k rows/s", detail))
    # What each file must hold: a row or an Ntry per funds entry; the vouchers book the date's fees too
    # (bench.run.voucher_lines counts them from the sandbox's entries); a TransactionInfo per payment (every
    # entry but the payout: the big date is one gross settlement).
    records = {"csv": entries, "camt053": entries, "vipps-xml": entries - 1, **r["voucher_lines"]}
    for name, e in r["exports"].items():
        wall, rss = e["run"]["wall_s"], e["run"]["peak_rss_mb"]
        figures.append(
            Figure(
                f"large date: export {name}: records",
                e["written"],
                "rows",
                f"= {records[name]}",
                e["written"] == records[name] and e["rows"] == entries,
                f"{e['bytes'] / 2**20:.0f} MiB; summary line {e['rows']} rows",
            )
        )
        figures.append(
            info(
                f"large date: export {name}: wall time",
                wall,
                "s",
                f"{entries / wall / 1000:.1f}k entries/s, fetching included; CPU {e['run']['cpu_s']:.1f} s",
            )
        )
        figures.append(at_most(f"large date: export {name}: peak RSS", rss, 150, "MB"))
    return figures
