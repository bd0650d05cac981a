"""The generated CRD: in sync with the models, structural, and defaulting as the models do."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tolaria import cli, crd
from tolaria.spec import load_trainingrun

from .cases import MINIMAL

REPO = Path(__file__).resolve().parents[2]


def spec_schema() -> dict[str, Any]:
    return crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def test_committed_crd_matches_the_models():
    assert (REPO / "crds" / "trainingrun.yaml").read_text() == crd.render_crd(), "run `tolaria crd`"


def test_chart_copy_matches_the_models():
    assert (REPO / "charts" / "tolaria" / "files" / "trainingrun.yaml").read_text() == crd.render_crd()


def test_check_flags_drift(tmp_path, capsys):
    target = tmp_path / "trainingrun.yaml"
    assert cli.main(["crd", "-o", str(target)]) == 0
    assert cli.main(["crd", "-o", str(target), "--check"]) == 0
    target.write_text(target.read_text().replace("maxReplicas", "maximumReplicas"))
    assert cli.main(["crd", "-o", str(target), "--check"]) == 1
    assert "out of date" in capsys.readouterr().err


def walk(node: dict[str, Any], path: str = ""):
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def test_schema_is_structural():
    root = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in walk(root):
        assert "$ref" not in node and "$defs" not in node, path
        assert "title" not in node and "nullable" not in node, path
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
        else:
            assert "anyOf" not in node and "oneOf" not in node, path
            assert node.get("type") in {"object", "array", "string", "integer", "number", "boolean"}, path
        if node.get("type") == "object" and path not in {".metadata"}:
            assert "properties" in node or "additionalProperties" in node, path


def test_printer_columns():
    columns = crd.build_crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"].upper() for c in columns] == [
        "PHASE",
        "GAMES",
        "DAEMONS",
        "QUEUE",
        "POLICY",
        "STAGE",
        "WINRATE",
        "ELO",
        "AGE",
    ]
    status = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    for column in columns[:-1]:
        field = column["jsonPath"].removeprefix(".status.")
        assert field in status["properties"], column


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Structural defaulting as the API server does it: absent fields with a default get it, recursively."""
    if isinstance(value, dict) and "properties" in schema:
        for name, child in schema["properties"].items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                value[name] = apply_defaults(child, value[name])
    elif isinstance(value, list) and "items" in schema:
        value = [apply_defaults(schema["items"], v) for v in value]
    return value


def without_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_empty(v) for k, v in value.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [without_empty(v) for v in value]
    return value


def test_server_defaults_equal_model_defaults():
    defaulted = apply_defaults(spec_schema(), copy.deepcopy(MINIMAL["spec"]))
    from_models = load_trainingrun(MINIMAL).spec.to_wire()
    assert without_empty(defaulted) == without_empty(from_models)


def test_server_defaults_equal_model_defaults_for_the_full_example():
    manifest = yaml.safe_load((REPO / "examples" / "trainingrun.yaml").read_text())
    defaulted = apply_defaults(spec_schema(), copy.deepcopy(manifest["spec"]))
    assert without_empty(defaulted) == without_empty(load_trainingrun(manifest).spec.to_wire())


def test_every_rule_has_a_message_and_cel():
    root = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = [r for _, node in walk(root) for r in node.get("x-kubernetes-validations", [])]
    assert len(rules) >= 10
    assert all(r["rule"] and r["message"] for r in rules)
