"""
What keeps real use safe, shared by every layer: model archives read and rewritten safely (`archive_files`,
`safe_extraction`), atomic writes (`atomic_files`), one-line errors (`cli_errors`), the configs' optional variables
and partial model overrides (`config_variables`, `model_overrides`), and what counts as an early-exit model type.
The patches to AllenNLP among them are installed by `sledgehammer.allennlp_integration`.
"""
