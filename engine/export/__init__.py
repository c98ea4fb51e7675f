"""Exports: an avatar as files other runtimes play (docs/EXPORT.md).

`subject` says what is exported, `bake` turns animations into frames through a real
session, `frames` renders them with our GL renderer (the reference every format is compared
with), `job` and `run` check a request, run formats and pack their files; one module per
format (`raster`, `webm`, `spritesheet`, `svg`, `spine`, `lottie`, `gltf`, `presets`)."""
