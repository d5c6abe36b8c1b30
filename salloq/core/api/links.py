"""OpenAPI links from the operations that create a resource to the ones that use it.

A client (or a fuzzer's stateful phase) follows them: POST /api/lists answers `list_id`, which is
the `{id}` of GET/PUT/PATCH/DELETE /api/lists/{id}/ and its members, and the `list_id` filter of
GET /api/contacts/. They are derived from the schema itself, so a new endpoint gets its links
without anyone listing them:

- a create operation (one documenting a 201) is a source; its answer's identifier is the first
  top-level property named `id`, `…_id` or `…Id`;
- a target parameter takes that identifier when it is the path segment right below the source's
  collection path (`/api/lists/` -> `/api/lists/{id}/…`) or carries the identifier's own name
  (`contact_id`, `list_id`; a bare `id` names nothing beyond its own resource);
- a path parameter the source has too comes from the source's request (`/api/blacklist/{email}/`).

A target is linked when every one of its path parameters is filled. Answers listing per-item
results (POST /api/lists/{id}/members) link nowhere: an item's id is there even when the item
failed, so a link would promise a resource that was not created.
"""

import re

HTTP_METHODS = ("get", "put", "patch", "delete", "post")


def _normalized(name: str) -> str:
    return name.replace("_", "").lower()


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _identifier(spec: dict, response: dict) -> str | None:
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    for name in _resolve(spec, schema).get("properties", {}):
        if name == "id" or name.endswith("_id") or re.fullmatch(r"[a-z]+Id", name):
            return name
    return None


def _path_parameters(path: str) -> list[str]:
    return re.findall(r"\{([^}]+)\}", path)


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def _link_parameters(source_path: str, identifier: str | None, target_path: str, target: dict) -> dict | None:
    """How each of the target's parameters is filled from the source, or None if a path one is not."""
    source_params = _path_parameters(source_path)
    below = re.match(re.escape(source_path) + r"\{([^}]+)\}", target_path) if identifier else None
    filled = {}
    for parameter in target.get("parameters", []):
        name, location = parameter["name"], parameter["in"]
        if location not in ("path", "query"):
            continue
        if identifier and (
            (location == "path" and below and below.group(1) == name)
            or (identifier != "id" and _normalized(name) == _normalized(identifier))
        ):
            filled[f"{location}.{name}"] = f"$response.body#/{identifier}"
        elif location == "path" and name in source_params and target_path.startswith(source_path.split("{" + name)[0]):
            filled[f"{location}.{name}"] = f"$request.path.{name}"
    if not set(_path_parameters(target_path)) <= {key.split(".", 1)[1] for key in filled if key.startswith("path.")}:
        return None
    if not any(value.startswith("$response") for value in filled.values()) and target_path != source_path:
        return None
    return filled


def add_links(result: dict, generator=None, request=None, public=None) -> dict:
    """drf-spectacular POSTPROCESSING_HOOKS entry: adds `links` to the create operations' answers."""
    for source_path, source_method, source in _operations(result):
        responses = source.get("responses", {})
        if "201" not in responses:
            continue
        for code, response in responses.items():
            if not code.startswith("2"):
                continue
            identifier = _identifier(result, response)
            links = {}
            for target_path, target_method, target in _operations(result):
                if (target_path, target_method) == (source_path, source_method):
                    continue
                parameters = _link_parameters(source_path, identifier, target_path, target)
                if parameters:
                    links[target["operationId"]] = {"operationId": target["operationId"], "parameters": parameters}
            if links:
                response["links"] = links
    return result
