"""The JSON types: what a config's ``to_dict`` returns and its ``from_dict`` reads (one definition for all)."""

from __future__ import annotations

JSONValue = str | int | float | bool | None | list["JSONValue"] | dict[str, "JSONValue"]
JSONObject = dict[str, JSONValue]
