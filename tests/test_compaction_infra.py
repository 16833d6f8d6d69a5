"""The compaction on AWS, proven on the packaged template and its own artifact.

The Glue table over the Parquet prefix, the scheduled function with its own
artifact and least-privilege role, the retention of the new prefixes, and
the analysts' read access. cfn-lint, checkov and the deploy rehearsal run
over the same template in tests/test_serverless.py.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from parking.lake.compaction.dayfiles import PARQUET_COLUMNS
from parking.layout import COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX, DATA_PREFIX
from scripts.build_lambda import ARTIFACTS, LAMBDA_UNZIPPED_LIMIT, handler_modules
from tests.cloudformation import schedule_of, statements

ROOT = Path(__file__).resolve().parent.parent
COMPACT_ZIP = ARTIFACTS["compact"].path

# One worker for every test that runs `sls`: it writes .serverless/ in the repository.
pytestmark = [pytest.mark.serverless, pytest.mark.xdist_group("serverless")]


def test_the_compacted_table_projects_the_compactions_layout(template) -> None:
    table = template["Resources"]["ParkingEventsCompactedTable"]["Properties"]["TableInput"]
    events = template["Resources"]["ParkingEventsTable"]["Properties"]["TableInput"]
    parameters = table["Parameters"]
    rendered = parameters["storage.location.template"]["Fn::Sub"].replace("${!", "${")
    assert rendered == f"s3://${{DataBucket}}/{COMPACTED_PREFIX}year=${{year}}/month=${{month}}/day=${{day}}/"
    assert table["Name"] == "parking_events_compacted" and parameters["projection.enabled"] == "true"
    assert [key["Name"] for key in table["PartitionKeys"]] == ["year", "month", "day"]
    for key in ("year.range", "month.range", "month.digits", "day.range", "day.digits"):
        assert parameters[f"projection.{key}"] == events["Parameters"][f"projection.{key}"], key
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == list(PARQUET_COLUMNS)
    serde = table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert serde == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


def test_the_compaction_runs_daily_from_its_own_artifact(template, package_dir) -> None:
    function = template["Resources"]["CompactLambdaFunction"]["Properties"]
    assert (function["Runtime"], function["Handler"], function["Timeout"]) == ("python3.12", "compact_handler.handler", 900)
    assert function["Code"]["S3Key"].endswith("/compact.zip")
    state = json.loads((package_dir / "serverless-state.json").read_text())
    assert state["service"]["functions"]["compact"]["package"] == {"artifact": "build/compact.zip"}
    assert function["Role"] == {"Fn::Sub": "${ParkingCompactionRole.Arn}"}
    assert function["ReservedConcurrentExecutions"] == 1, "never two runs at once"
    assert function["DeadLetterConfig"] == {"TargetArn": {"Ref": "AlarmTopic"}}
    assert function["Environment"]["Variables"]["PARKING_COMPACTION_LATENESS_DAYS"] == "2"
    assert schedule_of(template, "CompactLambdaFunction")["ScheduleExpression"] == "cron(30 2 * * ? *)"


def test_the_hourly_compaction_runs_every_ten_minutes_from_the_same_artifact(template, package_dir) -> None:
    function = template["Resources"]["CompactHourlyLambdaFunction"]["Properties"]
    assert (function["Runtime"], function["Handler"], function["Timeout"]) == (
        "python3.12", "compact_handler.hourly_handler", 600)
    assert function["Code"]["S3Key"].endswith("/compact.zip")
    state = json.loads((package_dir / "serverless-state.json").read_text())
    assert state["service"]["functions"]["compactHourly"]["package"] == {"artifact": "build/compact.zip"}
    assert function["Role"] == {"Fn::Sub": "${ParkingHourlyCompactionRole.Arn}"}
    assert function["ReservedConcurrentExecutions"] == 1, "never two hourly runs at once"
    assert function["DeadLetterConfig"] == {"TargetArn": {"Ref": "AlarmTopic"}}
    variables = function["Environment"]["Variables"]
    assert variables["PARKING_COMPACTION_HOUR_LATENESS_MINUTES"] == "10"
    assert variables["PARKING_COMPACTION_REMOVAL_DELAY_MINUTES"] == "60", "longer than Athena's 30-minute timeout"
    daily = template["Resources"]["CompactLambdaFunction"]["Properties"]["Environment"]["Variables"]
    assert daily["PARKING_COMPACTION_REMOVAL_DELAY_MINUTES"] == "60"
    assert schedule_of(template, "CompactHourlyLambdaFunction")["ScheduleExpression"] == "rate(10 minutes)"
    alarm = template["Resources"]["CompactHourlyErrorsAlarm"]["Properties"]
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "CompactHourlyLambdaFunction"}}]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}] and alarm["Period"] == 3600
    log_group = template["Resources"]["CompactHourlyLogGroup"]["Properties"]
    assert log_group["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}


@pytest.mark.parametrize(("role", "log_group"), [("ParkingCompactionRole", "CompactLogGroup"),
                                                 ("ParkingHourlyCompactionRole", "CompactHourlyLogGroup")])
def test_each_compaction_role_reaches_only_the_tiers_it_moves_between(template, role, log_group) -> None:
    by_sid = {s["Sid"]: s for s in statements(template["Resources"][role])}

    def prefixes(sid: str) -> set[str]:
        return {r["Fn::Sub"].removeprefix("${DataBucket.Arn}/") for r in by_sid[sid]["Resource"]}

    assert prefixes("ReadEventsAndCompactedDays") == {f"{DATA_PREFIX}*", f"{COMPACTED_PREFIX}*"}
    assert prefixes("WriteCompactedDaysAndFoldedObjects") == {f"{COMPACTED_PREFIX}*", f"{COMPACTED_SOURCES_PREFIX}*"}
    assert prefixes("RemoveWhatANewerFileHolds") == {f"{DATA_PREFIX}*", f"{COMPACTED_PREFIX}*"}
    assert by_sid["ListTheTwoTiers"]["Condition"]["StringLike"]["s3:prefix"] == [
        f"{DATA_PREFIX}*", f"{COMPACTED_PREFIX}*", f"{COMPACTED_SOURCES_PREFIX}*"]  # the kept names: never read
    assert by_sid["WriteOwnLogs"]["Resource"] == {"Fn::Sub": f"${{{log_group}.Arn}}"}
    assert by_sid["ReportAFailedRunToTheAlarmTopic"]["Resource"] == {"Ref": "AlarmTopic"}
    assert [sid for sid, s in by_sid.items() if s["Resource"] == "*"] == ["DescribeNetworkForTheFunction"]
    assert not any("quarantine" in str(s) or "athena" in str(s) for s in by_sid.values())


def test_the_new_prefixes_keep_the_retention_of_parking_data(template) -> None:
    rules = {r["Id"]: r for r in template["Resources"]["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    landed = {k: v for k, v in rules["parking-data-tiers-then-expires"].items() if k not in ("Id", "Prefix")}
    for prefix in (COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX):
        [rule] = [r for r in rules.values() if r.get("Prefix") == prefix]
        assert {k: v for k, v in rule.items() if k not in ("Id", "Prefix")} == landed


def test_every_analyst_team_reads_the_compacted_table_and_prefix(template) -> None:
    policies = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy"
                and "parking-athena-analyst-" in json.dumps(r["Properties"].get("ManagedPolicyName"))]
    assert policies, "one managed policy per analyst team"
    for policy in policies:
        by_sid = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
        assert {"Fn::Sub": f"${{DataBucket.Arn}}/{COMPACTED_PREFIX}*"} in by_sid["ReadOurData"]["Resource"]
        assert any("ParkingEventsCompactedTable" in str(r) for r in by_sid["ReadOurTable"]["Resource"])
        condition = by_sid["ListOnlyWhatTheTeamMayRead"]["Condition"]["StringLike"]["s3:prefix"]
        assert f"{COMPACTED_PREFIX}*" in condition


def test_the_artifact_fits_lambda_and_holds_the_compaction_only() -> None:
    with zipfile.ZipFile(COMPACT_ZIP) as archive:
        infos = archive.infolist()
    assert sum(info.file_size for info in infos) < LAMBDA_UNZIPPED_LIMIT
    names = [info.filename for info in infos]
    ours = sorted(n for n in names if n == "compact_handler.py" or n.startswith("parking/"))
    assert ours == sorted(str(p.relative_to(ROOT)) for p in handler_modules("compact_handler.py"))
    # Of the ingest path only the event validator, which lake check and compact share (parking/lake/objects.py).
    ingest = {n for n in ours if n.startswith("parking/ingest/")}
    assert ingest == {"parking/ingest/__init__.py", "parking/ingest/events.py"}
    assert not any(n.startswith(("parking/analytics/", "parking/cli/")) for n in ours)
    packages = {n.split("/")[0] for n in names} - {"compact_handler.py", "parking"}
    assert {p for p in packages if not p.endswith(".dist-info") and not p.endswith("-stubs")} >= {"duckdb", "orjson"}
    assert "_duckdb.abi3.so" in names or any(n.startswith("duckdb/") and n.endswith(".so") for n in names)


def test_the_artifact_imports_on_its_own(tmp_path: Path) -> None:
    """compact_handler.py and parking/ from the zip, with this machine's DuckDB and orjson."""
    with zipfile.ZipFile(COMPACT_ZIP) as archive:
        for name in archive.namelist():
            if name == "compact_handler.py" or name.startswith("parking/"):
                archive.extract(name, tmp_path)
    probe = ("import compact_handler, parking.lake.stores as s, sys; s.S3Store; print(sorted(m for m in sys.modules "
             "if m.split('.')[0] in {'parking', 'pandas', 'matplotlib', 'pyathena', 'click', 'isal'}))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)}, check=False)
    assert result.returncode == 0, result.stderr
    imported = set(ast.literal_eval(result.stdout))
    assert imported == {module.replace("/", ".").removesuffix(".py").removesuffix(".__init__")
                        for module in (str(p.relative_to(ROOT)) for p in handler_modules("compact_handler.py")[1:])}
