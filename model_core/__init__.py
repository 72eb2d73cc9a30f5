"""The learning side of labelbot: image intake, the frozen backbone, incremental learners and the
model service. Knows nothing about Telegram; usable from a script or a notebook."""
