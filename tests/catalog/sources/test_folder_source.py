"""The folder source over a small docker/mcp-registry-style checkout in tmp."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from mcpkit.catalog.sources import FolderSource, Validators, make_source
from mcpkit.errors import SourceError

KUBE_YAML = """\
name: kube-tools
image: mcp/kube-tools@sha256:3f1e4f1a0d5c7b8a9e2d6c4b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f
type: server
meta:
  category: devops
  tags: [kubernetes, devops]
about:
  title: Kube Tools
  description: Inspect and manage Kubernetes clusters.
  icon: https://avatars.githubusercontent.com/u/13629408?s=200&v=4
source:
  project: https://github.com/example/kube-tools
  commit: 0123456789abcdef0123456789abcdef01234567
run:
  command:
    - --transport=stdio
    - --access-level={{kube-tools.access_level}}
  volumes:
    - "{{kube-tools.kubeconfig}}:/home/mcp/.kube/config:ro"
    - kube-cache:/home/mcp/.cache
  env:
    KUBE_LOG_FORMAT: json
  allowHosts:
    - kubernetes.default.svc:443
  user: "{{kube-tools.container_user}}"
config:
  description: Configure the cluster connection
  secrets:
    - name: kube-tools.cluster_token
      env: KUBE_TOKEN
      example: <TOKEN>
      description: A service account token
  env:
    - name: KUBE_CONTEXT
      example: prod
      value: "{{kube-tools.context}}"
  parameters:
    type: object
    properties:
      kubeconfig:
        type: string
        description: Path to the kubeconfig file
      access_level:
        type: string
        default: readonly
      context:
        type: string
      container_user:
        type: string
    required: [kubeconfig, access_level]
"""

ASANA_YAML = """\
name: asana
type: remote
dynamic:
  tools: true
meta:
  category: productivity
  tags: [productivity, remote]
about:
  title: Asana
  description: Interact with your Asana workspace
  icon: https://www.google.com/s2/favicons?domain=asana.com&sz=64
remote:
  transport_type: sse
  url: https://mcp.asana.com/sse
oauth:
  - provider: asana
    secret: asana.personal_access_token
    env: ASANA_PERSONAL_ACCESS_TOKEN
"""

BROKEN_YAML = """\
name: broken
image: mcp/broken
about: {title: Broken
"""

KUBE_TOOLS_JSON = [
    {
        "name": "list_pods",
        "description": "List pods in a namespace",
        "arguments": [{"name": "namespace", "type": "string", "desc": "The namespace"}],
    },
    {"name": "delete_pod", "description": "Delete a pod"},
]


def _checkout(root: Path) -> Path:
    servers = root / "servers"
    for name, text in (("kube-tools", KUBE_YAML), ("asana", ASANA_YAML), ("broken", BROKEN_YAML)):
        (servers / name).mkdir(parents=True)
        (servers / name / "server.yaml").write_text(text)
    (servers / "kube-tools" / "tools.json").write_bytes(orjson.dumps(KUBE_TOOLS_JSON))
    (servers / "asana" / "readme.md").write_text("# Asana\n")
    return root


def test_each_server_yaml_becomes_a_spec_and_a_broken_one_a_warning(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "registry")
    result = make_source("folder", str(root)).fetch(Validators())
    assert result.document is not None
    assert result.document.name == "registry"
    asana, kube = result.document.servers
    assert kube.id == "kube-tools"
    assert kube.title == "Kube Tools"
    assert (kube.category, kube.tags) == ("devops", ["kubernetes", "devops"])
    assert kube.homepage == "https://github.com/example/kube-tools"
    assert kube.publisher.name == "example"
    assert kube.source.type == "image"
    assert kube.source.image.startswith("mcp/kube-tools@sha256:")
    assert kube.source.command == ["--transport=stdio", "--access-level={{access_level}}"]
    assert [(v.source, v.target, v.read_only) for v in kube.volumes] == [
        ("{{kubeconfig}}", "/home/mcp/.kube/config", True)
    ]
    assert kube.env == {"KUBE_CONTEXT": "{{context}}", "KUBE_LOG_FORMAT": "json"}
    assert [(s.name, s.env, s.required) for s in kube.secrets] == [
        ("kube-tools.cluster_token", "KUBE_TOKEN", True)
    ]
    assert kube.network.mode == "hosts"
    assert kube.network.hosts == ["kubernetes.default.svc:443"]
    assert kube.config_schema["description"] == "Configure the cluster connection"
    assert kube.config_schema["required"] == ["kubeconfig", "access_level"]
    assert [(t.name, t.description) for t in kube.tools] == [
        ("list_pods", "List pods in a namespace"),
        ("delete_pod", "Delete a pod"),
    ]

    assert asana.is_remote
    assert asana.source.type == "remote"
    assert (asana.source.url, asana.source.transport) == ("https://mcp.asana.com/sse", "sse")
    assert asana.source.oauth is not None
    assert asana.secrets == []

    broken = str(root / "servers" / "broken" / "server.yaml")
    kube_file = str(root / "servers" / "kube-tools" / "server.yaml")
    assert result.warnings == [
        (
            f"{broken}: not YAML/JSON: expected ',' or '}}', but got '<stream end>' "
            "at line 4, column 1 (skipped)"
        ),
        (
            f"{kube_file}: kube-tools: ignored 'user': catalog metadata cannot change how a "
            "server is isolated"
        ),
        (
            f"{kube_file}: kube-tools: ignored named volume 'kube-cache:/home/mcp/.cache': "
            "data in /home/mcp/.cache will not persist"
        ),
    ]


def test_an_unchanged_folder_is_not_modified_and_a_change_is_seen(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "registry")
    source = FolderSource(str(root))
    first = source.fetch(Validators())
    assert source.fetch(first.validators).document is None
    tools = root / "servers" / "kube-tools" / "tools.json"
    tools.write_bytes(orjson.dumps(KUBE_TOOLS_JSON[:1]))
    changed = source.fetch(first.validators)
    assert changed.document is not None
    kube = next(s for s in changed.document.servers if s.id == "kube-tools")
    assert [t.name for t in kube.tools] == ["list_pods"]


def test_a_broken_tools_json_only_loses_the_tools(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "registry")
    (root / "servers" / "kube-tools" / "tools.json").write_text("[{")
    result = FolderSource(str(root)).fetch(Validators())
    assert result.document is not None
    kube = next(s for s in result.document.servers if s.id == "kube-tools")
    assert kube.tools == []
    assert any("tools.json: tools ignored: not JSON" in w for w in result.warnings)


def test_a_folder_without_server_yaml_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "servers" / "empty").mkdir(parents=True)
    with pytest.raises(SourceError) as info:
        FolderSource(str(tmp_path)).fetch(Validators())
    assert info.value.message == f"catalog folder {tmp_path} has no servers/<name>/server.yaml"
    assert info.value.hint


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        FolderSource(str(tmp_path / "gone")).fetch(Validators())
