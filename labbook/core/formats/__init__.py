"""Date formats for people in a lab (ISO 8601: 2026-11-30), whatever the browser's language; Django
reads them through settings.FORMAT_MODULE_PATH (locale formats override the DATE_FORMAT setting)."""
