"""Checks HTTP exchanges against Infobip's published OpenAPI specs (the contracts).

The specs (OpenAPI 3.1, so JSON Schema 2020-12) are read from ``<repo>/../shared/infobip-openapi/``
and never copied into the repository: ``VoiceSpec`` (``/calls/1/...``) and
``ConversationsSpec`` (``/ccaas/...``). Plain JSON Schema ignores OpenAPI's ``discriminator``,
which would let ``{"type": "PHONE"}`` pass without its ``phoneNumber``; so before validating,
each discriminated schema dispatches on its property with ``if``/``then`` to the mapped schema,
and every object schema rejects properties the spec does not declare
(``unevaluatedProperties: false``), so an invented field fails too.

Where a spec's schema and its own examples disagree, the examples win, and each such case is
named in ``ConversationsSpec.QUIRKS`` with the part of docs/infobip.md that records it.

``date-time`` is checked in the format Infobip documents and sends
(``2026-01-15T12:00:00.150+0000``) as well as RFC 3339; ``int32``/``int64`` by range.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT.parent / "shared" / "infobip-openapi"
VOICE_SPEC = SPEC_DIR / "infobip-voice-openapi.json"
CONVERSATIONS_SPEC = SPEC_DIR / "infobip-conversations-openapi.json"
_SCHEMAS = "/components/schemas/"
_INFOBIP_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$")
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_AUTH_SCHEMES = ("App ", "Basic ", "IBSSO ", "Bearer ")

FORMATS = FormatChecker(())


@FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    if not isinstance(value, str) or not _INFOBIP_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


@FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or _INT_RANGES["int32"][0] <= value <= _INT_RANGES["int32"][1]


@FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or _INT_RANGES["int64"][0] <= value <= _INT_RANGES["int64"][1]


class SpecViolation(AssertionError):
    pass


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    pointer: str  # JSON pointer of the operation object in the spec
    body: Mapping[str, Any]


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _strict(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with discriminators dispatching and undeclared properties refused."""
    schemas: dict[str, Any] = spec["components"]["schemas"]
    plain_of: dict[str, str] = {}
    for name, schema in list(schemas.items()):
        mapping = (schema.get("discriminator") or {}).get("mapping")
        if not mapping:
            continue
        prop = schema["discriminator"]["propertyName"]
        plain = f"{name}__plain"
        schemas[plain] = {k: v for k, v in schema.items() if k != "discriminator"}
        plain_of[f"#{_SCHEMAS}{name}"] = f"#{_SCHEMAS}{plain}"
        branches = [
            {
                "if": {"properties": {prop: {"const": value}}, "required": [prop]},
                "then": {"$ref": target},
            }
            for value, target in mapping.items()
        ]
        schemas[name] = {"allOf": [{"$ref": f"#{_SCHEMAS}{plain}"}, *branches]}
    # A mapped schema extends its base with allOf: point it at the base without dispatch.
    bases: set[str] = set()
    for schema in schemas.values():
        for part in schema.get("allOf", []):
            ref = part.get("$ref")
            if ref in plain_of:
                part["$ref"] = plain_of[ref]
            if ref:
                bases.add(ref.removeprefix(f"#{_SCHEMAS}"))
    bases.update(p.removeprefix(f"#{_SCHEMAS}") for p in plain_of.values())
    for name, schema in schemas.items():
        is_object = schema.get("type") == "object" or "properties" in schema or "allOf" in schema
        if is_object and name not in bases and "additionalProperties" not in schema:
            schema["unevaluatedProperties"] = False
    return spec


class InfobipSpec:
    """One spec's operations and schemas, ready to check exchanges against."""

    NAME = "Infobip"

    def __init__(self, path: Path) -> None:
        self.raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self.spec = _strict(self.adapt(copy.deepcopy(self.raw)))
        self._uri = f"urn:infobip:{path.stem}"
        resource = Resource.from_contents(self.spec, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(self._uri, resource)
        self._operations: list[Operation] = []
        for template, item in self.spec["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            for method, op in item.items():
                if method in ("get", "put", "post", "delete", "patch"):
                    pointer = f"/paths/{_escape(template)}/{method}"
                    self._operations.append(
                        Operation(method.upper(), template, pattern, pointer, op)
                    )

    def operation(self, method: str, path: str) -> Operation:
        # Literal segments win over {params}, as in any router.
        found = [
            op for op in self._operations if op.method == method.upper() and op.pattern.match(path)
        ]
        if not found:
            raise SpecViolation(f"{method} {path}: no such operation in the {self.NAME} spec")
        return min(found, key=lambda op: op.template.count("{"))

    def validate(self, instance: object, pointer: str, *, what: str) -> None:
        validator = Draft202012Validator(
            {"$ref": f"{self._uri}#{pointer}"}, registry=self._registry, format_checker=FORMATS
        )
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}" for e in errors]
            raise SpecViolation(
                f"{what} breaks the {self.NAME} spec:\n  " + "\n  ".join(lines[:10])
            )

    def adapt(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec as its own examples read it (``QUIRKS``); unchanged by default."""
        return spec

    def _resolve(self, node: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
        """A ``$ref``'d object and its pointer (None when ``node`` is inline)."""
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return node, None
        pointer = ref.removeprefix("#")
        target: Any = self.spec
        for token in pointer.strip("/").split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        return target, pointer

    # --- responses -------------------------------------------------------------------------------

    def check_response(
        self,
        method: str,
        path: str,
        status: int,
        content_type: str | None,
        body: bytes,
    ) -> None:
        """The status is documented for the operation, and so is the body's media type and shape."""
        op = self.operation(method, path)
        responses = op.body["responses"]
        what = f"{method} {op.template} -> {status}"
        if str(status) not in responses:
            raise SpecViolation(f"{what}: status not documented (has {sorted(responses)})")
        response, ref_pointer = self._resolve(responses[str(status)])
        pointer = ref_pointer or f"{op.pointer}/responses/{status}"
        content = response.get("content") or {}
        media = (content_type or "").split(";")[0].strip()
        if not content:
            if media == "application/json":
                # The spec leaves these bodies undescribed; Infobip sends its legacy error body.
                self.validate(json.loads(body), f"{_SCHEMAS}ApiException", what=what)
            return
        if media not in content:
            raise SpecViolation(f"{what}: media type {media!r} not documented ({sorted(content)})")
        if media == "application/json":
            self.validate(json.loads(body), f"{pointer}/content/{_escape(media)}/schema", what=what)

    # --- requests --------------------------------------------------------------------------------

    def check_request(self, request: httpx.Request) -> None:
        """Method and path exist, query and header parameters are declared and well-formed."""
        op = self.operation(request.method, request.url.path)
        what = f"request {request.method} {op.template}"
        params: dict[str, tuple[Mapping[str, Any], str]] = {}
        for index, node in enumerate(op.body.get("parameters", [])):
            param, ref_pointer = self._resolve(node)
            pointer = ref_pointer or f"{op.pointer}/parameters/{index}"
            params[f"{param['in']}:{param['name'].lower()}"] = (param, pointer)
        query = parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)
        for name, value in query:
            found = params.get(f"query:{name.lower()}")
            if found is None:
                raise SpecViolation(f"{what}: query parameter {name!r} not in the spec")
            self._check_value(found, value, what=f"{what} query {name}")
        for key, (param, pointer) in params.items():
            where, name = key.split(":", 1)
            if where == "header" and name in request.headers:
                self._check_value((param, pointer), request.headers[name], what=f"{what} {name}")
            if param.get("required") and where == "query" and name not in dict(query):
                raise SpecViolation(f"{what}: required query parameter {name!r} missing")
        auth = request.headers.get("authorization", "")
        if not auth.startswith(_AUTH_SCHEMES):
            raise SpecViolation(f"{what}: no Authorization of a scheme the spec offers")

    def _check_value(self, found: tuple[Mapping[str, Any], str], value: str, *, what: str) -> None:
        param, pointer = found
        schema, _ = self._resolve(param["schema"])
        kind = schema.get("type")
        instance: object = value
        if kind == "integer":
            if not re.fullmatch(r"-?\d+", value):
                raise SpecViolation(f"{what}: {value!r} is not an integer")
            instance = int(value)
        elif kind == "boolean":
            if value not in ("true", "false"):
                raise SpecViolation(f"{what}: {value!r} is not a boolean")
            instance = value == "true"
        self.validate(instance, f"{pointer}/schema", what=what)


class VoiceSpec(InfobipSpec):
    NAME = "Voice"

    def __init__(self, path: Path = VOICE_SPEC) -> None:
        super().__init__(path)


def _schema_named(schemas: dict[str, Any], suffix: str) -> tuple[str, dict[str, Any]]:
    """Infobip prefixes schema names with a hash: find one by its readable end."""
    (name,) = [n for n in schemas if n.endswith(f".{suffix}")]
    return name, schemas[name]


class ConversationsSpec(InfobipSpec):
    """The Conversations spec, as its own examples read it (``QUIRKS``)."""

    NAME = "Conversations"
    QUIRKS = (
        "GET /ccaas/voice/2/recording/metadata answers a page {elements, total, totalPages} "
        "(its examples, and PageResponse) of RecordingMetadataApiModel elements, though the "
        "schema names the element (docs/infobip.md)",
        "a metadata element carries an integer id (examples only, 4.1), and the fields its "
        "example shows as null may be null",
        "the account recording config carries videoDownloadPreparation (samples only, 3)",
        "StatusResponse spells its key Status; every example sends status (1.3)",
        "a message's content varies with its contentType: MessageContent declares no property, "
        "its examples carry {text} (4.2)",
        "the 400 of Get messages and of the conversations listing names StatusCodeResponse; "
        "every example of both sends the legacy requestError body (1.3)",
    )
    METADATA = "/ccaas/voice/2/recording/metadata"

    def __init__(self, path: Path = CONVERSATIONS_SPEC) -> None:
        super().__init__(path)

    def adapt(self, spec: dict[str, Any]) -> dict[str, Any]:
        schemas: dict[str, Any] = spec["components"]["schemas"]
        name, element = _schema_named(schemas, "RecordingMetadataApiModel")
        example = element.get("example", {}).get("elements", [{}])[0]
        properties: dict[str, Any] = element["properties"]
        for field, value in example.items():
            if value is None and field in properties:
                properties[field] = {"anyOf": [properties[field], {"type": "null"}]}
        properties["id"] = {"type": "integer", "format": "int64"}
        schemas[f"{name}Page"] = {
            "type": "object",
            "properties": {
                "elements": {"type": "array", "items": {"$ref": f"#{_SCHEMAS}{name}"}},
                "total": {"type": "integer", "format": "int64"},
                "totalPages": {"type": "integer", "format": "int32"},
            },
            "required": ["elements", "total", "totalPages"],
        }
        ok = spec["paths"][self.METADATA]["get"]["responses"]["200"]
        ok["content"]["application/json"]["schema"] = {"$ref": f"#{_SCHEMAS}{name}Page"}
        _, config = _schema_named(schemas, "AccountRecordingConfigApiModel")
        config["properties"]["videoDownloadPreparation"] = {"type": "boolean"}
        _, status = _schema_named(schemas, "StatusResponse")
        status["properties"]["status"] = status["properties"]["Status"]
        _, content = _schema_named(schemas, "MessageContent")
        content["additionalProperties"] = True
        for path in ("/ccaas/1/conversations", "/ccaas/1/conversations/{conversationId}/messages"):
            bad = spec["paths"][path]["get"]["responses"]["400"]["content"]["application/json"]
            bad["schema"] = {"anyOf": [bad["schema"], {"$ref": f"#{_SCHEMAS}ApiException"}]}
        return spec


class SpecCheckingTransport(httpx.BaseTransport):
    """Checks every request against the spec, and every answer that is not media."""

    def __init__(self, spec: InfobipSpec) -> None:
        self.spec = spec
        self.inner = httpx.HTTPTransport()
        self.exchanges: list[tuple[str, str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.spec.check_request(request)
        response = self.inner.handle_request(request)
        media = response.headers.get("content-type", "").split(";")[0]
        self.exchanges.append((request.method, request.url.path, response.status_code))
        if media == "application/octet-stream":
            self.spec.check_response(
                request.method, request.url.path, response.status_code, media, b""
            )
            return response  # streamed on; its bytes are checked by hash below
        body = response.read()
        response.close()
        self.spec.check_response(
            request.method, request.url.path, response.status_code, media, body
        )
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, request=request
        )

    def close(self) -> None:
        self.inner.close()


def load_voice_spec() -> VoiceSpec | None:
    return VoiceSpec() if VOICE_SPEC.is_file() else None
