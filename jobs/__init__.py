"""report-export: Vipps MobilePay Report API settlement data to CSV and XLSX."""

# The one home of the version: pyproject.toml reads it from here ([tool.setuptools.dynamic]), without importing.
__version__ = "0.1.0"
