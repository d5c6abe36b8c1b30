"""The API's JSON parser: hostile bodies are 400s naming the JSON path, before any view runs."""

import json

import pytest
from django.test import RequestFactory
from rest_framework.response import Response
from rest_framework.views import APIView

from salloq.core.api.parsers import MAX_NESTING, item_input_errors


def _send(api, path, body: str, method="post"):
    return api.request(method, path, data=body, content_type="application/json")


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ('{"email": "a@example.com", "properties": {"a": "\\ud800"}}', "properties.a"),
        ('{"email": "a@example.com", "properties": {"\\udfff": 1}}', "properties.\\udfff"),
        ('{"email": "a@example.com", "properties": {"a": "x\\u0000y"}}', "properties.a"),
        ('{"email": "a@example.com", "properties": {"k\\u0000": 1}}', "properties.k\\u0000"),
        ('{"email": "a@example.com", "properties": {"n": 1e400}}', "properties.n"),
        ('{"email": "a@example.com", "properties": {"n": 1e-999999999}}', "properties.n"),
        ('{"email": "a@example.com", "properties": {"n": NaN}}', "properties.n"),
        ('{"email": "a@example.com", "properties": {"n": -Infinity}}', "properties.n"),
        ('{"email": "a@example.com", "properties": {"n": ' + "9" * 5000 + "}}", "properties.n"),
        ('{"email": "a@example.com", "tags": ["ok", "\\ud800"]}', "tags[1]"),
    ],
)
def test_hostile_values_are_a_400_naming_their_json_path(api, body, path):
    response = _send(api, "/api/contacts", body)
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["code"] == 400 and payload["error"] == "Validation failed"
    assert list(payload["details"]) == [path]


def test_nesting_deeper_than_the_limit_is_a_400_not_a_recursion_error(api):
    response = _send(api, "/api/contacts", "[" * 1000 + "]" * 1000)
    assert response.status_code == 400
    assert "nested deeper" in json.dumps(response.json())
    deep = {"email": "a@example.com", "properties": {}}
    node = deep["properties"]
    for _ in range(MAX_NESTING + 1):
        node["x"] = {}
        node = node["x"]
    response = api.post("/api/contacts", deep)
    assert response.status_code == 400
    (path,) = response.json()["details"]
    assert path.startswith("properties.x.x")


def test_very_deep_nesting_is_a_400(api):
    response = _send(api, "/api/contacts", '{"a":' * 100_000 + "1" + "}" * 100_000)
    assert response.status_code == 400
    assert response.json()["code"] == 400


def test_a_body_over_the_upload_limit_is_a_413(api, settings):
    body = json.dumps({"email": "a@example.com", "properties": {"blob": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE)}})
    response = _send(api, "/api/contacts", body)
    assert response.status_code == 413
    assert response.json()["code"] == 413


def test_invalid_utf8_is_a_400(api):
    response = api.request("POST", "/api/contacts", data=b'{"email": "\xff"}', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == 400


def test_ordinary_numbers_still_parse(api):
    response = api.post("/api/contacts", {"email": "n@example.com", "properties": {"i": 12, "f": 1.5, "e": 2e10}})
    assert response.status_code == 201, response.content
    assert response.json()["properties"] == {"i": 12, "f": 1.5, "e": 2e10}


class _ItemsView(APIView):
    authentication_classes = []
    permission_classes = []
    item_list_field = "contacts"

    def post(self, request):
        return Response({"data": request.data, "errors": item_input_errors(request)})


def _post_items(body: str):
    request = RequestFactory().post("/items", data=body, content_type="application/json")
    response = _ItemsView.as_view()(request)
    response.render()
    return response


def test_problems_inside_an_item_fail_only_that_item():
    body = '{"contacts": [{"email": "a@example.com"}, {"email": "b\\u0000", "properties": {"n": 1e400}}], "x": 1}'
    response = _post_items(body)
    assert response.status_code == 200
    payload = json.loads(response.content)
    assert payload["data"]["contacts"] == [{"email": "a@example.com"}, None]
    assert payload["errors"] == {
        "1": {"email": ["must not contain NUL characters"], "properties.n": [payload["errors"]["1"]["properties.n"][0]]}
    }
    assert "out of range" in payload["errors"]["1"]["properties.n"][0]


def test_an_item_nested_too_deep_fails_only_that_item():
    deep = "{}"
    for _ in range(MAX_NESTING):
        deep = '{"a": ' + deep + "}"
    response = _post_items('{"contacts": [' + deep + ', {"email": "ok@example.com"}]}')
    payload = json.loads(response.content)
    assert payload["data"]["contacts"] == [None, {"email": "ok@example.com"}]
    assert list(payload["errors"]) == ["0"]


def test_problems_outside_the_items_fail_the_request():
    response = _post_items('{"contacts": [{"email": "a@example.com"}], "mode": "\\ud800"}')
    assert response.status_code == 400
    assert list(json.loads(response.content)["details"]) == ["mode"]


@pytest.mark.parametrize("number", ["1.7976931348623157e308", "-1.79e308", "5e-324", "2.2250738585072014e-308"])
def test_every_finite_double_is_accepted(api, number):
    body = '{"email": "d@example.com", "properties": {"n": ' + number + "}}"
    response = _send(api, "/api/contacts", body)
    assert response.status_code == 201, response.content
    # PostgreSQL's jsonb keeps such a number exactly, and may give it back as its integer digits.
    assert float(response.json()["properties"]["n"]) == float(number)


def test_brackets_and_escaped_quotes_inside_strings_do_not_count_as_nesting(api):
    deep_looking = "[" * 200 + '\\"' + "{" * 200
    body = '{"email": "s@example.com", "properties": {"a": "' + deep_looking + '", "b": "]]]}}}"}}'
    response = _send(api, "/api/contacts", body)
    assert response.status_code == 201, response.content
    assert response.json()["properties"]["a"] == json.loads('"' + deep_looking + '"')
