"""The README is kept honest: its commands parse, every command and exit code is in it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from jobs import cli, config, errors
from jobs.sandbox import parse_fault
from jobs.sandbox.__main__ import build_parser as sandbox_parser

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def readme_commands() -> list[list[str]]:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line]


def test_the_quick_start_is_exactly_two_commands():
    quick_start = README.split("## Quick start", 1)[1].split("##", 1)[0]
    assert re.findall(r"```sh\n(.*?)```", quick_start, re.S) == ["make demo\nmake test\n"]


def test_every_command_is_taught_by_example():
    commands = {c[c.index("report-export") + 1] for c in readme_commands() if "report-export" in c}
    parser_commands = set(cli.build_parser(config.built_in())._subparsers._group_actions[0].choices)
    assert parser_commands <= commands


def test_every_example_command_line_parses():
    for command in readme_commands():
        if "report-export" not in command:
            continue
        argv = command[command.index("report-export") + 1 :]
        if argv[0] == "sandbox":
            args = sandbox_parser().parse_args(argv[1:])  # SystemExit on a wrong example
            for spec in args.fault:
                parse_fault(spec)
        else:
            cli.build_parser(config.built_in()).parse_args(argv)


def test_every_exit_code_is_documented():
    table = README.split("## Exit codes", 1)[1]
    codes = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.M)}
    defined = {cls.exit_code for cls in vars(errors).values() if isinstance(cls, type) and hasattr(cls, "exit_code")}
    defined |= {
        errors.EXIT_OK,
        errors.EXIT_PENDING,
        errors.EXIT_NOTHING_TO_DO,
        errors.EXIT_VERIFY_FAILED,
        errors.EXIT_OVERDUE,
        errors.EXIT_NOT_DELIVERED,
        errors.EXIT_INTERNAL,
        errors.EXIT_BROKEN_PIPE,
    }
    assert defined - {1} <= codes


def test_csv_presets_are_described_as_import_files_and_people_are_sent_to_the_xlsx():
    presets = README.split("### CSV presets", 1)[1].split("\n### ", 1)[0]
    warning = "**Opening a CSV in a\nspreadsheet (Excel, LibreOffice) converts identifiers that look like numbers**"
    assert warning in presets
    assert "open the [XLSX](#xlsx): it keeps every identifier as text" in presets
    run = cli.build_parser(config.built_in())._subparsers._group_actions[0].choices["run"]
    preset_help = " ".join(action.help or "" for action in run._actions if "--csv-preset" in action.option_strings)
    assert preset_help and not re.search(r"excel|spreadsheet|open", preset_help, re.I)
