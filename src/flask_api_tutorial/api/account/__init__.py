"""The account namespace: password reset, email verification and the list of sessions."""
