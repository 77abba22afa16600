"""Widgets and dialogs: what the user sees. They show a session and emit what the user asked for; app/controllers/ acts on it."""
