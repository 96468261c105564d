"""The manifest: s3lync.yaml read with positions, validated by JSON Schema, ${VAR} filled, checked.

Owns turning a YAML file into `Mapping` values, and every error about it named by FILE:LINE and
field. It may import only the leaves (`errors`, `uri`, `settings`, `mapping`); never the store,
the engine or the CLI. PyYAML is imported by yamlparse.py alone, and only for a text not parsed
before (parsecache.py keeps what a parse gave in the state folder).
"""
