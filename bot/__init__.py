"""The Telegram side of labelbot: handlers, storage and the command line. No TensorFlow here."""
