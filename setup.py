"""Builds report-export with its gettext catalogues compiled: jobs/web/translations/<lang>/LC_MESSAGES/messages.po
becomes messages.mo, in a wheel and in an editable install (`make` uses one) alike. Everything else about the
package is in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CATALOGUES = "jobs/web/translations/*/LC_MESSAGES/messages.po"


class BuildWithCatalogues(build_py):
    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in sorted(Path(__file__).parent.glob(CATALOGUES)):
            relative = po.relative_to(Path(__file__).parent).with_suffix(".mo")
            # An editable install serves the package from the source folder, so its .mo goes there.
            target = po.with_suffix(".mo") if self.editable_mode else Path(self.build_lib) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as source:
                catalogue = read_po(source)
            with target.open("wb") as compiled:
                write_mo(compiled, catalogue)


setup(cmdclass={"build_py": BuildWithCatalogues})
