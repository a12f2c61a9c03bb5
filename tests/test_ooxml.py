"""Every part of the workbooks we write is valid against the ECMA-376 transitional schemas.

Excel may offer to "repair" a file that breaks the schema (and drop what it does not
understand), while openpyxl and pandas read the same file without a word; so each
part is checked against its schema here. The schemas are copies, compiled once
(``tests/ooxml/README.md`` says where they come from). A part with no schema listed
in PARTS is a problem too, so a new part cannot slip in unchecked.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zipfile
from pathlib import Path

import pytest
from conftest import TODAY
from lxml import etree
from test_sheets import DAY, ENTRIES, api_entries, summarise, write_xlsx
from test_writers import AWKWARD, CR, NOT_XML, make_row, write

from jobs.entries import TEXT_COLUMNS, Row

SCHEMAS = Path(__file__).parent / "ooxml"
# Where opc-coreProperties.xsd (and the schemas it imports) look on the web, and our copies.
WEB_SCHEMAS = {
    "http://www.w3.org/2001/xml.xsd": "xml.xsd",
    "http://www.w3.org/2001/03/xml.xsd": "xml.xsd",
    "http://dublincore.org/schemas/xmls/qdc/2003/04/02/dc.xsd": "dc.xsd",
    "http://dublincore.org/schemas/xmls/qdc/2003/04/02/dcterms.xsd": "dcterms.xsd",
}
_OOXML = "http://schemas.openxmlformats.org"
MAIN = f"{_OOXML}/spreadsheetml/2006/main"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
# Part name -> schema and root element. Only what we write: a new part gets its line here.
PARTS = [
    (r"\[Content_Types\]\.xml", "opc-contentTypes.xsd", f"{{{_OOXML}/package/2006/content-types}}Types"),
    (r"(?:.+/)?_rels/[^/]*\.rels", "opc-relationships.xsd", f"{{{_OOXML}/package/2006/relationships}}Relationships"),
    (
        r"docProps/core\.xml",
        "opc-coreProperties.xsd",
        f"{{{_OOXML}/package/2006/metadata/core-properties}}coreProperties",
    ),
    (
        r"docProps/app\.xml",
        "shared-documentPropertiesExtended.xsd",
        f"{{{_OOXML}/officeDocument/2006/extended-properties}}Properties",
    ),
    (r"xl/workbook\.xml", "sml.xsd", f"{{{MAIN}}}workbook"),
    (r"xl/styles\.xml", "sml.xsd", f"{{{MAIN}}}styleSheet"),
    (r"xl/theme/theme1\.xml", "dml-main.xsd", f"{{{_OOXML}/drawingml/2006/main}}theme"),
    (r"xl/worksheets/sheet[1-9][0-9]*\.xml", "sml.xsd", f"{{{MAIN}}}worksheet"),
]
PACKAGE = [  # the parts of every workbook besides its worksheets
    "[Content_Types].xml",
    "_rels/.rels",
    "docProps/app.xml",
    "docProps/core.xml",
    "xl/_rels/workbook.xml.rels",
    "xl/styles.xml",
    "xl/theme/theme1.xml",
    "xl/workbook.xml",
]
# Text that XML, Excel or the writer's shortcuts could get wrong.
XML_SPECIAL = ["<b>&amp;</b>", "a & b", "]]>", "<![CDATA[x]]>", "&#0;", "'single' \"double\"", "<?pi?>", "<!-- -->"]
LONG = [
    "x" * 40_000,  # past Excel's 32,767 characters: cut
    "😀" * 20_000,  # 40,000 UTF-16 units: cut between two emoji, never inside one
    "a" * 32_766 + "😀",  # one unit too many: the emoji goes whole
    "&<>" * 12_000,  # longer once escaped than the cut
]


class _Copies(etree.Resolver):
    def resolve(self, system_url: str, public_id: str, context: object) -> object:
        if system_url in WEB_SCHEMAS:
            return self.resolve_filename(str(SCHEMAS / WEB_SCHEMAS[system_url]), context)
        return None  # a relative location: the copy beside the importing schema


@functools.cache  # once per session: sml.xsd pulls in all of DrawingML, and every sheet needs it
def schema(name: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_Copies())
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name), parser))


def problems(path: Path) -> dict[str, list[str]]:
    """Every part of the workbook at `path` that is not valid, with what is wrong with it."""
    with zipfile.ZipFile(path) as archive:
        found = {name: _part_problems(name, archive.read(name)) for name in archive.namelist()}
    return {name: messages for name, messages in found.items() if messages}


def _part_problems(name: str, data: bytes) -> list[str]:
    known = [(xsd, root) for pattern, xsd, root in PARTS if re.fullmatch(pattern, name)]
    if not known:
        return ["no schema known for this part"]
    [(xsd, root)] = known
    try:
        doc = etree.fromstring(data, etree.XMLParser(no_network=True, resolve_entities=False))
    except etree.XMLSyntaxError as error:
        return [f"not well-formed: {error}"]
    if doc.tag != root:
        return [f"root element {doc.tag}, expected {root}"]
    _forgive_known_gap(doc)
    checker = schema(xsd)
    if checker.validate(doc):
        return []
    return [f"line {error.line}: {error.message}" for error in checker.error_log]


def _forgive_known_gap(doc: etree._Element) -> None:
    """Drop xml:space="preserve" from <t>, the one thing the schema gets wrong.

    The transitional schema types <t> as plain text, without xml:space, yet Excel writes
    xml:space="preserve" there itself and every reader needs it to keep leading and
    trailing spaces. Any other xml:space (other values, other elements) is still checked.
    """
    for text in doc.iter(f"{{{MAIN}}}t"):
        if text.get(XML_SPACE) == "preserve":
            del text.attrib[XML_SPACE]


def parts(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return sorted(archive.namelist())


def sheets(count: int) -> list[str]:
    return sorted(PACKAGE + [f"xl/worksheets/sheet{n}.xml" for n in range(1, count + 1)])


def in_every_text_column(text: str, number: int) -> Row:
    return make_row(number=number)._replace(**{name: text for name in TEXT_COLUMNS})


def test_one_date_with_its_summary(tmp_path: Path) -> None:
    path = tmp_path / "day.xlsx"
    served = api_entries(DAY, 100000, ENTRIES, reference="=1+1 & <b>")
    write_xlsx(path, served, [summarise(DAY, served)])  # 6 rows, 3 per entries sheet

    assert problems(path) == {}
    assert parts(path) == sheets(3)  # two entries sheets and the summary


def test_a_period_with_its_summary(tmp_path: Path) -> None:
    path = tmp_path / "period.xlsx"
    first, empty, last = DAY, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)
    day_one = api_entries(first, 100000, ENTRIES)
    day_three = api_entries(last, 0, [("capture", 2500), ("refund", -500)], reference="")
    day_three[1]["balanceBefore"] = 2400  # a broken chain: a failed check in the summary
    write_xlsx(path, day_one + day_three, [summarise(first, day_one), summarise(empty, []), summarise(last, day_three)])

    assert problems(path) == {}
    assert parts(path) == sheets(4)


def test_awkward_text_over_several_sheets(tmp_path: Path) -> None:
    path = tmp_path / "awkward.xlsx"
    texts = [*AWKWARD, *NOT_XML, *CR, *XML_SPECIAL, *LONG, "00000123", "\t=1+1", " leading and trailing "]
    rows = [in_every_text_column(text, number) for number, text in enumerate(texts)]

    assert write("xlsx", path, rows, sheet_row_limit=5, gdpr=True) == len(rows)

    assert problems(path) == {}
    assert parts(path) == sheets(-(-len(rows) // 4))  # 4 rows and the header on each


def test_a_report_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    write_xlsx(path, [], [summarise(DAY, [])])

    assert problems(path) == {}
    assert parts(path) == sheets(2)


def test_every_workbook_of_a_run(sandbox, use_sandbox, run_cli, workdir) -> None:
    """Per-date and period files as the exporter writes them: the sandbox's awkward references, personal
    data, dates over several entries sheets."""
    (workdir / "config.toml").write_text("[export]\ninclude_gdpr_sensitive_data = true\nxlsx_sheet_rows = 4\n")
    use_sandbox(sandbox)
    first, last = TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1)
    result = run_cli("run", "--from", str(first), "--to", str(last), "--format", "xlsx", "--combine")
    assert result.code == 0, result.err

    workbooks = sorted((workdir / "reports").rglob("*.xlsx"))

    assert {path.name: problems(path) for path in workbooks} == {path.name: {} for path in workbooks}
    assert any(path.stem.endswith(f"_{first}_{last}") for path in workbooks)  # a period file among them
    assert max(len(parts(path)) for path in workbooks) > len(PACKAGE) + 2  # a date over several entries sheets


def test_a_part_out_of_order_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "day.xlsx"
    write("xlsx", path, [make_row()])
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(broken, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "xl/worksheets/sheet1.xml":  # pageMargins belongs after autoFilter, not before
                data = re.sub(rb"(<autoFilter [^>]*/>)(<pageMargins [^>]*/>)", rb"\2\1", data)
            target.writestr(name, data)

    assert list(problems(broken)) == ["xl/worksheets/sheet1.xml"]
    assert "autoFilter" in problems(broken)["xl/worksheets/sheet1.xml"][0]


@pytest.mark.parametrize("name", ["xl/calcChain.xml", "xl/sharedStrings.xml", "customXml/item1.xml"])
def test_a_part_without_a_schema_is_a_problem(tmp_path: Path, name: str) -> None:
    path = tmp_path / "day.xlsx"
    write("xlsx", path, [make_row()])
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(name, '<?xml version="1.0"?><x/>')

    assert problems(path) == {name: ["no schema known for this part"]}
