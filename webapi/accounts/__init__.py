"""Accounts: users and their passwords, browser sessions, API tokens, sign-in limits and a
guest's avatars claimed by the account they sign in with. Domain code only: no aiohttp
(webapi/handlers/auth.py and identity.py speak HTTP), no sqlite import (everything goes
through webapi/store's `Store`). Errors are webapi/errors.py's."""
