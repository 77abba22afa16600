"""What the main window does, one room per concern; the window only builds and wires views."""
