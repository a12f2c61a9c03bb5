"""The report files' writers, in three layers; nothing imports upwards, and nothing in a circle.

    open         open_report: the one door, which picks a writer by format name (for jobs.output)
    formats      csv, xlsx (with sheets, workbook, cells), gbat10, camt053, settlement_xml
    base         base.ReportFile (a report, committed atomically or aborted), proof (what a voucher or
                 statement must show before it is written), spill (bytes in memory, then in a temp file;
                 text a chunk at a time), xmltext (text in XML)

Money in the files is jobs.money's; entry-type categories and sums are jobs.reconcile's. This file
imports nothing, so importing a base module does not load every writer.
"""
