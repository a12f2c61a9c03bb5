"""XLSX written directly: SpreadsheetML text streamed into a zip, one sheet after another.

openpyxl builds an object per cell; here a row is one string, so a report is
written at about half the speed of its CSV. The package holds the parts Excel
writes (content types, package and workbook relationships, core and app
properties, workbook, styles, theme, worksheets), with one left out: no shared
strings (text is inline, so a sheet streams without a string table growing in
memory). The theme is Office's own; the styles name their font in full as well.
How a cell is written is in jobs.formats.cells.

A sheet's rows go to a scratch file first (in memory while small, then on disk
beside the report: ``jobs.formats.spill.ScratchFile``) and into the zip when the sheet is
closed. Its ``<dimension>``, the range it uses, which readers such as openpyxl in
read-only mode size a sheet by, comes before the rows but is known only after the
last one.

Sheets are numbered ``sheet1.xml``, ``sheet2.xml``... in the order they are
started; the workbook lists them in display order, so a sheet written last (the
summary) can still be shown first.

Every sheet is set up for printing: landscape A4, one page wide and as many long
as it takes, a header row (where the sheet has one) repeated on every page, the
report's heading (ledger, topic, dates) and the sheet's name at the top, a footer
line (the time zone) and the page number at the bottom. Excel's green "number
stored as text" mark is turned off over every sheet: text that looks like a number
(``00123``, a payout number) is text on purpose.

The zip is deterministic: every member is dated 1980-01-01 and deflated at one
fixed level, so the same rows give the same bytes. No member uses ZIP64: Excel
is known to reject ZIP64 headers on parts that do not need them, and Python
writes them for any member opened with ``force_zip64``. A sheet part must
therefore stay under 4 GiB; `Sheet.room` tells the writer when to go on to the next.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Protocol
from zipfile import ZIP64_LIMIT, ZIP_DEFLATED, ZipFile, ZipInfo

from jobs import __version__
from jobs.formats.cells import BOLD, column_letter, xml_text

PART_LIMIT = ZIP64_LIMIT  # the most a zip member holds without ZIP64
# Level 1 against the default 6, measured on 200,000 varied rows: 134k against 82k rows/s written
# (rows to bytes on disk), for 18 MB against 14 MB; the CSV of the same rows is 25 MB.
COMPRESS_LEVEL = 1

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold: no wall clock in the file
_SHEET_FRAME = 8192  # bytes: ample for all a sheet part holds besides its rows (columns, print setup, ...)
_HEADING_LIMIT = 100  # characters of a page heading or footer line; Excel takes 255 per header or footer
_COPY = 1 << 18  # bytes copied from a sheet's scratch file into the zip at a time

_NS = "http://schemas.openxmlformats.org"
_MAIN = f"{_NS}/spreadsheetml/2006/main"
_DOC_RELS = f"{_NS}/officeDocument/2006/relationships"
_PKG_RELS = f"{_NS}/package/2006/relationships"
_TYPES = "application/vnd.openxmlformats-officedocument"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


class Scratch(Protocol):
    """Where a sheet's rows wait until it is closed: written, read back once, closed (io.BytesIO will do)."""

    def write(self, data: bytes, /) -> int: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def read(self, size: int = -1, /) -> bytes: ...
    def close(self) -> None: ...


class Package:
    """An XLSX being written into `file`; sheets one at a time, the rest on close().

    `heading` (the ledger, topic and dates) tops every printed page, `footer` ends it; `scratch`
    makes the file object a sheet's rows wait in until the sheet is closed.
    """

    def __init__(
        self, file: IO[bytes], *, heading: str = "", footer: str = "", scratch: Callable[[], Scratch] = io.BytesIO
    ) -> None:
        self._zip = ZipFile(file, "w", ZIP_DEFLATED, allowZip64=True)
        self._sheets: list[Sheet] = []  # in display order
        self._scratch = scratch
        self._print = _print_setup(heading, footer)

    def add_sheet(self, title: str, widths: Sequence[int], *, header_row: bool, first: bool = False) -> Sheet:
        """Start the next sheet; it is shown last, or first if `first`. A `header_row` (row 1) stays in
        view when scrolling and is printed on every page."""
        sheet = Sheet(self._zip, len(self._sheets) + 1, title, widths, header_row, self._print, self._scratch())
        self._sheets.insert(0 if first else len(self._sheets), sheet)
        return sheet

    def close(self) -> None:
        """Write the workbook around the sheets and finish the zip (into the file, which stays open)."""
        self._put("xl/workbook.xml", self._workbook())
        self._put("xl/_rels/workbook.xml.rels", self._workbook_rels())
        self._put("xl/styles.xml", _STYLES)
        self._put("xl/theme/theme1.xml", _THEME)
        self._put("docProps/core.xml", _CORE)
        self._put("docProps/app.xml", _APP)
        self._put("_rels/.rels", _PACKAGE_RELS)
        self._put("[Content_Types].xml", self._content_types())
        self._zip.close()

    def abandon(self) -> None:
        """Let go of a package that will not be committed; its file is about to be deleted."""
        for sheet in self._sheets:
            sheet.abandon()
        with contextlib.suppress(OSError, ValueError):
            self._zip.close()  # now, while the file is open; at garbage collection it would fail noisily

    def _put(self, name: str, text: str) -> None:
        self._zip.writestr(_member(name), text.encode())

    def _workbook(self) -> str:
        sheets = "".join(
            f'<sheet name="{xml_text(sheet.title)}" sheetId="{sheet.number}" r:id="rId{sheet.number}"/>'
            for sheet in self._sheets
        )
        names = []
        for index, sheet in enumerate(self._sheets):
            if sheet.filter_range:
                names.append(
                    f'<definedName name="_xlnm._FilterDatabase" localSheetId="{index}" hidden="1">'
                    f"{xml_text(sheet.filter_range)}</definedName>"
                )
            if sheet.header_row:
                names.append(
                    f'<definedName name="_xlnm.Print_Titles" localSheetId="{index}">'
                    f"{xml_text(sheet.reference)}!$1:$1</definedName>"
                )
        defined = f"<definedNames>{''.join(names)}</definedNames>" if names else ""
        return (
            f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_DOC_RELS}"><workbookPr/>'
            f'<bookViews><workbookView activeTab="0"/></bookViews><sheets>{sheets}</sheets>{defined}'
            '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>'
        )

    def _workbook_rels(self) -> str:
        relations = [
            (f"rId{sheet.number}", f"{_DOC_RELS}/worksheet", f"worksheets/{sheet.part_name}")
            for sheet in sorted(self._sheets, key=lambda sheet: sheet.number)
        ]
        relations.append((f"rId{len(self._sheets) + 1}", f"{_DOC_RELS}/styles", "styles.xml"))
        relations.append((f"rId{len(self._sheets) + 2}", f"{_DOC_RELS}/theme", "theme/theme1.xml"))
        return _relationships(relations)

    def _content_types(self) -> str:
        parts = [
            ("/xl/workbook.xml", f"{_TYPES}.spreadsheetml.sheet.main+xml"),
            *[
                (f"/xl/worksheets/{sheet.part_name}", f"{_TYPES}.spreadsheetml.worksheet+xml")
                for sheet in sorted(self._sheets, key=lambda sheet: sheet.number)
            ],
            ("/xl/styles.xml", f"{_TYPES}.spreadsheetml.styles+xml"),
            ("/xl/theme/theme1.xml", f"{_TYPES}.theme+xml"),
            ("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml"),
            ("/docProps/app.xml", f"{_TYPES}.extended-properties+xml"),
        ]
        overrides = "".join(f'<Override PartName="{name}" ContentType="{kind}"/>' for name, kind in parts)
        return (
            f'{_HEAD}<Types xmlns="{_NS}/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            f'<Default Extension="xml" ContentType="application/xml"/>{overrides}</Types>'
        )


class Sheet:
    """One worksheet: rows gathered in its scratch file until close() writes the part into the zip."""

    def __init__(
        self,
        archive: ZipFile,
        number: int,
        title: str,
        widths: Sequence[int],
        header_row: bool,
        print_setup: str,
        body: Scratch,
    ) -> None:
        self.number = number
        self.title = title
        self.header_row = header_row
        self.part_name = f"sheet{number}.xml"
        self.filter_range = ""  # the autofilter's defined name, once closed with one
        self._archive = archive
        self._widths = widths
        self._print = print_setup
        self._body: Scratch | None = body
        self._written = 0

    @property
    def reference(self) -> str:
        """The sheet's name as a formula refers to it: 'entries (2)'."""
        return "'" + self.title.replace("'", "''") + "'"

    @property
    def room(self) -> int:
        """Bytes of rows that can still be written before the part would need ZIP64."""
        return PART_LIMIT - _SHEET_FRAME - self._written

    def write(self, xml: str) -> None:
        data = xml.encode()  # strict: a lone surrogate here is a bug, better loud than a broken file
        self._written += len(data)
        self._open_body().write(data)

    def close(self, rows: int, *, autofilter: bool = False) -> None:
        """Put the sheet into the zip: `rows` rows written, the header included; `autofilter` over them all."""
        last = column_letter(len(self._widths))
        used = f"A1:{last}{rows}"
        tail = "</sheetData>"
        if autofilter:
            tail += f'<autoFilter ref="{used}"/>'
            self.filter_range = f"{self.reference}!$A$1:${last}${rows}"
        tail += f'{self._print}<ignoredErrors><ignoredError sqref="{used}" numberStoredAsText="1"/></ignoredErrors>'
        with self._archive.open(_member(f"xl/worksheets/{self.part_name}"), "w") as part:
            part.write(self._head(used).encode())
            body = self._open_body()
            body.seek(0)
            shutil.copyfileobj(body, part, _COPY)
            part.write(f"{tail}</worksheet>".encode())
        self.abandon()

    def _open_body(self) -> Scratch:
        if self._body is None:
            raise RuntimeError(f"sheet {self.title!r} is closed")
        return self._body

    def abandon(self) -> None:
        if self._body is not None:
            with contextlib.suppress(OSError, ValueError):  # the disk that failed a write fails this too
                self._body.close()
            self._body = None

    def _head(self, used: str) -> str:
        view = (
            '<sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView>'
            if self.header_row
            else '<sheetView workbookViewId="0"/>'
        )
        cols = "".join(
            f'<col min="{n}" max="{n}" width="{width}" customWidth="1"/>' for n, width in enumerate(self._widths, 1)
        )
        return (
            f'{_HEAD}<worksheet xmlns="{_MAIN}" xmlns:r="{_DOC_RELS}">'
            f'<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr><dimension ref="{used}"/>'
            f"<sheetViews>{view}</sheetViews>"
            f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>'
        )


def _print_setup(heading: str, footer: str) -> str:
    """Margins, page setup and header/footer of every sheet (its fitToPage is in the sheet's head)."""
    header = f"&L{_page_text(heading)}&R&A"  # &A: the sheet's name
    foot = f"&L{_page_text(footer)}&RPage &P of &N"
    return (
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        # paperSize 9 is A4 (absent, it would mean Letter); fitToHeight 0: as many pages long as it takes
        '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
        f"<headerFooter><oddHeader>{xml_text(header)}</oddHeader><oddFooter>{xml_text(foot)}</oddFooter></headerFooter>"
    )


def _page_text(text: str) -> str:
    """Text for a page header or footer, where '&' starts a code and '&&' is an ampersand."""
    return text[:_HEADING_LIMIT].replace("&", "&&")


def _member(name: str) -> ZipInfo:
    info = ZipInfo(name, date_time=_ZIP_TIME)
    info.create_system = 0  # as Excel writes it, and the same bytes on every platform
    info.compress_type = ZIP_DEFLATED
    # Public as compress_level from Python 3.13; this name works on all (and typeshed knows only the new one).
    info._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]
    return info


def _relationships(relations: Iterable[tuple[str, str, str]]) -> str:
    items = "".join(f'<Relationship Id="{id_}" Type="{kind}" Target="{target}"/>' for id_, kind, target in relations)
    return f'{_HEAD}<Relationships xmlns="{_PKG_RELS}">{items}</Relationships>'


_FONT = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
_STYLES = (
    f'{_HEAD}<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
    f'<fonts count="2"><font>{_FONT}</font><font><b/>{_FONT}</font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    '</fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="6"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    f'<xf numFmtId="0" fontId="{BOLD}" fillId="0" borderId="0" xfId="0" applyFont="1"/>'  # BOLD
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'  # DATE: yyyy-mm-dd
    '<xf numFmtId="2" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'  # AMOUNT: 0.00
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'  # DATETIME
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">'  # WRAP
    '<alignment wrapText="1"/></xf>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9" '
    'defaultPivotStyle="PivotStyleLight16"/>'
    "</styleSheet>"
)
_EPOCH = "1980-01-01T00:00:00Z"  # fixed, so that properties do not change between re-runs
_CORE = (
    f'{_HEAD}<cp:coreProperties xmlns:cp="{_NS}/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>report-export</dc:creator>'
    f'<dcterms:created xsi:type="dcterms:W3CDTF">{_EPOCH}</dcterms:created>'
    f'<dcterms:modified xsi:type="dcterms:W3CDTF">{_EPOCH}</dcterms:modified></cp:coreProperties>'
)
# The tool and its version, in Application: AppVersion must look like Excel's own ("16.0300").
_APP = (
    f'{_HEAD}<Properties xmlns="{_NS}/officeDocument/2006/extended-properties">'
    f"<Application>report-export {xml_text(__version__)}</Application></Properties>"
)
_PACKAGE_RELS = _relationships(
    [
        ("rId1", f"{_DOC_RELS}/officeDocument", "xl/workbook.xml"),
        ("rId2", f"{_PKG_RELS}/metadata/core-properties", "docProps/core.xml"),
        ("rId3", f"{_DOC_RELS}/extended-properties", "docProps/app.xml"),
    ]
)

# Office's theme (the one Excel starts a workbook with), in the fewest elements the schema accepts.
_COLOURS = ("1F497D", "EEECE1", "4F81BD", "C0504D", "9BBB59", "8064A2", "4BACC6", "F79646", "0000FF", "800080")
_SCHEME_COLOURS = "".join(
    f'<a:{name}><a:srgbClr val="{colour}"/></a:{name}>'
    for name, colour in zip(
        ("dk2", "lt2", "accent1", "accent2", "accent3", "accent4", "accent5", "accent6", "hlink", "folHlink"),
        _COLOURS,
        strict=True,
    )
)
_FILL = '<a:solidFill><a:schemeClr val="phClr"/></a:solidFill>'
_LINE = f'<a:ln w="9525">{_FILL}</a:ln>'
_THEME = (
    f'{_HEAD}<a:theme xmlns:a="{_NS}/drawingml/2006/main" name="Office Theme"><a:themeElements>'
    '<a:clrScheme name="Office"><a:dk1><a:sysClr val="windowText" lastClr="000000"/></a:dk1>'
    f'<a:lt1><a:sysClr val="window" lastClr="FFFFFF"/></a:lt1>{_SCHEME_COLOURS}</a:clrScheme>'
    '<a:fontScheme name="Office">'
    '<a:majorFont><a:latin typeface="Cambria"/><a:ea typeface=""/><a:cs typeface=""/></a:majorFont>'
    '<a:minorFont><a:latin typeface="Calibri"/><a:ea typeface=""/><a:cs typeface=""/></a:minorFont>'
    '</a:fontScheme><a:fmtScheme name="Office">'
    f"<a:fillStyleLst>{_FILL * 3}</a:fillStyleLst>"
    f"<a:lnStyleLst>{_LINE * 3}</a:lnStyleLst>"
    f"<a:effectStyleLst>{'<a:effectStyle><a:effectLst/></a:effectStyle>' * 3}</a:effectStyleLst>"
    f"<a:bgFillStyleLst>{_FILL * 3}</a:bgFillStyleLst>"
    "</a:fmtScheme></a:themeElements><a:objectDefaults/><a:extraClrSchemeLst/></a:theme>"
)
