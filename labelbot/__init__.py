"""The labelbot application: settings, the composition root (`house`) and the command line.

`bot` (Telegram) and `model_core` (learning) know nothing of each other's insides; this package
is where they meet."""
