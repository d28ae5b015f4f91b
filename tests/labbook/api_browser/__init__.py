"""The API in a real browser, apart from tests/labbook/api (whose package-wide data lives in one open
transaction that a live server test must not share)."""
