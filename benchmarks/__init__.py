"""The class-incremental benchmark harness behind `labelbot bench`."""
