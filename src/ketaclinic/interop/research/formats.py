"""The export's files: CSV or Parquet tables, the data dictionary, the README, the manifest, one ZIP."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from ketaclinic.interop.research.cohort import local_day
from ketaclinic.interop.research.dictionary import PSEUDONYM, SAFE_HARBOR, TABLES, dictionary_rows
from ketaclinic.interop.research.rules import (
    CAVEATS,
    CMS_CELL_POLICY_URL,
    CUTOFF_DAYS,
    CUTOFF_RULE,
    DATE_RULE,
    MAX_DOSE_MG,
    SAFE_HARBOR_RULE,
    SAFE_HARBOR_URL,
    USE_CAVEAT,
)
from ketaclinic.interop.research.tables import Dataset


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def to_csv(table: str, rows: list[dict[str, Any]]) -> bytes:
    names = [c.name for c in TABLES[table]]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_csv_value(row[n]) for n in names])
    return buffer.getvalue().encode("utf-8")


def arrow_schema(table: str) -> Any:
    """The table's Parquet schema: explicit types, with unit and description in each field's metadata."""
    import pyarrow as pa

    types = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_(),
             "date": pa.date32()}
    return pa.schema([pa.field(c.name, types[c.type], nullable=True,
                               metadata={"unit": c.unit, "description": c.description,
                                         "deidentification": c.deidentification})
                      for c in TABLES[table]], metadata={"table": table})


def to_parquet(table: str, rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    data = pa.Table.from_pydict({c.name: [row[c.name] for row in rows] for c in TABLES[table]}, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(data, buffer, compression="zstd")
    return buffer.getvalue()


def dictionary_csv() -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=["table", "column", "type", "unit", "description", "deidentification"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(dictionary_rows())
    return buffer.getvalue().encode("utf-8")


def readme(manifest: dict[str, Any]) -> str:
    """The export's README.md, from the same definitions as the files (so it cannot drift)."""
    s = manifest["suppression"]
    lines = [
        "# KetaClinic research export (de-identified)", "",
        f"Generated in {manifest['generated_month']} by KetaClinic {manifest['ketaclinic_version']}; data up to "
        f"{manifest['data_up_to']}. {USE_CAVEAT}", "",
        "## What is in it", "",
        *[f"- `{t['file']}`: {t['rows']} rows" for t in manifest["tables"].values()],
        "- `data_dictionary.csv`: every column of every table (type, unit, description, how it was de-identified)",
        "- `manifest.json`: row counts, parameters, suppression counts", "",
        "## How it was de-identified", "",
        f"Following HIPAA Safe Harbor, {SAFE_HARBOR_RULE} ({SAFE_HARBOR_URL}):", "",
        "| | identifier | here |", "|---|---|---|",
        *[f"| {letter} | {name} | {how} |" for letter, name, how in SAFE_HARBOR], "",
        f"**Dates.** {DATE_RULE}", "",
        f"**Data cut-off.** {CUTOFF_RULE} Data up to {manifest['data_up_to']}.", "",
        f"**Research ids.** {PSEUDONYM[0].upper() + PSEUDONYM[1:]}.", "",
        "**Small cells.** Sex x age band x condition (the primary one and the whole list) x number of sessions "
        "(1, 2-3, 4-6, 7+) are quasi-identifiers. A patient whose combination is shared by fewer than "
        f"k = {s['k']} patients loses sex and age band; if the conditions with the session band are still that rare, "
        "they go too; patients then left alone with their session band in a group of fewer than k are removed "
        f"({s['policy']}; {CMS_CELL_POLICY_URL}). Every released combination is shared by at least k patients. In "
        f"this export {s['patients_generalised']} patient(s) lost sex and age band, {s['patients_fully_suppressed']} "
        f"lost every quasi-identifier, {s['patients_removed']} were removed from every table, "
        f"{s['total_values_suppressed']} value(s) were suppressed in all. The column qi_suppressed says which. "
        "Weight is given in 5-kg bands, clamped at <45 and ≥150; dose per kg to 0.01 mg/kg.", "",
        f"**Implausible values.** Numbers outside the ranges the clinic's records accept (vital signs, doses up to "
        f"{MAX_DOSE_MG:g} mg, weight, scores) are left empty: {sum(manifest['implausible_values_blanked'].values())} "
        "in this export (counted per column in manifest.json).", "",
        "**Free text** (notes, reasons, comments, diary notes) and drug lot numbers are never exported.", "",
        "## Caveats", "", *[f"- {c}" for c in manifest["caveats"]], "",
        "## Columns", "",
    ]
    for table, columns in TABLES.items():
        lines += [f"### {table}", "", "| column | type | unit | description |", "|---|---|---|---|"]
        lines += [f"| {c.name} | {c.type} | {c.unit} | {c.description} |" for c in columns]
        lines.append("")
    return "\n".join(lines)


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def manifest_for(dataset: Dataset, *, fmt: str, generated_at: datetime, version: str,
                 cohort_filter: dict[str, Any], data_up_to: date, tz: tzinfo = UTC) -> dict[str, Any]:
    """The manifest. Only the months: the day of the export (or of the cut-off) would bound every shift."""
    ext = "csv" if fmt == "csv" else "parquet"
    return {
        "generated_month": month_of(local_day(generated_at, tz)),
        "data_up_to": month_of(data_up_to),
        "data_cutoff_days": CUTOFF_DAYS,
        "data_cutoff": CUTOFF_RULE,
        "ketaclinic_version": version,
        "format": fmt,
        "k": dataset.suppression.k,
        "cohort": cohort_filter,
        "patients": len(dataset.tables["patients"]),
        "tables": {name: {"file": f"{name}.{ext}", "rows": len(rows), "columns": len(TABLES[name])}
                   for name, rows in dataset.tables.items()},
        "suppression": dataset.suppression.as_dict(),
        "implausible_values_blanked": dict(dataset.blanked),
        "date_rule": DATE_RULE,
        "deidentification": f"HIPAA Safe Harbor {SAFE_HARBOR_RULE} identifiers removed (see README.md); research ids "
                            "are keyed hashes under a per-export secret that was discarded; date shifts come from a "
                            "clinic key that never leaves the clinic, the same in every export.",
        "use": USE_CAVEAT,
        "caveats": list(CAVEATS),
    }


def package(dataset: Dataset, manifest: dict[str, Any]) -> bytes:
    """One ZIP: the tables, data_dictionary.csv, README.md and manifest.json (entries dated 1980-01-01)."""
    writer = to_csv if manifest["format"] == "csv" else to_parquet
    files: list[tuple[str, bytes]] = [(manifest["tables"][name]["file"], writer(name, rows))
                                      for name, rows in dataset.tables.items()]
    files.append(("data_dictionary.csv", dictionary_csv()))
    files.append(("README.md", readme(manifest).encode("utf-8")))
    manifest["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files}
    files.append(("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8")))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
