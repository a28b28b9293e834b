"""The explorer stage: a static site to browse a run (channels, atlases, top maps) in a browser."""
