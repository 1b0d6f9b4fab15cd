"""``mcpkit oauth``: OAuth credentials of remote servers (token values are never shown)."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime

import click

from mcpkit.app import App
from mcpkit.cli._options import json_option, pass_app
from mcpkit.cli._render import emit_json, table
from mcpkit.oauth.flow import DEFAULT_TIMEOUT
from mcpkit.oauth.revoke import RevokeResult
from mcpkit.oauth.service import CredentialRow, OAuthService

_SCOPE_HELP = "Scope the credential to this profile (it wins over the global one)."


def oauth_service(app: App, *, allow_insecure: bool = False) -> OAuthService:
    """The OAuth service with this machine's settings (shared with ``server rm``)."""
    from mcpkit.gateway.build import remote_policy
    from mcpkit.oauth._http import default_factory

    settings = app.settings.oauth
    return OAuthService(
        app.profiles,
        app.oauth_credentials,
        client_factory=default_factory(remote_policy(app, allow_insecure)),
        redirect_port=settings.redirect_port,
        open_browser=settings.open_browser,
        skew=settings.refresh_skew,
        environ=app.environ,
    )


@click.group("oauth")
def command() -> None:
    """OAuth credentials of remote servers: list, authorize, revoke.

    Tokens live in the secret store, global or scoped to one profile; the gateway
    refreshes them before they expire.
    """


@command.command("ls")
@click.option("--profile", "-p", help="Only this profile's servers (and its credentials).")
@json_option
@pass_app
def ls_(app: App, profile: str | None, as_json: bool) -> None:
    """Remote servers and stored credentials: status, expiry, scopes, issuer."""
    rows = oauth_service(app).list_credentials(profile)
    if as_json:
        emit_json([_row_json(r) for r in rows])
        return
    if not rows:
        click.echo("no remote servers and no stored OAuth credentials")
        return
    table(
        ["SERVER", "PROFILES", "CREDENTIAL", "STATUS", "EXPIRES", "SCOPES", "ISSUER"],
        [
            [
                r.server,
                ", ".join(r.profiles) or "-",
                _scope_label(r),
                r.status.state,
                _when(r.status.expires_at),
                " ".join(r.status.scopes) or "-",
                r.status.issuer or "-",
            ]
            for r in rows
        ],
    )
    for r in rows:
        if r.status.state == "needs-authorization":
            flag = f" --profile {r.scope}" if r.scope else ""
            reason = f": {r.status.problem}" if r.status.problem else ""
            click.echo(f"{r.server} needs authorization{reason}", err=True)
            click.echo(f"  run: mcpkit oauth authorize {r.server}{flag}", err=True)


@command.command("authorize")
@click.argument("server")
@click.option("--profile", "-p", help=_SCOPE_HELP)
@click.option("--scopes", help="Extra scopes to ask for, comma-separated (a,b).")
@click.option("--client-id", help="A pre-registered OAuth client id (skips registration).")
@click.option("--port", type=click.IntRange(0, 65535), help="Loopback port of the redirect.")
@click.option("--headless", is_flag=True, help="Only print the URL; do not open a browser.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds to wait for the browser to come back.",
)
@click.option(
    "--allow-insecure-remote",
    is_flag=True,
    help="UNSAFE: allow http:// and private addresses (servers on this machine, for testing).",
)
@pass_app
def authorize(
    app: App,
    server: str,
    profile: str | None,
    scopes: str | None,
    client_id: str | None,
    port: int | None,
    headless: bool,
    timeout: float,
    allow_insecure_remote: bool,
) -> None:
    """Authorize mcpkit to use SERVER: open the printed URL and approve."""
    wanted = [s for s in re.split(r"[,\s]+", scopes or "") if s]
    service = oauth_service(app, allow_insecure=allow_insecure_remote)

    def show(url: str) -> None:
        click.echo(f"To authorize {server}, open this URL in a browser:", err=True)
        click.echo(url, err=True)
        click.echo(f"Waiting up to {timeout:g} s for the browser to come back…", err=True)

    result = asyncio.run(
        service.authorize(
            server,
            on_url=show,
            profile=profile,
            scopes=wanted,
            client_id=client_id,
            port=port,
            headless=headless,
            approval_timeout=timeout,
        )
    )
    where = f"profile {profile}" if profile else "global scope"
    scopes_text = " ".join(result.scopes) or "no scopes"
    click.echo(f"authorized {server} ({where}; {scopes_text}; expires {_when(result.expires_at)})")


@command.command("revoke")
@click.argument("server")
@click.option("--profile", "-p", help="Revoke the profile's own credential, not the global one.")
@click.option(
    "--allow-insecure-remote",
    is_flag=True,
    help="UNSAFE: allow http:// and private addresses (servers on this machine, for testing).",
)
@pass_app
def revoke(app: App, server: str, profile: str | None, allow_insecure_remote: bool) -> None:
    """Revoke SERVER's tokens at its authorization server, then delete them locally."""
    result = asyncio.run(
        oauth_service(app, allow_insecure=allow_insecure_remote).revoke(server, profile=profile)
    )
    echo_revoked(result)


def echo_revoked(result: RevokeResult, indent: str = "") -> None:
    """Say what a revocation did (shared with ``server rm --purge-secrets``)."""
    server = result.server
    where = f"profile {result.scope}" if result.scope else "global scope"
    if result.remote is True:
        click.echo(f"{indent}revoked the tokens of {server} at its authorization server")
    elif result.remote is False:
        click.echo(f"warning: could not revoke at the server: {result.problem}", err=True)
    else:
        click.echo(
            f"{indent}the authorization server of {server} has no revocation; forgot them locally"
        )
    click.echo(f"{indent}removed the OAuth tokens and client registration of {server} ({where})")


def _scope_label(row: CredentialRow) -> str:
    if row.status.state == "none":
        return "-"
    return f"profile {row.scope}" if row.scope else "global"


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    left = stamp - time.time()
    moment = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    if left <= 0:
        return f"{moment} (expired)"
    minutes = int(left // 60)
    span = f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
    return f"{moment} (in {span})"


def _row_json(row: CredentialRow) -> dict[str, object]:
    status = row.status
    return {
        "server": row.server,
        "url": row.url,
        "profiles": row.profiles,
        "credential": None if status.state == "none" else (row.scope or "global"),
        "status": status.state,
        "expires_at": (
            None
            if status.expires_at is None
            else datetime.fromtimestamp(status.expires_at, UTC).isoformat()
        ),
        "scopes": status.scopes,
        "issuer": status.issuer,
        "problem": status.problem,
    }
