"""`make deploy-local`: the real `sls deploy` against a local AWS emulator.

Starts the moto server (with its MSK mapping extension) on a free loopback
port, deploys the stack to it, prints what was created, removes the stack
with `sls remove`, and stops the server by its PID. No AWS account is used:
every call goes to the emulator through AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.moto_msk_server import spawn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SLS = str(ROOT / "node_modules" / ".bin" / "sls")
STACK, REGION = "parking-platform-dev", "eu-west-1"


def emulator_environment(url: str) -> dict[str, str]:
    """Credentials and endpoint that send every AWS SDK call to the emulator."""
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "SLS_AWS_MONITORING_FREQUENCY": "200",
        "SLS_TELEMETRY_DISABLED": "1",
        "NODE_NO_WARNINGS": "1",
    }


def sls(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run([SLS, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"sls {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def describe(env: dict[str, str]) -> None:
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )
    clients = {name: session.client(name, endpoint_url=env["AWS_ENDPOINT_URL"]) for name in
               ("cloudformation", "lambda")}
    stack = clients["cloudformation"].describe_stacks(StackName=STACK)["Stacks"][0]
    print(f"stack {STACK}: {stack['StackStatus']}")
    for resource in clients["cloudformation"].list_stack_resources(StackName=STACK)["StackResourceSummaries"]:
        if resource.get("PhysicalResourceId"):
            print(f"  {resource['ResourceType']:<34} {resource['LogicalResourceId']:<52} {resource['PhysicalResourceId']}")
    function = clients["lambda"].get_function_configuration(FunctionName=f"{STACK}-ingest")
    print(f"function {function['FunctionName']}: {function['Runtime']}, {function['Handler']}, "
          f"{function['MemorySize']} MB, {function['Timeout']} s, subnets {function['VpcConfig']['SubnetIds']}")
    compact = clients["lambda"].get_function_configuration(FunctionName=f"{STACK}-compact")
    print(f"function {compact['FunctionName']}: {compact['Runtime']}, {compact['Handler']}, "
          f"{compact['MemorySize']} MB, {compact['Timeout']} s, daily (the compaction)")
    for mapping in clients["lambda"].list_event_source_mappings()["EventSourceMappings"]:
        print(f"trigger {mapping['EventSourceArn']} topic {mapping['Topics']} batch {mapping['BatchSize']} "
              f"from {mapping['StartingPosition']}")
        pollers = mapping.get("ProvisionedPollerConfig", {})
        print(f"  bounded: {mapping.get('MaximumRetryAttempts')} retries, split on error "
              f"{mapping.get('BisectBatchOnFunctionError')}, failed batches to "
              f"{mapping.get('DestinationConfig', {}).get('OnFailure', {}).get('Destination')}, "
              f"{pollers.get('MinimumPollers')}-{pollers.get('MaximumPollers')} provisioned pollers")


def main() -> None:
    server, url = spawn()
    print(f"moto server (pid {server.pid}) at {url}")
    try:
        env = emulator_environment(url)
        print(sls("deploy", "--stage", "dev", env=env).strip().splitlines()[-1])
        describe(env)
        print(sls("deploy", "--stage", "dev", env=env).strip().splitlines()[-1])
        print(sls("remove", "--stage", "dev", env=env).strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait()
        print(f"moto server (pid {server.pid}) stopped")


if __name__ == "__main__":
    main()
