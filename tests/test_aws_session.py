"""``parking.aws.session``: a new boto3 session each time, botocore's models parsed once a process."""

from __future__ import annotations

import boto3
import botocore.loaders
import pytest
from botocore.exceptions import ProfileNotFound

from parking.aws import session


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The botocore data files read from disk from now on."""
    read: list[str] = []
    original = botocore.loaders.JSONFileLoader.load_file

    def load_file(self, file_path):
        read.append(file_path)
        return original(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", load_file)
    return read


@pytest.mark.parametrize("service", ["s3", "athena", "dynamodb"])
def test_a_second_session_reads_no_model_again(parses, service) -> None:
    session("eu-west-1").client(service)
    parses.clear()
    session("us-east-1").client(service)
    assert parses == []
    boto3.Session(region_name="us-east-1").client(service)  # what it saves: a plain session reads them anew
    assert any(f"/{service}/" in path for path in parses)


def test_each_session_reads_the_region_and_credentials_afresh(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert (session().region_name, session().get_credentials().access_key) == ("eu-west-1", "first")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "second")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert (session().region_name, session().get_credentials().access_key) == ("eu-central-1", "second")
    assert session("ap-south-1").region_name == "ap-south-1"


def test_an_unknown_profile_fails_as_boto3_fails(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with pytest.raises(ProfileNotFound):
        boto3.Session(profile_name="nobody").get_credentials()
    with pytest.raises(ProfileNotFound):
        session(profile="nobody").get_credentials()


def test_sessions_do_not_grow_the_shared_loaders_search_path() -> None:
    paths = session()._loader.search_paths[:]
    for _ in range(20):
        session()
    assert session()._loader.search_paths == paths
