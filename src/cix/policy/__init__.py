"""Subjects and the access decision function (permit/deny, reasons, obligations). Pure."""
