"""The process's web side: one ASGI app (`bot.web.app`) for Telegram's webhook, health checks
and metrics, run with the bot by `bot.web.server`."""

RESERVED_PATHS = ("/healthz", "/readyz", "/metrics", "/console")  # the webhook cannot use them
