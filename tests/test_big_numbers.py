"""Numbers beyond what the databases hold, in any query parameter of any read: a 400 or an
empty answer, never a 500 (SQLite, the embedded default, raises OverflowError on them)."""

from pathlib import Path

import pytest
import yaml
from django.conf import settings

SCHEMA = yaml.safe_load((Path(settings.BASE_DIR) / "openapi" / "schema.yaml").read_text())
HUGE = ["99999999999999999999", "-441378167869711384576", "9223372036854775808"]


def reads_with_parameters() -> list[tuple[str, str]]:
    cases = []
    for path, operations in SCHEMA["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        for parameter in get.get("parameters", []):
            if parameter["in"] == "query" and parameter["name"] not in ("format", "cursor"):
                cases.append((path, parameter["name"]))
    return cases


@pytest.mark.parametrize(("path", "name"), reads_with_parameters())
def test_huge_numbers_in_query_parameters_are_no_server_error(api, path, name):
    for value in HUGE:
        response = api.get(path, {name: value})
        assert response.status_code < 500, (path, name, value, response.content[:200])


@pytest.mark.parametrize("name", ["pillar", "policy_area", "initiative_number"])
def test_an_empty_integer_parameter_is_a_400_naming_it(api, name):
    response = api.get("/api/v1/evaluations/", {name: ""})
    assert response.status_code == 400
    assert [error["attr"] for error in response.json()["errors"]] == [name]
