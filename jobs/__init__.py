"""report-export: Vipps MobilePay Report API settlement data to CSV and XLSX."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("report-export")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
