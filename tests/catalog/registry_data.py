"""MCP Registry answers for the tests, shaped like registry.modelcontextprotocol.io's.

``PAGES`` is the current shape (``{"server": server.json, "_meta": {...}}`` items),
keyed by the cursor that asks for the page (``None`` for the first one).
``FLAT_PAGE`` is the older flat shape (each item the server.json, ``_meta`` inside,
snake_case field names).
"""

from __future__ import annotations

from typing import Any

SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-10-17/server.schema.json"


def _item(server: dict[str, Any], *, latest: bool = True, status: str = "active") -> dict[str, Any]:
    return {
        "server": {"$schema": SCHEMA, **server},
        "_meta": {
            "io.modelcontextprotocol.registry/official": {
                "status": status,
                "publishedAt": "2025-10-20T09:00:00Z",
                "updatedAt": "2025-10-20T09:00:00Z",
                "isLatest": latest,
            }
        },
    }


WEATHER = {
    "name": "io.github.example/weather",
    "title": "Weather",
    "description": "Forecasts and current conditions from OpenWeatherMap.",
    "version": "0.3.1",
    "repository": {"url": "https://github.com/example/weather-mcp", "source": "github"},
    "packages": [
        {
            "registryType": "pypi",
            "registryBaseUrl": "https://pypi.org",
            "identifier": "weather-mcp",
            "version": "0.3.1",
            "runtimeHint": "uvx",
            "transport": {"type": "stdio"},
            "packageArguments": [
                {"type": "named", "name": "--log-level", "value": "info"},
                {
                    "type": "positional",
                    "valueHint": "cache_dir",
                    "description": "Where forecasts are cached",
                    "format": "filepath",
                    "isRequired": True,
                },
            ],
            "environmentVariables": [
                {
                    "name": "OPENWEATHER_API_KEY",
                    "description": "API key from openweathermap.org",
                    "isRequired": True,
                    "isSecret": True,
                },
                {
                    "name": "WEATHER_UNITS",
                    "description": "Units for temperatures",
                    "default": "metric",
                    "choices": ["metric", "imperial"],
                },
            ],
        }
    ],
}

FILESYSTEM = {
    "name": "io.modelcontextprotocol/filesystem",
    "title": "Filesystem",
    "description": "Secure file operations with configurable access controls.",
    "version": "2025.8.21",
    "websiteUrl": "https://modelcontextprotocol.io/examples",
    "repository": {
        "url": "https://github.com/modelcontextprotocol/servers",
        "source": "github",
        "subfolder": "src/filesystem",
    },
    "packages": [
        {
            "registryType": "npm",
            "registryBaseUrl": "https://registry.npmjs.org",
            "identifier": "@modelcontextprotocol/server-filesystem",
            "version": "2025.8.21",
            "runtimeHint": "npx",
            "transport": {"type": "stdio"},
            "packageArguments": [
                {
                    "type": "positional",
                    "valueHint": "root",
                    "isRequired": True,
                    "format": "filepath",
                }
            ],
        }
    ],
}

VERSIONS_OLD = {
    "name": "io.github.example/versions",
    "description": "A server with two published versions.",
    "version": "1.0.0",
    "packages": [
        {"registryType": "npm", "identifier": "versions-mcp", "version": "1.0.0",
         "transport": {"type": "stdio"}},
    ],
}  # fmt: skip
VERSIONS_NEW = {**VERSIONS_OLD, "version": "1.2.0", "packages": [
    {"registryType": "npm", "identifier": "versions-mcp", "version": "1.2.0",
     "transport": {"type": "stdio"}},
]}  # fmt: skip

GITHUB = {
    "name": "io.github.github/github-mcp-server",
    "title": "GitHub",
    "description": "Connect AI assistants to GitHub: issues, PRs, code and workflows.",
    "version": "0.13.0",
    "repository": {"url": "https://github.com/github/github-mcp-server", "source": "github"},
    "packages": [
        {
            "registryType": "oci",
            "registryBaseUrl": "https://ghcr.io",
            "identifier": "github/github-mcp-server",
            "version": "0.13.0",
            "runtimeHint": "docker",
            "transport": {"type": "stdio"},
            "runtimeArguments": [
                {"type": "named", "name": "-e", "value": "GITHUB_PERSONAL_ACCESS_TOKEN"},
            ],
            "environmentVariables": [
                {
                    "name": "GITHUB_PERSONAL_ACCESS_TOKEN",
                    "description": "A GitHub personal access token",
                    "isRequired": True,
                    "isSecret": True,
                }
            ],
        }
    ],
}

NOTES = {
    "name": "com.example/remote-notes",
    "description": "Notes kept by Example Inc., over streamable HTTP.",
    "version": "2.0.0",
    "remotes": [
        {
            "type": "streamable-http",
            "url": "https://notes.example.com/mcp",
            "headers": [
                {
                    "name": "Authorization",
                    "value": "Bearer {token}",
                    "isSecret": True,
                    "isRequired": True,
                    "variables": {"token": {"description": "Notes API token", "isSecret": True}},
                },
                {"name": "X-Workspace", "description": "Workspace id", "isRequired": True},
            ],
        }
    ],
}

LEGACY_SSE = {
    "name": "com.example/legacy-search",
    "description": "Search over the legacy SSE transport.",
    "version": "0.9.0",
    "remotes": [{"type": "sse", "url": "https://search.example.com/sse"}],
}

DOTNET_ONLY = {
    "name": "io.github.example/dotnet-tools",
    "description": "Only published as a NuGet tool.",
    "version": "1.0.0",
    "packages": [
        {"registryType": "nuget", "identifier": "Example.McpTools", "version": "1.0.0",
         "transport": {"type": "stdio"}},
    ],
}  # fmt: skip

GONE = {
    "name": "io.github.example/gone",
    "description": "Deleted by its publisher.",
    "version": "1.0.0",
    "packages": [{"registryType": "npm", "identifier": "gone-mcp", "version": "1.0.0"}],
}

PAGES: dict[str | None, dict[str, Any]] = {
    None: {
        "servers": [_item(WEATHER), _item(FILESYSTEM), _item(VERSIONS_OLD, latest=False)],
        "metadata": {"nextCursor": "p2", "count": 3},
    },
    "p2": {
        "servers": [_item(GITHUB), _item(NOTES), _item(DOTNET_ONLY)],
        "metadata": {"nextCursor": "p3", "count": 3},
    },
    "p3": {
        "servers": [_item(VERSIONS_NEW), _item(LEGACY_SSE), _item(GONE, status="deleted")],
        "metadata": {"count": 3},
    },
}

FLAT_PAGE: dict[str, Any] = {
    "servers": [
        {
            "name": "io.github.example/old-time",
            "description": "Time tools, listed by an older registry.",
            "version_detail": {"version": "0.1.0", "is_latest": True},
            "packages": [
                {
                    "registry_name": "pypi",
                    "name": "old-time-mcp",
                    "version": "0.1.0",
                    "environment_variables": [
                        {"name": "TZ_TOKEN", "is_secret": True, "is_required": True}
                    ],
                }
            ],
            "_meta": {
                "io.modelcontextprotocol.registry/official": {"id": "x", "is_latest": True}
            },
        },
        {
            "name": "io.github.example/old-image",
            "description": "An image, listed with the old 'docker' registry name.",
            "version": "3.1.0",
            "packages": [{"registry_type": "docker", "identifier": "example/old-image",
                          "version": "3.1.0"}],
            "_meta": {"io.modelcontextprotocol.registry/official": {"isLatest": True}},
        },
    ],
    "metadata": {"count": 2},
}  # fmt: skip
