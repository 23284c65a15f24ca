#!/usr/bin/env python3
"""Check a real HTTP response body against protocol/openapi.yaml.

    python3 protocol/check_openapi.py METHOD PATH STATUS BODYFILE [CONTENT_TYPE]

PATH is the concrete request path (e.g. /v1/conflicts?status=all; the query string is
ignored). BODYFILE holds the response body: JSON, unless CONTENT_TYPE is given and is
not JSON (e.g. text/plain), in which case the body is checked as a UTF-8 string. A
gzip-compressed body file is inflated first. Without CONTENT_TYPE the response's
application/json schema is used (or its only media type, when it declares one).

Exit 0 when the body matches the schema documented for that operation and status;
1, with a one-line reason on stderr, when it does not (or cannot be read); 2 when the
operation or status is not documented, or the command line is wrong.

Needs only PyYAML and jsonschema (4.10 and later: it uses a `referencing` registry
where jsonschema supports one and RefResolver otherwise). Relative $refs such as
./schemas/change-batch.schema.json#/$defs/Change resolve against this directory.
"""

import gzip
import json
import pathlib
import re
import sys
import urllib.parse

import jsonschema
import yaml

HERE = pathlib.Path(__file__).resolve().parent
SPEC_PATH = HERE / "openapi.yaml"
SPEC_URI = SPEC_PATH.as_uri()
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


class Undocumented(Exception):
    """The operation, status or media type is not in the spec (exit 2)."""


class Invalid(Exception):
    """The body does not match (exit 1)."""


def load_documents():
    """The spec and every JSON Schema under schemas/, keyed by every URI they answer to."""
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    documents = {SPEC_URI: spec}
    for path in sorted((HERE / "schemas").glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        documents[path.as_uri()] = schema
        if isinstance(schema, dict) and isinstance(schema.get("$id"), str):
            documents[schema["$id"].split("#")[0]] = schema
    return spec, documents


def match_path(spec, concrete):
    """The spec's path template matching the concrete path, with {param} segments."""
    path = urllib.parse.urlsplit(concrete).path or "/"
    paths = spec.get("paths") or {}
    if path in paths:
        return path
    for template in paths:
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    raise Undocumented(f"path {path} is not documented")


def find_response(spec, method, concrete_path, status):
    template = match_path(spec, concrete_path)
    item = spec["paths"][template]
    operation = item.get(method.lower()) if method.lower() in METHODS else None
    if not isinstance(operation, dict):
        raise Undocumented(f"{method.upper()} {template} is not documented")
    responses = operation.get("responses") or {}
    status = str(status)
    for key in (status, status[:1] + "XX", "default"):
        for candidate in responses:
            if str(candidate).upper() == key.upper():
                pointer = ["paths", template, method.lower(), "responses", str(candidate)]
                return resolve_response(spec, responses[candidate], pointer), f"{method.upper()} {template} {status}"
    raise Undocumented(f"{method.upper()} {template} documents no {status} response")


def resolve_response(spec, response, pointer):
    """Follows local $refs of Response objects (#/components/responses/...)."""
    seen = set()
    while isinstance(response, dict) and "$ref" in response:
        ref = response["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise Undocumented(f"cannot follow response reference {ref}")
        seen.add(ref)
        pointer = [unescape(part) for part in ref[2:].split("/")]
        response = spec
        for part in pointer:
            response = response[part]
    return response, pointer


def unescape(token):
    return urllib.parse.unquote(token).replace("~1", "/").replace("~0", "~")


def escape(token):
    return str(token).replace("~", "~0").replace("/", "~1")


def media_base(content_type):
    return content_type.split(";")[0].strip().lower()


def is_json(content_type):
    base = media_base(content_type)
    return base == "application/json" or base.endswith("+json")


def pick_media(content, content_type):
    """The key of the documented media type for the body's content type."""
    if not content:
        return None
    if content_type is None:
        for key in content:
            if media_base(key) == "application/json":
                return key
        if len(content) == 1:
            return next(iter(content))
        raise Undocumented("several media types documented; pass CONTENT_TYPE")
    if content_type in content:
        return content_type
    base = media_base(content_type)
    for key in content:
        if media_base(key) == base:
            return key
    major = base.split("/")[0]
    for key in (f"{major}/*", "*/*"):
        if key in content:
            return key
    documented = ", ".join(content)
    raise Invalid(f"content type {content_type} is not documented for this response (documented: {documented})")


def read_body(path, as_json):
    data = pathlib.Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise Invalid(f"the body looks gzip-compressed but does not inflate: {error}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Invalid(f"the body is not UTF-8: {error}")
    if not as_json:
        return text
    try:
        return json.loads(text)
    except ValueError as error:
        raise Invalid(f"the body is not JSON: {error}")


def make_validator(schema, documents):
    """A Draft 2020-12 validator resolving refs among the given documents, on any jsonschema >= 4.10."""
    cls = jsonschema.Draft202012Validator
    try:
        import referencing
        import referencing.jsonschema

        resources = [
            (uri, referencing.Resource.from_contents(doc, default_specification=referencing.jsonschema.DRAFT202012))
            for uri, doc in documents.items()
        ]
        registry = referencing.Registry().with_resources(resources)
        return cls(schema, registry=registry)
    except (ImportError, TypeError):
        # jsonschema < 4.18 has no `registry` argument (TypeError), or `referencing` is missing.
        pass
    resolver = jsonschema.RefResolver(base_uri=SPEC_URI, referrer=documents[SPEC_URI], store=dict(documents))
    return cls(schema, resolver=resolver)


def describe(error):
    """One line: where in the body, and what is wrong."""
    location = "".join(f"[{part!r}]" if isinstance(part, str) else f"[{part}]" for part in error.absolute_path)
    message = " ".join(str(error.message).split())
    if len(message) > 300:
        message = message[:297] + "..."
    return f"at body{location}: {message}"


def check(method, path, status, body_file, content_type=None):
    spec, documents = load_documents()
    (response, pointer), what = find_response(spec, method, path, status)
    content = response.get("content") if isinstance(response, dict) else None
    media = pick_media(content, content_type)
    if media is None:
        body = pathlib.Path(body_file).read_bytes()
        if body.strip():
            raise Invalid(f"{what} documents no body, but one was given")
        return what
    as_json = is_json(content_type if content_type is not None else media)
    instance = read_body(body_file, as_json)
    if "schema" not in content[media]:
        return what
    # Validate through a $ref into the spec, so that refs inside it resolve from the spec's URI.
    fragment = "/".join(urllib.parse.quote(escape(part), safe="~") for part in pointer + ["content", media, "schema"])
    target = SPEC_URI + "#/" + fragment
    validator = make_validator({"$ref": target}, documents)
    best = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if best is not None:
        raise Invalid(f"{what}: {describe(best)}")
    return what


def main(argv):
    if len(argv) not in (5, 6):
        print("usage: check_openapi.py METHOD PATH STATUS BODYFILE [CONTENT_TYPE]", file=sys.stderr)
        return 2
    method, path, status, body_file = argv[1:5]
    content_type = argv[5] if len(argv) == 6 and argv[5] else None
    if not re.fullmatch(r"[1-5][0-9][0-9]", status):
        print(f"check_openapi: {status} is not an HTTP status", file=sys.stderr)
        return 2
    try:
        check(method, path, status, body_file, content_type)
    except Undocumented as reason:
        print(f"check_openapi: not documented: {reason}", file=sys.stderr)
        return 2
    except Invalid as reason:
        print(f"check_openapi: invalid: {reason}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"check_openapi: invalid: cannot read {body_file}: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
