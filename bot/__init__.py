"""The salesbot edges: Slack app, terminal channels, CLI, live-transcript socket, scheduler, ``serve``."""
