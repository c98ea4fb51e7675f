"""The saved library: avatars a person keeps (`avatars`), their customizations
(`customizations`), generated avatars' files (`files`), uploaded images (`images`) and
custom animations (`animations`). Domain code: no aiohttp here; errors are webapi.errors'."""
