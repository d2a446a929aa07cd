"""The auth namespace: register, login, user and logout."""
