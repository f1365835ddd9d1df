"""``salesbot ask`` and ``salesbot chat``: the terminal channel."""

from __future__ import annotations

import sys

import typer

from bot.cli.common import fail
from bot.settings import get_settings
from bot.terminal import StackNotRunningError, TerminalClient, buttons_of, format_json, format_reply


def register(app: typer.Typer) -> None:
    app.command("ask", help="Ask one question as a rep and print the reply Slack would show.")(ask)
    app.command("chat", help="Chat with the assistant as a rep in the terminal.")(chat)


def ask(
    question: str = typer.Argument(
        ..., help="the question, e.g. 'which of my accounts are slipping?'"
    ),
    as_email: str = typer.Option(..., "--as", help="the rep's e-mail address"),
    as_json: bool = typer.Option(
        False, "--json", help="print the raw replies (text, blocks and data)"
    ),
    sender: str = typer.Option(None, "--sender", help="conversation id (default: one per rep)"),
) -> None:
    client = TerminalClient(get_settings())
    try:
        replies = client.ask(as_email, question, sender=sender)
    except StackNotRunningError as exc:
        fail(str(exc), code=2)
    finally:
        client.close()
    if as_json:
        typer.echo(format_json(replies))
    else:
        typer.echo("\n\n".join(format_reply(r) for r in replies))
    if any(r.get("kind") == "error" for r in replies):
        raise typer.Exit(1)


def chat(
    as_email: str = typer.Option(..., "--as", help="the rep's e-mail address"),
    sender: str = typer.Option(None, "--sender", help="conversation id (default: one per rep)"),
) -> None:
    client = TerminalClient(get_settings())
    typer.secho(
        f"salesbot — chatting as {as_email}. Type 'help' for ideas, 'quit' to leave.", bold=True
    )
    last_buttons: list[dict[str, str]] = []
    try:
        while True:
            try:
                line = input("you> ").strip()
            except EOFError:
                break
            if line.lower() in {"quit", "exit", ":q"}:
                break
            if not line:
                continue
            if line.isdigit() and 1 <= int(line) <= len(last_buttons):
                line = str(
                    last_buttons[int(line) - 1].get("payload")
                    or last_buttons[int(line) - 1].get("title")
                )
            try:
                replies = client.ask(as_email, line, sender=sender)
            except StackNotRunningError as exc:
                fail(str(exc), code=2)
            last_buttons = [b for r in replies for b in buttons_of(r)]
            for reply in replies:
                typer.echo("bot> " + format_reply(reply).replace("\n", "\n     "))
    finally:
        client.close()
    if not sys.stdin.isatty():
        typer.echo("")
